/**
 * The one-thread passes of `tfkd bench render` (render.ts), run inside a worker thread — where
 * tfkd's data path decodes and renders (a render-pool worker: synchronous reads and decodes, no
 * libuv round trips per file; src/data/render-pool.ts). On the main thread every file costs four
 * asynchronous fs calls and a pool hop for the decode, ~0.2–0.3 ms of CPU per image that the
 * pipeline (precompute, training) does not pay. CPU time is the process's (the main thread only
 * waits for the reply), as Pillow's side measures its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { AugmentSpec } from '../data/augment.js';
import type { Image } from '../data/image.js';
import { decodeImage } from '../data/pil/decode.js';
import { resamplePath, setResamplePath } from '../data/pil/native.js';
import { resize } from '../data/pil/resample.js';
import { render, type RenderSpec } from '../data/render.js';
import { renderView, type SideRendering } from '../data/views.js';

export interface SingleConfig {
  files: string[];
  spec: RenderSpec;
  side: SideRendering;
  aug: { spec: AugmentSpec; seed: number } | null;
  view: number;
  /** [width, height] of the whole-image resize, per file. */
  resized: [number, number][];
}

export interface SingleResult {
  decode_cpu_s: number;
  render_cpu_s: number;
  resize_cpu_s: number;
  resize_js_cpu_s: number;
  pipeline_cpu_s: number;
  pipeline_wall_s: number;
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** One image at a time: decode alone, render alone, resize alone (C, then JS passes), decode + render. */
export async function singlePass(c: SingleConfig): Promise<SingleResult> {
  const { files, spec, side, aug, view, resized } = c;
  const n = files.length;
  const renderOne = (img: Image, i: number): Image => (aug ? renderView(img, side, aug, i, view) : render(img, spec));
  let t = cpuS();
  const imgs: Image[] = [];
  for (const f of files) imgs.push(await decodeImage(f, spec.mode, { file: f }));
  const decode = cpuS() - t;
  t = cpuS();
  for (let i = 0; i < n; i++) renderOne(imgs[i], i);
  const rend = cpuS() - t;
  t = cpuS();
  for (let i = 0; i < n; i++) resize(imgs[i], resized[i][0], resized[i][1], spec.interpolation);
  const rs = cpuS() - t;
  const path = resamplePath().path;
  setResamplePath('js');
  t = cpuS();
  for (let i = 0; i < n; i++) resize(imgs[i], resized[i][0], resized[i][1], spec.interpolation);
  const rsJs = cpuS() - t;
  setResamplePath(path);
  imgs.length = 0;
  t = cpuS();
  const w = performance.now();
  for (let i = 0; i < n; i++) renderOne(await decodeImage(files[i], spec.mode, { file: files[i] }), i);
  return { decode_cpu_s: decode, render_cpu_s: rend, resize_cpu_s: rs, resize_js_cpu_s: rsJs, pipeline_cpu_s: cpuS() - t, pipeline_wall_s: (performance.now() - w) / 1000 };
}

// As a worker (render.ts starts it with workerData = SingleConfig): one pass per message.
if (parentPort && (workerData as { benchRenderSingle?: boolean } | null)?.benchRenderSingle) {
  const port = parentPort;
  port.on('message', async () => port.postMessage(await singlePass(workerData as SingleConfig)));
}
