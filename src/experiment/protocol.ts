/**
 * The validation protocol's own steps (docs/EXPERIMENTS.md, "Protocol"):
 *
 *  - `data` — the hold-out. The source's training split (or a seeded `subset` of it) is divided,
 *    seeded, into the images runs train on and the validation images, and written as two data sets
 *    of the source's own format, so the trainer and precompute read them like any other:
 *      DIR/val/    train = the training part, test = the validation images (files written here)
 *      DIR/test/   train = the same training part (links into val/), test = the source's test split (links)
 *      DIR/holdout.json  the commit record: sizes, seeds, the validation indices, fingerprints
 *    Everything upstream of a choice (teachers, sweep points, de-kd checkpoints) reads `val/`,
 *    which holds no test image; only the final runs read `test/`. Reading the source's training
 *    split is all this step does with the source (its test files are linked, never opened).
 *  - `select` — a sweep's choice: the grid point with the highest final-epoch validation accuracy
 *    (ties: the earlier point), recorded with every point's accuracy in DIR/selection.json. It
 *    refuses to choose from a run that was not evaluated on the validation split.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { sampleBytes } from '../data/dataset.js';
import { fingerprint } from '../data/fingerprint.js';
import { openDataset } from '../data/open.js';
import { hashU32, subset } from '../data/rng.js';
import { parseDataSpec, type DirSpec } from '../data/spec.js';
import { holdoutCount } from './design-schema.js';
import { HOLDOUT_KINDS } from './design-checks.js';
import { readJsonFile, writeFileAtomicSync } from './fsutil.js';
import { writeFolderHoldout } from './holdout-folder.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { DataStep, SelectStep, Step, SweepValues, TrainStep } from './plan-types.js';

const HOLDOUT_SCHEMA = 'tfkd-holdout/1';
const SELECTION_SCHEMA = 'tfkd-selection/1';

export interface HoldoutRecord {
  schema: typeof HOLDOUT_SCHEMA;
  key: string;
  /** The source data spec (as written in the design). */
  data: string;
  options: DataStep['validation'];
  /** Images in the source's training split, in the pool (subset or all), trained on, held out. */
  source_train: number;
  pool: number;
  train: number;
  validation: number;
  /** Indices (into the source's training split) of the validation images, ascending. */
  validation_indices: number[];
  /** Data fingerprints (data/fingerprint.ts) of the source's training split and of the two parts. */
  fingerprints: { source_train: string; train: string; validation: string };
  /** What `test/` links to for its test split (absolute paths in the source). */
  test_links: string[];
}

interface SelectionPoint {
  values: SweepValues;
  dir: string;
  /** Final-epoch and best-epoch validation accuracy (fractions). */
  val_acc: number;
  best_val_acc: number;
  best_epoch: number;
}

export interface SelectionRecord {
  schema: typeof SELECTION_SCHEMA;
  key: string;
  run: string;
  variant: string | null;
  metric: SelectStep['metric'];
  keys: SelectStep['keys'];
  points: SelectionPoint[];
  chosen: SweepValues;
  chosen_index: number;
  val_acc: number;
  /** One sentence: why these values. */
  reason: string;
}

/** `val` (evaluated on the validation images) or `test` (on the source's test split). */
export function holdoutSpec(outDir: string, step: DataStep, evalOn: 'validation' | 'test'): string {
  const kind = parseDataSpec(step.data).kind;
  return `${kind}:${path.resolve(outDir, step.dir, evalOn === 'validation' ? 'val' : 'test')}`;
}

const holdoutRecordPath = (outDir: string, step: DataStep): string => path.join(outDir, step.dir, 'holdout.json');
const selectionPath = (outDir: string, step: SelectStep): string => path.join(outDir, step.dir, 'selection.json');

/** The commit record of a `data` or `select` step exists. */
export function protocolFinished(outDir: string, s: DataStep | SelectStep): boolean {
  return fs.existsSync(s.type === 'data' ? holdoutRecordPath(outDir, s) : selectionPath(outDir, s));
}

/** The progress line's detail for a finished protocol step. */
export function protocolDetail(outDir: string, s: DataStep | SelectStep): string {
  if (s.type === 'data') {
    const r = readJsonFile<HoldoutRecord>(holdoutRecordPath(outDir, s));
    return r ? `${r.train} train / ${r.validation} validation images` : '';
  }
  const r = readJsonFile<SelectionRecord>(selectionPath(outDir, s));
  return r ? `chose ${formatValues(r.chosen)} (validation ${(100 * r.val_acc).toFixed(2)}% of ${r.points.length} points)` : '';
}

const NAMES: Record<string, string> = { alpha: 'α', temperature: 'τ', multiplier: '×', correct_prob: 'a', epsilon: 'ε', beta: 'β', loss_gamma: 'γ', ce_weight: 'w_ce', kd_weight: 'w_kd', kd_warmup: 'warm-up', power: 'power', logit_standardization: 'LS' };
/** `α 0.5, τ 4` */
export function formatValues(v: Record<string, unknown>): string {
  return Object.entries(v)
    .filter(([, x]) => x !== undefined)
    .map(([k, x]) => `${NAMES[k] ?? k} ${String(x)}`)
    .join(', ');
}

/** The values a finished select step chose (throws when its record is missing). */
export function chosenValues(outDir: string, step: SelectStep): SweepValues {
  const r = readJsonFile<SelectionRecord>(selectionPath(outDir, step));
  if (!r || r.key !== step.key) throw new WorkError(`no selection record for ${step.label} in ${selectionPath(outDir, step)}`, 'the select step must finish first');
  return r.chosen;
}

// ---- the hold-out -------------------------------------------------------------------------------

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** Samples `idx` of `ds`, packed HWC. */
async function gather(ds: Dataset, idx: Int32Array): Promise<Uint8Array> {
  const sb = sampleBytes(ds.shape);
  const out = new Uint8Array(idx.length * sb);
  for (let o = 0; o < idx.length; o += 4096) {
    const part = idx.subarray(o, Math.min(idx.length, o + 4096));
    await ds.readBatch(part, out.subarray(o * sb, (o + part.length) * sb));
  }
  return out;
}

function labelsOf(ds: Dataset, idx: Int32Array): Uint8Array {
  const l = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) l[i] = ds.labels[idx[i]];
  return l;
}

function writeIdx(dir: string, prefix: 'train' | 't10k', ds: Dataset, idx: Int32Array, pixels: Uint8Array): void {
  const { height, width } = ds.shape;
  writeFileAtomicSync(path.join(dir, `${prefix}-images-idx3-ubyte`), Buffer.concat([be32(0x803), be32(idx.length), be32(height), be32(width), pixels]));
  writeFileAtomicSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), Buffer.concat([be32(0x801), be32(idx.length), labelsOf(ds, idx)]));
}

/** CIFAR binary records (label byte(s) + CHW planes) of samples `idx`. */
function cifarRecords(ds: Dataset, idx: Int32Array, pixels: Uint8Array, coarse: Int32Array | undefined): Buffer {
  const plane = ds.shape.height * ds.shape.width;
  const lb = coarse ? 2 : 1;
  const rec = lb + 3 * plane;
  const out = Buffer.alloc(idx.length * rec);
  for (let i = 0; i < idx.length; i++) {
    const o = i * rec;
    if (coarse) out[o] = coarse[idx[i]];
    out[o + lb - 1] = ds.labels[idx[i]];
    const src = pixels.subarray(i * 3 * plane, (i + 1) * 3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[o + lb + c * plane + p] = src[p * 3 + c];
  }
  return out;
}

/** The first existing file among `names` in `dir` (or its tarball folder `sub`), else the first candidate. */
function sourceFile(dir: string, names: string[], sub?: string): string {
  for (const d of sub ? [dir, path.join(dir, sub)] : [dir]) for (const n of names) if (fs.existsSync(path.join(d, n))) return path.join(d, n);
  return path.join(dir, names[0]);
}

function link(target: string, at: string): void {
  fs.rmSync(at, { force: true });
  fs.symlinkSync(target, at);
}

/** The hold-out's two parts, as indices into the source's training split. */
interface HoldoutParts {
  /** The images drawn from (all of the training split, or its seeded subset). */
  pool: Int32Array;
  trainIdx: Int32Array;
  valIdx: Int32Array;
}

/**
 * Writes the hold-out of `step` into `dir` (which does not exist yet or is empty) and its record
 * last. Reads the source's training split only.
 */
export async function prepareHoldout(step: DataStep, dir: string): Promise<HoldoutRecord> {
  const spec = holdoutSource(step);
  const src = await openDataset(spec, { split: 'train' });
  const parts = drawParts(step, src.size);
  if (spec.kind === 'cifar10' && parts.trainIdx.length < 5) throw new UsageError('validation: a cifar10 hold-out needs at least 5 training images (five batch files)');
  const valDir = path.join(dir, 'val');
  const testDir = path.join(dir, 'test');
  fs.mkdirSync(valDir, { recursive: true });
  fs.mkdirSync(testDir, { recursive: true });
  let testLinks: string[];
  if (spec.kind === 'folder') testLinks = await writeFolderHoldout(src, await openDataset(spec, { split: 'test' }), spec.dir, parts.trainIdx, parts.valIdx, dir);
  else if (spec.kind === 'fashion-mnist' || spec.kind === 'mnist') testLinks = await writeIdxHoldout(spec.dir, src, parts, valDir, testDir);
  else testLinks = await writeCifarHoldout(spec.kind === 'cifar10', spec.dir, src, parts, valDir, testDir);
  const rec = await readBack(step, dir, `${spec.kind}:${valDir}`, src, parts, testLinks);
  writeJsonAtomic(path.join(dir, 'holdout.json'), rec);
  return rec;
}

/** The source's spec: a data set of files this step can write again in its own format (exit 2 otherwise). */
function holdoutSource(step: DataStep): DirSpec {
  const spec = parseDataSpec(step.data);
  if (!('dir' in spec) || !(HOLDOUT_KINDS as readonly string[]).includes(spec.kind)) {
    throw new UsageError(`validation: cannot write a hold-out of ${spec.kind} data`, `use ${HOLDOUT_KINDS.join(', ')} data`);
  }
  return spec;
}

/** The seeded draw: the pool (all N training images or a subset), then the validation images among it. */
function drawParts(step: DataStep, N: number): HoldoutParts {
  const o = step.validation;
  if (o.subset !== null && o.subset > N) throw new UsageError(`validation.subset ${o.subset} exceeds the ${N} training images of ${step.data}`);
  // Streams of the seed distinct from everything else that uses it.
  const pool = o.subset === null ? Int32Array.from({ length: N }, (_, i) => i) : subset(N, o.subset, hashU32(o.seed, 0x5b5e7));
  const { held: nv, empty } = holdoutCount({ size: o.size ?? undefined, fraction: o.fraction ?? undefined }, pool.length);
  if (empty) throw new UsageError(`validation: ${nv} held-out images out of ${pool.length} leaves nothing to ${empty}`, 'change validation.fraction / size / subset');
  const valPos = subset(pool.length, nv, hashU32(o.seed, 0x7a11d));
  const isVal = new Uint8Array(pool.length);
  for (const p of valPos) isVal[p] = 1;
  const valIdx = new Int32Array(nv);
  const trainIdx = new Int32Array(pool.length - nv);
  for (let p = 0, a = 0, b = 0; p < pool.length; p++) {
    if (isVal[p]) valIdx[a++] = pool[p];
    else trainIdx[b++] = pool[p];
  }
  return { pool, trainIdx, valIdx };
}

/** (Fashion-)MNIST: idx files of both parts in val/; test/ links val/'s training part and the source's t10k files. */
async function writeIdxHoldout(sourceDir: string, src: Dataset, { trainIdx, valIdx }: HoldoutParts, valDir: string, testDir: string): Promise<string[]> {
  const [trainPx, valPx] = [await gather(src, trainIdx), await gather(src, valIdx)];
  writeIdx(valDir, 'train', src, trainIdx, trainPx);
  writeIdx(valDir, 't10k', src, valIdx, valPx);
  for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte']) link(path.join('..', 'val', f), path.join(testDir, f));
  const testLinks: string[] = [];
  for (const what of ['images-idx3-ubyte', 'labels-idx1-ubyte']) {
    const target = sourceFile(sourceDir, [`t10k-${what}.gz`, `t10k-${what}`]);
    link(target, path.join(testDir, path.basename(target)));
    testLinks.push(target);
  }
  return testLinks;
}

/**
 * CIFAR-10 / -100: binary records of both parts in val/ (CIFAR-10's training part as five batch
 * files) and the class names; test/ links val/'s training part and the source's test file.
 */
async function writeCifarHoldout(ten: boolean, sourceDir: string, src: Dataset, { trainIdx, valIdx }: HoldoutParts, valDir: string, testDir: string): Promise<string[]> {
  const [trainPx, valPx] = [await gather(src, trainIdx), await gather(src, valIdx)];
  const coarse = (src as Dataset & { coarseLabels?: Int32Array }).coarseLabels;
  const sb = sampleBytes(src.shape);
  const namesFile = ten ? 'batches.meta.txt' : 'fine_label_names.txt';
  if (src.classNames) {
    writeFileAtomicSync(path.join(valDir, namesFile), `${src.classNames.join('\n')}\n`);
    link(path.join('..', 'val', namesFile), path.join(testDir, namesFile));
  }
  if (ten) {
    const per = Math.ceil(trainIdx.length / 5);
    for (let b = 0; b < 5; b++) {
      const lo = Math.min(trainIdx.length, b * per);
      const hi = Math.min(trainIdx.length, (b + 1) * per);
      const f = `data_batch_${b + 1}.bin`;
      writeFileAtomicSync(path.join(valDir, f), cifarRecords(src, trainIdx.subarray(lo, hi), trainPx.subarray(lo * sb, hi * sb), undefined));
      link(path.join('..', 'val', f), path.join(testDir, f));
    }
    writeFileAtomicSync(path.join(valDir, 'test_batch.bin'), cifarRecords(src, valIdx, valPx, undefined));
  } else {
    writeFileAtomicSync(path.join(valDir, 'train.bin'), cifarRecords(src, trainIdx, trainPx, coarse));
    link(path.join('..', 'val', 'train.bin'), path.join(testDir, 'train.bin'));
    writeFileAtomicSync(path.join(valDir, 'test.bin'), cifarRecords(src, valIdx, valPx, coarse));
  }
  const name = ten ? 'test_batch.bin' : 'test.bin';
  const target = sourceFile(sourceDir, [name], ten ? 'cifar-10-batches-bin' : 'cifar-100-binary');
  link(target, path.join(testDir, name));
  return [target];
}

/** Reads both parts back as the trainer will (this also checks what was written) and makes the record. */
async function readBack(step: DataStep, dir: string, valSpec: string, src: Dataset, { pool, trainIdx, valIdx }: HoldoutParts, testLinks: string[]): Promise<HoldoutRecord> {
  const [trainDs, valDs] = await Promise.all([openDataset(valSpec, { split: 'train' }), openDataset(valSpec, { split: 'test' })]);
  if (trainDs.size !== trainIdx.length || valDs.size !== valIdx.length) throw new WorkError(`hold-out in ${dir} reads back ${trainDs.size} / ${valDs.size} images, wrote ${trainIdx.length} / ${valIdx.length}`);
  return {
    schema: HOLDOUT_SCHEMA,
    key: step.key,
    data: step.data,
    options: step.validation,
    source_train: src.size,
    pool: pool.length,
    train: trainIdx.length,
    validation: valIdx.length,
    validation_indices: Array.from(valIdx),
    fingerprints: { source_train: await fingerprint(src), train: await fingerprint(trainDs), validation: await fingerprint(valDs) },
    test_links: testLinks,
  };
}

// ---- the choice ---------------------------------------------------------------------------------

interface SummaryLike {
  final_test_acc: number;
  best_test_acc: number;
  best_epoch: number;
}

const frac = (x: number): number => (x > 1 ? x / 100 : x);

/**
 * Chooses among the grid points of `step` (their train steps must be finished) and writes
 * `selection.json`. The trainer calls whatever split it evaluates on "test"; a point's step must
 * be evaluated on the validation split (checked against the plan, and against the run's manifest
 * when it has one), so its "test" accuracy is a validation accuracy.
 */
export function runSelect(step: SelectStep, outDir: string, byKey: Map<string, Step>): SelectionRecord {
  const points: SelectionPoint[] = step.points.map((p) => {
    const ts = byKey.get(p.step) as TrainStep | undefined;
    if (!ts || ts.type !== 'train') throw new WorkError(`select ${step.label}: grid point ${p.step.slice(0, 8)} is not a train step`);
    if (ts.config.holdout?.eval !== 'validation') throw new WorkError(`select ${step.label}: grid point ${ts.dir} is not evaluated on the validation split; refusing to choose on it`);
    const runDir = path.join(outDir, ts.dir);
    const manifest = readJsonFile<{ data?: { spec?: string } }>(path.join(runDir, 'manifest.json'));
    const hold = byKey.get(ts.config.holdout.step) as DataStep;
    const want = holdoutSpec(outDir, hold, 'validation');
    if (manifest?.data?.spec !== undefined && path.resolve(manifest.data.spec.replace(/^[^:]*:/, '')) !== path.resolve(want.replace(/^[^:]*:/, ''))) {
      throw new WorkError(`select ${step.label}: ${runDir} was trained on ${manifest.data.spec}, not on the validation data ${want}`);
    }
    const sum = readJsonFile<SummaryLike>(path.join(runDir, 'summary.json'));
    if (!sum || typeof sum.final_test_acc !== 'number') throw new WorkError(`select ${step.label}: ${runDir} has no summary.json`);
    return { values: p.values, dir: ts.dir, val_acc: frac(sum.final_test_acc), best_val_acc: frac(sum.best_test_acc), best_epoch: sum.best_epoch };
  });
  let best = 0;
  for (let i = 1; i < points.length; i++) if (points[i].val_acc > points[best].val_acc) best = i;
  const ranked = points.map((p, i) => ({ p, i })).sort((a, b) => b.p.val_acc - a.p.val_acc || a.i - b.i);
  const pc = (x: number) => `${(100 * x).toFixed(2)} %`;
  const second = ranked[1];
  const reason =
    `highest ${step.metric} (${pc(points[best].val_acc)}) of ${points.length} grid point${points.length === 1 ? '' : 's'}` +
    (second ? `; next ${formatValues(second.p.values)} at ${pc(second.p.val_acc)} (${((points[best].val_acc - second.p.val_acc) * 100).toFixed(2)} points lower)` : '') +
    (second && second.p.val_acc === points[best].val_acc ? '; tie broken by grid order' : '');
  const rec: SelectionRecord = {
    schema: SELECTION_SCHEMA,
    key: step.key,
    run: step.run,
    variant: step.variant,
    metric: step.metric,
    keys: step.keys,
    points,
    chosen: points[best].values,
    chosen_index: best,
    val_acc: points[best].val_acc,
    reason,
  };
  writeJsonAtomic(selectionPath(outDir, step), rec);
  return rec;
}
