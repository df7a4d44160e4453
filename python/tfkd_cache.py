"""Read a tfkd soft-target cache from Python: numpy only, memory-mapped, verified like tfkd does.

    import tfkd_cache
    cache = tfkd_cache.open_cache("caches/good")       # manifest + every shard checked (below)
    cache.N, cache.K, cache.views, cache.rows           # samples, classes, views per sample, rows
    z = cache.logits([0, 5, 9])                         # float32 [3, K], view 0 of samples 0, 5, 9
    p = cache.soft_targets([0, 5, 9], temperature=4)    # float32 [3, K], top-k caches included
    for row_start, block in cache.blocks(8192): ...     # every stored row, a shard slice at a time

What `open_cache` checks before any row is returned (the same rules as tfkd's own reader,
src/cache/reader.ts; docs/CACHE.md "Reading from Python"):
  - the manifest: a tfkd-cache/1 or /2 manifest, its checksum and its key recomputed from its own
    fields (an edited manifest is refused), its shard list (standard names, contiguous rows);
  - every shard (`verify="full"`, the default): its sha256 against the manifest, its header (key,
    shard index, row range, K, dtype, top-k, views) and tensors (names, dtypes, shapes, offsets),
    finite values, top-k classes in [0, K), and in tfkd-cache/1 every row naming its own (sample,
    view). One streamed pass, 1 MiB at a time. `verify="layout"` checks headers and sizes only
    (no data read: for a cache verified already), `verify="none"` nothing beyond the manifest.
A problem raises CacheError (the cache is damaged: re-run the precompute) naming the file and
what differs; a sound cache that is not the one asked for raises CacheMismatch.

Memory: shards are memory-mapped (at most MAX_OPEN_SHARDS at a time: half the descriptor limit,
each map holding one), never read whole, so reading an ImageNet-sized cache costs page cache, not
process memory. A Cache pickles without its maps
(torch DataLoader workers with the spawn start method) and reopens shards lazily, unverified again.

The data a cache was computed on is named by its data fingerprint (manifest `data.fingerprint`):
`fingerprint_arrays` and `fingerprint_files` compute it here from pixels and labels or from an
image folder's file list, so a Python data set can be checked to be the one, in the same order,
that the teacher saw (tfkd_torch.py does this for torchvision data sets).
"""
import bisect
import hashlib
import json
import math
import mmap
import os
import struct
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["open_cache", "Cache", "CacheError", "CacheMismatch", "canonical_json", "fingerprint_arrays",
           "fingerprint_files", "soft_targets_of", "hash_u32", "parse_augment", "view_params", "policy_ops", "trainer_view",
           "mix_params", "cut_pixels", "label_lambda"]

SCHEMAS = ("tfkd-cache/1", "tfkd-cache/2")
SCHEMA_V1 = "tfkd-cache/1"
TAIL_TEMPERATURES = [1, 2, 4, 8, 16, 32]
MIN_TOPK_TEMPERATURE = 1
DTYPES = {"F16": "<f2", "F32": "<f4", "I32": "<i4", "I64": "<i8", "U16": "<u2", "U8": "u1"}
DTYPE_BYTES = {"F16": 2, "F32": 4, "I32": 4, "I64": 8, "U16": 2, "U8": 1}
MAX_HEADER_BYTES = 100 * 1024 * 1024

def _max_open_shards():
    """How many shard maps a Cache keeps open: half the process's descriptor limit (each map holds
    a descriptor), at least 32. A cache with more shards than this re-maps shards as random batches
    reach them, which costs 6× on an epoch's gather (docs/PERFORMANCE.md)."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 32
    return 32 if soft == resource.RLIM_INFINITY else max(32, min(soft // 2, 65536))


MAX_OPEN_SHARDS = _max_open_shards()
CHUNK = 1 << 20
FINGERPRINT_VERSION = "tfkd-data/1"
HINT = "run `tfkd verify` on the cache; re-run the precompute (--force) to rebuild it"


class CacheError(Exception):
    """The cache is damaged or not a tfkd cache: what differs, naming the file."""


class CacheMismatch(Exception):
    """A sound cache, but not the one asked for (another data set, order, split, K or N)."""


# ---- canonical JSON: the one serialisation tfkd hashes (src/util/canonical-json.ts) -------------

def _js_number(x):
    """A number as JavaScript's JSON.stringify writes it (ECMAScript Number::toString)."""
    if isinstance(x, int) and abs(x) < 10 ** 21:
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mant, _, exp = repr(abs(x)).partition("e")  # repr: the shortest digits that round-trip, as JS
    ip, _, fp = mant.partition(".")
    e = int(exp) if exp else 0
    if ip != "0":
        n = len(ip) + e
        digits = (ip + fp).rstrip("0")
    else:
        stripped = fp.lstrip("0")
        n = e - (len(fp) - len(stripped))
        digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if n - 1 >= 0 else "-") + str(abs(n - 1))
    return sign + s


def canonical_json(v):
    """JSON with object keys sorted (by UTF-16 code unit, as JavaScript sorts), no spaces, numbers
    as JavaScript writes them: the text whose sha256 is a tfkd cache key or manifest checksum."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _js_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(canonical_json(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda s: s.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(v[k]) for k in keys) + "}"
    raise TypeError(f"not JSON: {type(v).__name__}")


def _sha256_text(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def manifest_keys(m):
    """The key and base key recomputed from a manifest's fields (src/cache/manifest.ts manifestKeys)."""
    key_input = {
        "schema": m["schema"],
        "teacher": {"sha256": m["teacher"]["sha256"], "outputName": m["teacher"]["outputName"]},
        "K": m["K"],
        "preprocess": m["preprocess"],
        "data": {"fingerprint": m["data"]["fingerprint"], "split": m["data"]["split"], "N": m["data"]["N"]},
        "views": m["views"],
        "augment": m["augment"],
        "dtype": m["dtype"],
        "topk": m["topk"],
        "shardRows": m["shardRows"],
    }
    if m.get("classMap"):
        key_input["classMap"] = m["classMap"]["indices"]
    if m["topk"] is not None and "tail" in m:
        key_input["tail"] = {"temperatures": TAIL_TEMPERATURES}
    part = m.get("part")
    whole = dict(key_input, part=None)
    own = dict(key_input, part={"index": part["index"], "count": part["count"]} if part else None)
    return _sha256_text(canonical_json(own)), _sha256_text(canonical_json(whole))


def manifest_problems(m):
    """What is inconsistent in a manifest by its own fields: key, base key, checksum ([] if none)."""
    problems = []
    key, base_key = manifest_keys(m)
    if m.get("key") != key:
        problems.append(f"key {str(m.get('key'))[:16]}… ≠ {key[:16]}… recomputed from its fields (a keyed field was changed after the cache was written)")
    if m.get("baseKey") != base_key:
        problems.append(f"baseKey {str(m.get('baseKey'))[:16]}… ≠ {base_key[:16]}… recomputed from its fields")
    if "checksum" in m:
        rest = {k: v for k, v in m.items() if k != "checksum"}
        c = _sha256_text(canonical_json(rest))
        if c != m["checksum"]:
            problems.append(f"checksum {str(m['checksum'])[:16]}… ≠ {c[:16]}… of its fields (the manifest was edited after it was written)")
    return problems


# ---- layout: which shards a manifest must list (src/cache/layout.ts) ----------------------------

def _shard_name(i):
    return f"shard-{i:05d}.safetensors"


def _slots(m):
    """(file base name, header key, index in its cache, rowStart, rows, fromPart) per shard, in row order."""
    V, R = m["views"], m["shardRows"]
    linked = any("fromPart" in s for s in m["shards"])
    if linked:
        runs = [(p["key"], p["part"]["sampleStart"] * V, p["part"]["sampleEnd"] * V, i) for i, p in enumerate(m.get("mergedFrom") or [])]
    else:
        part = m.get("part")
        s0, s1 = (part["sampleStart"], part["sampleEnd"]) if part else (0, m["N"])
        runs = [(m["key"], s0 * V, s1 * V, None)]
    slots = []
    for key, start, end, from_part in runs:
        j = 0
        while start + j * R < end:
            row_start = start + j * R
            slots.append((_shard_name(j), key, j, row_start, min(R, end - row_start), from_part))
            j += 1
    return slots, linked


def _linked_problem(m):
    merged = m.get("mergedFrom") or []
    if m.get("part"):
        return "a part cannot be a linked merge (shards with fromPart)"
    if not merged:
        return "shards linked from parts (fromPart) but no mergedFrom lists the parts"
    if "checksum" not in m:
        return "a linked merge without its checksum"
    nxt = 0
    for i, p in enumerate(merged):
        q = p["part"]
        if q["index"] != i or q["count"] != len(merged) or q["sampleStart"] != nxt:
            return f"mergedFrom[{i}] is part {q['index']}/{q['count']} of samples [{q['sampleStart']}, {q['sampleEnd']}), expected part {i}/{len(merged)} from sample {nxt}"
        nxt = q["sampleEnd"]
    return None if nxt == m["N"] else f"mergedFrom covers samples [0, {nxt}) of {m['N']}"


def _shard_spec(m, n):
    """[(name, dtype, shape)] of a shard of n rows, in on-disk order (src/cache/shard-check.ts shardSpec)."""
    fdt = "F16" if m["dtype"] == "f16" else "F32"
    k, K, v1 = m["topk"], m["K"], m["schema"] == SCHEMA_V1
    rows = [("sample", "I64", [n]), ("view", "I32", [n])] if v1 else []
    if k is None:
        return [("logits", fdt, [n, K])] + rows
    idx = "I32" if v1 or K > 65536 else "U16"
    return ([("topk_indices", idx, [n, k]), ("topk_values", fdt, [n, k])]
            + ([("logsumexp", "F32", [n])] if v1 else [])
            + [("tail_logsumexp", "F32", [n, len(TAIL_TEMPERATURES)]), ("tail_mean", "F32", [n])] + rows)


def _read_header(path):
    """(header dict, data start, file size) of a safetensors file, or CacheError."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise CacheError(f"{path}: cannot read ({e.strerror})") from None
    if not os.path.isfile(path):
        raise CacheError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CacheError(f"{path}: file too short ({st.st_size} bytes)")
        n = struct.unpack("<Q", head)[0]
        if n > min(MAX_HEADER_BYTES, st.st_size - 8):
            raise CacheError(f"{path}: header length {n} is not sane for a {st.st_size}-byte file")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise CacheError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CacheError(f"{path}: header is not a JSON object")
    return header, 8 + n, st.st_size


def _header_problems(header, data_size, m, key, index, row_start, n):
    meta = header.get("__metadata__") or {}
    want = {"schema": m["schema"], "key": key, "shard": str(index), "row_start": str(row_start), "rows": str(n),
            "K": str(m["K"]), "dtype": m["dtype"], "topk": "" if m["topk"] is None else str(m["topk"]), "views": str(m["views"])}
    problems = [f"header {k} is {json.dumps(meta.get(k))}, expected {json.dumps(v)}" for k, v in want.items() if meta.get(k) != v]
    off = 0
    spec = _shard_spec(m, n)
    for name, dt, shape in spec:
        t = header.get(name)
        size = int(np.prod(shape)) * DTYPE_BYTES[dt]
        if not isinstance(t, dict):
            problems.append(f"tensor {name} missing")
        elif t.get("dtype") != dt or t.get("shape") != shape:
            problems.append(f"tensor {name} is {t.get('dtype')} {t.get('shape')}, expected {dt} {shape}")
        elif t.get("data_offsets") != [off, off + size]:
            problems.append(f"tensor {name} at data offsets {t.get('data_offsets')}, expected [{off}, {off + size}]")
        off += size
    names = {s[0] for s in spec}
    problems += [f"unexpected tensor {k}" for k in header if k != "__metadata__" and k not in names]
    if not problems and data_size != off:
        problems.append(f"{data_size} data bytes, expected {off}")
    return problems


# ---- the cache --------------------------------------------------------------------------------

def open_cache(path, verify="full", expect=None):
    """Opens the cache at `path` (a directory with manifest.json). verify: "full" (default), "layout"
    or "none" (see the module's doc). expect: optional dict of what the cache must be — any of key,
    fingerprint, split, K, N — a sound cache that differs raises CacheMismatch."""
    return Cache(path, verify=verify, expect=expect)


class Cache:
    def __init__(self, path, verify="full", expect=None):
        if verify not in ("full", "layout", "none"):
            raise ValueError(f'verify must be "full", "layout" or "none", not {verify!r}')
        self.path = os.fspath(path)
        self.manifest = m = self._read_manifest()
        self.schema, self.N, self.K, self.views = m["schema"], m["N"], m["K"], m["views"]
        self.dtype, self.topk, self.rows = m["dtype"], m["topk"], m["rows"]
        part = m.get("part")
        self.sample_start, self.sample_end = (part["sampleStart"], part["sampleEnd"]) if part else (0, m["N"])
        self.row_start = self.sample_start * self.views
        self._shards = self._check_shard_list()
        self._row_starts = [s["rowStart"] for s in self._shards]
        self._starts = np.array(self._row_starts, dtype=np.int64)
        self._maps = OrderedDict()
        self._headers = {}
        self._local = threading.local()
        self._check_expected(expect or {})
        if verify == "full":
            self.verify()
        elif verify == "layout":
            for i in range(len(self._shards)):
                self._layout(i)

    # -- manifest and shard list --
    def _read_manifest(self):
        f = os.path.join(self.path, "manifest.json")
        try:
            with open(f, "rb") as fh:
                m = json.loads(fh.read())
        except FileNotFoundError:
            raise CacheMismatch(f"{self.path} is not a complete tfkd cache (no manifest.json): run tfkd precompute (again) to finish it") from None
        except OSError as e:
            raise CacheError(f"{f}: cannot read ({e.strerror})") from None
        except ValueError as e:
            raise CacheError(f"{f}: corrupt — not valid JSON ({e}); {HINT}") from None
        schema = m.get("schema") if isinstance(m, dict) else None
        if not isinstance(schema, str) or not schema.startswith("tfkd-cache/"):
            raise CacheMismatch(f"{self.path} is not a tfkd cache: its manifest.json has schema {schema!r}")
        if schema not in SCHEMAS:
            raise CacheMismatch(f"{self.path}: cache format {schema} is newer than this reader ({', '.join(SCHEMAS)}): use tfkd_cache.py from the tfkd that wrote it")
        try:
            problems = manifest_problems(m)
        except (KeyError, TypeError) as e:
            raise CacheError(f"{f}: not a complete tfkd manifest (missing or malformed field {e}); {HINT}") from None
        if problems:
            raise CacheError(f"{f}: {'; '.join(problems)}; the cache cannot be trusted: {HINT}")
        if m["topk"] is not None and (m.get("tail") or {}).get("temperatures") != TAIL_TEMPERATURES:
            raise CacheMismatch(f"cache {self.path} is a top-k cache of the first layout (no tail statistics: tfkd 0.1.0): precompute it again (--topk K --force)")
        return m

    def _check_shard_list(self):
        m, f = self.manifest, os.path.join(self.path, "manifest.json")
        if m["data"]["N"] != m["N"]:
            raise CacheError(f"{f}: data.N {m['data']['N']} ≠ N {m['N']}")
        if m["topk"] is not None and m["topk"] >= m["K"]:
            raise CacheError(f"{f}: topk {m['topk']} ≥ K {m['K']}")
        slots, linked = _slots(m)
        bad = linked and _linked_problem(m)
        if bad:
            raise CacheError(f"{f}: {bad}")
        if len(slots) != len(m["shards"]):
            raise CacheError(f"{f}: {len(m['shards'])} shards listed, its rows at {m['shardRows']} per shard need {len(slots)}")
        out = []
        for i, (s, (name, key, index, row_start, rows, from_part)) in enumerate(zip(m["shards"], slots)):
            file = s["file"]
            if not linked and file != name:
                raise CacheError(f"{f}: shard {i} is named {json.dumps(file)}, expected {name}")
            if linked and (file.startswith("/") or "\\" in file or s.get("fromPart") != from_part or file.split("/")[-1] != name):
                raise CacheError(f"{f}: shard {i} is linked as {json.dumps(file)} from part {s.get('fromPart')}, expected a relative path to {name} of part {from_part}")
            if s["rowStart"] != row_start or s["rows"] != rows:
                raise CacheError(f"{f}: shard {file} starts at row {s['rowStart']} with {s['rows']} rows, expected row {row_start} with {rows}")
            out.append({"file": os.path.join(self.path, file), "key": key, "index": index, "rowStart": row_start, "rows": rows, "sha256": s["sha256"]})
        if m["rows"] != (self.sample_end - self.sample_start) * m["views"]:
            raise CacheError(f"cache {self.path}: manifest says {m['rows']} rows for samples [{self.sample_start}, {self.sample_end}) × {m['views']} views")
        return out

    def _check_expected(self, expect):
        m = self.manifest
        have = {"key": m["key"], "fingerprint": m["data"]["fingerprint"], "split": m["data"]["split"], "K": m["K"], "N": m["N"]}
        for k, want in expect.items():
            if k not in have:
                raise ValueError(f"expect: unknown field {k!r} (key, fingerprint, split, K, N)")
            if have[k] != want and not (k == "key" and m["baseKey"] == want):
                raise CacheMismatch(f"cache {self.path} does not match: {k} is {json.dumps(have[k])}, expected {json.dumps(want)}")

    # -- shards --
    def _layout(self, i):
        """Shard i's header, checked against the manifest once per Cache: (header, data start)."""
        known = self._headers.get(i)
        if known is not None:
            return known
        s = self._shards[i]
        header, data_start, size = _read_header(s["file"])
        problems = _header_problems(header, size - data_start, self.manifest, s["key"], s["index"], s["rowStart"], s["rows"])
        if problems:
            raise CacheError(f"{s['file']}: {'; '.join(problems)}; {HINT}")
        self._headers[i] = header, data_start
        return header, data_start

    def _scan(self, i):
        """One streamed pass over shard i: sha256, header, finite floats, top-k classes, v1 row order."""
        s = self._shards[i]
        header, data_start = self._layout(i)
        h = hashlib.sha256()
        K, V = self.K, self.views
        problems = []
        with open(s["file"], "rb") as f:
            h.update(f.read(data_start))
            for name, dt, shape in _shard_spec(self.manifest, s["rows"]):
                per_row = int(np.prod(shape[1:]))
                total = int(np.prod(shape)) * DTYPE_BYTES[dt]
                step = CHUNK - CHUNK % DTYPE_BYTES[dt]
                whole = [] if name in ("sample", "view") else None
                reported = False
                for off in range(0, total, step):
                    b = f.read(min(step, total - off))
                    h.update(b)
                    a = np.frombuffer(b, DTYPES[dt])
                    if whole is not None:
                        whole.append(a)
                        continue
                    if reported:
                        continue
                    if dt in ("F16", "F32"):
                        bad = np.flatnonzero(~np.isfinite(a))
                    elif name == "topk_indices":
                        bad = np.flatnonzero((a < 0) | (a >= K))
                    else:
                        bad = ()
                    if len(bad):
                        g = s["rowStart"] + (off // DTYPE_BYTES[dt] + int(bad[0])) // per_row
                        what = "is not finite" if dt.startswith("F") else f"holds class {int(a[bad[0]])} outside [0, {K})"
                        problems.append(f"{name} of row {g} (sample {g // V}, view {g % V}) {what}")
                        reported = True
                if whole is not None:
                    got = np.concatenate(whole) if whole else np.zeros(0)
                    g = np.arange(s["rowStart"], s["rowStart"] + s["rows"], dtype=np.int64)
                    want = g // V if name == "sample" else g % V
                    wrong = np.flatnonzero(got != want)
                    if len(wrong):
                        r = int(wrong[0])
                        problems.append(f"row {s['rowStart'] + r} holds {name} {int(got[r])}, expected {int(want[r])}")
        digest = h.hexdigest()
        if digest != s["sha256"]:
            problems.insert(0, f"sha256 {digest[:16]}… ≠ {s['sha256'][:16]}… in the manifest")
        if problems:
            raise CacheError(f"{s['file']}: {'; '.join(problems)}; {HINT}")

    def verify(self):
        """Scans every shard (sha256, header, contents); raises CacheError naming the first bad one."""
        for i in range(len(self._shards)):
            self._scan(i)

    def _tensors(self, i):
        """Shard i's tensors as read-only arrays over a memory map (a few maps kept open)."""
        t = self._maps.get(i)
        if t is not None:
            self._maps.move_to_end(i)
            return t
        s = self._shards[i]
        header, data_start = self._layout(i)
        with open(s["file"], "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        t = {}
        for name, dt, shape in _shard_spec(self.manifest, s["rows"]):
            a, b = header[name]["data_offsets"]
            t[name] = np.frombuffer(mm, DTYPES[dt], count=(b - a) // DTYPE_BYTES[dt], offset=data_start + a).reshape(shape)
        self._maps[i] = t
        while len(self._maps) > MAX_OPEN_SHARDS:
            self._maps.popitem(last=False)  # the map closes when the last array over it goes
        return t

    # -- rows --
    @staticmethod
    def _indices(x, what):
        """`x` as int64 indices; anything else (1.7, True, '5') is refused as tfkd's reader refuses
        it, instead of being cut down to another row."""
        a = np.asarray(x)
        if a.size and a.dtype.kind not in "iu":
            raise TypeError(f"{what} indices must be integers, got {a.dtype} ({a.reshape(-1)[0]!r})")
        return a.astype(np.int64)

    def row_of(self, samples, view=0):
        """Row indices (0 = this cache's first row) of (sample, view) pairs; samples are the data
        set's indices (for a part: within [sample_start, sample_end)), view an int or one per sample."""
        s = self._indices(samples, "sample")
        v = np.broadcast_to(self._indices(view, "view"), s.shape)
        if s.size and (s.min() < self.sample_start or s.max() >= self.sample_end):
            raise IndexError(f"sample out of [{self.sample_start}, {self.sample_end}) in cache {self.path}")
        if v.size and (v.min() < 0 or v.max() >= self.views):
            raise IndexError(f"view out of [0, {self.views}) in cache {self.path}")
        return s * self.views + v - self.row_start

    def read_rows(self, rows):
        """The stored tensors of rows (indices from 0, any order): {name: array}, copies."""
        r = self._indices(rows, "row").reshape(-1)
        if r.size and (r.min() < 0 or r.max() >= self.rows):
            raise IndexError(f"row out of [0, {self.rows}) in cache {self.path}")
        g = r + self.row_start
        names = [n for n, _, _ in _shard_spec(self.manifest, 1)]
        if len(g) == 1:  # one row (a DataLoader item): no sort, no masks
            i = bisect.bisect_right(self._row_starts, int(g[0])) - 1
            t, k = self._tensors(i), int(g[0]) - self._row_starts[i]
            return {n: t[n][k:k + 1].copy() for n in names}
        out = {n: np.empty((len(r),) + tuple(shape[1:]), DTYPES[dt]) for n, dt, shape in _shard_spec(self.manifest, 0)}
        if not len(g):
            return out
        # Rows grouped by shard: one fancy-indexed gather per shard touched.
        which = np.searchsorted(self._starts, g, side="right") - 1
        order = np.argsort(which, kind="stable")
        shards, first = np.unique(which[order], return_index=True)
        ends = np.append(first[1:], len(order))
        for i, a, b in zip(shards.tolist(), first.tolist(), ends.tolist()):
            sel = order[a:b]
            t, local = self._tensors(i), g[sel] - self._row_starts[i]
            for n in names:
                out[n][sel] = t[n][local]
        return out

    def blocks(self, size=8192):
        """Every stored row in order, as (first row, {name: array}) slices of at most `size` rows,
        read-only views over the memory map (no copy: keep what you need)."""
        for i, s in enumerate(self._shards):
            t = self._tensors(i)
            for a in range(0, s["rows"], size):
                yield s["rowStart"] - self.row_start + a, {n: x[a:a + size] for n, x in t.items()}

    def logits(self, samples, view=0):
        """float32 [n, K] logits of (sample, view) rows. A top-k cache holds the kept logits and
        every other class at F0 − log(K − k) (softmax right at τ = 1 only; use soft_targets)."""
        t = self.read_rows(self.row_of(samples, view))
        if self.topk is None:
            return t["logits"].astype(np.float32)
        m = self.K - self.topk
        z = np.repeat((t["tail_logsumexp"][:, :1].astype(np.float64) - math.log(m)).astype(np.float32), self.K, axis=1)
        np.put_along_axis(z, t["topk_indices"].astype(np.int64), t["topk_values"].astype(np.float32), axis=1)
        return z

    def soft_targets(self, samples, view=0, temperature=1.0):
        """float32 [n, K] softmax(logits / temperature) of (sample, view) rows; for top-k caches the
        kept classes and the tail's stored mass spread uniformly (docs/CACHE.md "Top-k caches")."""
        t = self.read_rows(self.row_of(samples, view))
        n = len(next(iter(t.values())))
        # One float64 work array per thread, reused batch after batch: with fresh temporaries, a
        # caller that keeps the previous result alive made the allocator map and fault in new
        # pages for every batch (1.6× slower epochs, docs/PERFORMANCE.md).
        work = getattr(self._local, "work", None)
        if work is None or work.size < n * self.K:
            work = self._local.work = np.empty(n * self.K)
        return soft_targets_of(self.manifest, t, temperature, work).astype(np.float32)

    def close(self):
        self._maps.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return self.rows

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_maps"] = OrderedDict()  # maps do not pickle; a worker reopens shards lazily
        d["_local"] = None
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._local = threading.local()

    def __repr__(self):
        return (f"Cache({self.path!r}: {self.rows} rows = samples [{self.sample_start}, {self.sample_end}) × {self.views} views, "
                f"K={self.K}, {self.dtype}{'' if self.topk is None else f', top-{self.topk}'}, {len(self._shards)} shards)")


def _tail_log_mass(F, mu, m, temperature):
    """log Σ_tail exp(z / T), T ≥ 1, from the stored tail statistics (src/cache/topk.ts)."""
    taus = TAIL_TEMPERATURES
    if temperature in taus:
        return F[:, taus.index(temperature)]
    beta = 1.0 / temperature
    logm = np.log(m)
    g = lambda j: (F[:, j] - logm - mu / taus[j]) * taus[j] ** 2  # noqa: E731
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


def soft_targets_of(manifest, t, temperature=1.0, work=None):
    """float64 softmax(logits / T) of the stored rows `t` ({name: array}); top-k caches: kept classes
    exp(v / T), the tail's stored mass at T spread uniformly over the other K − k classes. `work`:
    a float64 array of at least n·K values to compute full-logit rows in (the result is a view of
    it), so that a batch allocates nothing large."""
    K = manifest["K"]
    # tfkd's reader (src/cache/reader.ts softTargets) refuses the same: τ ≤ 0 or not finite would
    # give NaN or a reversed distribution, silently.
    try:
        tau = float(temperature)
    except (TypeError, ValueError):
        tau = math.nan
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    if manifest["topk"] is None:
        x = t["logits"]
        if work is None:
            z = x.astype(np.float64)
        else:
            z = work[:x.size].reshape(x.shape)
            np.copyto(z, x)
        z /= temperature
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z
    if temperature < MIN_TOPK_TEMPERATURE:
        raise ValueError(f"top-k soft targets need temperature ≥ {MIN_TOPK_TEMPERATURE}: below it the tail is dominated by its unknown largest logit")
    k = manifest["topk"]
    m = K - k
    vals = t["topk_values"].astype(np.float64)
    L = _tail_log_mass(t["tail_logsumexp"].astype(np.float64), t["tail_mean"].astype(np.float64), m, temperature)[:, None]
    a = vals / temperature
    shift = np.maximum(a.max(axis=1, keepdims=True), L)
    e = np.exp(a - shift)
    tail = np.exp(L - shift)
    Z = e.sum(axis=1, keepdims=True) + tail
    p = np.repeat(tail / Z / m, K, axis=1)
    np.put_along_axis(p, t["topk_indices"].astype(np.int64), e / Z, axis=1)
    return p


# ---- data fingerprints (src/data/fingerprint.ts, src/data/files.ts) ----------------------------

def fingerprint_arrays(kind, split, images, labels, num_classes, chunk=4096):
    """tfkd's fingerprint of a fixed-size source (IDX, CIFAR, synthetic): sha256 over
    "tfkd-data/1\\n{kind}\\n{split}\\n{N}\\n{K}\\n{H}x{W}x{C}\\n", the labels as int32 little-endian,
    then every sample's HWC uint8 bytes. `images`: uint8 [N, H, W] or [N, H, W, C] (numpy or
    anything np.asarray takes, read `chunk` samples at a time)."""
    n = len(images)
    first = np.asarray(images[0:1])
    if first.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixels, not {first.dtype}")
    shape = first.shape[1:] + ((1,) if first.ndim == 3 else ())
    h = hashlib.sha256(f"{FINGERPRINT_VERSION}\n{kind}\n{split}\n{n}\n{num_classes}\n{shape[0]}x{shape[1]}x{shape[2]}\n".encode())
    h.update(np.asarray(labels).astype("<i4").tobytes())
    for s in range(0, n, chunk):
        h.update(np.ascontiguousarray(np.asarray(images[s:s + chunk])).tobytes())
    return h.hexdigest()


def fingerprint_files(kind, split, root, files, labels, class_names, extra=""):
    """tfkd's fingerprint of an image-file source (`folder:`, `list:`): sha256 over the kind, split,
    count, class names, then per sample its path relative to `root` (with / separators), label and
    byte size — one stat per file, no decoding. `extra`: the list file's sha256 for `list:`."""
    h = hashlib.sha256(f"{FINGERPRINT_VERSION}\n{kind}\n{split}\n{len(files)}\n{len(class_names)}\nfiles\n".encode())
    for c in class_names:
        h.update(f"{c}\0".encode())
    h.update(f"\n{extra}\n".encode())
    for rel, label in zip(files, labels):
        size = os.stat(os.path.join(root, rel)).st_size
        h.update(f"{rel}\0{int(label)}\0{size}\n".encode())
    return h.hexdigest()


# ---- views: which image row (sample, view) of an augmented cache is (src/data/views.ts, augment.ts) --

_M32 = 0xFFFFFFFF


def _fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def hash_u32(*words):
    """MurmurHash3_x86_32, seed 0, over the little-endian uint32 words (src/data/rng.ts hashU32):
    every random choice of tfkd's views is one of these."""
    h = 0
    for v in words:
        if not isinstance(v, (int, np.integer)) or not -0x80000000 <= v <= _M32:
            raise ValueError(f"hash input must be an integer in [-2^31, 2^32), got {v!r}")
        k = (int(v) & _M32) * 0xCC9E2D51 & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        k = k * 0x1B873593 & _M32
        h ^= k
        h = ((h << 13) | (h >> 19)) & _M32
        h = (h * 5 + 0xE6546B64) & _M32
    return _fmix32(h ^ (4 * len(words)))


_RRC_DEFAULT = ((0.08, 1.0), (3 / 4, 4 / 3))


def _policy(policy, ops=None, magnitude=None, bins=None, table=None):
    """parse_augment's "auto" from the values a spec gives (token or JSON), the rest torchvision's defaults."""
    if policy == "autoaugment":
        return {"policy": policy, "ops": 2, "magnitude": -1, "bins": 10, "table": table or "imagenet"}
    if policy == "trivialaugment":
        return {"policy": policy, "ops": 1, "magnitude": -1, "bins": 31 if bins is None else bins}
    return {"policy": policy, "ops": 2 if ops is None else ops, "magnitude": 9 if magnitude is None else magnitude, "bins": 31 if bins is None else bins}


def _policy_token(tok):
    """`randaugment[:OPS[:M[:BINS]]]`, `trivialaugment[:BINS]`, `autoaugment[:TABLE]` → parse_augment's "auto"."""
    name, *args = tok.split(":")
    if name == "autoaugment":
        return _policy(name, table=args[0] if args else None)
    keys = ["ops", "magnitude", "bins"] if name == "randaugment" else ["bins"]
    return _policy(name, **{k: int(a) for k, a in zip(keys, args)})


def parse_augment(spec):
    """A cache's `augment.spec` (the canonical string tfkd writes, e.g. "rrc:0.08-1:0.75-1.3333333333333333,flip",
    "crop:4,flip", or a JSON object) → {"crop": P, "flip": bool, "rrc": ((s0, s1), (r0, r1)) or None,
    "auto": {"policy", "ops", "magnitude", "bins"(, "table")} or None (RandAugment / TrivialAugmentWide /
    AutoAugment: policy_ops),
    "mix": {"mixup": α or None, "cutmix": α or None, "switchProb": p, "mixProb": p} or None}."""
    if isinstance(spec, dict) or (isinstance(spec, str) and spec.strip().startswith("{")):
        o = json.loads(spec) if isinstance(spec, str) else spec
        rrc, mix, auto = o.get("rrc"), o.get("mix"), o.get("auto")
        return {"crop": int(o.get("cropPad", 0)), "flip": bool(o.get("flip", False)),
                "rrc": None if rrc is None else (tuple(rrc.get("scale", _RRC_DEFAULT[0])), tuple(rrc.get("ratio", _RRC_DEFAULT[1]))),
                "auto": None if auto is None else _policy(**auto),
                "mix": None if mix is None else {"mixup": mix.get("mixup"), "cutmix": mix.get("cutmix"),
                                                 "switchProb": mix.get("switchProb", 0.5), "mixProb": mix.get("mixProb", 1)}}
    out = {"crop": 0, "flip": False, "rrc": None, "auto": None, "mix": None}
    mix = {"mixup": None, "cutmix": None, "switchProb": 0.5, "mixProb": 1}
    for tok in (t.strip() for t in (spec or "none").split(",")):
        if tok in ("", "none"):
            continue
        if tok == "flip":
            out["flip"] = True
        elif tok.startswith("crop:"):
            out["crop"] = int(tok[5:])
        elif tok == "rrc" or tok.startswith("rrc:"):
            parts = tok.split(":")[1:]
            rng = lambda p, d: tuple(float(x) for x in p.split("-")) if p else d  # noqa: E731
            out["rrc"] = (rng(parts[0] if parts else None, _RRC_DEFAULT[0]), rng(parts[1] if len(parts) > 1 else None, _RRC_DEFAULT[1]))
        elif tok.split(":")[0] in ("randaugment", "trivialaugment", "autoaugment"):
            out["auto"] = _policy_token(tok)
        elif tok.split(":")[0] in ("mixup", "cutmix", "switch-prob", "mix-prob"):
            name, _, val = tok.partition(":")
            key = {"mixup": "mixup", "cutmix": "cutmix", "switch-prob": "switchProb", "mix-prob": "mixProb"}[name]
            mix[key] = float(val) if val else 1.0
            out["mix"] = mix
        else:
            raise ValueError(f"unknown augmentation {tok!r} in {spec!r}")
    return out


def view_params(augment, seed, sample, view, width, height):
    """The view `view` ≥ 1 of `sample` in a width×height image, as `tfkd data views --json` prints it:
    {"box": [left, top, w, h], "flip": bool} for rrc specs (the RandomResizedCrop box in the
    original image), {"box": [dx, dy, width, height], "flip": bool} for crop:P / flip specs (the
    shift of the zero-padded crop). View 0 (each side's eval transform) has none: None.
    `augment`: parse_augment's dict. Mixing (Mixup/CutMix) is not computed here."""
    if view == 0:
        return None
    flip = augment["flip"] and (hash_u32(seed, sample, view, 2) & 1) == 1
    if augment["rrc"] is None:
        p = augment["crop"]
        m = 2 * p + 1
        dy = hash_u32(seed, sample, view, 0) % m - p if p else 0
        dx = hash_u32(seed, sample, view, 1) % m - p if p else 0
        return {"box": [dx, dy, width, height], "flip": flip}
    (s0, s1), (r0, r1) = augment["rrc"]
    u = lambda k: hash_u32(seed, sample, view, k) / 4294967296  # noqa: E731
    area = width * height
    l0, l1 = math.log(r0), math.log(r1)
    for attempt in range(10):
        k = 16 + 4 * attempt
        target = area * (s0 + (s1 - s0) * u(k))
        aspect = math.exp(l0 + (l1 - l0) * u(k + 1))
        w = round(math.sqrt(target * aspect))  # Python's round: half to even, as tfkd's pyRound
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = math.floor(u(k + 2) * (height - h + 1))
            left = math.floor(u(k + 3) * (width - w + 1))
            return {"box": [left, top, w, h], "flip": flip}
    ratio = width / height  # torchvision's fallback: the whole image clamped to the ratio range, centred
    if ratio < min(r0, r1):
        w, h = width, round(width / min(r0, r1))
    elif ratio > max(r0, r1):
        w, h = round(height * max(r0, r1)), height
    else:
        w, h = width, height
    return {"box": [(width - w) // 2, (height - h) // 2, w, h], "flip": flip}


def trainer_view(seed, epoch, sample, views):
    """The view tfkd's trainer gives `sample` in `epoch` (0-based) with a `views`-view cache and
    training seed `seed`: hashU32(seed, epoch, sample) mod views (docs/TRAINING.md "Consistent views")."""
    return hash_u32(seed, epoch, sample) % views


# ---- policies: RandAugment / TrivialAugmentWide / AutoAugment (src/data/auto-augment.ts) --------

_AUTO_OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
             "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
_SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness"}


def _linspace32(start, end, n):
    """torch.linspace in float32 by its scalar rule (start + step·i for the first half, end − step·(n−1−i)
    for the rest): tfkd's tables, within one float32 ulp of torch's vectorised kernel."""
    f = np.float32
    if n == 1:
        return [float(f(start))]
    s, e = f(start), f(end)
    step = f(f(e - s) / f(n - 1))
    return [float(s + step * f(i)) if i < n // 2 else float(e - step * f(n - i - 1)) for i in range(n)]


def _magnitudes(policy, bins, op, height, width):
    ra = policy != "trivialaugment"
    if op in ("Identity", "AutoContrast", "Equalize", "Invert"):
        return None
    if op in ("ShearX", "ShearY"):
        return _linspace32(0, 0.3 if ra else 0.99, bins)
    if op == "TranslateX":
        return _linspace32(0, 150.0 / 331.0 * width if ra else 32.0, bins)
    if op == "TranslateY":
        return _linspace32(0, 150.0 / 331.0 * height if ra else 32.0, bins)
    if op == "Rotate":
        return _linspace32(0, 30.0 if ra else 135.0, bins)
    if op in ("Brightness", "Color", "Contrast", "Sharpness"):
        return _linspace32(0, 0.9 if ra else 0.99, bins)
    if op == "Posterize":
        d = np.float32((bins - 1) / (4 if ra else 6))
        return [float(8 - np.round(np.float32(i) / d)) for i in range(bins)]  # numpy rounds half to even, as torch
    return _linspace32(255.0, 0.0, bins)  # Solarize


def policy_ops(auto, seed, sample, view, height, width):
    """The operations of view `view` ≥ 1 of `sample` under a policy (parse_augment's "auto"), at the
    size it runs at (rrc: the rendered box's, crop:P: the image's): [(op, magnitude), ...] in order,
    for torchvision's `_apply_op(img, op, magnitude, InterpolationMode.NEAREST, fill=None)` — what
    `tfkd data views --json` prints as "ops". View 0: []."""
    if not auto or view == 0:
        return []
    u = lambda k: hash_u32(seed, sample, view, k) / 4294967296  # noqa: E731
    out = []
    if auto["policy"] == "autoaugment":
        from torchvision.transforms.autoaugment import AutoAugment, AutoAugmentPolicy  # tfkd's tables are these
        subs = AutoAugment(AutoAugmentPolicy(auto["table"])).policies
        for j, (op, p, b) in enumerate(subs[math.floor(u(255) * len(subs))]):
            if u(256 + 4 * j) > p:
                continue
            mags = None if b is None else _magnitudes("autoaugment", 10, op, height, width)
            m = 0.0 if mags is None else mags[b]
            if mags is not None and op in _SIGNED and hash_u32(seed, sample, view, 257 + 4 * j) & 1:
                m = -m
            out.append((op, m))
        return out
    for j in range(auto["ops"]):
        k = 256 + 4 * j
        op = _AUTO_OPS[math.floor(u(k) * len(_AUTO_OPS))]
        mags = _magnitudes(auto["policy"], auto["bins"], op, height, width)
        m = 0.0
        if mags is not None:
            m = mags[auto["magnitude"] if auto["policy"] == "randaugment" else math.floor(u(k + 2) * auto["bins"])]
            if op in _SIGNED and hash_u32(seed, sample, view, k + 1) & 1:
                m = -m
        out.append((op, m))
    return out


# ---- mixing: Mixup / CutMix of view v of sample i with a partner's view v (src/data/mix.ts) -----

def _uni(seed, i, v, k):
    """u(k) = (hashU32(seed, i, v, k) + 0.5) / 2^32, in (0, 1): never 0, so its log is finite."""
    return (hash_u32(seed, i, v, k) + 0.5) / 4294967296


def _log_gamma(a, nxt):
    """log of a Gamma(a, 1) draw from the uniform stream nxt (Marsaglia & Tsang 2000; docs/MIXING.md)."""
    if a < 1:
        g = _log_gamma(a + 1, nxt)
        return g + math.log(nxt()) / a
    d = a - 1 / 3
    c = 1 / math.sqrt(9 * d)
    for _ in range(64):
        x = math.sqrt(-2 * math.log(nxt())) * math.cos(2 * math.pi * nxt())
        w0 = 1 + c * x
        u3 = nxt()
        if w0 <= 0:
            continue
        w = w0 * w0 * w0
        if math.log(u3) < 0.5 * x * x + d - d * w + d * math.log(w):
            return math.log(d * w)
    return math.log(d)


def mix_params(mix, seed, sample, view, N):
    """The mixing of view `view` of `sample` in a data set of N samples (docs/MIXING.md), or None
    when it is not mixed: {"kind": "mixup" | "cutmix", "partner": j, "lambda": the Beta draw,
    "cut": [y0, x0, y1, x1] in fractions of the image (CutMix)}. `mix`: parse_augment's "mix".
    λ comes from log/exp/cos: V8's fdlibm in tfkd, this machine's libm here — within a few ulps of
    tfkd's (4.4e-16 at most on the views tested), not bit for bit."""
    if not mix or view == 0:
        return None
    if _uni(seed, sample, view, 64) >= mix["mixProb"]:
        return None
    both = mix["mixup"] is not None and mix["cutmix"] is not None
    kind = ("cutmix" if _uni(seed, sample, view, 65) < mix["switchProb"] else "mixup") if both else ("cutmix" if mix["cutmix"] is not None else "mixup")
    partner = (sample + 1 + math.floor(_uni(seed, sample, view, 66) * (N - 1))) % N
    t = [128]

    def nxt():
        t[0] += 1
        return _uni(seed, sample, view, t[0] - 1)
    alpha = mix[kind]
    lx = _log_gamma(alpha, nxt)
    ly = _log_gamma(alpha, nxt)
    lam = 1 / (1 + math.exp(ly - lx))
    if kind == "mixup":
        return {"kind": kind, "partner": partner, "lambda": lam}
    r = math.sqrt(1 - lam)
    cy, cx = _uni(seed, sample, view, 67), _uni(seed, sample, view, 68)
    c01 = lambda x: min(1.0, max(0.0, x))  # noqa: E731
    return {"kind": kind, "partner": partner, "lambda": lam, "cut": [c01(cy - r / 2), c01(cx - r / 2), c01(cy + r / 2), c01(cx + r / 2)]}


def cut_pixels(p, height, width):
    """CutMix's cut on an H×W grid: [x0, y0, x1, y1], half-open, round(f) = ⌊f + 0.5⌋; None for Mixup."""
    if "cut" not in p:
        return None
    y0, x0, y1, x1 = p["cut"]
    g = lambda f, n: math.floor(f * n + 0.5)  # noqa: E731
    return [g(x0, width), g(y0, height), g(x1, width), g(y1, height)]


def label_lambda(p, height, width):
    """The label weight of the sample itself on an H×W grid: Mixup's λ, CutMix's λ corrected to the
    cut's pixels (timm's correct_lam): 1 − rows·columns / (H·W)."""
    c = cut_pixels(p, height, width)
    return p["lambda"] if c is None else 1 - (c[2] - c[0]) * (c[3] - c[1]) / (height * width)
