#!/usr/bin/env python3
"""Read a tfkd soft-target cache (format tfkd-cache/2 or tfkd-cache/1) with numpy alone.

    python3 scripts/read_cache.py CACHE              # summary (after the checks tfkd's reader makes)
    python3 scripts/read_cache.py CACHE --json       # every tensor as JSON (small caches; tests)
    python3 scripts/read_cache.py CACHE --npz out.npz

A command-line face of python/tfkd_cache.py (memory-mapped, verified reading; docs/CACHE.md
"Reading from Python"). Row g of the cache is sample g // views, view g % views: tfkd-cache/1 shards
also store them (`sample`, `view`), tfkd-cache/2 shards do not, and the output adds them either way.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tfkd_cache  # noqa: E402


def load_cache(path, verify="full"):
    """Manifest + all rows' tensors (whole cache in memory: small caches), with `sample` and `view`."""
    cache = tfkd_cache.open_cache(path, verify=verify)
    t = cache.read_rows(np.arange(cache.rows))
    g = np.arange(cache.row_start, cache.row_start + cache.rows, dtype=np.int64)
    t.setdefault("sample", g // cache.views)
    t.setdefault("view", (g % cache.views).astype(np.int32))
    return cache, t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache")
    ap.add_argument("--json", action="store_true", help="print every tensor (and soft targets at --temperature) as JSON")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--npz", help="write the tensors to this .npz file")
    ap.add_argument("--verify", choices=["full", "layout", "none"], default="full", help="shard checks before reading (default full)")
    a = ap.parse_args()
    try:
        cache, t = load_cache(a.cache, a.verify)
        soft = tfkd_cache.soft_targets_of(cache.manifest, t, a.temperature) if a.json else None
    except (tfkd_cache.CacheError, tfkd_cache.CacheMismatch, ValueError) as e:
        print(f"read_cache: {e}", file=sys.stderr)
        sys.exit(1 if isinstance(e, tfkd_cache.CacheError) else 2)
    if a.npz:
        np.savez(a.npz, **t)
    if a.json:
        out = {k: v.astype(np.float64 if v.dtype.kind == "f" else np.int64).ravel().tolist() for k, v in t.items()}
        out["soft_targets"] = soft.ravel().tolist()
        out["shapes"] = {k: list(v.shape) for k, v in t.items()}
        json.dump(out, sys.stdout)
        return
    print(f"{a.cache}: {cache.rows} rows, K={cache.K}, dtype={cache.dtype}, topk={cache.topk}, "
          f"views={cache.views}, {len(cache.manifest['shards'])} shard(s), verified ({a.verify})")
    for k, v in t.items():
        print(f"  {k}: {v.dtype} {list(v.shape)}")


if __name__ == "__main__":
    main()
