#!/usr/bin/env python3
"""Read a tfkd soft-target cache (format tfkd-cache/2 or tfkd-cache/1) with numpy alone.

    python3 scripts/read_cache.py CACHE              # summary
    python3 scripts/read_cache.py CACHE --json       # every tensor as JSON (small caches; tests)
    python3 scripts/read_cache.py CACHE --npz out.npz

The core is the five lines of `load_shard` (also in docs/CACHE.md): an 8-byte little-endian header
length, a JSON header, then raw little-endian C-order tensors at data_offsets. Row g of the cache is
sample g // views, view g % views: tfkd-cache/1 shards also store them (`sample`, `view`), tfkd-cache/2
shards do not, and `load_cache` adds them from the row's position either way.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F16": "<f2", "F32": "<f4", "I32": "<i4", "I64": "<i8", "U16": "<u2", "U8": "u1"}
SCHEMAS = ("tfkd-cache/1", "tfkd-cache/2")


def load_shard(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], DTYPES[v["dtype"]]).reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


def load_cache(cache):
    """Manifest + all shards' tensors concatenated in row order (row = sample * views + view), with
    each row's `sample` and `view` (stored in tfkd-cache/1, implied by the position in tfkd-cache/2)."""
    with open(os.path.join(cache, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("schema") not in SCHEMAS:
        raise SystemExit(f"{cache}: not a cache this script reads (schema {manifest.get('schema')!r}, reads {', '.join(SCHEMAS)})")
    shards = [load_shard(os.path.join(cache, s["file"])) for s in manifest["shards"]]
    names = shards[0].keys() if shards else []
    t = {k: np.concatenate([s[k] for s in shards]) for k in names}
    V = manifest["views"]
    start = (manifest["part"]["sampleStart"] if manifest["part"] else 0) * V
    g = np.arange(start, start + manifest["rows"], dtype=np.int64)
    t.setdefault("sample", g // V)
    t.setdefault("view", (g % V).astype(np.int32))
    return manifest, t


TAIL_TEMPERATURES = [1, 2, 4, 8, 16, 32]


def tail_log_mass(F, mu, m, temperature):
    """log sum_tail exp(z / T), T >= 1, from the stored tail statistics (src/cache/topk.ts, docs/CACHE.md)."""
    if temperature < 1:
        raise SystemExit("top-k soft targets need T >= 1")
    taus = TAIL_TEMPERATURES
    if temperature in taus:
        return F[:, taus.index(temperature)]
    beta = 1.0 / temperature
    logm = np.log(m)
    g = lambda j: (F[:, j] - logm - mu / taus[j]) * taus[j] ** 2
    if beta <= 1 / taus[-1]:
        gb = g(len(taus) - 1)
    else:
        j = 0
        while 1 / taus[j + 1] > beta:
            j += 1
        b0, b1 = 1 / taus[j], 1 / taus[j + 1]
        w = (beta - b1) / (b0 - b1)
        gb = w * g(j) + (1 - w) * g(j + 1)
    return logm + mu * beta + np.maximum(0, gb) * beta * beta


def soft_targets(manifest, t, temperature=1.0):
    """softmax(logits / T) per row; top-k caches: kept classes exp(v / T), the tail's stored mass at T
    spread uniformly over the other K - k classes (docs/CACHE.md, "Top-k caches")."""
    K = manifest["K"]
    if manifest["topk"] is None:
        z = t["logits"].astype(np.float64) / temperature
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if "tail" not in manifest:
        raise SystemExit("top-k cache of the first layout (no tail statistics): precompute it again")
    k = manifest["topk"]
    m = K - k
    vals = t["topk_values"].astype(np.float64)
    F = t["tail_logsumexp"].astype(np.float64)
    mu = t["tail_mean"].astype(np.float64)
    L = tail_log_mass(F, mu, m, temperature)[:, None]
    a = vals / temperature
    shift = np.maximum(a.max(axis=1, keepdims=True), L)
    e = np.exp(a - shift)
    tail = np.exp(L - shift)
    Z = e.sum(axis=1, keepdims=True) + tail
    p = np.repeat(tail / Z / m, K, axis=1)
    np.put_along_axis(p, t["topk_indices"].astype(np.int64), e / Z, axis=1)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache")
    ap.add_argument("--json", action="store_true", help="print every tensor (and soft targets at --temperature) as JSON")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--npz", help="write the tensors to this .npz file")
    a = ap.parse_args()
    manifest, t = load_cache(a.cache)
    if a.npz:
        np.savez(a.npz, **t)
    if a.json:
        out = {k: v.astype(np.float64 if v.dtype.kind == "f" else np.int64).ravel().tolist() for k, v in t.items()}
        out["soft_targets"] = soft_targets(manifest, t, a.temperature).ravel().tolist()
        out["shapes"] = {k: list(v.shape) for k, v in t.items()}
        json.dump(out, sys.stdout)
        return
    print(f"{a.cache}: {manifest['rows']} rows, K={manifest['K']}, dtype={manifest['dtype']}, topk={manifest['topk']}, "
          f"views={manifest['views']}, {len(manifest['shards'])} shard(s)")
    for k, v in t.items():
        print(f"  {k}: {v.dtype} {list(v.shape)}")


if __name__ == "__main__":
    main()
