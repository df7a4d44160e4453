/**
 * Reads soft targets out of a `tfkd-cache/1` directory for the trainer: per (sample, view) rows by
 * positioned reads (never a whole-file load), so memory stays flat whatever the cache size. Shard
 * files are opened lazily (header only) and their descriptors kept until `close()`.
 *
 * Top-k caches (src/cache/topk.ts): `softTargets` gives the k kept classes exp(v/τ) and the tail
 * as a whole its stored log-mass at τ (exact at τ = 1, 2, 4 … 32, interpolated between), spread
 * uniformly over the other K − k classes. `readLogits` rebuilds a full row for τ = 1: the kept
 * logits as stored, every other class at F₀ − log(K − k) (F₀ = log Σ_tail exp z), so its softmax
 * has the exact tail mass at τ = 1 — use `softTargets` for any other temperature.
 */
import * as fs from 'node:fs';
import { temperedSoftmaxRows } from '../util/softmax.js';
import * as path from 'node:path';
import { UsageError, WorkError, optionName } from '../errors.js';
import { isLinked, linkedProblem, shardOfRow, shardSlots, slotProblem } from './layout.js';
import { MANIFEST, assertManifestIntegrity, readManifest, type Manifest } from './manifest.js';
import { NOT_HASHED, scanShard, type ShardScan } from './shard-check.js';
import { MIN_TOPK_TEMPERATURE, TAIL_J, TAIL_TEMPERATURES, topkSoftRow } from './topk.js';
import { DTYPE_BYTES, openSafetensors, type SafetensorsFile, type StDtype } from './safetensors.js';
import { f16ToF32 } from '../util/float16.js';
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

function mismatch(dir: string, what: string, have: unknown, want: unknown): never {
  throw new UsageError(`cache ${dir} does not match: ${what} is ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`, 'precompute a cache for this data set / split / teacher');
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
  if (m.topk !== null && (!m.tail || JSON.stringify(m.tail.temperatures) !== JSON.stringify(TAIL_TEMPERATURES))) {
    throw new UsageError(
      `cache ${dir} is a top-k cache of the first layout (${MANIFEST} has no tail statistics: tfkd 0.1.0), whose soft targets lose the tail's mass to rounding and are wrong at τ ≠ 1`,
      'precompute it again (tfkd precompute … --topk K --force); full-logit caches of that version are still read',
    );
  }
  if (expect.key !== undefined && m.key !== expect.key && m.baseKey !== expect.key) mismatch(dir, 'the key', m.key, expect.key);
  if (expect.fingerprint !== undefined && m.data.fingerprint !== expect.fingerprint) mismatch(dir, 'the data fingerprint', m.data.fingerprint, expect.fingerprint);
  if (expect.split !== undefined && m.data.split !== expect.split) mismatch(dir, 'the split', m.data.split, expect.split);
  if (expect.numClasses !== undefined && m.K !== expect.numClasses) mismatch(dir, 'K (classes)', m.K, expect.numClasses);
  if (expect.N !== undefined && m.N !== expect.N) mismatch(dir, 'N (samples)', m.N, expect.N);

  const V = m.views;
  const K = m.K;
  const k = m.topk;
  const sampleStart = m.part ? m.part.sampleStart : 0;
  const sampleEnd = m.part ? m.part.sampleEnd : m.N;
  const rowStart = sampleStart * V;
  // The manifest must describe a contiguous, standard layout; anything else is a corrupt cache.
  const mf = path.join(dir, MANIFEST);
  if (m.data.N !== m.N) throw new WorkError(`${mf}: data.N ${m.data.N} ≠ N ${m.N}`);
  if (k !== null && k >= K) throw new WorkError(`${mf}: topk ${k} ≥ K ${K}`);
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
  if (m.rows !== (sampleEnd - sampleStart) * V) {
    throw new WorkError(`cache ${dir}: manifest says ${m.rows} rows for samples [${sampleStart}, ${sampleEnd}) × ${V} views`);
  }

  /** The shard holding global row g: by division in a plain cache, by search in a linked one. */
  const shardIndex = (g: number): number => (linked ? shardOfRow(m.shards, g) : Math.floor((g - rowStart) / m.shardRows));
  const fdt: StDtype = m.dtype === 'f16' ? 'F16' : 'F32';
  const vb = DTYPE_BYTES[fdt];
  const files: Array<SafetensorsFile | undefined> = new Array(m.shards.length);
  const hint = 'run tfkd verify on the cache; re-run the precompute (--force) to rebuild it';
  const shard = (i: number): SafetensorsFile => {
    let f = files[i];
    if (!f) {
      const s = m.shards[i];
      const file = path.join(dir, s.file);
      const where = `cache ${dir}: ${s.file} (rows ${s.rowStart}–${s.rowStart + s.rows - 1})`;
      let scan: ShardScan;
      try {
        scan = scanOnce(file, { ...m, key: slots[i].key }, slots[i].index, s.rowStart, s.rows);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new WorkError(`${where}: ${code === 'ENOENT' ? 'missing' : `cannot read (${code ?? (e as Error).message})`}`, hint);
      }
      // The checksum first: a file that changed is named as that, whatever else is now wrong in it.
      if (scan.sha256 !== s.sha256 && scan.sha256 !== NOT_HASHED) throw new WorkError(`${where}: sha256 ${scan.sha256.slice(0, 16)}… ≠ manifest ${s.sha256.slice(0, 16)}… (the file changed after the cache was written)`, hint);
      const problems = scan.problems;
      if (problems.length) throw new WorkError(`${where}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; … (${problems.length} problems)` : ''}`, hint);
      f = openSafetensors(file);
      files[i] = f;
    }
    return f;
  };
  /** WorkError for a stored row that cannot be right (non-finite value, class out of range). */
  const badRow = (sample: number, view: number, what: string): never => {
    const g = sample * V + view;
    throw new WorkError(`cache ${dir}: ${m.shards[shardIndex(g)].file} row ${g} (sample ${sample}, view ${view}): ${what}`, hint);
  };
  const locate = (sample: number, view: number): { f: SafetensorsFile; local: number } => {
    if (!Number.isInteger(sample) || sample < sampleStart || sample >= sampleEnd) {
      throw new UsageError(`sample ${sample} is outside the cache's samples [${sampleStart}, ${sampleEnd})`);
    }
    if (!Number.isInteger(view) || view < 0 || view >= V) throw new UsageError(`view ${view} is outside the cache's ${V} view(s)`);
    const g = sample * V + view;
    const i = shardIndex(g);
    return { f: shard(i), local: g - m.shards[i].rowStart };
  };

  // Scratch buffers for one row, reused across calls.
  const rowBuf = new Uint8Array(Math.max(K, k ?? 0) * 4);
  const idxBuf = new Int32Array(k ?? 0);
  const tailBuf = new Float32Array(TAIL_J + 1);
  const tmpVals = new Float32Array(k ?? 0);
  const logTail = Math.log(K - (k ?? 0));

  /** Reads the top-k row `local` of `f` into idxBuf / tmpVals / tailBuf (F_0 … F_5, then μ). */
  const readTopk = (f: SafetensorsFile, local: number): void => {
    f.readRawInto(f.tensors.topk_indices.data_offsets[0] + local * k! * 4, new Uint8Array(idxBuf.buffer));
    readValues(f, 'topk_values', local, k!, tmpVals);
    f.readRawInto(f.tensors.tail_logsumexp.data_offsets[0] + local * TAIL_J * 4, new Uint8Array(tailBuf.buffer, 0, TAIL_J * 4));
    f.readRawInto(f.tensors.tail_mean.data_offsets[0] + local * 4, new Uint8Array(tailBuf.buffer, TAIL_J * 4, 4));
  };

  const checkTopk = (sample: number, view: number): void => {
    for (let j = 0; j < k!; j++) {
      if (!(idxBuf[j] >= 0 && idxBuf[j] < K)) badRow(sample, view, `top-k index ${idxBuf[j]} is outside [0, ${K})`);
      if (!Number.isFinite(tmpVals[j])) badRow(sample, view, `top-k value ${j} is ${tmpVals[j]}`);
    }
    for (let j = 0; j <= TAIL_J; j++) if (!Number.isFinite(tailBuf[j])) badRow(sample, view, `tail statistic ${j} is ${tailBuf[j]}`);
  };

  const readValues = (f: SafetensorsFile, name: string, local: number, count: number, into: Float32Array): void => {
    const off = f.tensors[name].data_offsets[0] + local * count * vb;
    const bytes = rowBuf.subarray(0, count * vb);
    f.readRawInto(off, bytes);
    if (fdt === 'F32') into.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    else f16ToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, count), into);
  };

  const reader: CacheReader = {
    dir,
    manifest: m,
    key: m.key,
    views: V,
    numClasses: K,
    N: m.N,
    topk: k,
    sampleStart,
    sampleEnd,
    readLogits(samples, views, out) {
      const n = samples.length;
      if (views.length !== n) throw new UsageError(`readLogits: ${n} samples but ${views.length} views`);
      const res = out ?? new Float32Array(n * K);
      if (res.length < n * K) throw new RangeError(`readLogits: out holds ${res.length} values, need ${n * K}`);
      for (let r = 0; r < n; r++) {
        const { f, local } = locate(samples[r], views[r]);
        const row = res.subarray(r * K, (r + 1) * K);
        if (k === null) {
          readValues(f, 'logits', local, K, row);
          for (let c = 0; c < K; c++) if (!Number.isFinite(row[c])) badRow(samples[r], views[r], `logit of class ${c} is ${row[c]}`);
          continue;
        }
        readTopk(f, local);
        checkTopk(samples[r], views[r]);
        row.fill(tailBuf[0] - logTail);
        for (let j = 0; j < k; j++) row[idxBuf[j]] = tmpVals[j];
      }
      return res;
    },
    softTargets(samples, views, temperature, out) {
      if (!(temperature > 0) || !Number.isFinite(temperature)) throw new UsageError(`temperature must be a positive number, got ${temperature}`);
      const n = samples.length;
      if (k !== null) {
        if (temperature < MIN_TOPK_TEMPERATURE) {
          throw new UsageError(`cache ${dir} is a top-k cache: its soft targets are rebuilt for τ ≥ ${MIN_TOPK_TEMPERATURE} only (below, the tail's mass is not known), got τ = ${temperature}`, `use τ ≥ 1, or a cache with all logits (no ${optionName('topk')})`);
        }
        if (views.length !== n) throw new UsageError(`softTargets: ${n} samples but ${views.length} views`);
        const res = out ?? new Float32Array(n * K);
        if (res.length < n * K) throw new RangeError(`softTargets: out holds ${res.length} values, need ${n * K}`);
        for (let r = 0; r < n; r++) {
          const { f, local } = locate(samples[r], views[r]);
          readTopk(f, local);
          checkTopk(samples[r], views[r]);
          topkSoftRow(idxBuf, tmpVals, tailBuf, tailBuf[TAIL_J], K, temperature, res.subarray(r * K, (r + 1) * K));
        }
        return res;
      }
      const res = reader.readLogits(samples, views, out);
      temperedSoftmaxRows(res.subarray(0, n * K), K, temperature);
      return res;
    },
    readBlock(globalRow, count) {
      if (globalRow < rowStart || globalRow + count > rowStart + m.rows) throw new RangeError(`readBlock: rows [${globalRow}, ${globalRow + count}) outside the cache`);
      const FA = fdt === 'F16' ? Uint16Array : Float32Array;
      const out: RowBlock =
        k === null
          ? { n: count, logits: new FA(count * K) }
          : { n: count, topkIndices: new Int32Array(count * k), topkValues: new FA(count * k), logsumexp: new Float32Array(count), tailLogsumexp: new Float32Array(count * TAIL_J), tailMean: new Float32Array(count) };
      let done = 0;
      while (done < count) {
        const g = globalRow + done;
        const i = shardIndex(g);
        const local = g - m.shards[i].rowStart;
        const f = shard(i);
        const take = Math.min(count - done, m.shards[i].rows - local);
        if (k === null) (out.logits as Float32Array).set(f.readRows('logits', local, take) as Float32Array, done * K);
        else {
          out.topkIndices!.set(f.readRows('topk_indices', local, take) as Int32Array, done * k);
          (out.topkValues as Float32Array).set(f.readRows('topk_values', local, take) as Float32Array, done * k);
          out.logsumexp!.set(f.readRows('logsumexp', local, take) as Float32Array, done);
          out.tailLogsumexp!.set(f.readRows('tail_logsumexp', local, take) as Float32Array, done * TAIL_J);
          out.tailMean!.set(f.readRows('tail_mean', local, take) as Float32Array, done);
        }
        done += take;
      }
      return out;
    },
    close() {
      for (let i = 0; i < files.length; i++) {
        files[i]?.close();
        files[i] = undefined;
      }
    },
  };
  return reader;
}
