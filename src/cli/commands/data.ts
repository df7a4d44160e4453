import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { SPLITS } from '../../catalog.js';
import { fingerprint } from '../../data/fingerprint.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type SharpFactory from 'sharp';
import { lazyFunction } from '../../util/lazy.js';
import { prepareOutDir } from '../../util/out-dir.js';
import { augmentParams, isIdentity as isAugmentIdentity, parseAugmentSpec } from '../../data/augment.js';
import type { Dataset } from '../../data/dataset.js';
import { INTERPOLATIONS, type PilMode } from '../../data/image.js';
import { fixedOutputSize, type RenderSpec } from '../../data/render.js';
import { renderMixedView, renderView, viewBox, type SideRendering } from '../../data/views.js';
import type { Image } from '../../data/image.js';
import { checkMixData, cutPixels, labelLambda, mixParams, type MixParams } from '../../data/mix.js';
import type { AugmentSpec } from '../../data/augment.js';
import { autoAugmentDraws, checkAutoAugmentData, NO_MAGNITUDE, type AutoOp } from '../../data/auto-augment.js';
import { parsePreprocess } from '../../teacher/preprocess.js';
import { openDataset } from '../../data/open.js';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { intString, parseOptions, printJson } from '../options.js';
import { DATA_KINDS, DATA_SOURCES, dataSpecHelp, parseDataSpec } from '../../data/spec.js';

// Loaded at its first call: loading sharp sets VIPSHOME (util/lazy.ts).
const sharp = lazyFunction<typeof SharpFactory>('sharp', import.meta.url);

/** `tfkd data info SPEC`: what a data spec resolves to, and the fingerprint caches record. */

const InfoOptions = z.strictObject({
  split: z.enum(SPLITS).default('train'),
  json: z.boolean().default(false),
  skipBad: z.boolean().default(false),
  size: z
    .string()
    .regex(/^\d+x\d+$/, 'must be HxW, e.g. 32x32')
    .transform((s) => s.split('x').map(Number) as [number, number])
    .optional(),
  concurrency: intString(1).optional(),
  check: z.boolean().default(false),
});

/**
 * `--check`: decode every image of a folder/list source (what PIL's convert('RGB') would be fed),
 * in batches, and collect the files that fail. Sources of fixed-size samples have nothing to check.
 */
async function checkImages(ds: Dataset): Promise<string[]> {
  const bad: Array<{ file: string; reason: string }> = [];
  if (!ds.variableSize) return [];
  const B = 256;
  for (let s = 0; s < ds.size; s += B) {
    const idx = Int32Array.from({ length: Math.min(B, ds.size - s) }, (_, k) => s + k);
    await ds.readImages(idx, 'RGB', { skipBad: true, onBad: (b) => bad.push(b) });
  }
  return bad.map((b) => b.reason);
}

/** The flags typed on the command line (commander fills in the others' defaults). */
const typedFlags = (cmd: Command): Set<string> => new Set(cmd.options.map((x) => x.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));

/** `--size, --concurrency` (the typed ones of `keys`), or null when none was typed. */
function flagList(typed: ReadonlySet<string>, keys: readonly string[]): { names: string; many: boolean } | null {
  const given = keys.filter((k) => typed.has(k));
  return given.length ? { names: given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', '), many: given.length > 1 } : null;
}

/** The spec forms of sources of image files (`folder:/list:/tar:`), which read the decoding options. */
const FILE_SOURCES = DATA_KINDS.filter((k) => DATA_SOURCES[k].capabilities.size === 'variable').map((k) => `${k}:`).join('/');

/** `data info`'s flags that would do nothing with the others or on this data (exit 2, before anything is read). */
function checkInfoFlags(spec: string, o: z.infer<typeof InfoOptions>, typed: ReadonlySet<string>): void {
  const files = flagList(typed, ['size', 'concurrency']);
  const kind = files ? parseDataSpec(spec).kind : null;
  if (files && kind && DATA_SOURCES[kind].capabilities.size === 'fixed') {
    throw new UsageError(`${files.names} appl${files.many ? 'y' : 'ies'} to ${FILE_SOURCES} data (images of their own sizes); ${kind} data has samples of one size`, `leave ${files.many ? 'them' : 'it'} out`);
  }
  const withCheck = o.check ? null : flagList(typed, ['skipBad', 'concurrency']);
  if (withCheck) throw new UsageError(`${withCheck.names} ${withCheck.many ? 'are' : 'is'} for --check (which decodes every image): give --check`, `or leave ${withCheck.many ? 'them' : 'it'} out`);
}

export function register(program: Command): void {
  const data = program.command('data').description(SUMMARIES.data);
  registerViews(data);
  data
    .command('info')
    .description('count, classes, shape, label histogram and fingerprint of a data SPEC')
    .argument('<spec>', dataSpecHelp('data SPEC'))
    .option('--split <split>', 'train or test', 'train')
    .option('--json', 'print JSON')
    .option('--check', 'folder/list: decode every image and report those that cannot be (exit 2 naming the first)')
    .option('--skip-bad', 'with --check: list the images that cannot be decoded instead of failing')
    .option('--size <HxW>', 'folder/list: the size of the fixed-shape face (default: the first image\'s size)')
    .option('--concurrency <n>', 'folder/list: images decoded at once')
    .action(async (spec: string, raw: unknown, cmd: Command) => {
      const o = parseOptions(InfoOptions, raw);
      checkInfoFlags(spec, o, typedFlags(cmd));
      const ds = await openDataset(spec, { split: o.split, folderSize: o.size, concurrency: o.concurrency });
      const skipped = o.check ? await checkImages(ds) : undefined;
      if (skipped?.length && !o.skipBad) {
        throw new UsageError(`${skipped[0]}${skipped.length > 1 ? ` (and ${skipped.length - 1} more)` : ''}`, 'pass --skip-bad to list them all');
      }
      const histogram = new Array<number>(ds.numClasses).fill(0);
      for (let i = 0; i < ds.size; i++) histogram[ds.labels[i]]++;
      const fp = await fingerprint(ds);
      const { height, width, channels } = ds.shape;
      if (o.json) {
        printJson({
          spec: ds.spec,
          kind: ds.kind,
          split: ds.split,
          count: ds.size,
          classes: ds.numClasses,
          shape: { height, width, channels },
          ...(ds.variableSize ? { variableSize: true } : {}),
          histogram,
          ...(ds.classNames ? { classNames: ds.classNames } : {}),
          ...(skipped ? { skipped } : {}),
          fingerprint: fp,
        });
        return;
      }
      const lines = [
        `spec         ${ds.spec}`,
        `split        ${ds.split}`,
        `count        ${ds.size}`,
        `classes      ${ds.numClasses}`,
        ds.variableSize ? `shape        images of their own sizes (first: ${height}x${width}, read as ${channels === 1 ? 'L' : 'RGB'})` : `shape        ${height}x${width}x${channels} (HxWxC)`,
      ];
      if (skipped) lines.push(`skipped      ${skipped.length}${skipped.length ? ` (${skipped.join('; ')})` : ''}`);
      lines.push(`fingerprint  sha256:${fp}`, 'label histogram:');
      const w = String(ds.numClasses - 1).length;
      histogram.forEach((count, c) => {
        const name = ds.classNames?.[c];
        lines.push(`  ${String(c).padStart(w)}  ${String(count).padStart(7)}${name !== undefined && name !== String(c) ? `  ${name}` : ''}`);
      });
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

const ViewsOptions = z.strictObject({
  data: z.string().min(1),
  split: z.enum(SPLITS).default('train'),
  augment: z.string().min(1),
  augmentSeed: z.coerce.number().int().min(0).max(0xffffffff).default(0),
  views: intString(2),
  limit: intString(1).optional(),
  size: z
    .string()
    .regex(/^\d+(,\d+)?$/, 'must be H or H,W, e.g. 224 or 224,224')
    .transform((s) => {
      const [h, w] = s.split(',').map(Number);
      return [h, w ?? h] as [number, number];
    })
    .optional(),
  interpolation: z.enum(INTERPOLATIONS).default('bilinear'),
  preprocess: z.string().optional(),
  out: z.string().optional(),
  format: z.enum(['png', 'npy']).default('png'),
  json: z.boolean().default(false),
});

/** `mix` of a row (docs/MIXING.md): the partner's own view v, λ and CutMix's cut in pixels of --size. */
export interface MixRecord {
  kind: 'mixup' | 'cutmix';
  partner: number;
  partner_box: [number, number, number, number];
  partner_flip: boolean;
  /** Mixup: the Beta draw; CutMix: the label weight of the sample, corrected to the cut's pixels at --size. */
  lambda: number;
  /** CutMix only: [x0, y0, x1, y1], half-open, in pixels of --size. */
  cut?: [number, number, number, number];
  /** With a policy: the partner view's operations (ViewRow.ops). */
  partner_ops?: PolicyOp[];
}

export interface ViewRow {
  sample: number;
  view: number;
  box: [number, number, number, number];
  flip: boolean;
  eval?: true;
  /** Present (null when not mixed) when the spec mixes views. */
  mix?: MixRecord | null;
  /**
   * With a policy (randaugment, trivialaugment), views ≥ 1: its operations in the order applied and
   * their signed magnitudes — at the size the policy runs at (rrc: --size; crop: the image's own);
   * a translation's is null when that size is unknown (rrc without --size).
   */
  ops?: PolicyOp[];
}

/** One operation of a policy as printed: its name and signed magnitude (null: a translation at an unknown size). */
export interface PolicyOp {
  op: AutoOp;
  magnitude: number | null;
}

/** A view's box and flip in an image of `width`×`height` (rrc: the box; crop: [dx, dy, W, H]). */
function boxOf(spec: AugmentSpec, seed: number, i: number, v: number, width: number, height: number): { box: [number, number, number, number]; flip: boolean } {
  if (spec.rrc) {
    const b = viewBox(spec, seed, i, v, width, height);
    return { box: [b.left, b.top, b.width, b.height], flip: b.flip };
  }
  const p = augmentParams(spec, seed, i, v);
  return { box: [p.dx, p.dy, width, height], flip: p.flip };
}

/** numpy's .npy (format 1.0) of a float32 array of `shape`, C order. */
export function npyBytes(data: Float32Array, shape: number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += `${' '.repeat(pad % 64)}\n`;
  const head = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** `runDataViews`' options: the parsed flags (`format` optional for callers in code: png). */
type ViewsRun = Omit<z.infer<typeof ViewsOptions>, 'format'> & { format?: 'png' | 'npy' };

/** What a `data views` run works over, validated once: the data, its views, and how --out renders them. */
interface ViewsJob {
  o: ViewsRun;
  ds: Dataset;
  spec: AugmentSpec;
  aug: { spec: AugmentSpec; seed: number };
  /** The pixels CutMix's cut and λ are given in: --size, or the data's own size when fixed; null when neither. */
  grid: [number, number] | null;
  mode: PilMode;
  /** View 0's eval transform and the boxes' output size (with --size); null: nothing can be rendered. */
  side: SideRendering | null;
}

/**
 * `tfkd data views`: the (sample, view) boxes precompute and train use (data/views.ts, the one
 * implementation), and with --out the rendered views as PNGs — "show me what the teacher saw".
 */
export async function runDataViews(o: ViewsRun): Promise<{ rows: ViewRow[]; written: string[] }> {
  const job = await openViewsJob(o);
  const n = Math.min(o.limit ?? job.ds.size, job.ds.size);
  const rows: ViewRow[] = [];
  const written: string[] = [];
  // prepareOutDir, not mkdir -p: below /proc fs.mkdirSync's recursive mode never returns (Node 20).
  const created = o.out ? prepareOutDir(o.out) : null;
  try {
    await renderViews(o, job, n, rows, written);
  } catch (e) {
    // A view that cannot be rendered (a size of 0…) before any was written leaves no directory.
    if (created !== null && fs.readdirSync(o.out!).length === 0) fs.rmSync(created, { recursive: true, force: true });
    throw e;
  }
  return { rows, written };
}

async function renderViews(o: ViewsRun, job: ViewsJob, n: number, rows: ViewRow[], written: string[]): Promise<void> {
  const { ds, spec } = job;
  const B = 64;
  for (let s0 = 0; s0 < n; s0 += B) {
    const idx = Int32Array.from({ length: Math.min(B, n - s0) }, (_, k) => s0 + k);
    const images = await decodeWithPartners(job, idx);
    for (const i of idx) {
      const img = images.get(i)!;
      for (let v = 0; v < o.views; v++) {
        const p = mixParams(spec.mix, o.augmentSeed, i, v, ds.size);
        rows.push(viewRow(job, i, v, img, p, images));
        if (job.side && o.out) written.push(await writeView(job, job.side, o.out, i, v, img, p ? images.get(p.partner)! : null));
      }
    }
  }
}

/** Checks the flags against each other and the data, and opens the data. */
async function openViewsJob(o: ViewsRun): Promise<ViewsJob> {
  const spec = parseAugmentSpec(o.augment);
  if (isAugmentIdentity(spec)) throw new UsageError(`--augment ${o.augment} makes no views`);
  if (o.out && !o.size) throw new UsageError('--out needs --size H[,W]: the size the views are rendered at (the teacher\'s crop, or the student\'s --input-size)');
  const ds = await openDataset(o.data, { split: o.split });
  checkMixData(spec.mix, ds.size, ds.spec);
  checkAutoAugmentData(spec.auto, ds);
  // CutMix's cut is in pixels of the rendered view: --size, or the data's own size when fixed.
  const grid: [number, number] | null = o.size ?? (ds.variableSize || spec.rrc ? null : [ds.shape.height, ds.shape.width]);
  if (spec.mix?.cutmix != null && !grid) throw new UsageError(`--augment ${o.augment}: cutmix's cut is printed in pixels of the rendered view; give --size H[,W]`);
  const mode: PilMode = !ds.variableSize && ds.shape.channels === 1 ? 'L' : 'RGB';
  return { o, ds, spec, aug: { spec, seed: o.augmentSeed }, grid, mode, side: o.size ? sideRendering(o, o.size, mode) : null };
}

/**
 * View 0 is the side's eval transform: --preprocess (its resize/crop/filter), else a plain resize
 * to --size; boxes are resized with the same filter.
 */
function sideRendering(o: ViewsRun, size: [number, number], mode: PilMode): SideRendering {
  const pre = o.preprocess ? parsePreprocess(o.preprocess) : {};
  const evalSpec: RenderSpec = {
    mode,
    resize: pre.resize ?? (pre.crop ? null : size),
    crop: pre.crop ?? null,
    cropRounding: pre.cropRounding ?? 'round',
    interpolation: pre.interpolation ?? o.interpolation,
  };
  const fixed = fixedOutputSize(evalSpec);
  if (fixed && (fixed[0] !== size[0] || fixed[1] !== size[1])) throw new UsageError(`--preprocess renders view 0 at ${fixed[0]}x${fixed[1]}, --size is ${size[0]}x${size[1]}`);
  return { eval: evalSpec, size };
}

/** The batch's images and (mixing) its views' partners, each decoded once, by sample index. */
async function decodeWithPartners(job: ViewsJob, idx: Int32Array): Promise<Map<number, Image>> {
  const need = new Set<number>(idx);
  for (const i of idx) for (let v = 1; v < job.o.views; v++) {
    const p = mixParams(job.spec.mix, job.o.augmentSeed, i, v, job.ds.size);
    if (p) need.add(p.partner);
  }
  const order = Int32Array.from([...need].sort((a, b) => a - b));
  const decoded = await job.ds.readImages(order, job.mode);
  const byIndex = new Map<number, Image>();
  order.forEach((i, k) => byIndex.set(i, decoded[k]!));
  return byIndex;
}

/** A policy's operations of view v ≥ 1 of sample i, at the size it runs at (ViewRow.ops). */
function policyOps(spec: AugmentSpec, seed: number, i: number, v: number, img: Image, grid: [number, number] | null): PolicyOp[] {
  const at = spec.rrc ? grid : [img.height, img.width];
  return autoAugmentDraws(spec.auto!, seed, i, v, at?.[0] ?? 1, at?.[1] ?? 1).map((d) => ({ op: d.op, magnitude: !at && d.op.startsWith('Translate') ? null : d.magnitude }));
}

/** The printed row of view `v` of sample `i`: its box and flip, and (mixing specs) its partner, λ and cut. */
function viewRow(job: ViewsJob, i: number, v: number, img: Image, p: MixParams | null, images: Map<number, Image>): ViewRow {
  const { spec, grid } = job;
  const seed = job.o.augmentSeed;
  const row: ViewRow = v === 0 ? { sample: i, view: 0, box: [0, 0, img.width, img.height], flip: false, eval: true } : { sample: i, view: v, ...boxOf(spec, seed, i, v, img.width, img.height) };
  if (spec.auto && v > 0) row.ops = policyOps(spec, seed, i, v, img, grid);
  if (spec.mix) {
    if (!p) row.mix = null;
    else {
      const pj = images.get(p.partner)!;
      const pb = boxOf(spec, seed, p.partner, v, pj.width, pj.height);
      row.mix = { kind: p.kind, partner: p.partner, partner_box: pb.box, partner_flip: pb.flip, lambda: grid ? labelLambda(p, grid[0], grid[1]) : p.lambda };
      if (spec.auto) row.mix.partner_ops = policyOps(spec, seed, p.partner, v, pj, grid);
      if (p.kind === 'cutmix') row.mix.cut = cutPixels(p, grid![0], grid![1])!;
    }
  }
  return row;
}

/** Renders view `v` of sample `i` into `out` as <i>-<v>.png (or .npy) and returns the file's path. */
async function writeView(job: ViewsJob, side: SideRendering, out: string, i: number, v: number, img: Image, partner: Image | null): Promise<string> {
  const { aug, o } = job;
  let r: Image;
  if (job.spec.mix || o.format === 'npy') {
    const m = renderMixedView(img, partner, side, aug, i, v, job.ds.size);
    if (o.format === 'npy') {
      const file = path.join(out, `${i}-${v}.npy`);
      writeFileAtomic(file, npyBytes(m.data, [m.height, m.width, m.channels]));
      return file;
    }
    // The PNG of a mixture: each value rounded to the nearest of 256 levels (for looking at; the npy is exact).
    r = { width: m.width, height: m.height, channels: m.channels as 1 | 3, data: Uint8Array.from(m.data, (x) => Math.round(x * 255)) };
  } else r = renderView(img, side, aug, i, v);
  const file = path.join(out, `${i}-${v}.png`);
  const png = await sharp(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength), { raw: { width: r.width, height: r.height, channels: r.channels } })
    .toColourspace(r.channels === 1 ? 'b-w' : 'srgb')
    .png()
    .toBuffer();
  writeFileAtomic(file, png);
  return file;
}

/**
 * `data views`' flags that would do nothing with the others (exit 2, before anything is read or
 * written): how views are rendered (--format, --interpolation, --preprocess) without --out to
 * write them, and an --interpolation the --preprocess spec's own filter overrides.
 */
function checkViewsFlags(o: z.infer<typeof ViewsOptions>, typed: ReadonlySet<string>): void {
  const rendering = o.out === undefined ? flagList(typed, ['format', 'interpolation', 'preprocess']) : null;
  if (rendering) {
    throw new UsageError(`${rendering.names} ${rendering.many ? 'are' : 'is'} for the views --out writes: give --out DIR --size H[,W]`, `or leave ${rendering.many ? 'them' : 'it'} out: the boxes printed do not depend on ${rendering.many ? 'them' : 'it'}`);
  }
  if (typed.has('interpolation') && o.preprocess !== undefined) {
    const own = parsePreprocess(o.preprocess).interpolation;
    if (own !== undefined && own !== o.interpolation) {
      throw new UsageError(`--interpolation ${o.interpolation} with --preprocess, whose own filter is ${own}: the --preprocess filter is the one used`, 'leave --interpolation out, or set "interpolation" in the --preprocess spec');
    }
  }
}

export function registerViews(data: Command): void {
  data
    .command('views')
    .description('the box and flip of every (sample, view) that precompute and train use; --out writes the rendered views as PNGs')
    .requiredOption('--data <spec>', dataSpecHelp())
    .requiredOption('--augment <spec>', 'view spec, e.g. rrc,flip or rrc:0.35-1,flip or crop:4,flip, + randaugment[:OPS[:M[:BINS]]], trivialaugment[:BINS] or autoaugment[:imagenet|cifar10|svhn], + mixup[:A], cutmix[:A], switch-prob:P, mix-prob:P (docs/MIXING.md)')
    .option('--augment-seed <s>', 'seed of the views', '0')
    .requiredOption('--views <v>', 'views per sample (view 0 is the eval transform)')
    .option('--split <split>', 'train or test', 'train')
    .option('--limit <n>', 'only the first n samples')
    .option('--size <H[,W]>', 'render views at this size (the teacher\'s crop or the student\'s --input-size)')
    .option('--interpolation <filter>', 'PIL filter of the views --out renders (unless the --preprocess spec has its own)', 'bilinear')
    .option('--preprocess <spec>', 'the side\'s eval transform for view 0 and its filter (imagenet, timm:FILE, hf:FILE, JSON)')
    .option('--out <dir>', 'write DIR/<sample>-<view>.png (or .npy with --format npy)')
    .option('--format <png|npy>', 'with --out: png (mixtures rounded to 8 bits, for looking at) or npy (float32 HWC on [0, 1], the exact input)', 'png')
    .option('--json', 'print an array of {"sample", "view", "box": [left, top, width, height], "flip"} (+ "ops" with a policy, "mix" with mixup/cutmix)')
    .action(async (raw: unknown, cmd: Command) => {
      const o = parseOptions(ViewsOptions, raw);
      checkViewsFlags(o, typedFlags(cmd));
      const r = await runDataViews(o);
      if (o.json) {
        printJson(r.rows);
        return;
      }
      const mixText = (m: MixRecord) =>
        `  ${m.kind} with ${m.partner} (box [${m.partner_box.join(', ')}]${m.partner_flip ? ' flipped' : ''}) λ ${m.lambda.toFixed(4)}${m.cut ? ` cut [${m.cut.join(', ')}]` : ''}`;
      const opsText = (ops: NonNullable<ViewRow['ops']>) => `  ${ops.map((d) => (d.magnitude === null || NO_MAGNITUDE.has(d.op) ? d.op : `${d.op} ${+d.magnitude.toFixed(4)}`)).join(', ')}`;
      const lines = r.rows.map((x) => `${String(x.sample).padStart(6)} ${String(x.view).padStart(3)}  ${x.eval ? 'eval transform (whole image ' : 'box '}[${x.box.join(', ')}]${x.eval ? ')' : ''}${x.flip ? '  flipped' : ''}${x.ops ? opsText(x.ops) : ''}${x.mix ? mixText(x.mix) : ''}`);
      if (r.written.length) lines.push(`wrote ${r.written.length} ${o.format === 'npy' ? 'npy' : 'PNG'}(s) to ${o.out}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
