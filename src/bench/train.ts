/**
 * `tfkd bench train`: the speed of one student training step, the unit every experiment pays for
 * (issue 6). One step = forward (training mode) + KD loss (α = 0.5, τ = 4, against fixed random
 * soft targets) + backward + SGD-momentum(0.9) update, on fixed random inputs; warm-up steps are
 * excluded; img/s is reported per step as median and spread, with peak RSS. `--profile` adds the
 * per-kernel wall and CPU time of one step, which is how docs/PERFORMANCE.md was made. `--cache DIR`
 * takes each step's soft targets from a cache on disk instead, through the trainer's read path
 * (seeded shuffled rows, tempered softmax, upload), and reports what that read costs per step.
 * `scripts/torch_bench_train.py` runs the identical step in PyTorch: `--torch [ARCH]` runs it in the
 * same run on the torchvision model (train-torch.ts), `scripts/bench-train.ts` for the CIFAR zoo.
 */
import { performance } from 'node:perf_hooks';
import { selectBackend, type BackendInfo } from '../student/backend.js';
import { BACKEND_CHOICES } from '../catalog.js';
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

import { profileKernels, type KernelTime } from './profile.js';
import { defaultThreads } from '../student/kernels/native.js';
import { load1, runTorchTrainBench, torchArchFor, type TorchTrainResult } from './train-torch.js';


export interface TrainBenchOptions {
  model: string;
  /** [H, W, C]; default per model: 28×28×1 for mlp/cnn, 32×32×3 otherwise. */
  input?: [number, number, number];
  classes: number;
  batch: number;
  steps: number;
  warmup: number;
  backend: (typeof BACKEND_CHOICES)[number];
  seed: number;
  /** Collect per-kernel timings of one extra step. */
  profile?: boolean;
  /**
   * Cache directories: each step reads its B soft targets from these (the trainer's
   * cacheSoftTargets: several caches = ensemble mean) instead of fixed random ones.
   */
  cache?: string[];
  /**
   * A data SPEC: each step's inputs come from it through the trainer's data path (images read at
   * their own size, the next batch decoded while a step runs, the cache's views rendered at
   * `input`'s size by data/views.ts, /255), and the bench reports that path's share of a step.
   */
  data?: string;
  /** With data: render workers of the trainer's data path (default: the trainer's default). */
  renderWorkers?: number;
  /** Also time PyTorch training torchvision's model (true: the zoo model's own name) in this run. */
  torch?: string | true;
}


export interface TrainBenchResult {
  tool: 'tfkd';
  model: string;
  input: [number, number, number];
  classes: number;
  batch: number;
  steps: number;
  warmup: number;
  params: { trainable: number; total: number };
  backend: Pick<BackendInfo, 'name' | 'detail' | 'kernels'>;
  /** Median over the timed steps. */
  img_per_s: number;
  img_per_s_min: number;
  img_per_s_max: number;
  /** 10th / 90th percentile. */
  img_per_s_p10: number;
  img_per_s_p90: number;
  step_ms_median: number;
  /** CPU time (user + system, all threads) per step, median: robust to other load on the machine. */
  cpu_ms_median: number;
  peak_rss_mib: number;
  /** Bytes tfjs holds (the wasm heap for wasm). */
  tf_bytes: number;
  profile?: { total_ms: number; total_wall_ms: number; kernels: KernelTime[] };
  /** With --cache: reading the step's soft targets (median ms) and its share of the whole step. */
  cache_read?: { caches: string[]; ms_median: number; share_median: number; share_max: number };
  /**
   * With --data: per step, the time spent waiting for the batch (decode not overlapped with the
   * previous step) + rendering its views + converting to floats, median ms and its share of
   * (data + compute); the compute part is the timed step itself.
   */
  data_path?: { data: string; rendered: boolean; ms_median: number; share_median: number; share_max: number };
  /** With --torch: PyTorch's figures and the ratio, and the 1-minute load average before tfkd and after PyTorch. */
  torch?: TorchTrainResult & { loadavg: [number, number] };
}

export const defaultInput = (model: string): [number, number, number] => (model === 'cnn' || model === 'mlp' ? [28, 28, 1] : model.startsWith('onnx:') ? [224, 224, 3] : [32, 32, 3]);

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/** Runs the benchmark in this process (selects the backend, builds the model, times the steps). */
export async function runTrainBench(o: TrainBenchOptions): Promise<TrainBenchResult> {
  const torchArch = o.torch ? torchArchFor(o.model, o.torch) : null;
  const loadStart = load1();
  const info = await selectBackend(o.backend);
  const input = o.input ?? defaultInput(o.model);
  const K = o.classes;
  const B = o.batch;
  // onnx:FILE students (issue 19) train as in `tfkd train` (--allow-folded: a benchmark times folded graphs too).
  const model = isOnnxModelName(o.model)
    ? buildOnnxModel(onnxModelSpec(o.model, { inputShape: input, numClasses: K, seed: o.seed }, { allowFolded: true }).spec)
    : buildModel(o.model, { inputShape: input, numClasses: K, seed: o.seed });
  const counts = countParams(model);
  const loss = lossEntry('kd').fn;
  const lossOpts: LossOptions = { numClasses: K, fidelity: 'paper', logitStandardization: false, alpha: 0.5, temperature: 4 };
  // Fixed random inputs, labels and tempered teacher probabilities (softmax of random logits / τ).
  const x = tf.randomNormal([B, ...input], 0, 1, 'float32', o.seed + 1);
  const labels = tf.tidy(() => tf.cast(tf.floor(tf.randomUniform([B], 0, K, 'float32', o.seed + 2)), 'int32')) as tf.Tensor1D;
  const fixedSoft = tf.tidy(() => tf.softmax(tf.div(tf.randomNormal([B, K], 0, 3, 'float32', o.seed + 3), lossOpts.temperature!))) as tf.Tensor2D;
  const optimizer = tf.train.momentum(0.01, 0.9);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const feeder = o.data ? await openBenchData(o.data, input, B, o.seed, o.cache ?? [], o.renderWorkers ?? defaultRenderWorkers()) : null;
  const reader = o.cache?.length ? openBenchCaches(o.cache, K, B, o.seed, lossOpts.temperature!, feeder ?? undefined) : null;
  let lastReadMs = 0;
  let fed: tf.Tensor4D | null = null;

  const step = (): number => {
    let soft = fixedSoft;
    if (reader) {
      const t0 = performance.now();
      soft = reader.next();
      lastReadMs = performance.now() - t0;
    }
    const xb = fed ?? x;
    const cost = optimizer.minimize(
      () => loss(lossContext({ logits: model.apply(xb, { training: true }) as tf.Tensor2D, labels, soft, options: lossOpts })),
      true,
      vars,
    );
    const v = cost!.dataSync()[0]; // forces completion on async backends; wasm/cpu are synchronous anyway
    cost!.dispose();
    if (soft !== fixedSoft) soft.dispose();
    return v;
  };
  /** The next batch through the data path (with --data); returns the ms it cost the step. */
  const feed = async (): Promise<number> => {
    if (!feeder) return 0;
    const t0 = performance.now();
    const xs = await feeder.next();
    fed?.dispose();
    fed = tf.tensor4d(xs, [B, input[0], input[1], input[2]], 'float32');
    return performance.now() - t0;
  };

  for (let i = 0; i < o.warmup; i++) {
    await feed();
    step();
  }
  const rates: number[] = [];
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const readMs: number[] = [];
  const readShare: number[] = [];
  const dataMs: number[] = [];
  const dataShare: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const dm = await feed();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const v = step();
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
    if (!Number.isFinite(v)) throw new Error(`bench train: loss became ${v} at step ${i}`);
    times.push(dt);
    rates.push((B * 1000) / dt);
    if (reader) {
      readMs.push(lastReadMs);
      readShare.push(lastReadMs / dt);
    }
    if (feeder) {
      dataMs.push(dm);
      dataShare.push(dm / (dm + dt));
    }
  }
  let profile: TrainBenchResult['profile'];
  if (o.profile) profile = profileKernels(info.name, step);
  const tfBytes = tf.memory().numBytes;
  tf.dispose([x, labels, fixedSoft]);
  (fed as tf.Tensor4D | null)?.dispose();
  await feeder?.close();
  reader?.close();
  optimizer.dispose();
  model.dispose();
  const sorted = [...rates].sort((a, b) => a - b);
  const sortedT = [...times].sort((a, b) => a - b);
  const torchOpts = { input, classes: K, batch: B, steps: o.steps, warmup: o.warmup, seed: o.seed, threads: defaultThreads() };
  const cpuMs = quantile([...cpuTimes].sort((a, b) => a - b), 0.5);
  const torch = torchArch ? runTorchTrainBench(torchArch, torchOpts, { imgPerS: quantile(sorted, 0.5), cpuMs }) : null;
  return {
    tool: 'tfkd',
    model: o.model,
    input,
    classes: K,
    batch: B,
    steps: o.steps,
    warmup: o.warmup,
    params: { trainable: counts.trainable, total: counts.total },
    backend: { name: info.name, detail: info.detail, kernels: info.kernels },
    img_per_s: quantile(sorted, 0.5),
    img_per_s_min: sorted[0],
    img_per_s_max: sorted[sorted.length - 1],
    img_per_s_p10: quantile(sorted, 0.1),
    img_per_s_p90: quantile(sorted, 0.9),
    step_ms_median: quantile(sortedT, 0.5),
    cpu_ms_median: cpuMs,
    peak_rss_mib: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    tf_bytes: tfBytes,
    profile,
    cache_read: reader
      ? {
          caches: o.cache!,
          ms_median: quantile([...readMs].sort((a, b) => a - b), 0.5),
          share_median: quantile([...readShare].sort((a, b) => a - b), 0.5),
          share_max: readShare.reduce((a, b) => Math.max(a, b), -Infinity), // no spread: one entry per step
        }
      : undefined,
    data_path: feeder
      ? {
          data: o.data!,
          rendered: feeder.rendered,
          ms_median: quantile([...dataMs].sort((a, b) => a - b), 0.5),
          share_median: quantile([...dataShare].sort((a, b) => a - b), 0.5),
          share_max: dataShare.reduce((a, b) => Math.max(a, b), -Infinity),
        }
      : undefined,
    torch: torch ? { ...torch, loadavg: [loadStart, load1()] } : undefined,
  };
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


export function formatTrainBench(r: TrainBenchResult): string {
  const f = (v: number) => v.toFixed(1);
  const lines = [
    `bench train  ${r.model} ${r.input.join('x')} K=${r.classes}  batch ${r.batch}  ${r.params.trainable.toLocaleString('en-US')} trainable params`,
    `backend      ${r.backend.name} (${r.backend.kernels}; ${r.backend.detail})`,
    `img/s        ${f(r.img_per_s)} median over ${r.steps} steps (p10 ${f(r.img_per_s_p10)}, p90 ${f(r.img_per_s_p90)}, min ${f(r.img_per_s_min)}, max ${f(r.img_per_s_max)}); ${r.warmup} warm-up steps excluded`,
    `step         ${r.step_ms_median.toFixed(1)} ms median wall, ${r.cpu_ms_median.toFixed(1)} ms CPU`,
    `memory       peak RSS ${r.peak_rss_mib.toFixed(0)} MiB, tfjs holds ${(r.tf_bytes / 2 ** 20).toFixed(0)} MiB`,
  ];
  if (r.profile) {
    const p = r.profile;
    lines.push(`profile      one step, ${p.total_wall_ms.toFixed(1)} ms wall, ${p.total_ms.toFixed(1)} ms CPU, by kernel (wall, % of wall, CPU):`);
    for (const k of p.kernels.slice(0, 16)) {
      const share = ((100 * k.wall_ms) / p.total_wall_ms).toFixed(1).padStart(5);
      lines.push(`  ${k.name.padEnd(36)} ${k.wall_ms.toFixed(1).padStart(8)} ms ${share} %  ${k.ms.toFixed(1).padStart(7)} ms CPU  ${String(k.calls).padStart(4)} calls`);
    }
  }
  if (r.data_path) {
    const d = r.data_path;
    lines.push(`data path    ${d.ms_median.toFixed(2)} ms median per step = ${(100 * d.share_median).toFixed(1)} % of data + compute (max ${(100 * d.share_max).toFixed(1)} %), ${d.rendered ? 'images decoded and views rendered' : 'packed samples'} from ${d.data}`);
  }
  if (r.cache_read) {
    const c = r.cache_read;
    lines.push(`cache read   ${c.ms_median.toFixed(2)} ms median per step = ${(100 * c.share_median).toFixed(2)} % of the step (max ${(100 * c.share_max).toFixed(2)} %), from ${c.caches.join(', ')}`);
  }
  if (r.torch) {
    const t = r.torch;
    const params = t.trainable === r.params.trainable ? 'same trainable params' : `${t.trainable.toLocaleString('en-US')} trainable params`;
    lines.push(`PyTorch      ${f(t.img_per_s)} img/s median (p10 ${f(t.img_per_s_p10)}, p90 ${f(t.img_per_s_p90)}), step ${t.step_ms_median.toFixed(1)} ms wall, ${t.cpu_ms_median.toFixed(1)} ms CPU (${t.arch}, ${params}, torch ${t.torch}, ${t.threads} thread${t.threads === 1 ? '' : 's'})`);
    lines.push(`ratio        tfkd ÷ PyTorch ${t.ratio.toFixed(2)} by wall time, ${t.cpu_ratio.toFixed(2)} by CPU time (medians, same run; load average ${t.loadavg[0].toFixed(1)} before, ${t.loadavg[1].toFixed(1)} after)`);
  }
  return `${lines.join('\n')}\n`;
}
