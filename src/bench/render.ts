/**
 * `tfkd bench render`: decoded-and-rendered images per second against Pillow (issue 25), the same
 * images, the same transform and the same output bytes, measured in one run:
 *
 *   tfkd:   decodeImage (sharp/libjpeg-turbo, PIL's convert) → render (view 0: the eval transform)
 *           or the box of view 1 (--augment with rrc) through pil/resample.ts (the C passes when
 *           the image add-on is built, else JS);
 *   Pillow: scripts/pil_bench_render.py — Image.open(f).convert(mode) → torchvision Resize +
 *           CenterCrop, or resized_crop + hflip of the boxes tfkd computed (RandomResizedCrop's
 *           output for those draws).
 *
 * Per repetition, alternating the two sides so that other load hits both alike: one image at a
 * time on one thread — decode alone, render alone (of the decoded images), resize alone (the whole
 * image to its Resize size: the resampler by itself, no crop window), decode + render — in CPU
 * time (process-wide, all threads) per image, with no render pool alive; tfkd's side runs in one
 * worker thread, as its data path does (render-single.ts); then decode + render at
 * N threads (tfkd: a RenderPool of N workers; Pillow: N processes, as DataLoader(num_workers=N),
 * both warmed before the clock starts) in wall time. Each
 * figure is a ratio tfkd ÷ Pillow in images per second; the report gives the median and the spread
 * over repetitions. Before timing, every rendered image's sha256 is compared with Pillow's.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { parseAugmentSpec, type AugmentSpec } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import type { Interpolation } from '../data/image.js';
import { openDataset } from '../data/open.js';
import { decodeImage, probeImage } from '../data/pil/decode.js';
import { resamplePath } from '../data/pil/native.js';
import { RenderPool } from '../data/render-pool.js';
import { render, resizedSize, type RenderSpec } from '../data/render.js';
import { renderView, viewBox, type SideRendering, type ViewBox } from '../data/views.js';
import { autoAugmentDraws, type OpDraw } from '../data/auto-augment.js';
import { UsageError } from '../errors.js';
import { parsePreprocess, resolvePreprocess, renderSpecOf } from '../teacher/preprocess.js';
import { DEFAULT_EVAL_CROP_PCT, parseInputSize } from '../student/trainer/inputs.js';
import type { SingleResult } from './render-single.js';
import { spread, type Spread } from './stats.js';

// From the sources (tsx) the worker starts from a boot file that registers tsx in the thread.
const SINGLE_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./render-single-boot.mjs', import.meta.url) : new URL('./render-single.js', import.meta.url);

export interface RenderBenchOptions {
  data: string;
  split: 'train' | 'test';
  preprocess?: string;
  inputSize?: string;
  interpolation?: Interpolation;
  augment?: string;
  seed: number;
  threads: number;
  rows: number;
  reps: number;
}

interface Pass {
  decode_cpu_s: number;
  render_cpu_s: number;
  resize_cpu_s: number;
  pipeline_cpu_s: number;
  pipeline_wall_s: number;
}

export interface RenderBenchResult {
  tool: 'tfkd';
  bench: 'render';
  data: string;
  rows: number;
  /** Distinct files (fewer than rows when --rows cycles through a small folder). */
  files: number;
  threads: number;
  reps: number;
  transform: { kind: 'eval' | 'boxes'; mode: string; resize: RenderSpec['resize']; crop: RenderSpec['crop']; size: [number, number]; interpolation: Interpolation; augment?: string };
  resample_path: string;
  pillow: string;
  /** Rendered images whose bytes equal Pillow's (sha256), of `rows`. */
  identical: number;
  /** tfkd ÷ Pillow in images/s (per-core figures from CPU time per image; threads from wall time). */
  ratios: Record<'resize' | 'resize_js' | 'render' | 'decode' | 'decode_render_1' | 'decode_render_n', Spread>;
  /** Medians, images per second (per core: from CPU time). */
  img_per_s: { tfkd: Record<'decode' | 'render' | 'resize' | 'decode_render_1' | 'decode_render_n', number>; pillow: Record<'decode' | 'render' | 'resize' | 'decode_render_1' | 'decode_render_n', number> };
  /** Decode's and resampling's share of decode + render (CPU time of the separate passes). */
  share: { tfkd: { decode: number; resample: number }; pillow: { decode: number; resample: number } };
  command: string;
}

/** A line-per-command child: scripts/pil_bench_render.py. */
class PillowChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: Array<(line: string) => void> = [];
  private stderr = '';

  constructor() {
    const script = fileURLToPath(new URL('../../scripts/pil_bench_render.py', import.meta.url));
    this.child = spawn('/usr/bin/python3', [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => this.queue.shift()?.(l));
    this.child.on('exit', () => {
      for (const q of this.queue.splice(0)) q('');
    });
    this.child.on('error', () => undefined);
  }

  async next<T>(cmd?: string): Promise<T> {
    const p = new Promise<string>((resolve) => this.queue.push(resolve));
    if (cmd !== undefined) this.child.stdin.write(`${cmd}\n`);
    const line = await p;
    if (!line) throw new UsageError(`the Pillow reference (scripts/pil_bench_render.py) failed: ${this.stderr.trim().split('\n').pop() ?? 'no output'}`, "it needs Debian's python3-pil and python3-torchvision (/usr/bin/python3)");
    return JSON.parse(line) as T;
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  close(): void {
    this.child.stdin.end('quit\n');
  }
}

/** The bench (see the top of this file): the files, byte identity against Pillow first, then the timed repetitions. */
export async function runRenderBench(o: RenderBenchOptions, command = ''): Promise<RenderBenchResult> {
  const t = benchTransform(o);
  const ds = await openDataset(o.data, { split: o.split });
  const w = await renderWork(await benchFiles(o, ds), t, o.seed);
  const n = o.rows;
  const py = new PillowChild();
  try {
    const { pillow } = await py.next<{ pillow: string }>();
    py.send(pillowJob(w));
    // Byte identity first: every rendered image's sha256 against Pillow's.
    const identical = await countIdentical(w, (await py.next<{ sha256: string[] }>('digest')).sha256);
    const rows = await timeReps(w, py, o.threads, o.reps);
    const { spec, size } = t;
    return {
      tool: 'tfkd',
      bench: 'render',
      data: ds.spec,
      rows: n,
      files: Math.min(n, ds.size),
      threads: o.threads,
      reps: o.reps,
      transform: { kind: t.aug ? 'boxes' : 'eval', mode: spec.mode, resize: spec.resize, crop: spec.crop, size, interpolation: spec.interpolation, ...(o.augment ? { augment: o.augment } : {}) },
      resample_path: resamplePath().path,
      pillow,
      identical,
      ...summarize(rows, n),
      command,
    };
  } finally {
    py.close();
  }
}

/** What is rendered: the eval transform at its output size, or (--augment) view 1's RandomResizedCrop box. */
interface Transform {
  spec: RenderSpec;
  size: [number, number];
  aug: AugmentSpec | null;
}

/** The eval transform of `--preprocess` or `--input-size` (the student's: resize S / pct, crop S), and --augment's boxes. */
function benchTransform(o: RenderBenchOptions): Transform {
  if ((o.preprocess === undefined) === (o.inputSize === undefined)) throw new UsageError('bench render: pass exactly one of --preprocess SPEC and --input-size S');
  let spec: RenderSpec;
  let size: [number, number];
  if (o.preprocess !== undefined) {
    const p = resolvePreprocess([parsePreprocess(o.preprocess)], { layout: 'NCHW', channels: 3, dataSize: [224, 224], variableSize: true, modelSize: null, file: 'bench render' });
    spec = renderSpecOf(p);
    size = [p.size[0], p.size[1]];
  } else {
    const [H, W] = parseInputSize(o.inputSize!);
    const pct = DEFAULT_EVAL_CROP_PCT;
    spec = { mode: 'RGB', resize: H === W ? Math.floor(H / pct) : [Math.floor(H / pct), Math.floor(W / pct)], crop: [H, W], cropRounding: 'round', interpolation: 'bilinear' };
    size = [H, W];
  }
  if (o.interpolation) spec = { ...spec, interpolation: o.interpolation };
  const aug: AugmentSpec | null = o.augment !== undefined ? parseAugmentSpec(o.augment) : null;
  if (aug && !aug.rrc) throw new UsageError(`bench render: --augment ${o.augment} has no rrc; Pillow is compared on RandomResizedCrop boxes (e.g. --augment rrc,flip)`);
  return { spec, size, aug };
}

/**
 * The files both sides read: the data set's first `rows` image files. Pillow opens the same files,
 * so only sources whose samples are image files of their own qualify. --rows past the folder's size
 * cycles through its files: a pass over a few dozen small images lasts tens of milliseconds, too
 * short to time on a loaded machine (both sides get the same list).
 */
async function benchFiles(o: RenderBenchOptions, ds: Dataset): Promise<string[]> {
  const count = Math.min(o.rows, ds.size);
  const encoded = ds.encodedImages ? await ds.encodedImages(Int32Array.from({ length: count }, (_, i) => i)) : [];
  if (!encoded.length || encoded.some((e) => e.file === undefined)) throw new UsageError(`bench render: ${o.data} is not a folder of images (folder:DIR or list:FILE)`);
  return Array.from({ length: o.rows }, (_, i) => encoded[i % encoded.length].file!);
}

/** One image of work per file, as both sides do it: the view rendered, its box, the resampler's size. */
interface RenderWork extends Transform {
  files: string[];
  side: SideRendering;
  augArg: { spec: AugmentSpec; seed: number } | null;
  /** 0: the eval transform; 1: the box of view 1. */
  view: number;
  boxes: ViewBox[];
  /** A policy's operations of each view (at the output size); empty without one. */
  ops: OpDraw[][];
  /** The resampler alone: the whole image to its Resize size (or, for boxes, to the output size), [width, height]. */
  resized: Array<[number, number]>;
}

async function renderWork(files: string[], t: Transform, seed: number): Promise<RenderWork> {
  const { spec, size, aug } = t;
  const sizes = await Promise.all(files.map((f) => probeImage(f, { file: f })));
  return {
    ...t,
    files,
    side: { eval: spec, size },
    augArg: aug ? { spec: aug, seed } : null,
    view: aug ? 1 : 0,
    boxes: aug ? sizes.map((s, i) => viewBox(aug, seed, i, 1, s.width, s.height)) : [],
    ops: aug?.auto ? files.map((_, i) => autoAugmentDraws(aug.auto!, seed, i, 1, size[0], size[1])) : [],
    resized: sizes.map((s) => (aug || spec.resize === null ? [size[1], size[0]] : resizedSize(s.width, s.height, spec.resize))),
  };
}

/** What scripts/pil_bench_render.py is told to do: the same files, mode, filter and geometry. */
function pillowJob(w: RenderWork): string {
  const { spec } = w;
  return JSON.stringify({ files: w.files, mode: spec.mode, interpolation: spec.interpolation, kind: w.aug ? 'boxes' : 'eval', resize: spec.resize, crop: spec.crop, crop_rounding: spec.cropRounding, size: w.size, boxes: w.boxes.map((b, i) => [b.left, b.top, b.width, b.height, b.flip, ...(w.ops.length ? [w.ops[i].map((d) => [d.op, d.magnitude])] : [])]), resized: w.resized });
}

/** Byte identity: how many of tfkd's rendered images have the sha256 Pillow's have. */
async function countIdentical(w: RenderWork, theirs: string[]): Promise<number> {
  let identical = 0;
  for (let i = 0; i < w.files.length; i++) {
    const img = await decodeImage(w.files[i], w.spec.mode, { file: w.files[i] });
    const out = w.aug ? renderView(img, w.side, w.augArg, i, w.view) : render(img, w.spec);
    if (createHash('sha256').update(out.data).digest('hex') === theirs[i]) identical++;
  }
  return identical;
}

/** tfkd's side of the timed passes. */
class TfkdRenderer {
  private readonly single: Worker;

  constructor(
    private readonly w: RenderWork,
    private readonly threads: number,
  ) {
    // The one-thread passes in a worker thread, as tfkd's data path runs them (render-single.ts).
    this.single = new Worker(SINGLE_ENTRY, { workerData: { benchRenderSingle: true, files: w.files, spec: w.spec, side: w.side, aug: w.augArg, view: w.view, resized: w.resized } });
  }

  /** Decode, render, resize and decode + render alone, one image at a time, in CPU time. */
  singlePasses(): Promise<SingleResult> {
    return new Promise<SingleResult>((resolve, reject) => {
      this.single.once('message', resolve);
      this.single.once('error', reject);
      this.single.postMessage('run');
    });
  }

  /**
   * Decode + render of every file on a RenderPool of `threads` workers, wall seconds. A pool per
   * pass, started and warmed before its clock starts and closed after: an idle pool left running
   * made the one-thread passes' decodes cost ~40 % more CPU time.
   */
  async parallelPass(): Promise<number> {
    const { files, side, augArg, view } = this.w;
    const n = files.length;
    const pool = new RenderPool(this.threads);
    try {
      let next = 0;
      const lanes = async (upTo: number) => {
        const lane = async () => {
          while (next < upTo) {
            const i = next++;
            await pool.render({ file: files[i % n], side, aug: augArg, sample: i % n, views: [view] });
          }
        };
        await Promise.all(Array.from({ length: 2 * this.threads }, lane));
      };
      await lanes(Math.min(n, 4 * this.threads)); // warm-up: thread start, module loads
      next = 0;
      const t0 = performance.now();
      await lanes(n);
      return (performance.now() - t0) / 1000;
    } finally {
      await pool.close();
    }
  }

  async close(): Promise<void> {
    await this.single.terminate();
  }
}

/** One repetition: both sides' one-thread passes (CPU s) and parallel pass (wall s). */
interface Rep {
  t: Pass & { resize_js_cpu_s: number; n_wall_s: number };
  p: Pass & { n_wall_s: number };
}

/** The timed repetitions, each alternating tfkd and Pillow so that other load hits both alike. */
async function timeReps(w: RenderWork, py: PillowChild, threads: number, reps: number): Promise<Rep[]> {
  const tfkd = new TfkdRenderer(w, threads);
  const rows: Rep[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      const t1 = await tfkd.singlePasses();
      const p1 = await py.next<Pass>('single');
      const tn = await tfkd.parallelPass();
      const pn = await py.next<{ wall_s: number }>(`parallel ${threads}`);
      rows.push({ t: { ...t1, n_wall_s: tn }, p: { ...p1, n_wall_s: pn.wall_s } });
    }
  } finally {
    await tfkd.close();
  }
  return rows;
}

/** Ratios tfkd ÷ Pillow (spread over repetitions), median images per second, and decode's / resampling's shares. */
function summarize(rows: Rep[], n: number): Pick<RenderBenchResult, 'ratios' | 'img_per_s' | 'share'> {
  const ratio = (f: (x: Rep) => number) => spread(rows.map(f));
  const med = (f: (x: Rep) => number) => spread(rows.map(f)).median;
  const perS = (s: number) => n / s;
  const share = (d: number, r: number) => ({ decode: d / (d + r), resample: r / (d + r) });
  return {
    ratios: {
      resize: ratio((x) => x.p.resize_cpu_s / x.t.resize_cpu_s),
      resize_js: ratio((x) => x.p.resize_cpu_s / x.t.resize_js_cpu_s),
      render: ratio((x) => x.p.render_cpu_s / x.t.render_cpu_s),
      decode: ratio((x) => x.p.decode_cpu_s / x.t.decode_cpu_s),
      decode_render_1: ratio((x) => x.p.pipeline_cpu_s / x.t.pipeline_cpu_s),
      decode_render_n: ratio((x) => x.p.n_wall_s / x.t.n_wall_s),
    },
    img_per_s: {
      tfkd: { decode: perS(med((x) => x.t.decode_cpu_s)), render: perS(med((x) => x.t.render_cpu_s)), resize: perS(med((x) => x.t.resize_cpu_s)), decode_render_1: perS(med((x) => x.t.pipeline_cpu_s)), decode_render_n: perS(med((x) => x.t.n_wall_s)) },
      pillow: { decode: perS(med((x) => x.p.decode_cpu_s)), render: perS(med((x) => x.p.render_cpu_s)), resize: perS(med((x) => x.p.resize_cpu_s)), decode_render_1: perS(med((x) => x.p.pipeline_cpu_s)), decode_render_n: perS(med((x) => x.p.n_wall_s)) },
    },
    share: {
      tfkd: share(med((x) => x.t.decode_cpu_s), med((x) => x.t.render_cpu_s)),
      pillow: share(med((x) => x.p.decode_cpu_s), med((x) => x.p.render_cpu_s)),
    },
  };
}

export function formatRenderBench(r: RenderBenchResult): string {
  const f = (s: Spread) => `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  const n = (v: number) => Math.round(v).toLocaleString('en-US').padStart(7);
  const t = r.transform;
  const what = t.kind === 'eval' ? `resize ${JSON.stringify(t.resize)} + center crop ${JSON.stringify(t.crop)}` : `RandomResizedCrop boxes (${t.augment}) → ${t.size.join('x')}`;
  const lines = [
    `bench render  ${r.data}: ${r.rows} images${r.files < r.rows ? ` (its ${r.files} files, cycled)` : ''}, ${what}, ${t.interpolation}, ${t.mode}; resampler: ${r.resample_path}; Pillow ${r.pillow}`,
    `output bytes equal to Pillow's: ${r.identical} / ${r.rows}`,
    `tfkd ÷ Pillow, images/s (median (min–max) of ${r.reps} same-run repetitions; per core from CPU time):`,
    `                        tfkd img/s  Pillow img/s  ratio`,
    `  resize alone          ${n(r.img_per_s.tfkd.resize)}     ${n(r.img_per_s.pillow.resize)}    ${f(r.ratios.resize)}   (JS passes: ${f(r.ratios.resize_js)})`,
    `  render alone          ${n(r.img_per_s.tfkd.render)}     ${n(r.img_per_s.pillow.render)}    ${f(r.ratios.render)}`,
    `  decode alone          ${n(r.img_per_s.tfkd.decode)}     ${n(r.img_per_s.pillow.decode)}    ${f(r.ratios.decode)}`,
    `  decode + render, 1    ${n(r.img_per_s.tfkd.decode_render_1)}     ${n(r.img_per_s.pillow.decode_render_1)}    ${f(r.ratios.decode_render_1)}`,
    `  decode + render, ${String(r.threads).padEnd(3)} ${n(r.img_per_s.tfkd.decode_render_n)}     ${n(r.img_per_s.pillow.decode_render_n)}    ${f(r.ratios.decode_render_n)}   (wall time; Pillow on ${r.threads} processes)`,
    `share of decode / resample: tfkd ${(100 * r.share.tfkd.decode).toFixed(0)} / ${(100 * r.share.tfkd.resample).toFixed(0)} %, Pillow ${(100 * r.share.pillow.decode).toFixed(0)} / ${(100 * r.share.pillow.resample).toFixed(0)} %`,
  ];
  return `${lines.join('\n')}\n`;
}
