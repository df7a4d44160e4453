/**
 * The timed runs of `tfkd bench precompute` (precompute.ts), each over the same rows: bare
 * `session.run` on prepared tensors, preprocessing alone, decode + render alone, and the real
 * pipeline into a temporary cache. Each returns rows/s and process CPU time per 1000 rows.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { precompute } from '../cache/precompute.js';
import type { CacheDtype } from '../catalog.js';
import type { Dataset } from '../data/dataset.js';
import type { Image } from '../data/image.js';
import type { RenderPool } from '../data/render-pool.js';
import { ORT_VERSION } from '../teacher/ort.js';
import type { OrtTeacher, PreparedBatch } from '../teacher/session.js';

export interface Rate {
  rowsPerS: number;
  cpuMsPerKrow: number;
}

export interface EndToEnd extends Rate {
  inferShare: number;
  bytesPerRow: number;
}

/** The first `rows` samples of a data set, as a Dataset (the pipeline then covers exactly them). */
export function firstRows(ds: Dataset, rows: number): Dataset {
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

/** The bare runs' inputs: up to 4 distinct full batches of real data, prepared beforehand, cycled. */
export interface BareInputs {
  batches: PreparedBatch[];
  /** Prepares batch k again from its pixels already in memory (read, decoded). */
  prepareAgain(k: number): Promise<PreparedBatch>;
}

export async function bareInputs(teacher: OrtTeacher, ds: Dataset, batch: number): Promise<BareInputs> {
  const images = ds.variableSize === true;
  const mode = teacher.preprocess.channels === 'L' ? 'L' : 'RGB';
  const rows = ds.size;
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
  return { batches, prepareAgain: (k) => (images ? teacher.prepareImages(rawImages[k]) : teacher.prepare(raw[k], batches[k].n)) };
}

/** Preprocessing alone (pixels already in memory → input tensor) over `runs` batches, rows/s. */
export async function prepareAlone(inputs: BareInputs, runs: number): Promise<number> {
  const n = inputs.batches.length;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await inputs.prepareAgain(i % n);
  return (runs * inputs.batches[0].n) / ((performance.now() - t0) / 1000);
}

/** `session.run` alone on the prepared inputs, `runs` batches, with as many in flight as the teacher has sessions. */
export async function bare(teacher: OrtTeacher, batches: PreparedBatch[], runs: number): Promise<Rate> {
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

/** The real `precompute` into a temporary cache (removed after), and the bytes per row its shards take. */
export async function endToEnd(teacher: OrtTeacher, ds: Dataset, batch: number, dtype: CacheDtype, topk: number | null, renderWorkers?: number, renderPool?: RenderPool): Promise<EndToEnd> {
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
export async function decodeAlone(teacher: OrtTeacher, ds: Dataset, batch: number): Promise<Rate> {
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
