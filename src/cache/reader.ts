/**
 * Reads soft targets out of a cache directory (either row format, `tfkd-cache/2` or `/1`:
 * shard-check.ts shardSpec) for the trainer: per (sample, view) rows by
 * positioned reads (never a whole-file load), so memory stays flat whatever the cache size. Shard
 * files are opened lazily (header only) and their descriptors kept until `close()`.
 *
 * Top-k caches (src/cache/topk.ts): `softTargets` gives the k kept classes exp(v/τ) and the tail
 * as a whole its stored log-mass at τ (exact at τ = 1, 2, 4 … 32, interpolated between), spread
 * uniformly over the other K − k classes. `readLogits` rebuilds a full row for τ = 1: the kept
 * logits as stored, every other class at F₀ − log(K − k) (F₀ = log Σ_tail exp z), so its softmax
 * has the exact tail mass at τ = 1 — use `softTargets` for any other temperature.
 *
 * Shape (onnxruntime-js's interface + `Impl`): `CacheReader` is what callers see; `openCache` runs
 * the manifest checks top-down (integrity, layout version, what the caller expects, the shard
 * list) and hands the checked manifest to `CacheReaderImpl`, whose methods each do one thing —
 * find a row's shard, scan a shard before its first use, read one row, check it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError, optionName } from '../errors.js';
import { isLinked, linkedProblem, shardOfRow, shardSlots, slotProblem, type ShardSlot } from './layout.js';
import { MANIFEST, SCHEMA_V1, assertManifestIntegrity, readManifest, type Manifest } from './manifest.js';
import { NOT_HASHED, scanShard, topkIndexDtype, type ShardScan } from './shard-check.js';
import { MIN_TOPK_TEMPERATURE, TAIL_J, TAIL_TEMPERATURES, topkSoftRow } from './topk.js';
import { DTYPE_BYTES, openSafetensors, type SafetensorsFile, type StDtype } from './safetensors.js';
import { f16ToF32 } from '../util/float16.js';
import { temperedSoftmaxRows } from '../util/softmax.js';
import type { RowBlock } from './rows.js';

export interface CacheExpect {
  /** Exact cache key (strongest check). */
  key?: string;
  fingerprint?: string;
  split?: 'train' | 'test';
  numClasses?: number;
  /** Samples in the data set. */
  N?: number;
}

export interface CacheReader {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly key: string;
  readonly views: number;
  readonly numClasses: number;
  readonly N: number;
  readonly topk: number | null;
  /** Samples this cache covers: [sampleStart, sampleEnd) ([0, N) for a whole cache). */
  readonly sampleStart: number;
  readonly sampleEnd: number;
  /** Raw logits (n·K float32, rebuilt for top-k caches) of rows (samples[i], views[i]). */
  readLogits(samples: ArrayLike<number>, views: ArrayLike<number>, out?: Float32Array): Float32Array;
  /** softmax(logits / temperature) of rows (samples[i], views[i]), n·K float32. */
  softTargets(samples: ArrayLike<number>, views: ArrayLike<number>, temperature: number, out?: Float32Array): Float32Array;
  /** Stored rows [globalRow, globalRow + count) as written (for merge; copies bits, no conversion). */
  readBlock(globalRow: number, count: number): RowBlock;
  close(): void;
}

/** What a reader says when a shard or a row cannot be right. */
const HINT = 'run tfkd verify on the cache; re-run the precompute (--force) to rebuild it';

/**
 * Opens a cache for reading. Before anything is read it checks (exit 1, naming the file and what
 * differs, on any failure): the manifest's key, base key and checksum against its own fields
 * (manifest.ts), its shard list (standard names, contiguous rows). Then, what is asked (`expect`,
 * exit 2 when it differs). Each shard, before its first use, in one streamed pass once per process
 * (shard-check.ts scanShard): its sha256 against the manifest, its header and every tensor's
 * dtype, shape and offsets against the manifest, finite values, top-k indices in range, rows in
 * (sample, view) order. Every row read is checked again (finite, indices in range): cheap.
 */
export function openCache(dir: string, expect: CacheExpect = {}): CacheReader {
  const m = readManifest(dir);
  assertManifestIntegrity(dir, m);
  refuseFirstTopkLayout(dir, m);
  checkExpected(dir, m, expect);
  return new CacheReaderImpl(dir, m, checkedSlots(dir, m));
}

/** A top-k cache of tfkd 0.1.0 (no tail statistics) cannot give soft targets at τ ≠ 1: exit 2. */
function refuseFirstTopkLayout(dir: string, m: Manifest): void {
  if (m.topk === null || (m.tail && JSON.stringify(m.tail.temperatures) === JSON.stringify(TAIL_TEMPERATURES))) return;
  throw new UsageError(
    `cache ${dir} is a top-k cache of the first layout (${MANIFEST} has no tail statistics: tfkd 0.1.0), whose soft targets lose the tail's mass to rounding and are wrong at τ ≠ 1`,
    'precompute it again (tfkd precompute … --topk K --force); full-logit caches of that version are still read',
  );
}

function mismatch(dir: string, what: string, have: unknown, want: unknown): never {
  throw new UsageError(`cache ${dir} does not match: ${what} is ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`, 'precompute a cache for this data set / split / teacher');
}

/** The caller's expectations (a sound cache, but not the one asked for: exit 2). */
/** What an expectation may name; anything else (a typo, Python's `K`) would be checked against nothing. */
const EXPECT_KEYS: ReadonlySet<string> = new Set(['key', 'fingerprint', 'split', 'numClasses', 'N']);

function checkExpected(dir: string, m: Manifest, expect: CacheExpect): void {
  const unknown = Object.keys(expect).filter((k) => !EXPECT_KEYS.has(k));
  if (unknown.length) throw new UsageError(`openCache ${dir}: unknown expectation ${unknown.join(', ')}`, `it checks: ${[...EXPECT_KEYS].join(', ')}`);
  if (expect.key !== undefined && m.key !== expect.key && m.baseKey !== expect.key) mismatch(dir, 'the key', m.key, expect.key);
  if (expect.fingerprint !== undefined && m.data.fingerprint !== expect.fingerprint) mismatch(dir, 'the data fingerprint', m.data.fingerprint, expect.fingerprint);
  if (expect.split !== undefined && m.data.split !== expect.split) mismatch(dir, 'the split', m.data.split, expect.split);
  if (expect.numClasses !== undefined && m.K !== expect.numClasses) mismatch(dir, 'K (classes)', m.K, expect.numClasses);
  if (expect.N !== undefined && m.N !== expect.N) mismatch(dir, 'N (samples)', m.N, expect.N);
}

/**
 * The manifest must describe a contiguous, standard layout (layout.ts); anything else is a corrupt
 * cache (exit 1). Returns the slot of every listed shard: its header's key and index, its rows.
 */
function checkedSlots(dir: string, m: Manifest): ShardSlot[] {
  const mf = path.join(dir, MANIFEST);
  if (m.data.N !== m.N) throw new WorkError(`${mf}: data.N ${m.data.N} ≠ N ${m.N}`);
  if (m.topk !== null && m.topk >= m.K) throw new WorkError(`${mf}: topk ${m.topk} ≥ K ${m.K}`);
  const linked = isLinked(m);
  const linkBad = linkedProblem(m);
  if (linkBad) throw new WorkError(`${mf}: ${linkBad}`);
  const slots = shardSlots(m)!;
  if (slots.length !== m.shards.length) throw new WorkError(`${mf}: ${m.shards.length} shards listed, its rows at ${m.shardRows} per shard need ${slots.length}`);
  for (const [i, s] of m.shards.entries()) {
    const slot = slots[i];
    const bad = slotProblem(s, slot, i, linked);
    if (bad) throw new WorkError(`${mf}: ${bad}`);
    if (s.rowStart !== slot.rowStart || s.rows !== slot.rows) {
      throw new WorkError(`${mf}: shard ${s.file} starts at row ${s.rowStart} with ${s.rows} rows, expected row ${slot.rowStart} with ${slot.rows}`);
    }
  }
  const { sampleStart, sampleEnd } = sampleRange(m);
  if (m.rows !== (sampleEnd - sampleStart) * m.views) {
    throw new WorkError(`cache ${dir}: manifest says ${m.rows} rows for samples [${sampleStart}, ${sampleEnd}) × ${m.views} views`);
  }
  return slots;
}

function sampleRange(m: Manifest): { sampleStart: number; sampleEnd: number } {
  return m.part ? { sampleStart: m.part.sampleStart, sampleEnd: m.part.sampleEnd } : { sampleStart: 0, sampleEnd: m.N };
}

/** Shards already scanned in this process, by (path, inode, size, mtime, manifest key) → the scan. */
const scannedShards = new Map<string, ShardScan>();

/** Forgets which shards this process has scanned (tests; a long-lived process that wants a re-check). */
export function forgetScannedShards(): void {
  scannedShards.clear();
}

/** scanShard once per process and file identity (a changed file has another mtime/size/inode). */
function scanOnce(file: string, m: Manifest, index: number, rowStart: number, n: number): ShardScan {
  const st = fs.statSync(file);
  const id = `${path.resolve(file)}|${st.ino}|${st.size}|${st.mtimeMs}|${m.key}|${index}`;
  let scan = scannedShards.get(id);
  if (scan === undefined) {
    scan = scanShard(file, m, index, rowStart, n);
    scannedShards.set(id, scan);
  }
  return scan;
}

/** A checked manifest's reader: shards opened (and scanned) on first use, rows read one by one. */
class CacheReaderImpl implements CacheReader {
  readonly key: string;
  readonly views: number;
  readonly numClasses: number;
  readonly N: number;
  readonly topk: number | null;
  readonly sampleStart: number;
  readonly sampleEnd: number;
  /** Global row of this cache's first row. */
  private readonly rowStart: number;
  private readonly linked: boolean;
  private readonly fdt: StDtype;
  /** Bytes of one stored top-k class: 2 (U16) or 4 (I32). */
  private readonly indexBytes: number;
  private readonly files: Array<SafetensorsFile | undefined>;
  // Scratch for one row, reused across calls: raw value bytes, top-k classes and values, the tail
  // statistics (F_0 … F_5, then μ).
  private readonly rowBuf: Uint8Array;
  private readonly idxBuf: Int32Array;
  private readonly tmpVals: Float32Array;
  private readonly tailBuf = new Float32Array(TAIL_J + 1);
  /** log(K − k): a top-k row's tail classes share its tail mass uniformly. */
  private readonly logTail: number;

  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly slots: ShardSlot[],
  ) {
    const m = manifest;
    this.key = m.key;
    this.views = m.views;
    this.numClasses = m.K;
    this.N = m.N;
    this.topk = m.topk;
    ({ sampleStart: this.sampleStart, sampleEnd: this.sampleEnd } = sampleRange(m));
    this.rowStart = this.sampleStart * m.views;
    this.linked = isLinked(m);
    this.fdt = m.dtype === 'f16' ? 'F16' : 'F32';
    this.indexBytes = DTYPE_BYTES[topkIndexDtype(m)];
    this.files = new Array(m.shards.length);
    const k = m.topk ?? 0;
    this.rowBuf = new Uint8Array(Math.max(m.K, k) * 4);
    this.idxBuf = new Int32Array(k);
    this.tmpVals = new Float32Array(k);
    this.logTail = Math.log(m.K - k);
  }

  readLogits(samples: ArrayLike<number>, views: ArrayLike<number>, out?: Float32Array): Float32Array {
    const n = samples.length;
    const K = this.numClasses;
    const res = this.rowsOut('readLogits', samples, views, out);
    for (let r = 0; r < n; r++) {
      const { f, local } = this.locate(samples[r], views[r]);
      const row = res.subarray(r * K, (r + 1) * K);
      if (this.topk === null) {
        this.readValues(f, 'logits', local, K, row);
        for (let c = 0; c < K; c++) if (!Number.isFinite(row[c])) this.badRow(samples[r], views[r], `logit of class ${c} is ${row[c]}`);
        continue;
      }
      this.readTopk(f, local, samples[r], views[r]);
      row.fill(this.tailBuf[0] - this.logTail);
      for (let j = 0; j < this.topk; j++) row[this.idxBuf[j]] = this.tmpVals[j];
    }
    return res;
  }

  softTargets(samples: ArrayLike<number>, views: ArrayLike<number>, temperature: number, out?: Float32Array): Float32Array {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new UsageError(`temperature must be a positive number, got ${temperature}`);
    if (this.topk !== null) return this.topkSoftTargets(samples, views, temperature, out);
    const res = this.readLogits(samples, views, out);
    temperedSoftmaxRows(res.subarray(0, samples.length * this.numClasses), this.numClasses, temperature);
    return res;
  }

  /** softTargets of a top-k cache: kept classes, and the tail's stored log-mass at τ (topk.ts). */
  private topkSoftTargets(samples: ArrayLike<number>, views: ArrayLike<number>, temperature: number, out?: Float32Array): Float32Array {
    if (temperature < MIN_TOPK_TEMPERATURE) {
      throw new UsageError(`cache ${this.dir} is a top-k cache: its soft targets are rebuilt for τ ≥ ${MIN_TOPK_TEMPERATURE} only (below, the tail's mass is not known), got τ = ${temperature}`, `use τ ≥ 1, or a cache with all logits (no ${optionName('topk')})`);
    }
    const n = samples.length;
    const K = this.numClasses;
    const res = this.rowsOut('softTargets', samples, views, out);
    for (let r = 0; r < n; r++) {
      const { f, local } = this.locate(samples[r], views[r]);
      this.readTopk(f, local, samples[r], views[r]);
      topkSoftRow(this.idxBuf, this.tmpVals, this.tailBuf, this.tailBuf[TAIL_J], K, temperature, res.subarray(r * K, (r + 1) * K));
    }
    return res;
  }

  readBlock(globalRow: number, count: number): RowBlock {
    if (globalRow < this.rowStart || globalRow + count > this.rowStart + this.manifest.rows) throw new RangeError(`readBlock: rows [${globalRow}, ${globalRow + count}) outside the cache`);
    const K = this.numClasses;
    const k = this.topk;
    const FA = this.fdt === 'F16' ? Uint16Array : Float32Array;
    const out: RowBlock =
      k === null
        ? { n: count, logits: new FA(count * K) }
        : { n: count, topkIndices: new Int32Array(count * k), topkValues: new FA(count * k), tailLogsumexp: new Float32Array(count * TAIL_J), tailMean: new Float32Array(count) };
    // tfkd-cache/1 stored each row's logsumexp: a merge of such parts copies it.
    if (k !== null && this.manifest.schema === SCHEMA_V1) out.logsumexp = new Float32Array(count);
    let done = 0;
    while (done < count) {
      const g = globalRow + done;
      const i = this.shardIndex(g);
      const local = g - this.manifest.shards[i].rowStart;
      const f = this.shard(i);
      const take = Math.min(count - done, this.manifest.shards[i].rows - local);
      if (k === null) (out.logits as Float32Array).set(f.readRows('logits', local, take) as Float32Array, done * K);
      else {
        out.topkIndices!.set(f.readRows('topk_indices', local, take) as Int32Array | Uint16Array, done * k);
        (out.topkValues as Float32Array).set(f.readRows('topk_values', local, take) as Float32Array, done * k);
        out.logsumexp?.set(f.readRows('logsumexp', local, take) as Float32Array, done);
        out.tailLogsumexp!.set(f.readRows('tail_logsumexp', local, take) as Float32Array, done * TAIL_J);
        out.tailMean!.set(f.readRows('tail_mean', local, take) as Float32Array, done);
      }
      done += take;
    }
    return out;
  }

  close(): void {
    for (let i = 0; i < this.files.length; i++) {
      this.files[i]?.close();
      this.files[i] = undefined;
    }
  }

  /** The shard holding global row g: by division in a plain cache, by search in a linked one. */
  private shardIndex(g: number): number {
    return this.linked ? shardOfRow(this.manifest.shards, g) : Math.floor((g - this.rowStart) / this.manifest.shardRows);
  }

  /** Shard i, opened on first use after its one streamed check (scanShard, once per process). */
  private shard(i: number): SafetensorsFile {
    const open = this.files[i];
    if (open) return open;
    const s = this.manifest.shards[i];
    const slot = this.slots[i];
    const file = path.join(this.dir, s.file);
    const where = `cache ${this.dir}: ${s.file} (rows ${s.rowStart}–${s.rowStart + s.rows - 1})`;
    let scan: ShardScan;
    try {
      scan = scanOnce(file, { ...this.manifest, key: slot.key }, slot.index, s.rowStart, s.rows);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new WorkError(`${where}: ${code === 'ENOENT' ? 'missing' : `cannot read (${code ?? (e as Error).message})`}`, HINT);
    }
    // The checksum first: a file that changed is named as that, whatever else is now wrong in it.
    if (scan.sha256 !== s.sha256 && scan.sha256 !== NOT_HASHED) throw new WorkError(`${where}: sha256 ${scan.sha256.slice(0, 16)}… ≠ manifest ${s.sha256.slice(0, 16)}… (the file changed after the cache was written)`, HINT);
    const problems = scan.problems;
    if (problems.length) throw new WorkError(`${where}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; … (${problems.length} problems)` : ''}`, HINT);
    const f = openSafetensors(file);
    this.files[i] = f;
    return f;
  }

  /** The n·K output of `method` for rows (samples[i], views[i]): `out` when given (and large enough), else a new array. */
  private rowsOut(method: string, samples: ArrayLike<number>, views: ArrayLike<number>, out: Float32Array | undefined): Float32Array {
    const n = samples.length;
    const K = this.numClasses;
    if (views.length !== n) throw new UsageError(`${method}: ${n} samples but ${views.length} views`);
    const res = out ?? new Float32Array(n * K);
    if (res.length < n * K) throw new RangeError(`${method}: out holds ${res.length} values, need ${n * K}`);
    return res;
  }

  /** The open shard and local row of (sample, view); UsageError when the cache does not hold it. */
  private locate(sample: number, view: number): { f: SafetensorsFile; local: number } {
    if (!Number.isInteger(sample) || sample < this.sampleStart || sample >= this.sampleEnd) {
      throw new UsageError(`sample ${sample} is outside the cache's samples [${this.sampleStart}, ${this.sampleEnd})`);
    }
    if (!Number.isInteger(view) || view < 0 || view >= this.views) throw new UsageError(`view ${view} is outside the cache's ${this.views} view(s)`);
    const g = sample * this.views + view;
    const i = this.shardIndex(g);
    return { f: this.shard(i), local: g - this.manifest.shards[i].rowStart };
  }

  /** WorkError for a stored row that cannot be right (non-finite value, class out of range). */
  private badRow(sample: number, view: number, what: string): never {
    const g = sample * this.views + view;
    throw new WorkError(`cache ${this.dir}: ${this.manifest.shards[this.shardIndex(g)].file} row ${g} (sample ${sample}, view ${view}): ${what}`, HINT);
  }

  /** Reads the top-k row `local` of `f` into idxBuf / tmpVals / tailBuf and checks it. */
  private readTopk(f: SafetensorsFile, local: number, sample: number, view: number): void {
    const k = this.topk!;
    const ib = this.indexBytes;
    const raw = this.rowBuf.subarray(0, k * ib);
    f.readRawInto(f.tensors.topk_indices.data_offsets[0] + local * k * ib, raw);
    this.idxBuf.set(ib === 2 ? new Uint16Array(raw.buffer, raw.byteOffset, k) : new Int32Array(raw.buffer, raw.byteOffset, k));
    this.readValues(f, 'topk_values', local, k, this.tmpVals);
    const tail = this.tailBuf;
    f.readRawInto(f.tensors.tail_logsumexp.data_offsets[0] + local * TAIL_J * 4, new Uint8Array(tail.buffer, 0, TAIL_J * 4));
    f.readRawInto(f.tensors.tail_mean.data_offsets[0] + local * 4, new Uint8Array(tail.buffer, TAIL_J * 4, 4));
    for (let j = 0; j < k; j++) {
      if (!(this.idxBuf[j] >= 0 && this.idxBuf[j] < this.numClasses)) this.badRow(sample, view, `top-k index ${this.idxBuf[j]} is outside [0, ${this.numClasses})`);
      if (!Number.isFinite(this.tmpVals[j])) this.badRow(sample, view, `top-k value ${j} is ${this.tmpVals[j]}`);
    }
    for (let j = 0; j <= TAIL_J; j++) if (!Number.isFinite(tail[j])) this.badRow(sample, view, `tail statistic ${j} is ${tail[j]}`);
  }

  /** `count` stored values of row `local` of tensor `name`, as float32, into `into`. */
  private readValues(f: SafetensorsFile, name: string, local: number, count: number, into: Float32Array): void {
    const vb = DTYPE_BYTES[this.fdt];
    const bytes = this.rowBuf.subarray(0, count * vb);
    f.readRawInto(f.tensors[name].data_offsets[0] + local * count * vb, bytes);
    if (this.fdt === 'F32') into.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    else f16ToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, count), into);
  }
}
