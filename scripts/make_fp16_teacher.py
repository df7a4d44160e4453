#!/usr/bin/python3
"""A float16 teacher from a float32 ONNX model, and PyTorch's reference for it (tfkd's fp16 tests).

  make_fp16_teacher.py --model IN.onnx --out OUT.onnx --data DIR --rows N --ref REF.json

OUT.onnx is IN.onnx with every float initializer stored as float16 and the graph's input and output
declared float16: a model that takes, computes in and returns float16 (what `.half()` then export
gives on a GPU; Debian's CPU PyTorch 1.13 cannot run a half convolution to export one). The graph
must be one Conv/Relu/MaxPool/Flatten/Gemm chain, like test/fixtures/torch-teacher/model.onnx.

REF.json: the same network restated in PyTorch (float64) with the float16 weights, on the first N
test images of DIR (Fashion-MNIST IDX) as pixel/255 rounded to float16 -- the exact arithmetic of
those weights and inputs, so what remains against an fp16 runtime is its own float16 rounding.
Run with Debian's interpreter: /usr/bin/python3 scripts/make_fp16_teacher.py ...
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from idx import read_idx  # noqa: E402


def to_fp16(model):
    g = model.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    for n in g.node:
        if n.op_type not in ('Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Reshape'):
            raise SystemExit(f'make_fp16_teacher: op {n.op_type} is not part of the supported chain')
    return model


def reference(model, x):
    """The graph's chain in float64 PyTorch, weights as stored (float16 values)."""
    w = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float64)) for t in model.graph.initializer}
    h = x
    for n in model.graph.node:
        at = {k.name: onnx.helper.get_attribute_value(k) for k in n.attribute}
        if n.op_type == 'Conv':
            h = F.conv2d(h, w[n.input[1]], w[n.input[2]] if len(n.input) > 2 else None, stride=tuple(at.get('strides', [1, 1])), padding=tuple(at.get('pads', [0, 0, 0, 0])[:2]))
        elif n.op_type == 'Relu':
            h = F.relu(h)
        elif n.op_type == 'MaxPool':
            h = F.max_pool2d(h, tuple(at['kernel_shape']), tuple(at.get('strides', at['kernel_shape'])))
        elif n.op_type in ('Flatten', 'Reshape'):
            h = h.reshape(h.shape[0], -1)
        elif n.op_type == 'Gemm':
            wt = w[n.input[1]]
            h = h @ (wt.T if at.get('transB', 0) else wt) + (w[n.input[2]] if len(n.input) > 2 else 0)
    return h


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--rows', type=int, default=64)
    p.add_argument('--ref', required=True)
    a = p.parse_args()
    m = to_fp16(onnx.load(a.model))
    onnx.checker.check_model(m)
    onnx.save(m, a.out)
    images = read_idx(f'{a.data}/t10k-images-idx3-ubyte.gz')[:a.rows]
    x = torch.from_numpy((images.astype(np.float32) / np.float32(255.0)).astype(np.float16).astype(np.float64)).unsqueeze(1)
    with torch.no_grad():
        logits = reference(m, x).numpy()
    json.dump({'rows': a.rows, 'logits': [[float(v) for v in r] for r in logits]}, open(a.ref, 'w'))
    print(json.dumps({'out': a.out, 'rows': a.rows, 'max_abs_logit': float(np.abs(logits).max())}))


if __name__ == '__main__':
    main()
