/**
 * The precompute pipeline: data set → (seeded views) → teacher → `tfkd-cache/1` on disk.
 *
 * Rows are produced in global row order (`g = sample · V + view`) in batches of `batch` rows. The
 * next batch is read, augmented and (for onnxruntime teachers) preprocessed while the current one
 * is inferred: `loadNext` is started before `infer` is awaited. `session.run` blocks the event loop,
 * so only work that runs off the JS thread (file reads, sharp decode/resize on the libuv pool) truly
 * overlaps; the JS parts (augmentation, normalisation) run between inferences — see
 * docs/PERFORMANCE.md "precompute" for what was measured.
 */
import type { AugmentSpec } from '../data/augment.js';
import { augment, formatAugmentSpec } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { sampleBytes } from '../data/dataset.js';
import type { Teacher } from '../teacher/types.js';
import type { OrtTeacher, PreparedBatch } from '../teacher/session.js';
import { UsageError } from '../errors.js';
import { cacheKey, createdBy, DEFAULT_SHARD_ROWS, partRange, SCHEMA, type CacheDtype, type KeyInput, type Manifest } from './manifest.js';
import { CacheWriter, assertFinite, encodeRows, type CacheLayout, type ManifestBase } from './writer.js';

export interface PartSpec {
  index: number;
  count: number;
}

export interface PrecomputeOptions {
  teacher: Teacher;
  dataset: Dataset;
  /** `fingerprint(dataset)` (src/data/fingerprint.ts). */
  fingerprint: string;
  out: string;
  dtype: CacheDtype;
  topk: number | null;
  views: number;
  augment: { spec: AugmentSpec; seed: number } | null;
  part: PartSpec | null;
  batch: number;
  shardRows?: number;
  force?: boolean;
  /** onnxruntime version for the manifest (teacher/ort.ts ORT_VERSION). */
  ortVersion: string;
  /** Called after each committed batch with (rows done in this cache, rows total). */
  onProgress?: (done: number, total: number) => void;
  /** Called once the writer knows where it starts (for progress bars). */
  onStart?: (info: { state: string; startRow: number; rows: number }) => void;
}

export interface PrecomputeResult {
  manifest: Manifest;
  state: 'fresh' | 'resumed' | 'complete';
  /** Rows computed by this call (0 when already complete). */
  computedRows: number;
  seconds: number;
  /** Seconds spent awaiting inference vs everything else on the loop (reading, augmenting, writing). */
  inferSeconds: number;
}

/** Validates the option combination (exit 2, before anything is written). */
export function checkPrecomputeOptions(o: { K: number; N: number; topk: number | null; views: number; augment: unknown; part: PartSpec | null; batch: number }): void {
  if (o.topk !== null && !(Number.isInteger(o.topk) && o.topk >= 1 && o.topk < o.K)) {
    throw new UsageError(`--topk ${o.topk} must be an integer in [1, K) and the teacher has K = ${o.K} classes`, 'omit --topk to store all logits');
  }
  if (!(Number.isInteger(o.views) && o.views >= 1)) throw new UsageError(`--views ${o.views} must be a positive integer`);
  if (o.views > 1 && !o.augment) throw new UsageError(`--views ${o.views} needs --augment SPEC (views ≥ 1 are augmented copies)`, 'e.g. --views 4 --augment crop:4,flip');
  if (o.views === 1 && o.augment) throw new UsageError('--augment needs --views ≥ 2 (view 0 is always the un-augmented image)');
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new UsageError(`--batch ${o.batch} must be a positive integer`);
  if (o.part && !(Number.isInteger(o.part.index) && Number.isInteger(o.part.count) && o.part.count >= 1 && o.part.index >= 0 && o.part.index < o.part.count)) {
    throw new UsageError(`--shard ${o.part.index}/${o.part.count}: need 0 ≤ I < N`);
  }
  if (o.part && o.part.count > o.N) throw new UsageError(`--shard …/${o.part.count}: more parts than the ${o.N} samples`);
}

/** Builds the key input, layout and manifest (sans shards) of a precompute run. */
export function planCache(o: PrecomputeOptions): { layout: CacheLayout; base: ManifestBase } {
  const { teacher, dataset } = o;
  const info = teacher.info;
  const K = info.numClasses;
  const N = dataset.size;
  const shardRows = o.shardRows ?? DEFAULT_SHARD_ROWS;
  checkPrecomputeOptions({ K, N, topk: o.topk, views: o.views, augment: o.augment, part: o.part, batch: o.batch });
  const augment = o.augment ? { spec: formatAugmentSpec(o.augment.spec), seed: o.augment.seed } : null;
  const pre = teacher.preprocess;
  const preprocess = { layout: pre.layout, size: [pre.size[0], pre.size[1]] as [number, number], scale: pre.scale, mean: [...pre.mean], std: [...pre.std] };
  const keyIn: KeyInput = {
    teacher: { sha256: info.sha256, outputName: info.outputName },
    K,
    preprocess,
    data: { fingerprint: o.fingerprint, split: dataset.split, N },
    views: o.views,
    augment,
    dtype: o.dtype,
    topk: o.topk,
    shardRows,
  };
  const part = o.part ? { index: o.part.index, count: o.part.count, ...partRange(o.part.index, o.part.count, N) } : null;
  const key = cacheKey(keyIn, part);
  const s0 = part ? part.sampleStart : 0;
  const s1 = part ? part.sampleEnd : N;
  const layout: CacheLayout = { key, K, dtype: o.dtype, topk: o.topk, views: o.views, rowStart: s0 * o.views, rows: (s1 - s0) * o.views, shardRows };
  const base: ManifestBase = {
    schema: SCHEMA,
    key,
    baseKey: cacheKey(keyIn, null),
    N,
    K,
    rows: layout.rows,
    dtype: o.dtype,
    topk: o.topk,
    views: o.views,
    augment,
    teacher: { file: info.file, sha256: info.sha256, inputName: info.inputName, outputName: info.outputName, inputDtype: info.inputDtype, layout: info.layout, opset: info.opset },
    preprocess,
    data: { kind: dataset.kind, spec: dataset.spec, split: dataset.split, fingerprint: o.fingerprint, N },
    runtime: { onnxruntime: o.ortVersion, provider: info.provider, providerNotes: [...info.providerNotes], threads: info.threads },
    part,
    shardRows,
    created_by: createdBy(),
  };
  return { layout, base };
}

/**
 * Pixels of global rows [g0, g0+n): each row is view (g mod V) of sample ⌊g / V⌋; view 0 is the
 * decoded image itself, views ≥ 1 its seeded augmentation (the same function the trainer uses).
 */
export async function rowPixels(dataset: Dataset, g0: number, n: number, views: number, aug: PrecomputeOptions['augment']): Promise<Uint8Array> {
  const sb = sampleBytes(dataset.shape);
  const first = Math.floor(g0 / views);
  const last = Math.floor((g0 + n - 1) / views);
  const samples = Int32Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const raw = await dataset.readBatch(samples);
  if (views === 1) return raw;
  const out = new Uint8Array(n * sb);
  for (let r = 0; r < n; r++) {
    const g = g0 + r;
    const s = Math.floor(g / views);
    const v = g % views;
    const src = raw.subarray((s - first) * sb, (s - first + 1) * sb);
    const dst = out.subarray(r * sb, (r + 1) * sb);
    if (v === 0 || !aug) dst.set(src);
    else augment(src, dataset.shape, aug.spec, aug.seed, s, v, dst);
  }
  return out;
}

function isOrtTeacher(t: Teacher): t is OrtTeacher {
  return typeof (t as Partial<OrtTeacher>).prepare === 'function' && typeof (t as Partial<OrtTeacher>).infer === 'function';
}

export async function precompute(o: PrecomputeOptions): Promise<PrecomputeResult> {
  const t0 = performance.now();
  const { layout, base } = planCache(o);
  const w = CacheWriter.open(o.out, layout, { force: o.force });
  o.onStart?.({ state: w.state, startRow: w.nextRow, rows: layout.rows });
  if (w.state === 'complete') return { manifest: w.existing!, state: 'complete', computedRows: 0, seconds: (performance.now() - t0) / 1000, inferSeconds: 0 };
  const state = w.state;
  const { teacher, dataset } = o;
  const K = layout.K;
  const V = layout.views;
  const fixed = teacher.info.fixedBatch;
  // A fixed-batch model takes exactly its batch (the teacher pads the last one).
  const batch = fixed !== null ? Math.min(o.batch, fixed) : o.batch;
  const startRow = w.nextRow;
  const ort = isOrtTeacher(teacher) ? teacher : null;

  type Loaded = { g0: number; n: number; pixels?: Uint8Array; prepared?: PreparedBatch };
  const load = async (local: number): Promise<Loaded | null> => {
    if (local >= layout.rows) return null;
    const n = Math.min(batch, layout.rows - local);
    const g0 = layout.rowStart + local;
    const pixels = await rowPixels(dataset, g0, n, V, o.augment);
    if (ort) return { g0, n, prepared: await ort.prepare(pixels, n) };
    return { g0, n, pixels };
  };

  let inferMs = 0;
  let local = startRow;
  let next = load(local);
  try {
    for (;;) {
      const cur = await next;
      if (!cur) break;
      local += cur.n;
      // Start reading/augmenting/preprocessing the next batch before inference blocks the loop.
      next = load(local);
      next.catch(() => undefined); // surfaced when awaited; avoid an unhandled rejection meanwhile
      const ti = performance.now();
      const logits = ort ? await ort.infer(cur.prepared!) : await teacher.run(cur.pixels!, cur.n);
      inferMs += performance.now() - ti;
      assertFinite(logits, cur.n, K, cur.g0, V);
      w.append(encodeRows(logits, cur.n, K, layout.dtype, layout.topk, cur.g0, V));
      o.onProgress?.(w.nextRow, layout.rows);
    }
  } finally {
    w.closeJournal();
  }
  const manifest = w.finish(base);
  return { manifest, state, computedRows: layout.rows - startRow, seconds: (performance.now() - t0) / 1000, inferSeconds: inferMs / 1000 };
}
