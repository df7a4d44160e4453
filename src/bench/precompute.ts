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
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { precompute } from '../cache/precompute.js';
import type { CacheDtype } from '../catalog.js';
import { capabilitiesOf, type Dataset } from '../data/dataset.js';
import { encodedSamples, renderRows, teacherSide } from '../cache/render-rows.js';
import type { Image } from '../data/image.js';
import { UsageError } from '../errors.js';
import { openDataset } from '../data/open.js';
import { openTeacher, type OrtTeacher, type PreparedBatch } from '../teacher/session.js';
import { ORT_VERSION } from '../teacher/ort.js';
import type { TeacherDevice as Device } from '../catalog.js';
import { defaultRenderWorkers, RenderPool } from '../data/render-pool.js';
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

export interface CacheVariant {
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

/** The first `rows` samples of a data set, as a Dataset (the pipeline then covers exactly them). */
function firstRows(ds: Dataset, rows: number): Dataset {
  if (rows >= ds.size) return ds;
  if (ds.head) return ds.head(rows);
  const sub: Dataset = {
    kind: ds.kind,
    spec: ds.spec,
    split: ds.split,
    size: rows,
    numClasses: ds.numClasses,
    shape: ds.shape,
    labels: ds.labels.subarray(0, rows),
    classNames: ds.classNames,
    variableSize: ds.variableSize,
    capabilities: ds.capabilities,
    maxPixels: ds.maxPixels,
    ...(ds.encodedImages ? { encodedImages: (indices: ArrayLike<number>) => ds.encodedImages!(indices) } : {}),
    ...(ds.streamEncoded ? { streamEncoded: (start: number, end: number) => ds.streamEncoded!(start, Math.min(end, rows)) } : {}),
    get: (i) => ds.get(i),
    readBatch: (indices, out) => ds.readBatch(indices, out),
    readImages: (indices, mode, o) => ds.readImages(indices, mode, o),
    async *iterate(batchSize = 256) {
      for (let start = 0; start < rows; start += batchSize) {
        const indices = Int32Array.from({ length: Math.min(batchSize, rows - start) }, (_, k) => start + k);
        yield { start, indices, pixels: await ds.readBatch(indices), labels: ds.labels.slice(start, start + indices.length) };
      }
    },
  };
  return sub;
}

function dirBytes(dir: string, re: RegExp): number {
  return readdirSync(dir)
    .filter((f) => re.test(f))
    .reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

/** Process CPU time (all threads: JS, onnxruntime's pool, workers) in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function bare(teacher: OrtTeacher, batches: PreparedBatch[], runs: number): Promise<{ rowsPerS: number; cpuMsPerKrow: number }> {
  // Sessions side by side get as many runs in flight as the pipeline gives them.
  const depth = teacher.concurrency;
  await Promise.all(Array.from({ length: depth }, () => teacher.runRaw(batches[0].feeds))); // warm-up (allocations, first-run kernel selection; every session)
  let rows = 0;
  const c0 = cpuMs();
  const t0 = performance.now();
  const inflight: Array<Promise<unknown>> = [];
  for (let i = 0; i < runs; i++) {
    const b = batches[i % batches.length];
    inflight.push(teacher.runRaw(b.feeds));
    rows += b.n;
    if (inflight.length >= depth) await inflight.shift();
  }
  await Promise.all(inflight);
  return { rowsPerS: rows / ((performance.now() - t0) / 1000), cpuMsPerKrow: ((cpuMs() - c0) * 1000) / rows };
}

async function endToEnd(teacher: OrtTeacher, ds: Dataset, batch: number, dtype: CacheDtype, topk: number | null, renderWorkers?: number, renderPool?: RenderPool) {
  const dir = mkdtempSync(join(tmpdir(), 'tfkd-bench-'));
  const c0 = cpuMs();
  try {
    const r = await precompute({
      teacher, dataset: ds, fingerprint: 'bench', out: join(dir, 'cache'), dtype, topk, views: 1, augment: null, part: null, batch, ortVersion: ORT_VERSION, renderWorkers, renderPool,
    });
    const bytes = dirBytes(join(dir, 'cache'), /\.safetensors$/);
    const cpuMsPerKrow = ((cpuMs() - c0) * 1000) / ds.size;
    return { rowsPerS: ds.size / r.seconds, inferShare: r.inferSeconds / r.seconds, bytesPerRow: bytes / ds.size, cpuMsPerKrow };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Decode + render alone (variable-size data): every row read and rendered once, as precompute does. */
async function decodeAlone(teacher: OrtTeacher, ds: Dataset, batch: number): Promise<{ rowsPerS: number; cpuMsPerKrow: number }> {
  const mode = teacher.preprocess.channels === 'L' ? 'L' : 'RGB';
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let s = 0; s < ds.size; s += batch) {
    const idx = Int32Array.from({ length: Math.min(batch, ds.size - s) }, (_, k) => s + k);
    const imgs = (await ds.readImages(idx, mode)) as Image[];
    teacher.prepareImages(imgs); // render + normalise into a pooled buffer; never inferred
  }
  return { rowsPerS: ds.size / ((performance.now() - t0) / 1000), cpuMsPerKrow: ((cpuMs() - c0) * 1000) / ds.size };
}

/** `scripts/torch_bench_eval.py`: PyTorch eval img/s of a torchvision architecture. */
function torchBench(arch: string, batch: number, threads: number): { img_per_s: number; torch: string } {
  const script = fileURLToPath(new URL('../../scripts/torch_bench_eval.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, '--arch', arch, '--batch', String(batch), '--threads', String(threads), '--seconds', '10'], { encoding: 'utf8' });
  if (r.status !== 0) throw new UsageError(`--torch ${arch}: the PyTorch reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`, 'it needs Debian\'s python3-torch and python3-torchvision (/usr/bin/python3)');
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** `scripts/torch_bench_loader.py`: one timed DataLoader + eval pass over the folder's first `rows` images. */
function torchLoaderPass(root: string, arch: string, batch: number, threads: number, workers: number, rows: number): number {
  const script = fileURLToPath(new URL('../../scripts/torch_bench_loader.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, '--root', root, '--arch', arch, '--batch', String(batch), '--threads', String(threads), '--workers', String(workers), '--rows', String(rows)], { encoding: 'utf8' });
  if (r.status !== 0) throw new UsageError(`--torch-loader: the PyTorch reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`, "it needs Debian's python3-torch and python3-torchvision (/usr/bin/python3)");
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { img_per_s: number[] }).img_per_s[0];
}

export async function runPrecomputeBench(o: PrecomputeBenchOptions, command = ''): Promise<PrecomputeBenchResult> {
  const full = await openDataset(o.data, { split: o.split, concurrency: o.decoders });
  const ds = firstRows(full, o.rows);
  const teacher = await openTeacher(o.teacher, {
    device: o.device, threads: o.threads, sessions: o.sessions ?? 1, preprocess: o.preprocess, layout: o.layout, output: o.output, classMap: o.classMap,
    data: { shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames, variableSize: ds.variableSize },
  });
  const images = ds.variableSize === true;
  const mode = teacher.preprocess.channels === 'L' ? 'L' : 'RGB';
  try {
    const batch = teacher.info.fixedBatch !== null ? Math.min(o.batch, teacher.info.fixedBatch) : o.batch;
    const rows = ds.size;
    // Pre-made inputs for the bare runs: up to 4 distinct full batches of real data, cycled.
    const nDistinct = Math.max(1, Math.min(4, Math.floor(rows / batch)));
    const batches: PreparedBatch[] = [];
    const raw: Uint8Array[] = [];
    const rawImages: Image[][] = [];
    for (let i = 0; i < nDistinct; i++) {
      const n = Math.min(batch, rows);
      const idx = Int32Array.from({ length: n }, (_, k) => i * batch + k);
      if (images) {
        rawImages.push((await ds.readImages(idx, mode)) as Image[]);
        batches.push(await teacher.prepareImages(rawImages[i]));
      } else {
        raw.push(await ds.readBatch(idx));
        batches.push(await teacher.prepare(raw[i], n));
      }
    }
    const runs = Math.ceil(rows / batch);
    // Preprocessing alone (images already decoded) over as many batches as the timed runs.
    const tp = performance.now();
    for (let i = 0; i < runs; i++) {
      if (images) await teacher.prepareImages(rawImages[i % nDistinct]);
      else await teacher.prepare(raw[i % nDistinct], batches[i % nDistinct].n);
    }
    const prepRowsPerS = (runs * batches[0].n) / ((performance.now() - tp) / 1000);
    const remote = o.worker
      ? await openTeacher(o.teacher, {
          device: o.device, threads: o.threads, sessions: 1, preprocess: o.preprocess, layout: o.layout, output: o.output, worker: true, classMap: o.classMap,
          data: { shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames, variableSize: ds.variableSize },
        })
      : null;
    let bestBare = { rowsPerS: 0, cpuMsPerKrow: 0 };
    let bestE2e = { rowsPerS: 0, inferShare: 0, bytesPerRow: 0, cpuMsPerKrow: 0 };
    let bestWorker = 0;
    let bestDecode = { rowsPerS: 0, cpuMsPerKrow: 0 };
    const loaderWorkers = Math.max(1, o.renderWorkers ?? defaultRenderWorkers());
    // One render pool for every end-to-end run, started and warmed before timing: the PyTorch
    // script's DataLoader workers are persistent and warmed by a pass too. (A cold pool costs
    // ~0.9 s of CPU to start from the sources, which is 15 % of a 200-row pass.)
    const workers = o.renderWorkers ?? defaultRenderWorkers();
    const pool = images && workers > 0 && capabilitiesOf(ds).renderPool ? new RenderPool(workers) : null;
    if (pool) await Promise.all(Array.from({ length: workers }, (_, i) => renderRows(ds, i % rows, 1, 1, null, teacherSide(teacher), undefined, encodedSamples(ds, i % rows, (i % rows) + 1, pool), pool)));
    // ImageFolder reads folder: data only; its files are relative paths under `root` (files.ts).
    const folder = full.kind === 'folder' ? (full as Dataset & { root: string; files: readonly string[] }) : null;
    if (o.torchLoader && !(o.torch && folder && folder.files.every((f) => f.split('/').length === 2))) {
      throw new UsageError('--torch-loader needs --torch ARCH and folder:DIR data whose images sit in one folder per class (what ImageFolder reads)');
    }
    const loaderRuns: Array<{ tfkd: number; torch: number }> = [];
    const variants: CacheVariant[] = [];
    const K = teacher.info.numClasses;
    const plan: Array<[string, CacheDtype, number | null]> = [['f16', 'f16', null]];
    if (o.topk < K) plan.push([`top-${o.topk} f32`, 'f32', o.topk], [`top-${o.topk} f16`, 'f16', o.topk]);
    try {
      for (let r = 0; r < o.reps; r++) {
        const b = await bare(teacher, batches, runs);
        if (b.rowsPerS > bestBare.rowsPerS) bestBare = b;
        if (images) {
          const d = await decodeAlone(teacher, ds, batch);
          if (d.rowsPerS > bestDecode.rowsPerS) bestDecode = d;
        }
        const e = await endToEnd(teacher, ds, batch, 'f32', null, o.renderWorkers, pool ?? undefined);
        if (e.rowsPerS > bestE2e.rowsPerS) bestE2e = e;
        if (o.torchLoader) loaderRuns.push({ tfkd: e.rowsPerS, torch: torchLoaderPass(folder!.root, o.torch!, batch, teacher.info.threads, loaderWorkers, rows) });
        if (remote) bestWorker = Math.max(bestWorker, (await endToEnd(remote, ds, batch, 'f32', null, o.renderWorkers, pool ?? undefined)).rowsPerS);
      }
      for (const [name, dtype, topk] of plan) {
        const e = await endToEnd(teacher, ds, batch, dtype, topk, o.renderWorkers, pool ?? undefined);
        variants.push({ name, dtype, topk, rows_per_s: e.rowsPerS, bytes_per_row: e.bytesPerRow });
      }
    } finally {
      await remote?.close();
      await pool?.close();
    }
    variants.unshift({ name: 'f32', dtype: 'f32', topk: null, rows_per_s: bestE2e.rowsPerS, bytes_per_row: bestE2e.bytesPerRow });
    const info = teacher.info;
    const torch = o.torch ? torchBench(o.torch, batch, info.threads) : null;
    return {
      tool: 'tfkd',
      bench: 'precompute',
      teacher: { file: info.file, sha256: info.sha256, provider: info.provider, providerNotes: info.providerNotes, threads: info.threads, sessions: info.sessions ?? 1, inputDtype: info.inputDtype, layout: info.layout, K },
      onnxruntime: ORT_VERSION,
      data: { spec: full.spec, split: full.split, shape: images ? ['varying'] : [ds.shape.height, ds.shape.width, ds.shape.channels] },
      rows,
      batch,
      reps: o.reps,
      bare_rows_per_s: bestBare.rowsPerS,
      end_to_end_rows_per_s: bestE2e.rowsPerS,
      ratio: bestE2e.rowsPerS / bestBare.rowsPerS,
      ...(remote ? { worker_end_to_end_rows_per_s: bestWorker, worker_ratio: bestWorker / bestBare.rowsPerS } : {}),
      bare_cpu_ms_per_krow: bestBare.cpuMsPerKrow,
      end_to_end_cpu_ms_per_krow: bestE2e.cpuMsPerKrow,
      end_to_end_infer_share: bestE2e.inferShare,
      prepare_rows_per_s: prepRowsPerS,
      ...(images
        ? { decode: { rows_per_s: bestDecode.rowsPerS, cpu_ms_per_krow: bestDecode.cpuMsPerKrow, overhead: bestE2e.cpuMsPerKrow / (bestBare.cpuMsPerKrow + bestDecode.cpuMsPerKrow) - 1 } }
        : {}),
      ...(torch ? { torch: { arch: o.torch!, img_per_s: torch.img_per_s, threads: info.threads, version: torch.torch, ort_over_torch: bestBare.rowsPerS / torch.img_per_s } } : {}),
      ...(loaderRuns.length
        ? { torch_loader: { workers: loaderWorkers, img_per_s: spread(loaderRuns.map((x) => x.torch)), tfkd_rows_per_s: spread(loaderRuns.map((x) => x.tfkd)), ratio: spread(loaderRuns.map((x) => x.tfkd / x.torch)) } }
        : {}),
      variants,
      command,
    };
  } finally {
    await teacher.close();
  }
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
