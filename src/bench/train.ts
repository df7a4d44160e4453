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
import { tf } from '../student/tf.js';
import { profileKernels, type KernelTime } from './profile.js';
import { defaultThreads } from '../student/kernels/native.js';
import { quantile } from './stats.js';
import { BenchStep } from './train-step.js';
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

const defaultInput = (model: string): [number, number, number] => (model === 'cnn' || model === 'mlp' ? [28, 28, 1] : model.startsWith('onnx:') ? [224, 224, 3] : [32, 32, 3]);

const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);

/** Runs the benchmark in this process (selects the backend, builds the model, times the steps). */
export async function runTrainBench(o: TrainBenchOptions): Promise<TrainBenchResult> {
  const torchArch = o.torch ? torchArchFor(o.model, o.torch) : null;
  const loadStart = load1();
  const info = await selectBackend(o.backend);
  const input = o.input ?? defaultInput(o.model);
  const step = await BenchStep.open(o, input);
  let t: StepTimes;
  let profile: TrainBenchResult['profile'];
  let tfBytes: number;
  try {
    t = await timeSteps(step, o.warmup, o.steps, o.batch);
    if (o.profile) {
      // The kernels are dispatched synchronously (what the profile times); the loss is read after.
      let pending: Promise<number> | null = null;
      profile = profileKernels(info.name, () => {
        pending = step.run();
      });
      await pending;
    }
    tfBytes = tf.memory().numBytes;
  } finally {
    await step.dispose();
  }
  const rates = t.rates.sort((a, b) => a - b);
  const cpuMs = median(t.cpuTimes);
  const torchOpts = { input, classes: o.classes, batch: o.batch, steps: o.steps, warmup: o.warmup, seed: o.seed, threads: defaultThreads() };
  const torch = torchArch ? runTorchTrainBench(torchArch, torchOpts, { imgPerS: quantile(rates, 0.5), cpuMs }) : null;
  return {
    tool: 'tfkd',
    model: o.model,
    input,
    classes: o.classes,
    batch: o.batch,
    steps: o.steps,
    warmup: o.warmup,
    params: step.counts,
    backend: { name: info.name, detail: info.detail, kernels: info.kernels },
    img_per_s: quantile(rates, 0.5),
    img_per_s_min: rates[0],
    img_per_s_max: rates[rates.length - 1],
    img_per_s_p10: quantile(rates, 0.1),
    img_per_s_p90: quantile(rates, 0.9),
    step_ms_median: median(t.times),
    cpu_ms_median: cpuMs,
    peak_rss_mib: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    tf_bytes: tfBytes,
    profile,
    cache_read: step.reader ? { caches: o.cache!, ...shareOfStep(t.readMs, t.readShare) } : undefined,
    data_path: step.feeder ? { data: o.data!, rendered: step.feeder.rendered, ...shareOfStep(t.dataMs, t.dataShare) } : undefined,
    torch: torch ? { ...torch, loadavg: [loadStart, load1()] } : undefined,
  };
}

/** What each timed step measured (one entry per step); the read and data figures only with --cache / --data. */
interface StepTimes {
  /** Images per second of the step (wall time). */
  rates: number[];
  /** Wall and CPU (user + system, all threads) ms of the step. */
  times: number[];
  cpuTimes: number[];
  /** --cache: ms reading the soft targets, and their share of the step. */
  readMs: number[];
  readShare: number[];
  /** --data: ms waiting for the batch, and their share of data + compute. */
  dataMs: number[];
  dataShare: number[];
}

/** `warmup` untimed steps, then `steps` timed ones; a loss that is not finite fails the bench. */
async function timeSteps(step: BenchStep, warmup: number, steps: number, B: number): Promise<StepTimes> {
  for (let i = 0; i < warmup; i++) {
    await step.feed();
    await step.run();
  }
  const t: StepTimes = { rates: [], times: [], cpuTimes: [], readMs: [], readShare: [], dataMs: [], dataShare: [] };
  for (let i = 0; i < steps; i++) {
    const dm = await step.feed();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const v = await step.run();
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    t.cpuTimes.push((c.user + c.system) / 1000);
    if (!Number.isFinite(v)) throw new Error(`bench train: loss became ${v} at step ${i}`);
    t.times.push(dt);
    t.rates.push((B * 1000) / dt);
    if (step.reader) {
      t.readMs.push(step.lastReadMs);
      t.readShare.push(step.lastReadMs / dt);
    }
    if (step.feeder) {
      t.dataMs.push(dm);
      t.dataShare.push(dm / (dm + dt));
    }
  }
  return t;
}

/** A per-step cost (cache read, data path): its median ms, and its median and largest share. */
function shareOfStep(ms: number[], share: number[]): { ms_median: number; share_median: number; share_max: number } {
  return {
    ms_median: median(ms),
    share_median: median(share),
    share_max: share.reduce((a, b) => Math.max(a, b), -Infinity), // no spread: one entry per step
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
