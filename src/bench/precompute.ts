/**
 * `tfkd bench precompute`: how close the precompute pipeline gets to bare inference (issue 3, goal
 * ≥ 0.95), on the same model, batch size and rows, in the same process:
 *   - bare: `session.run` alone on input tensors prepared beforehand (runRaw: no reading, no
 *     preprocessing, no output conversion, nothing written);
 *   - end-to-end: the real `precompute` pipeline (read + preprocess + run + check + encode + write
 *     shards + manifest) into a temporary cache over the first `--rows` rows;
 *   - bytes per row on disk (shards incl. safetensors headers / rows) for f32, f16 and top-k.
 * Each timed measurement is repeated `--reps` times, alternating bare and end-to-end so that load
 * from other processes hits both alike; the best of each is reported (the least-disturbed run).
 */
import type { CacheDtype } from '../catalog.js';
import { capabilitiesOf, type Dataset } from '../data/dataset.js';
import { encodedSamples, renderRows, teacherSide } from '../cache/render-rows.js';
import { UsageError } from '../errors.js';
import { openDataset } from '../data/open.js';
import { openTeacher, type OpenTeacherOptions, type OrtTeacher, type PreparedBatch } from '../teacher/session.js';
import { ORT_VERSION } from '../teacher/ort.js';
import type { TeacherDevice as Device } from '../catalog.js';
import { defaultRenderWorkers, RenderPool } from '../data/render-pool.js';
import { bare, bareInputs, decodeAlone, endToEnd, firstRows, prepareAlone, type EndToEnd, type Rate } from './precompute-runs.js';
import { torchEvalBench, torchLoaderPass } from './pytorch.js';
import { spread, type Spread } from './stats.js';

/** What `tfkd bench precompute` measures (its flags, parsed). */
export interface PrecomputeBenchOptions {
  teacher: string;
  data: string;
  split: 'train' | 'test';
  batch: number;
  rows: number;
  reps: number;
  topk: number;
  device: Device;
  threads?: number;
  /** onnxruntime sessions side by side (teacher/lanes.ts); default 1, as precompute. */
  sessions?: number | 'auto';
  preprocess?: string;
  layout?: 'NCHW' | 'NHWC';
  output?: string;
  worker?: boolean;
  classMap?: string;
  decoders?: number;
  renderWorkers?: number;
  /** A torchvision architecture to time in PyTorch beside (scripts/torch_bench_eval.py). */
  torch?: string;
  /** With torch: also time PyTorch's ImageFolder + DataLoader + eval over the same folder (scripts/torch_bench_loader.py). */
  torchLoader?: boolean;
  json?: boolean;
}

interface CacheVariant {
  name: string;
  dtype: CacheDtype;
  topk: number | null;
  rows_per_s: number;
  bytes_per_row: number;
}

export interface PrecomputeBenchResult {
  tool: 'tfkd';
  bench: 'precompute';
  teacher: { file: string; sha256: string; provider: string; providerNotes: string[]; threads: number; sessions: number; inputDtype: string; layout: string; K: number };
  onnxruntime: string;
  data: { spec: string; split: string; shape: Array<number | string> };
  rows: number;
  batch: number;
  reps: number;
  /** Bare `session.run` on prepared tensors, best of reps. */
  bare_rows_per_s: number;
  /** Full pipeline into a temporary f32 cache, best of reps. */
  end_to_end_rows_per_s: number;
  ratio: number;
  /** Process CPU time (all threads) per 1000 rows in the best runs: less sensitive to other load than rows/s. */
  bare_cpu_ms_per_krow: number;
  end_to_end_cpu_ms_per_krow: number;
  /** With --worker: the same pipeline with onnxruntime in a worker thread, best of reps. */
  worker_end_to_end_rows_per_s?: number;
  worker_ratio?: number;
  /** Share of the best end-to-end run spent awaiting inference. */
  end_to_end_infer_share: number;
  /** Preprocessing alone (prepare: read pixels already in memory → input tensor), rows/s. */
  prepare_rows_per_s: number;
  /**
   * Variable-size images (folder:, list:): decode + render alone over the same rows (readImages and
   * the teacher's resize/crop, no inference, nothing written), and what the pipeline costs on top of
   * bare inference + bare decode/render, in process CPU time (all threads) per row.
   */
  decode?: { rows_per_s: number; cpu_ms_per_krow: number; overhead: number };
  /** `--torch ARCH`: PyTorch eval of the same architecture (torch.no_grad, same threads and batch). */
  torch?: { arch: string; img_per_s: number; threads: number; version: string; ort_over_torch: number };
  /**
   * `--torch-loader`: PyTorch end to end over the same rows (ImageFolder + DataLoader(num_workers =
   * the render workers) + eval under no_grad, same threads and batch), one pass per repetition
   * alternating with tfkd's; ratio = tfkd end-to-end ÷ PyTorch, per repetition.
   */
  torch_loader?: { workers: number; img_per_s: Spread; tfkd_rows_per_s: Spread; ratio: Spread };
  variants: CacheVariant[];
  command: string;
}

/**
 * The bench (see the top of this file): set up (the teacher, the bare runs' inputs, a warm render
 * pool), the timed repetitions, then PyTorch's eval once the pool and the worker teacher are closed.
 */
export async function runPrecomputeBench(o: PrecomputeBenchOptions, command = ''): Promise<PrecomputeBenchResult> {
  const full = await openDataset(o.data, { split: o.split, concurrency: o.decoders });
  const ds = firstRows(full, o.rows);
  const teacher = await openTeacher(o.teacher, teacherOptions(o, ds, { sessions: o.sessions ?? 1 }));
  try {
    const loaderRoot = torchLoaderRoot(o, full);
    const batch = teacher.info.fixedBatch !== null ? Math.min(o.batch, teacher.info.fixedBatch) : o.batch;
    const inputs = await bareInputs(teacher, ds, batch);
    const runs = Math.ceil(ds.size / batch);
    const prepRowsPerS = await prepareAlone(inputs, runs);
    const rig = await openRig(o, ds, teacher, batch);
    let m: Measured;
    try {
      m = await measure(rig, inputs.batches, runs, loaderRoot);
    } finally {
      await rig.close();
    }
    const torch = o.torch ? torchEvalBench(o.torch, batch, teacher.info.threads) : null;
    return benchResult(o, full, rig, { ...m, prepRowsPerS, torch }, command);
  } finally {
    await teacher.close();
  }
}

/** openTeacher's options: the flags, and what the data set says about its samples. */
function teacherOptions(o: PrecomputeBenchOptions, ds: Dataset, extra: Partial<OpenTeacherOptions>): OpenTeacherOptions {
  return {
    device: o.device, threads: o.threads, preprocess: o.preprocess, layout: o.layout, output: o.output, classMap: o.classMap, ...extra,
    data: { shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames, variableSize: ds.variableSize },
  };
}

/**
 * `--torch-loader`'s folder (ImageFolder reads folder: data only, one folder per class; its files are
 * relative paths under `root`, files.ts), or null without the flag; UsageError when it cannot run.
 */
function torchLoaderRoot(o: PrecomputeBenchOptions, full: Dataset): string | null {
  const folder = full.kind === 'folder' ? (full as Dataset & { root: string; files: readonly string[] }) : null;
  if (o.torchLoader && !(o.torch && folder && folder.files.every((f) => f.split('/').length === 2))) {
    throw new UsageError('--torch-loader needs --torch ARCH and folder:DIR data whose images sit in one folder per class (what ImageFolder reads)');
  }
  return o.torchLoader ? folder!.root : null;
}

/** What every end-to-end run shares: the data, the teacher(s), the batch, and a warm render pool. */
interface Rig {
  o: PrecomputeBenchOptions;
  ds: Dataset;
  teacher: OrtTeacher;
  /** With --worker: the same teacher with onnxruntime in a worker thread. */
  remote: OrtTeacher | null;
  pool: RenderPool | null;
  batch: number;
  /** Variable-size images (folder:, list:): decoded and rendered per row. */
  images: boolean;
  /** PyTorch's DataLoader(num_workers) for --torch-loader: the render workers, at least 1. */
  loaderWorkers: number;
  /** The real pipeline into a temporary cache of `dtype` (top-k: `topk`), with this rig's render pool. */
  endToEnd(teacher: OrtTeacher, dtype: CacheDtype, topk: number | null): Promise<EndToEnd>;
  close(): Promise<void>;
}

async function openRig(o: PrecomputeBenchOptions, ds: Dataset, teacher: OrtTeacher, batch: number): Promise<Rig> {
  const images = ds.variableSize === true;
  const remote = o.worker ? await openTeacher(o.teacher, teacherOptions(o, ds, { sessions: 1, worker: true })) : null;
  let pool: RenderPool | null;
  try {
    pool = await warmRenderPool(o, ds, teacher, images);
  } catch (e) {
    await remote?.close();
    throw e;
  }
  return {
    o, ds, teacher, remote, pool, batch, images,
    loaderWorkers: Math.max(1, o.renderWorkers ?? defaultRenderWorkers()),
    endToEnd: (t, dtype, topk) => endToEnd(t, ds, batch, dtype, topk, o.renderWorkers, pool ?? undefined),
    close: async () => {
      await remote?.close();
      await pool?.close();
    },
  };
}

/**
 * One render pool for every end-to-end run, started and warmed before timing: the PyTorch script's
 * DataLoader workers are persistent and warmed by a pass too. (A cold pool costs ~0.9 s of CPU to
 * start from the sources, which is 15 % of a 200-row pass.) Null where rows are not rendered in one.
 */
async function warmRenderPool(o: PrecomputeBenchOptions, ds: Dataset, teacher: OrtTeacher, images: boolean): Promise<RenderPool | null> {
  const workers = o.renderWorkers ?? defaultRenderWorkers();
  const pool = images && workers > 0 && capabilitiesOf(ds).renderPool ? new RenderPool(workers) : null;
  const rows = ds.size;
  try {
    if (pool) await Promise.all(Array.from({ length: workers }, (_, i) => renderRows(ds, i % rows, 1, 1, null, teacherSide(teacher), undefined, encodedSamples(ds, i % rows, (i % rows) + 1, pool), pool)));
  } catch (e) {
    await pool?.close();
    throw e;
  }
  return pool;
}

/** The figures of the timed runs: the best of --reps for each (the least-disturbed run), and the cache variants. */
interface Measured {
  bare: Rate;
  e2e: EndToEnd;
  worker: number;
  decode: Rate;
  /** --torch-loader: tfkd's end-to-end and PyTorch's rows/s, per repetition. */
  loaderRuns: Array<{ tfkd: number; torch: number }>;
  variants: CacheVariant[];
}

/**
 * --reps repetitions, alternating bare, decode alone, end to end (and PyTorch's pass, and the
 * worker's) so that load from other processes hits all alike; then one run per other cache variant.
 */
async function measure(rig: Rig, batches: PreparedBatch[], runs: number, loaderRoot: string | null): Promise<Measured> {
  const { o, ds, teacher, remote, batch } = rig;
  const m: Measured = { bare: { rowsPerS: 0, cpuMsPerKrow: 0 }, e2e: { rowsPerS: 0, inferShare: 0, bytesPerRow: 0, cpuMsPerKrow: 0 }, worker: 0, decode: { rowsPerS: 0, cpuMsPerKrow: 0 }, loaderRuns: [], variants: [] };
  for (let r = 0; r < o.reps; r++) {
    const b = await bare(teacher, batches, runs);
    if (b.rowsPerS > m.bare.rowsPerS) m.bare = b;
    if (rig.images) {
      const d = await decodeAlone(teacher, ds, batch);
      if (d.rowsPerS > m.decode.rowsPerS) m.decode = d;
    }
    const e = await rig.endToEnd(teacher, 'f32', null);
    if (e.rowsPerS > m.e2e.rowsPerS) m.e2e = e;
    if (loaderRoot !== null) m.loaderRuns.push({ tfkd: e.rowsPerS, torch: torchLoaderPass(loaderRoot, o.torch!, batch, teacher.info.threads, rig.loaderWorkers, ds.size) });
    if (remote) m.worker = Math.max(m.worker, (await rig.endToEnd(remote, 'f32', null)).rowsPerS);
  }
  const plan: Array<[string, CacheDtype, number | null]> = [['f16', 'f16', null]];
  if (o.topk < teacher.info.numClasses) plan.push([`top-${o.topk} f32`, 'f32', o.topk], [`top-${o.topk} f16`, 'f16', o.topk]);
  for (const [name, dtype, topk] of plan) {
    const e = await rig.endToEnd(teacher, dtype, topk);
    m.variants.push({ name, dtype, topk, rows_per_s: e.rowsPerS, bytes_per_row: e.bytesPerRow });
  }
  m.variants.unshift({ name: 'f32', dtype: 'f32', topk: null, rows_per_s: m.e2e.rowsPerS, bytes_per_row: m.e2e.bytesPerRow });
  return m;
}

/** The report: the figures, the ratios between them, and what produced them. */
function benchResult(o: PrecomputeBenchOptions, full: Dataset, rig: Rig, m: Measured & { prepRowsPerS: number; torch: { img_per_s: number; torch: string } | null }, command: string): PrecomputeBenchResult {
  const { ds, images, remote } = rig;
  const { bare: bestBare, e2e: bestE2e, decode: bestDecode, worker: bestWorker, loaderRuns, torch } = m;
  const info = rig.teacher.info;
  return {
    tool: 'tfkd',
    bench: 'precompute',
    teacher: { file: info.file, sha256: info.sha256, provider: info.provider, providerNotes: info.providerNotes, threads: info.threads, sessions: info.sessions ?? 1, inputDtype: info.inputDtype, layout: info.layout, K: info.numClasses },
    onnxruntime: ORT_VERSION,
    data: { spec: full.spec, split: full.split, shape: images ? ['varying'] : [ds.shape.height, ds.shape.width, ds.shape.channels] },
    rows: ds.size,
    batch: rig.batch,
    reps: o.reps,
    bare_rows_per_s: bestBare.rowsPerS,
    end_to_end_rows_per_s: bestE2e.rowsPerS,
    ratio: bestE2e.rowsPerS / bestBare.rowsPerS,
    ...(remote ? { worker_end_to_end_rows_per_s: bestWorker, worker_ratio: bestWorker / bestBare.rowsPerS } : {}),
    bare_cpu_ms_per_krow: bestBare.cpuMsPerKrow,
    end_to_end_cpu_ms_per_krow: bestE2e.cpuMsPerKrow,
    end_to_end_infer_share: bestE2e.inferShare,
    prepare_rows_per_s: m.prepRowsPerS,
    ...(images
      ? { decode: { rows_per_s: bestDecode.rowsPerS, cpu_ms_per_krow: bestDecode.cpuMsPerKrow, overhead: bestE2e.cpuMsPerKrow / (bestBare.cpuMsPerKrow + bestDecode.cpuMsPerKrow) - 1 } }
      : {}),
    ...(torch ? { torch: { arch: o.torch!, img_per_s: torch.img_per_s, threads: info.threads, version: torch.torch, ort_over_torch: bestBare.rowsPerS / torch.img_per_s } } : {}),
    ...(loaderRuns.length
      ? { torch_loader: { workers: rig.loaderWorkers, img_per_s: spread(loaderRuns.map((x) => x.torch)), tfkd_rows_per_s: spread(loaderRuns.map((x) => x.tfkd)), ratio: spread(loaderRuns.map((x) => x.tfkd / x.torch)) } }
      : {}),
    variants: m.variants,
    command,
  };
}

export function formatPrecomputeBench(r: PrecomputeBenchResult): string {
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  const t = r.teacher;
  const lines = [
    `bench precompute  ${t.file} (${t.layout} ${t.inputDtype}, K=${t.K})  on ${r.data.spec} ${r.data.split} ${r.data.shape.join('x')}`,
    `runtime           onnxruntime-node ${r.onnxruntime}, provider ${t.provider}, ${t.threads} threads${t.sessions > 1 ? ` in ${t.sessions} sessions side by side` : ''}${t.providerNotes.length ? `  (${t.providerNotes.join('; ')})` : ''}`,
    `rows ${r.rows}, batch ${r.batch}, best of ${r.reps}`,
    `bare session.run  ${n(r.bare_rows_per_s).padStart(9)} rows/s   ${r.bare_cpu_ms_per_krow.toFixed(0).padStart(5)} CPU ms / 1k rows`,
    `end-to-end f32    ${n(r.end_to_end_rows_per_s).padStart(9)} rows/s   ${r.end_to_end_cpu_ms_per_krow.toFixed(0).padStart(5)} CPU ms / 1k rows   ratio ${r.ratio.toFixed(3)}  (awaiting inference ${(100 * r.end_to_end_infer_share).toFixed(0)} % of wall time)`,
    ...(r.worker_end_to_end_rows_per_s !== undefined
      ? [`end-to-end, ort in a worker thread ${n(r.worker_end_to_end_rows_per_s).padStart(9)} rows/s   ratio ${r.worker_ratio!.toFixed(3)}`]
      : []),
    `preprocess alone  ${n(r.prepare_rows_per_s).padStart(9)} rows/s${r.decode ? '   (decoded images → input tensor)' : ''}`,
    ...(r.decode
      ? [
          `decode + render   ${n(r.decode.rows_per_s).padStart(9)} rows/s   ${r.decode.cpu_ms_per_krow.toFixed(0).padStart(5)} CPU ms / 1k rows`,
          `pipeline overhead ${(100 * r.decode.overhead).toFixed(1).padStart(8)} %   of CPU time, end-to-end vs bare inference + bare decode/render`,
        ]
      : []),
    ...(r.torch
      ? [`PyTorch eval      ${n(r.torch.img_per_s).padStart(9)} img/s    (${r.torch.arch}, torch ${r.torch.version}, no_grad, ${r.torch.threads} threads, batch ${r.batch}): onnxruntime ${r.torch.ort_over_torch.toFixed(2)}×`]
      : []),
    ...(r.torch_loader
      ? [`PyTorch end to end ${n(r.torch_loader.img_per_s.median).padStart(8)} img/s    (ImageFolder + DataLoader(num_workers=${r.torch_loader.workers}) + eval, no_grad): tfkd end-to-end ÷ PyTorch ${r.torch_loader.ratio.median.toFixed(2)}× (${r.torch_loader.ratio.min.toFixed(2)}–${r.torch_loader.ratio.max.toFixed(2)}, ${r.torch_loader.ratio.values.length} runs)`]
      : []),
    `cache variants (end-to-end rows/s, bytes per row on disk):`,
    ...r.variants.map((v) => `  ${v.name.padEnd(12)} ${n(v.rows_per_s).padStart(9)} rows/s  ${v.bytes_per_row.toFixed(1).padStart(8)} B/row`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Adds `precompute` to the `bench` command group. */
