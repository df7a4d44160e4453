/**
 * What one timed step of `tfkd bench train` (train.ts) is made of: the student, the KD loss and
 * the optimizer over a fixed random batch, and, with --data / --cache, the batch's inputs through
 * the trainer's data path and its soft targets read from caches on disk as the trainer reads them.
 */
import { performance } from 'node:perf_hooks';
import { lossContext, lossEntry, type LossOptions } from '../student/losses/index.js';
import { tf } from '../student/tf.js';
import { buildModel, buildOnnxModel, countParams, isOnnxModelName, onnxModelSpec } from '../student/zoo/index.js';
import { openCache, type CacheReader } from '../cache/reader.js';
import { hashU32, permutation, Rng } from '../data/rng.js';
import { cacheSoftTargets, planViews, viewsFor } from '../student/trainer/targets.js';
import { studentBatchSource, studentInputs } from '../student/trainer/inputs.js';
import { defaultRenderWorkers } from '../data/render-pool.js';
import { pixelsToFloat } from '../student/evaluate.js';
import { openDataset } from '../data/open.js';
import { UsageError } from '../errors.js';

type Feeder = Awaited<ReturnType<typeof openBenchData>>;

/** The flags of `tfkd bench train` (TrainBenchOptions) that make the step. */
interface StepOptions {
  model: string;
  classes: number;
  batch: number;
  seed: number;
  cache?: string[];
  data?: string;
  renderWorkers?: number;
}

/**
 * One training step: forward (training mode) + KD loss (α = 0.5, τ = 4) + backward + SGD-momentum
 * (0.9) update, on fixed random inputs, labels and tempered teacher probabilities (softmax of
 * random logits / τ) — or on the inputs `feed` brought and the soft targets `reader` reads.
 */
export class BenchStep {
  /** The student's parameter counts. */
  readonly counts: { trainable: number; total: number };
  /** With --data: each step's inputs through the trainer's data path. */
  feeder: Feeder | null = null;
  /** With --cache: each step's soft targets from caches on disk. */
  reader: { next(): tf.Tensor2D; close(): void } | null = null;
  /** The last step's soft-target read, ms (with --cache). */
  lastReadMs = 0;
  private fed: tf.Tensor4D | null = null;
  private readonly loss = lossEntry('kd').fn;
  private readonly lossOpts: LossOptions;
  private readonly x: tf.Tensor;
  private readonly labels: tf.Tensor1D;
  private readonly fixedSoft: tf.Tensor2D;
  private readonly optimizer: tf.Optimizer;
  private readonly vars: tf.Variable[];

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly input: [number, number, number],
    private readonly B: number,
    K: number,
    seed: number,
  ) {
    const { trainable, total } = countParams(model);
    this.counts = { trainable, total };
    this.lossOpts = { numClasses: K, fidelity: 'paper', logitStandardization: false, alpha: 0.5, temperature: 4 };
    this.x = tf.randomNormal([B, ...input], 0, 1, 'float32', seed + 1);
    this.labels = tf.tidy(() => tf.cast(tf.floor(tf.randomUniform([B], 0, K, 'float32', seed + 2)), 'int32')) as tf.Tensor1D;
    this.fixedSoft = tf.tidy(() => tf.softmax(tf.div(tf.randomNormal([B, K], 0, 3, 'float32', seed + 3), this.lossOpts.temperature!))) as tf.Tensor2D;
    this.optimizer = tf.train.momentum(0.01, 0.9);
    this.vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** Builds the student (onnx:FILE students as in `tfkd train`; --allow-folded: a benchmark times folded graphs too) and the step's inputs. */
  static async open(o: StepOptions, input: [number, number, number]): Promise<BenchStep> {
    const K = o.classes;
    const model = isOnnxModelName(o.model)
      ? buildOnnxModel(onnxModelSpec(o.model, { inputShape: input, numClasses: K, seed: o.seed }, { allowFolded: true }).spec)
      : buildModel(o.model, { inputShape: input, numClasses: K, seed: o.seed });
    const s = new BenchStep(model, input, o.batch, K, o.seed);
    try {
      s.feeder = o.data ? await openBenchData(o.data, input, o.batch, o.seed, o.cache ?? [], o.renderWorkers ?? defaultRenderWorkers()) : null;
      s.reader = o.cache?.length ? openBenchCaches(o.cache, K, o.batch, o.seed, s.lossOpts.temperature!, s.feeder ?? undefined) : null;
    } catch (e) {
      await s.dispose();
      throw e;
    }
    return s;
  }

  /**
   * One step; returns its loss, read back asynchronously (which waits for completion on async
   * backends: webgpu has no synchronous read in Node, where tfjs' readSync needs OffscreenCanvas).
   */
  async run(): Promise<number> {
    let soft = this.fixedSoft;
    if (this.reader) {
      const t0 = performance.now();
      soft = this.reader.next();
      this.lastReadMs = performance.now() - t0;
    }
    const xb = this.fed ?? this.x;
    const cost = this.optimizer.minimize(
      () => this.loss(lossContext({ logits: this.model.apply(xb, { training: true }) as tf.Tensor2D, labels: this.labels, soft, options: this.lossOpts })),
      true,
      this.vars,
    );
    const v = (await cost!.data())[0];
    cost!.dispose();
    if (soft !== this.fixedSoft) soft.dispose();
    return v;
  }

  /** The next batch through the data path (with --data); returns the ms it cost the step. */
  async feed(): Promise<number> {
    if (!this.feeder) return 0;
    const t0 = performance.now();
    const xs = await this.feeder.next();
    this.fed?.dispose();
    this.fed = tf.tensor4d(xs, [this.B, this.input[0], this.input[1], this.input[2]], 'float32');
    return performance.now() - t0;
  }

  async dispose(): Promise<void> {
    tf.dispose([this.x, this.labels, this.fixedSoft]);
    this.fed?.dispose();
    await this.feeder?.close();
    this.reader?.close();
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/**
 * The trainer's data path for the bench: a seeded shuffle of the training split, B samples per
 * call, each with a seeded view of the caches' plan (their rrc/pixel views, or view 0 without
 * caches), read and rendered as train.ts does (inputs.ts, views.ts), the next batch's decode
 * started before the current one is returned. Also hands the caches the same samples and views.
 */
async function openBenchData(spec: string, input: [number, number, number], B: number, seed: number, cacheDirs: string[], workers: number) {
  const ds = await openDataset(spec, { split: 'train' });
  const caches = cacheDirs.map((d) => openCache(d));
  try {
    const plan = planViews(null, caches, seed, false);
    const inputs = studentInputs(ds, [input[0], input[1]], undefined, plan);
    if (inputs.shape.channels !== input[2]) throw new UsageError(`--input ${input.join('x')}: ${spec} is read with ${inputs.shape.channels} channel(s)`);
    const order = permutation(ds.size, hashU32(seed, 0xda7a));
    const source = inputs.rendered ? studentBatchSource(ds, inputs, plan, workers) : null;
    let pos = 0;
    const take = () => {
      const samples = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        samples[i] = order[pos];
        pos = (pos + 1) % order.length;
      }
      const views = viewsFor(plan, seed, pos, samples).student;
      const rendered = source ? source.fetch(samples, views) : null;
      rendered?.catch(() => undefined);
      return { samples, views, rendered };
    };
    const sb = input[0] * input[1] * input[2];
    const px = new Uint8Array(B * sb);
    const xs = new Float32Array(B * sb);
    let ahead = take();
    const feeder = {
      rendered: inputs.rendered,
      samples: ahead.samples,
      views: ahead.views,
      async next(): Promise<Float32Array> {
        const cur = ahead;
        ahead = take();
        feeder.samples = cur.samples;
        feeder.views = cur.views;
        const pixels = cur.rendered ? await cur.rendered : await ds.readBatch(cur.samples, px);
        return pixels instanceof Float32Array ? pixels : pixelsToFloat(pixels, xs);
      },
      close: async () => {
        await ahead.rendered?.catch(() => undefined);
        await source?.close();
      },
    };
    return feeder;
  } finally {
    for (const c of caches) c.close();
  }
}

/**
 * Soft targets for the bench from caches on disk, as the trainer reads them: B rows per call from a
 * seeded shuffle of the cache's samples (wrapping around), seeded views, `cacheSoftTargets` into
 * reused buffers, then one [B, K] tensor. The caller disposes each tensor.
 */
export function openBenchCaches(dirs: string[], K: number, B: number, seed: number, temperature: number, feeder?: { samples: Int32Array; views: Int32Array }): { next(): tf.Tensor2D; close(): void } {
  const caches: CacheReader[] = [];
  try {
    for (const d of dirs) caches.push(openCache(d, { numClasses: K }));
    const [c0] = caches;
    for (const c of caches) {
      if (c.sampleStart !== c0.sampleStart || c.sampleEnd !== c0.sampleEnd || c.views !== c0.views) {
        throw new UsageError(`--cache ${c.dir} covers samples [${c.sampleStart}, ${c.sampleEnd}) × ${c.views} views, ${c0.dir} [${c0.sampleStart}, ${c0.sampleEnd}) × ${c0.views}`);
      }
    }
  } catch (e) {
    for (const c of caches) c.close();
    throw e;
  }
  const start = caches[0].sampleStart;
  const order = permutation(caches[0].sampleEnd - start, hashU32(seed, 0xcac4e));
  const rng = new Rng(seed, 0x5ee);
  const V = caches[0].views;
  const samples = new Int32Array(B);
  const views = new Int32Array(B);
  const out = new Float32Array(B * K);
  const scratch = new Float32Array(B * K);
  let pos = 0;
  return {
    next() {
      // With --data: the rows of the batch the data path just fed.
      if (feeder) return tf.tensor2d(cacheSoftTargets(caches, feeder.samples, feeder.views, temperature, out, scratch), [B, K], 'float32');
      for (let i = 0; i < B; i++) {
        samples[i] = start + order[pos];
        pos = (pos + 1) % order.length;
        views[i] = V > 1 ? rng.below(V) : 0;
      }
      return tf.tensor2d(cacheSoftTargets(caches, samples, views, temperature, out, scratch), [B, K], 'float32');
    },
    close() {
      for (const c of caches) c.close();
    },
  };
}
