/**
 * The precompute pipeline: data set → (seeded views) → teacher → `tfkd-cache/2` on disk.
 *
 * Rows are produced in global row order (`g = sample · V + view`) in batches of `batch` rows. The
 * next batch is read, augmented and (for onnxruntime teachers) preprocessed while the current one
 * is inferred: the next `RowSource.load` is started before `infer` is awaited. `session.run`
 * blocks the event loop, so only work that runs off the JS thread (file reads, sharp decode/resize
 * on the libuv pool, render workers) truly overlaps; the JS parts (augmentation, normalisation) run between inferences — see
 * docs/PERFORMANCE.md "precompute" for what was measured.
 */
import * as fs from 'node:fs';
import { defaultRenderWorkers } from '../data/render-pool.js';
import type { AugmentSpec } from '../data/augment.js';
import { formatAugmentSpec } from '../data/augment.js';
import { checkMixData } from '../data/mix.js';
import { checkAutoAugmentData } from '../data/auto-augment.js';
import { capabilitiesOf, type Dataset } from '../data/dataset.js';
import { RenderPool } from '../data/render-pool.js';
import type { SideRendering } from '../data/views.js';
import type { StagedInference, Teacher } from '../teacher/types.js';
import { optionName, UsageError } from '../errors.js';
import { encodedSamples, renderRows, rendersImages, rowPixels, teacherSide, type EncodedSamples } from './render-rows.js';
import { cacheKey, createdBy, DEFAULT_SHARD_ROWS, partRange, SCHEMA, SHARD_RE, type KeyInput, type Manifest } from './manifest.js';
import { type CacheDtype } from '../catalog.js';
import { CacheWriter, type ManifestBase } from './writer.js';
import { assertFinite, encodeRows, type CacheLayout } from './rows.js';
import { SkipJournal, type SkippedSample } from './skip-journal.js';

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
  /**
   * Images that cannot be decoded: list them in the manifest (`skipped`) and store zero logits for
   * their rows, instead of failing (the default: one UsageError naming the file, nothing written
   * for its shard).
   */
  skipBad?: boolean;
  /**
   * Worker threads that decode and render image files (folder:/list:) beside inference
   * (data/render-pool.ts); 0: on the main thread. Default: cores − 1, at most 4. The cache's bytes
   * do not depend on it.
   */
  renderWorkers?: number;
  /**
   * A render pool the caller started and closes (`tfkd bench precompute` keeps one warm across
   * its repetitions, as PyTorch's persistent DataLoader workers); it replaces `renderWorkers`.
   */
  renderPool?: RenderPool;
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
export function checkPrecomputeOptions(o: { K: number; N: number; topk: number | null; views: number; augment: AugmentSpec | null; part: PartSpec | null; batch: number; data?: string }): void {
  if (o.topk !== null && !(Number.isInteger(o.topk) && o.topk >= 1 && o.topk < o.K)) {
    throw new UsageError(`${optionName('topk')} ${o.topk} must be an integer in [1, K) and the teacher has K = ${o.K} classes`, `omit ${optionName('topk')} to store all logits`);
  }
  if (!(Number.isInteger(o.views) && o.views >= 1)) throw new UsageError(`${optionName('views')} ${o.views} must be a positive integer`);
  if (o.views > 1 && !o.augment) throw new UsageError(`${optionName('views')} ${o.views} needs ${optionName('augment')} SPEC (views ≥ 1 are augmented copies)`, `e.g. ${optionName('views')} 4 ${optionName('augment')} crop:4,flip`);
  if (o.views === 1 && o.augment) throw new UsageError(`${optionName('augment')} needs ${optionName('views')} ≥ 2 (view 0 is always the un-augmented image)`);
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new UsageError(`${optionName('batch')} ${o.batch} must be a positive integer`);
  if (o.part && !(Number.isInteger(o.part.index) && Number.isInteger(o.part.count) && o.part.count >= 1 && o.part.index >= 0 && o.part.index < o.part.count)) {
    throw new UsageError(`${optionName('shard')} ${o.part.index}/${o.part.count}: need 0 ≤ I < N`);
  }
  checkMixData(o.augment?.mix, o.N, o.data ?? 'the data set');
  if (o.part && o.part.count > o.N) throw new UsageError(`${optionName('shard')} …/${o.part.count}: more parts than the ${o.N} samples`);
}

/** Builds the key input, layout and manifest (sans shards) of a precompute run. */
function planCache(o: PrecomputeOptions): { layout: CacheLayout; base: ManifestBase } {
  const { teacher, dataset } = o;
  const info = teacher.info;
  const K = info.numClasses;
  const N = dataset.size;
  const shardRows = o.shardRows ?? DEFAULT_SHARD_ROWS;
  checkPrecomputeOptions({ K, N, topk: o.topk, views: o.views, augment: o.augment?.spec ?? null, part: o.part, batch: o.batch, data: dataset.spec });
  checkAutoAugmentData(o.augment?.spec.auto, dataset);
  if (o.skipBad && o.augment?.spec.mix) {
    throw new UsageError(`${optionName('skipBad')} with mixup/cutmix: an image that cannot be decoded is also the partner of other samples' views`, 'remove the bad files (tfkd data info --check lists them) and precompute without it');
  }
  const augment = o.augment ? { spec: formatAugmentSpec(o.augment.spec), seed: o.augment.seed } : null;
  const pre = teacher.preprocess;
  const preprocess = {
    layout: pre.layout,
    size: [pre.size[0], pre.size[1]] as [number, number],
    resize: pre.resize === null ? null : typeof pre.resize === 'number' ? pre.resize : ([pre.resize[0], pre.resize[1]] as [number, number]),
    crop: pre.crop === null ? null : ([pre.crop[0], pre.crop[1]] as [number, number]),
    cropRounding: pre.cropRounding,
    interpolation: pre.interpolation,
    channels: pre.channels,
    scale: pre.scale,
    mean: [...pre.mean],
    std: [...pre.std],
    ...(pre.source !== undefined ? { source: pre.source } : {}),
  };
  const keyIn: KeyInput = {
    teacher: { sha256: info.sha256, outputName: info.outputName },
    K,
    preprocess,
    ...(info.classMap ? { classMap: info.classMap.indices } : {}),
    data: { fingerprint: o.fingerprint, split: dataset.split, N },
    views: o.views,
    augment,
    dtype: o.dtype,
    topk: o.topk,
    shardRows,
  };
  const part = o.part ? { index: o.part.index, count: o.part.count, ...partRange(o.part.index, o.part.count, N) } : null;
  // A cache this command began (or finished) in the first row format is resumed (or found complete)
  // in it; anything else, and --force, is today's format.
  const schema = o.force ? SCHEMA : CacheWriter.formatAt(o.out, (f) => cacheKey(keyIn, part, { schema: f }));
  const key = cacheKey(keyIn, part, { schema });
  const s0 = part ? part.sampleStart : 0;
  const s1 = part ? part.sampleEnd : N;
  const layout: CacheLayout = { schema, key, K, dtype: o.dtype, topk: o.topk, views: o.views, rowStart: s0 * o.views, rows: (s1 - s0) * o.views, shardRows };
  const base: ManifestBase = {
    schema,
    key,
    baseKey: cacheKey(keyIn, null, { schema }),
    N,
    K,
    rows: layout.rows,
    dtype: o.dtype,
    topk: o.topk,
    views: o.views,
    augment,
    teacher: { file: info.file, sha256: info.sha256, inputName: info.inputName, outputName: info.outputName, inputDtype: info.inputDtype, layout: info.layout, opset: info.opset },
    preprocess,
    ...(info.classMap ? { classMap: { ...info.classMap, indices: [...info.classMap.indices] } } : {}),
    data: { kind: dataset.kind, spec: dataset.spec, split: dataset.split, fingerprint: o.fingerprint, N },
    runtime: { onnxruntime: o.ortVersion, provider: info.provider, providerNotes: [...info.providerNotes], threads: info.threads, ...(info.adapter !== undefined ? { adapter: info.adapter } : {}) },
    part,
    shardRows,
    created_by: createdBy(),
  };
  return { layout, base };
}

/**
 * Computes the cache's rows that are not on disk yet, batch by batch, and commits the manifest:
 * plan the layout, open (or resume) the writer, open the row source and the skipped-sample journal,
 * write the rows, finish.
 */
export async function precompute(o: PrecomputeOptions): Promise<PrecomputeResult> {
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const { layout, base } = planCache(o);
  const existedBefore = fs.existsSync(o.out);
  const w = CacheWriter.open(o.out, layout, { force: o.force });
  o.onStart?.({ state: w.state, startRow: w.nextRow, rows: layout.rows });
  if (w.state === 'complete') return { manifest: w.existing!, state: 'complete', computedRows: 0, seconds: seconds(), inferSeconds: 0 };
  const state = w.state;
  const startRow = w.nextRow;
  const source = new RowSource(o, layout, startRow);
  const skipped = SkipJournal.open(o.out, state, Math.floor((layout.rowStart + startRow) / layout.views));
  let inferMs: number;
  try {
    inferMs = await writeRows(o, layout, w, source, skipped, startRow);
  } catch (e) {
    // Bad input found before any shard was committed (a corrupt first image, a bomb): leave
    // nothing behind in a directory this run created. Later failures leave a resumable cache.
    w.closeJournal();
    if (!existedBefore && !fs.readdirSync(o.out).some((f) => SHARD_RE.test(f))) fs.rmSync(o.out, { recursive: true, force: true });
    throw e;
  } finally {
    w.closeJournal();
    await source.close();
  }
  if (skipped.size) base.skipped = skipped.sorted();
  const manifest = w.finish(base);
  skipped.remove();
  return { manifest, state, computedRows: layout.rows - startRow, seconds: seconds(), inferSeconds: inferMs / 1000 };
}

/**
 * The write loop: each batch is inferred, its undecodable samples' rows zeroed, checked and handed
 * to the writer; the next batch is read, rendered and (for a staged teacher) prepared while this
 * one is inferred. Returns the milliseconds spent awaiting inference.
 */
async function writeRows(o: PrecomputeOptions, layout: CacheLayout, w: CacheWriter, source: RowSource, skipped: SkipJournal, startRow: number): Promise<number> {
  const { K, views: V } = layout;
  let inferMs = 0;
  let local = startRow;
  let next = source.load(local);
  // Batches inferred at once: a teacher with sessions side by side (teacher/lanes.ts) gets that
  // many in flight; they are committed in row order all the same.
  const inflight: Array<{ cur: LoadedBatch; logits: Promise<Float32Array> }> = [];
  for (;;) {
    const cur = await next;
    if (cur) {
      local += cur.n;
      // Start reading/augmenting/preprocessing the next batch before inference blocks the loop.
      next = source.load(local);
      next.catch(() => undefined); // surfaced when awaited; avoid an unhandled rejection meanwhile
      const logits = source.infer(cur);
      logits.catch(() => undefined); // surfaced when awaited, in row order
      inflight.push({ cur, logits });
      if (inflight.length < source.concurrency) continue;
    }
    const head = inflight.shift();
    if (!head) break;
    const ti = performance.now();
    const logits = await head.logits;
    inferMs += performance.now() - ti;
    skipped.record(head.cur.skippedNow);
    zeroBadRows(logits, head.cur, K, V);
    assertFinite(logits, head.cur.n, K, head.cur.g0, V);
    w.append(encodeRows(logits, head.cur.n, K, layout.dtype, layout.topk, head.cur.g0, V));
    o.onProgress?.(w.nextRow, layout.rows);
  }
  return inferMs;
}

/** Rows of samples that could not be decoded (--skip-bad) hold zero logits. */
function zeroBadRows(logits: Float32Array, cur: LoadedBatch, K: number, V: number): void {
  for (const s of cur.bad) {
    for (let g = Math.max(cur.g0, s * V); g < Math.min(cur.g0 + cur.n, (s + 1) * V); g++) logits.fill(0, (g - cur.g0) * K, (g - cur.g0 + 1) * K);
  }
}

/** One batch of rows [g0, g0+n), read and rendered, in the form the teacher will take it. */
interface LoadedBatch {
  g0: number;
  n: number;
  pixels?: Uint8Array;
  rendered?: Uint8Array | Float32Array;
  prepared?: unknown;
  /** Samples of the batch that could not be decoded (--skip-bad). */
  bad: number[];
  skippedNow?: Map<number, SkippedSample>;
}

/**
 * Where the rows come from: the data set's samples (packed, or images rendered for the teacher —
 * in a render pool when the source can be decoded off the main thread), prepared ahead for a
 * teacher with staged inference.
 */
class RowSource {
  private readonly teacher: Teacher;
  private readonly dataset: Dataset;
  /** Rows per batch: a fixed-batch model takes exactly its batch (the teacher pads the last one). */
  private readonly batch: number;
  /** Teachers that prepare a batch apart from inferring it get the next batch prepared meanwhile. */
  private readonly staged: StagedInference | null;
  /**
   * Variable-size sources are rendered from each image at its own size; fixed-size ones from
   * packed samples (the teacher renders those too, unless its rendering is the identity).
   */
  private readonly images: boolean;
  private readonly side: SideRendering;
  private readonly pool: RenderPool | null;
  /** Whether this source started the pool (and closes it), or the caller passed one in. */
  private readonly ownsPool: boolean;
  private readonly encoded: EncodedSamples | null;

  constructor(
    private readonly o: PrecomputeOptions,
    private readonly layout: CacheLayout,
    startRow: number,
  ) {
    this.teacher = o.teacher;
    this.dataset = o.dataset;
    const fixed = this.teacher.info.fixedBatch;
    this.batch = fixed !== null ? Math.min(o.batch, fixed) : o.batch;
    this.staged = this.teacher.staged ?? null;
    this.images = rendersImages(this.dataset, o.augment);
    this.side = teacherSide(this.teacher);
    const workers = o.renderWorkers ?? defaultRenderWorkers();
    const poolable = this.images && capabilitiesOf(this.dataset).renderPool;
    this.ownsPool = poolable && !o.renderPool && workers > 0;
    this.pool = poolable ? (o.renderPool ?? (this.ownsPool ? new RenderPool(workers) : null)) : null;
    const V = layout.views;
    this.encoded = this.images ? encodedSamples(this.dataset, Math.floor((layout.rowStart + startRow) / V), Math.floor((layout.rowStart + layout.rows - 1) / V) + 1, this.pool) : null;
  }

  /** The batch starting at this cache's row `local`, or null past the last row. */
  async load(local: number): Promise<LoadedBatch | null> {
    const { layout, o, dataset, staged } = this;
    if (local >= layout.rows) return null;
    const n = Math.min(this.batch, layout.rows - local);
    const g0 = layout.rowStart + local;
    const V = layout.views;
    const bad: number[] = [];
    if (this.images) {
      const skippedNow = new Map<number, SkippedSample>();
      const onBad = (b: { index: number; file: string; reason: string }): void => {
        bad.push(b.index);
        skippedNow.set(b.index, { sample: b.index, file: b.file, reason: b.reason });
      };
      const rendered = await renderRows(dataset, g0, n, V, o.augment, this.side, o.skipBad ? { onBad } : undefined, this.encoded, this.pool);
      if (staged) return { g0, n, prepared: await staged.prepareRendered(rendered, n), bad, skippedNow };
      return { g0, n, rendered, bad, skippedNow };
    }
    const pixels = await rowPixels(dataset, g0, n, V, o.augment);
    if (staged) return { g0, n, prepared: await staged.prepare(pixels, n), bad };
    return { g0, n, pixels, bad };
  }

  /** Batches the teacher can infer at once (sessions side by side: teacher/lanes.ts). */
  get concurrency(): number {
    return Math.max(1, this.staged?.concurrency ?? 1);
  }

  /** The teacher's logits for a loaded batch (n·K floats). */
  infer(cur: LoadedBatch): Promise<Float32Array> {
    if (this.staged) return this.staged.infer(cur.prepared);
    return cur.rendered ? this.teacher.runRendered(cur.rendered, cur.n) : this.teacher.run(cur.pixels!, cur.n);
  }

  async close(): Promise<void> {
    await this.encoded?.close?.();
    if (this.ownsPool) await this.pool?.close();
  }
}
