#!/usr/bin/env python3
"""What reading a cache costs a Python process (docs/PERFORMANCE.md, "Reading a cache from Python"):
each way in a fresh child process, on the same cache —
  whole:   the docs' five-line recipe — every shard read into memory and concatenated;
  tfkd_cache: open_cache (manifest + every shard verified: sha256, layout, finite values), then one
           epoch of soft targets (τ = 4) in batches of 256 in a seeded random order, over the maps.
Reported: seconds, and process memory sampled after each step — RssAnon (the process's own pages)
and RssFile (mapped file pages: page cache the kernel can drop, shared with every reader).

    npx tsx scripts/bench-cache-check.ts 200000 1000 f16 /tmp/bench-cache   # writes a 381 MiB cache
    /usr/bin/python3 scripts/bench_python_reader.py /tmp/bench-cache
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, os, struct, sys, time
import numpy as np
sys.path.insert(0, os.path.join(sys.argv[3], "..", "python"))
def mem():
    f = dict(l.split(":", 1) for l in open("/proc/self/status"))
    return int(f["RssAnon"].split()[0]) / 1024, int(f["RssFile"].split()[0]) / 1024
peak = [0.0, 0.0]
def sample():
    a, f = mem(); peak[0] = max(peak[0], a); peak[1] = max(peak[1], f)
cache, way = sys.argv[1], sys.argv[2]
t0 = time.time()
if way == "whole":
    def load_shard(path):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]; header = json.loads(f.read(n)); data = f.read()
        dt = {"F16": "<f2", "F32": "<f4", "I32": "<i4", "I64": "<i8", "U16": "<u2", "U8": "u1"}
        return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dt[v["dtype"]]).reshape(v["shape"])
                for k, v in header.items() if k != "__metadata__"}
    m = json.load(open(os.path.join(cache, "manifest.json")))
    z = np.concatenate([load_shard(os.path.join(cache, s["file"]))["logits"] for s in m["shards"]])
    sample()
    t1 = time.time()
    perm = np.random.default_rng(0).permutation(len(z))
    epochs = []
    for epoch in range(2):
        te = time.time()
        for i in range(0, len(z), 256):
            x = z[perm[i:i + 256]].astype(np.float64) / 4
            e = np.exp(x - x.max(1, keepdims=True)); p = e / e.sum(1, keepdims=True)
            if i % (256 * 50) == 0: sample()
        epochs.append(time.time() - te)
else:
    import tfkd_cache
    c = tfkd_cache.open_cache(cache)
    sample()
    t1 = time.time()
    perm = np.random.default_rng(0).permutation(c.N)
    epochs = []
    for epoch in range(2):
        te = time.time()
        for i in range(0, c.N, 256):
            p = c.soft_targets(perm[i:i + 256], temperature=4)
            if i % (256 * 50) == 0: sample()
        epochs.append(time.time() - te)
sample()
print(json.dumps({"open_s": t1 - t0, "epochs_s": epochs, "anon_mib": peak[0], "file_mib": peak[1]}))
"""


def main():
    cache = sys.argv[1]
    size = sum(os.path.getsize(os.path.join(cache, f)) for f in os.listdir(cache)) / 2**20
    print(f"{cache}: {size:.0f} MiB on disk")
    res = {}
    for way in ("whole", "tfkd_cache"):
        out = subprocess.run([sys.executable, "-c", CHILD, cache, way, HERE], check=True, capture_output=True, text=True).stdout
        r = res[way] = json.loads(out)
        what = "read + concatenate" if way == "whole" else "open + verify"
        print(f"{way:10s}: {what} {r['open_s']:.2f} s, epochs of soft targets {r['epochs_s'][0]:.2f} s then {r['epochs_s'][1]:.2f} s; "
              f"peak RssAnon {r['anon_mib']:.0f} MiB, RssFile {r['file_mib']:.0f} MiB")
    print(f"RssAnon tfkd_cache / whole: {res['tfkd_cache']['anon_mib'] / res['whole']['anon_mib']:.3f}")


if __name__ == "__main__":
    main()
