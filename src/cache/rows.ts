/**
 * A cache's rows in their stored form: teacher logits checked (assertFinite) and encoded as full
 * logits or top-k with the tail statistics (encodeRows), sliced into shards (sliceBlock), and laid
 * out as one shard's tensors and metadata. Pure functions of the rows and the layout, so a shard's
 * bytes never depend on how or when it was written (writer.ts holds the commit protocol).
 */
import { WorkError, optionName } from '../errors.js';
import { SCHEMA, type CacheSchema } from './manifest.js';
import type { CacheDtype } from '../catalog.js';
import { shardMetadataOf, shardSpec } from './shard-check.js';
import { TAIL_J, tailStats } from './topk.js';
import { type TensorIn } from './safetensors.js';
import { f32ToF16 } from '../util/float16.js';

/**
 * Rows in their stored form, whatever the row format: either `logits` (n·K) or the top-k tensors.
 * Top-k classes are held as Int32 here (stored as U16 where the format says so).
 */
export interface RowBlock {
  n: number;
  logits?: Uint16Array | Float32Array;
  topkIndices?: Int32Array;
  topkValues?: Uint16Array | Float32Array;
  /** The row's logsumexp: stored by tfkd-cache/1 only (computed by encodeRows, read from such caches). */
  logsumexp?: Float32Array;
  /** n·TAIL_J: log Σ_tail exp(z/τ_j) (src/cache/topk.ts). */
  tailLogsumexp?: Float32Array;
  /** n: mean tail logit. */
  tailMean?: Float32Array;
}

export interface CacheLayout {
  /** The shards' row format (shard-check.ts shardSpec); absent: today's, SCHEMA. */
  schema?: CacheSchema;
  key: string;
  K: number;
  dtype: CacheDtype;
  topk: number | null;
  views: number;
  /** Global row of this cache's first row (sampleStart · views; 0 for a whole cache). */
  rowStart: number;
  /** Rows this cache holds. */
  rows: number;
  shardRows: number;
}

/**
 * Throws WorkError naming the rows (as sample/view) whose logits are NaN or ±Inf. `rowStart` is the
 * global row of `logits`' first row.
 */
export function assertFinite(logits: Float32Array, n: number, K: number, rowStart: number, views: number): void {
  const bad: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < K; k++) {
      if (!Number.isFinite(logits[r * K + k])) {
        bad.push(rowStart + r);
        break;
      }
    }
  }
  if (bad.length) {
    const names = bad.slice(0, 10).map((g) => `row ${g} (sample ${Math.floor(g / views)}, view ${g % views})`);
    throw new WorkError(
      `the teacher produced NaN/Inf logits for ${bad.length} row(s): ${names.join(', ')}${bad.length > 10 ? ', …' : ''}; nothing was committed for this shard`,
      `check the preprocessing spec (${optionName('preprocess')}) and the model; rows before this shard are kept and a re-run resumes there`,
    );
  }
}

/**
 * Converts teacher logits (n·K float32) to the stored form. With `topk`, keeps the k largest per
 * row (ties: lower class index first) in descending order, plus, in float32, the row's logsumexp
 * and the tail statistics of src/cache/topk.ts (the tail's log-mass at τ = 1 … 32 and its mean
 * logit), so that the tail's mass survives any rounding of the kept values.
 */
export function encodeRows(logits: Float32Array, n: number, K: number, dtype: CacheDtype, topk: number | null, rowStart = 0, views = 1): RowBlock {
  const conv = (a: Float32Array): Uint16Array | Float32Array => {
    if (dtype === 'f32') return a;
    const bits = f32ToF16(a);
    for (let i = 0; i < bits.length; i++) {
      if ((bits[i] & 0x7c00) === 0x7c00) {
        const g = rowStart + Math.floor(i / (a.length / n));
        throw new WorkError(`logit ${a[i]} at row ${g} (sample ${Math.floor(g / views)}, view ${g % views}) overflows float16`, `use ${optionName('dtype')} f32`);
      }
    }
    return bits;
  };
  if (topk === null) return { n, logits: conv(logits.subarray(0, n * K)) };
  const idx = new Int32Array(n * topk);
  const vals = new Float32Array(n * topk);
  const lse = new Float32Array(n);
  const tailLse = new Float32Array(n * TAIL_J);
  const tailMean = new Float32Array(n);
  const keptB: boolean[] = new Array<boolean>(K).fill(false);
  const order = new Int32Array(K);
  for (let r = 0; r < n; r++) {
    const row = logits.subarray(r * K, (r + 1) * K);
    let max = -Infinity;
    for (let k = 0; k < K; k++) if (row[k] > max) max = row[k];
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(row[k] - max);
    lse[r] = max + Math.log(s);
    for (let k = 0; k < K; k++) order[k] = k;
    // Sorting K indices per row is fine for the K of image classifiers (≤ a few thousand).
    const sorted = Array.from(order).sort((a, b) => row[b] - row[a] || a - b);
    keptB.fill(false);
    for (let j = 0; j < topk; j++) {
      idx[r * topk + j] = sorted[j];
      vals[r * topk + j] = row[sorted[j]];
      keptB[sorted[j]] = true;
    }
    tailMean[r] = tailStats(row, keptB, tailLse, r * TAIL_J);
  }
  return { n, topkIndices: idx, topkValues: conv(vals), logsumexp: lse, tailLogsumexp: tailLse, tailMean };
}

export function sliceBlock(b: RowBlock, from: number, count: number, K: number, k: number | null): RowBlock {
  if (k === null) return { n: count, logits: b.logits!.subarray(from * K, (from + count) * K) };
  return {
    n: count,
    topkIndices: b.topkIndices!.subarray(from * k, (from + count) * k),
    topkValues: b.topkValues!.subarray(from * k, (from + count) * k),
    logsumexp: b.logsumexp?.subarray(from, from + count),
    tailLogsumexp: b.tailLogsumexp?.subarray(from * TAIL_J, (from + count) * TAIL_J),
    tailMean: b.tailMean?.subarray(from, from + count),
  };
}

/** The layout with its row format spelled out. */
export function withSchema(layout: CacheLayout): CacheLayout & { schema: CacheSchema } {
  return { ...layout, schema: layout.schema ?? SCHEMA };
}

export function shardMetadata(layout: CacheLayout, shard: number, rowStart: number, rows: number): Record<string, string> {
  return shardMetadataOf(withSchema(layout), shard, rowStart, rows);
}

/** The tensors of one shard, in the order and dtypes of its row format (shard-check.ts shardSpec). */
export function shardTensors(layout: CacheLayout, rowStart: number, b: RowBlock): Record<string, TensorIn> {
  const t: Record<string, TensorIn> = {};
  for (const [name, dtype, shape] of shardSpec(withSchema(layout), b.n)) {
    const data = columnOf(name, layout.views, rowStart, b);
    if (!data) throw new Error(`shardTensors: the block has no ${name} (a ${withSchema(layout).schema} shard needs it)`);
    t[name] = { dtype, shape, data: name === 'topk_indices' && dtype === 'U16' ? Uint16Array.from(data as Int32Array) : data };
  }
  return t;
}

/** The data of one shard tensor: a block's column, or (tfkd-cache/1) the rows' sample and view. */
function columnOf(name: string, views: number, rowStart: number, b: RowBlock): TensorIn['data'] | undefined {
  switch (name) {
    case 'logits':
      return b.logits;
    case 'topk_indices':
      return b.topkIndices;
    case 'topk_values':
      return b.topkValues;
    case 'logsumexp':
      return b.logsumexp;
    case 'tail_logsumexp':
      return b.tailLogsumexp;
    case 'tail_mean':
      return b.tailMean;
    case 'sample':
      return BigInt64Array.from({ length: b.n }, (_, i) => BigInt(Math.floor((rowStart + i) / views)));
    case 'view':
      return Int32Array.from({ length: b.n }, (_, i) => (rowStart + i) % views);
  }
  return undefined;
}
