#!/usr/bin/python3
"""Validates ONNX files with the reference checker: onnx.checker.check_model(full_check=True).

Full check also runs strict shape inference, so a graph whose shapes do not line up fails here.
Needs the `onnx` package (Debian: python3-onnx, importable under /usr/bin/python3).

usage: /usr/bin/python3 scripts/check_onnx.py MODEL.onnx [MODEL.onnx ...]
exit 0 all pass · 1 some file failed · 2 usage error or onnx not installed
"""
import sys


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        import onnx
    except ImportError:
        print("check_onnx: the python 'onnx' package is not installed (Debian: apt install python3-onnx)", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            opset = ",".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in model.opset_import)
            print(f"ok   {path}  (onnx {onnx.__version__}, ir {model.ir_version}, opset {opset}, {len(model.graph.node)} nodes)")
        except Exception as e:  # the checker raises several exception types; report each one the same way
            failed += 1
            msg = str(e).strip().splitlines()
            print(f"FAIL {path}: {type(e).__name__}: {msg[0] if msg else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
