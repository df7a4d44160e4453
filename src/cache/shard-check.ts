/**
 * What a shard of a cache directory must look like, given its manifest: the header's metadata
 * (schema, key, index, row range, K, dtype, top-k, views) and its tensors — names, order, dtypes,
 * shapes and data offsets — in the manifest's row format (`tfkd-cache/1` or `/2`, shardSpec). One
 * definition shared by the writer, the reader (before a shard's first use) and `tfkd verify`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { sha256File } from '../util/hash.js';
import { SCHEMA_V1, type Manifest } from './manifest.js';
import { fileKind } from '../util/regular-file.js';
import { DTYPE_BYTES, MAX_HEADER_BYTES, openSafetensors, type SafetensorsFile, type StDtype } from './safetensors.js';
import { TAIL_J } from './topk.js';

/** What decides a shard's tensors: the row format and what a row holds. */
export type RowFormat = Pick<Manifest, 'schema' | 'K' | 'dtype' | 'topk'>;

/** Top-k classes are stored as U16 while every class fits (K ≤ 65 536; tfkd-cache/2), else I32. */
const U16_CLASSES = 65536;

/** The dtype of a shard's `topk_indices`. */
export function topkIndexDtype(m: Pick<Manifest, 'schema' | 'K'>): 'U16' | 'I32' {
  return m.schema === SCHEMA_V1 || m.K > U16_CLASSES ? 'I32' : 'U16';
}

/**
 * The tensors of a shard with `n` rows, in their on-disk order: [name, dtype, shape].
 *
 * tfkd-cache/2 stores only what the losses read: row g of the cache is (sample ⌊g/V⌋, view g mod V)
 * by position (the header's row_start and rows place the shard), top-k classes as U16 (I32 past
 * 65 536 classes), and no logsumexp (log(Σ_kept exp v + exp F₀) when wanted). tfkd-cache/1 also
 * stored, per row, its sample (I64) and view (I32) and, in top-k caches, its I32 classes and the
 * row's logsumexp (F32): 12 bytes more a row, 2k + 4 more for top-k.
 */
export function shardSpec(m: RowFormat, n: number): Array<[string, StDtype, number[]]> {
  const fdt: StDtype = m.dtype === 'f16' ? 'F16' : 'F32';
  const k = m.topk;
  const v1 = m.schema === SCHEMA_V1;
  if (k === null) return v1 ? [['logits', fdt, [n, m.K]], ...rowColumns(n)] : [['logits', fdt, [n, m.K]]];
  return [
    ['topk_indices', topkIndexDtype(m), [n, k]],
    ['topk_values', fdt, [n, k]],
    ...(v1 ? [['logsumexp', 'F32', [n]] as [string, StDtype, number[]]] : []),
    ['tail_logsumexp', 'F32', [n, TAIL_J]],
    ['tail_mean', 'F32', [n]],
    ...(v1 ? rowColumns(n) : []),
  ];
}

/** tfkd-cache/1's explicit row columns. */
function rowColumns(n: number): Array<[string, StDtype, number[]]> {
  return [
    ['sample', 'I64', [n]],
    ['view', 'I32', [n]],
  ];
}

/** Bytes one row takes in a shard (header excluded): docs/CACHE.md's table. */
export function rowBytes(m: RowFormat): number {
  return shardSpec(m, 1).reduce((a, [, dt, shape]) => a + shape.reduce((x, d) => x * d, 1) * DTYPE_BYTES[dt], 0);
}

/** The `__metadata__` a shard must carry. */
export function shardMetadataOf(m: Pick<Manifest, 'schema' | 'key' | 'K' | 'dtype' | 'topk' | 'views'>, index: number, rowStart: number, n: number): Record<string, string> {
  return {
    schema: m.schema,
    key: m.key,
    shard: String(index),
    row_start: String(rowStart),
    rows: String(n),
    K: String(m.K),
    dtype: m.dtype,
    topk: m.topk === null ? '' : String(m.topk),
    views: String(m.views),
  };
}

/**
 * Problems of an open shard against the manifest (each a phrase, without the file name): header
 * fields that differ, tensors missing, extra, of another dtype or shape, or at other offsets than
 * the layout puts them. [] when the shard is what the manifest describes.
 */
export function shardHeaderProblems(st: SafetensorsFile, m: Manifest, index: number, rowStart: number, n: number): string[] {
  const problems: string[] = [];
  const want = shardMetadataOf(m, index, rowStart, n);
  for (const [k, v] of Object.entries(want)) {
    if (st.metadata[k] !== v) problems.push(`header ${k} is ${JSON.stringify(st.metadata[k])}, expected ${JSON.stringify(v)}`);
  }
  const spec = shardSpec(m, n);
  let off = 0;
  for (const [name, dt, shape] of spec) {
    const t = st.tensors[name];
    const bytes = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dt];
    if (!t) problems.push(`tensor ${name} missing`);
    else if (t.dtype !== dt || JSON.stringify(t.shape) !== JSON.stringify(shape)) problems.push(`tensor ${name} is ${t.dtype} [${t.shape}], expected ${dt} [${shape}]`);
    else if (t.data_offsets[0] !== off || t.data_offsets[1] !== off + bytes) problems.push(`tensor ${name} at data offsets [${t.data_offsets}], expected [${off},${off + bytes}]`);
    off += bytes;
  }
  const names = new Set(spec.map(([name]) => name));
  for (const name of Object.keys(st.tensors)) if (!names.has(name)) problems.push(`unexpected tensor ${name}`);
  return problems;
}

export interface ShardScan {
  /** sha256 of the whole file. */
  sha256: string;
  /** Each a phrase without the file name (header, tensors, contents); [] when the shard is sound. */
  problems: string[];
}

const SCAN_CHUNK = 1 << 20;

/** The sha256 field of a shard that was not read (not a regular file, or too large): matches nothing. */
export const NOT_HASHED = '(not read)';

/** The largest a shard of `n` rows can be: the length word, the header at its limit, the tensors. */
function maxShardBytes(m: RowFormat, n: number): number {
  let data = 0;
  for (const [, dt, shape] of shardSpec(m, n)) data += shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dt];
  return 8 + MAX_HEADER_BYTES + data;
}

/**
 * One streamed pass over a shard (`n` rows from global row `rowStart`, shard `index`): its sha256,
 * and everything that can be wrong with it given the manifest — the header and tensor layout
 * (shardHeaderProblems), then the contents: finite values in every float tensor, top-k indices in
 * [0, K), and — in tfkd-cache/1, whose rows name themselves — row g holding (sample ⌊g/V⌋, view
 * g mod V), so every (sample, view) is there exactly once (in tfkd-cache/2 a row's position is its
 * identity, placed by the header's row range). The reader runs it once per shard and process
 * before first use; `tfkd verify` on every shard. Memory: one chunk, plus (tfkd-cache/1) the
 * rows' sample/view indices (12 bytes a row).
 */
export function scanShard(file: string, m: Manifest, index: number, rowStart: number, n: number): ShardScan {
  // Type and size before any byte: a shard that is a symlink to /dev/zero (or a FIFO) would never
  // end, and one larger than the rows it must hold is not that shard — neither is read or hashed.
  const fst = fs.statSync(file);
  if (!fst.isFile()) return { sha256: NOT_HASHED, problems: [`not a regular file: ${fileKind(fst)}`] };
  const most = maxShardBytes(m, n);
  if (fst.size > most) return { sha256: NOT_HASHED, problems: [`${fst.size} bytes, more than the ${most} a shard of ${n} rows can take (not read)`] };
  // The hash of a file whose header does not parse: bounded by its size, checked above.
  const hashOf = (): string => {
    try {
      return sha256File(file);
    } catch {
      return NOT_HASHED;
    }
  };
  let st: SafetensorsFile;
  try {
    st = openSafetensors(file);
  } catch (e) {
    return { sha256: hashOf(), problems: [`unreadable: ${(e as Error).message.replace(`${file}: `, '')}`] };
  }
  try {
    const problems = shardHeaderProblems(st, m, index, rowStart, n);
    // Tensors that are not where the layout puts them cannot be read meaningfully.
    if (problems.some((p) => p.includes('tensor '))) return { sha256: hashOf(), problems };
    const hash = createHash('sha256');
    const head = new Uint8Array(st.dataStart);
    readAt(file, st, head, 0);
    hash.update(head);
    const V = m.views;
    const K = m.K;
    const rowName = (r: number) => `row ${rowStart + r} (sample ${Math.floor((rowStart + r) / V)}, view ${(rowStart + r) % V})`;
    let samples: BigInt64Array | null = null;
    let views: Int32Array | null = null;
    const buf = new Uint8Array(SCAN_CHUNK);
    for (const [name, dt, shape] of shardSpec(m, n)) {
      const t = st.tensors[name];
      const eb = DTYPE_BYTES[dt];
      const perRow = shape.slice(1).reduce((a, d) => a * d, 1);
      const total = t.data_offsets[1] - t.data_offsets[0];
      const step = SCAN_CHUNK - (SCAN_CHUNK % eb);
      const whole = name === 'sample' || name === 'view' ? new Uint8Array(total) : null;
      let reported = false;
      for (let off = 0; off < total; off += step) {
        const len = Math.min(step, total - off);
        const chunk = whole ? whole.subarray(off, off + len) : buf.subarray(0, len);
        st.readRawInto(t.data_offsets[0] + off, chunk);
        hash.update(chunk);
        if (reported || whole) continue;
        const e0 = off / eb;
        let bad = -1;
        if (dt === 'F32') bad = firstNonFiniteF32(new Uint32Array(chunk.buffer, chunk.byteOffset, len / 4));
        else if (dt === 'F16') bad = firstNonFiniteF16(new Uint16Array(chunk.buffer, chunk.byteOffset, len / 2));
        else if (name === 'topk_indices') {
          const u = dt === 'U16' ? new Uint16Array(chunk.buffer, chunk.byteOffset, len / 2) : new Int32Array(chunk.buffer, chunk.byteOffset, len / 4);
          for (let j = 0; j < u.length; j++) {
            if (u[j] < 0 || u[j] >= K) {
              problems.push(`topk_indices of ${rowName(Math.floor((e0 + j) / perRow))} holds class ${u[j]} outside [0, ${K})`);
              reported = true;
              break;
            }
          }
        }
        if (bad >= 0) {
          problems.push(`${name} of ${rowName(Math.floor((e0 + bad) / perRow))} is not finite`);
          reported = true;
        }
      }
      if (name === 'sample') samples = new BigInt64Array(whole!.buffer, 0, n);
      if (name === 'view') views = new Int32Array(whole!.buffer, 0, n);
    }
    const order = samples && views ? rowOrderProblem(samples, views, rowStart, V) : null;
    if (order) problems.push(order);
    return { sha256: hash.digest('hex'), problems };
  } finally {
    st.close();
  }
}

/** tfkd-cache/1: the first row g (from `rowStart`) not holding (sample ⌊g/V⌋, view g mod V), as a phrase; null when all do. */
function rowOrderProblem(samples: BigInt64Array, views: Int32Array, rowStart: number, V: number): string | null {
  for (let r = 0; r < samples.length; r++) {
    const g = rowStart + r;
    if (samples[r] !== BigInt(Math.floor(g / V)) || views[r] !== g % V) return `row ${g} holds (sample ${samples[r]}, view ${views[r]}), expected (sample ${Math.floor(g / V)}, view ${g % V})`;
  }
  return null;
}

/** Index of the first NaN/±Inf among float32 bit patterns (exponent all ones), or −1. */
function firstNonFiniteF32(u: Uint32Array): number {
  // OR-reduce blocks first: a block without any all-ones exponent is skipped in one pass.
  for (let b = 0; b < u.length; b += 256) {
    const e = Math.min(u.length, b + 256);
    let any = 0;
    for (let j = b; j < e; j++) any |= ((u[j] & 0x7f800000) + 0x00800000) & 0x80000000;
    if (any) for (let j = b; j < e; j++) if ((u[j] & 0x7f800000) === 0x7f800000) return j;
  }
  return -1;
}

/** Index of the first NaN/±Inf among float16 bit patterns, or −1. */
function firstNonFiniteF16(u: Uint16Array): number {
  for (let b = 0; b < u.length; b += 256) {
    const e = Math.min(u.length, b + 256);
    let any = 0;
    for (let j = b; j < e; j++) any |= ((u[j] & 0x7c00) + 0x0400) & 0x8000;
    if (any) for (let j = b; j < e; j++) if ((u[j] & 0x7c00) === 0x7c00) return j;
  }
  return -1;
}

/** Reads bytes [pos, pos + out.length) of the file itself (the header, before the data block). */
function readAt(file: string, st: SafetensorsFile, out: Uint8Array, pos: number): void {
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < out.length) {
      const k = fs.readSync(fd, out, done, out.length - done, pos + done);
      if (k === 0) throw new Error(`${st.path}: unexpected end of file`);
      done += k;
    }
  } finally {
    fs.closeSync(fd);
  }
}
