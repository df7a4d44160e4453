/**
 * The training loop (no `model.fit`): the whole of `tfkd train` below the CLI.
 *
 *   for epoch e: order = permutation of the (limited) training samples, seeded by (seed, e)
 *     for each batch: pixels ← readBatch, the epoch's views rebuilt (targets.ts), x = pixels/255,
 *       soft targets ← caches (ensemble mean) when the loss needs a teacher,
 *       lr ← schedule(step), loss + grads (tf.variableGrads, training mode), optimizer step
 *     test-split evaluation (inference mode), metrics line, checkpoints best/ last/ (+ --save-at)
 *
 * Everything that decides a number derives from the config: same config + same backend → the
 * same metrics, and a run resumed from `last/` continues exactly where it stopped (weights, BN
 * statistics, optimizer slots and counters are all in the checkpoint; no RNG state exists).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../../errors.js';
import { createdBy } from '../../cache/manifest.js';
import { openCache, type CacheReader } from '../../cache/reader.js';
import type { Dataset } from '../../data/dataset.js';
import { sampleBytes } from '../../data/dataset.js';
import { fingerprint } from '../../data/fingerprint.js';
import { openDataset } from '../../data/open.js';
import { hashU32, permutation, subset } from '../../data/rng.js';
import { selectBackend, type BackendInfo } from '../backend.js';
import { loadNative } from '../kernels/native.js';
import { faultPoint } from '../../util/fault.js';
import { sha256File } from '../../util/hash.js';
import { acquireLock, LOCK_FILE } from '../../util/lock.js';
import { outDirExists, prepareOutDir } from '../../util/out-dir.js';
import { evaluate, modelForward, pixelsToFloat } from '../evaluate.js';
import { defaultLossOptions, getLoss, isLossName, lossNeedsTeacher, LOSS_NAMES, resolveLossOptions, type LossOptions } from '../losses/index.js';
import { tf } from '../tf.js';
import { buildModel, countParams, loadWeights, modelSpec, MODEL_NAMES, type ModelSpec } from '../zoo/index.js';
import { readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { checkCachesAgainstRecord, checkCheckpointAgainstRun, readRunRecord } from './integrity.js';
import { defaultMilestones, RESUME_MUTABLE_KEYS, trainConfigSchema, TRAIN_DEFAULTS, type TrainConfig, type TrainConfigInput } from './config.js';
import { checkSchedule } from '../schedule.js';
import { createTrainOptimizer, learningRate, scheduleOf, type TrainOptimizer } from './optimizer.js';
import {
  metricValues,
  readJson,
  readMetrics,
  recoverDir,
  runPaths,
  writeJsonAtomic,
  writeMetrics,
  type EpochMetrics,
  type Summary,
} from './run-dir.js';
import { applyViews, cacheSoftTargets, planViews, viewsFor, type ViewPlan } from './targets.js';
import { renderedDataset, renderStudentBatch, studentInputs, type StudentInputs } from './inputs.js';
import { formatZodError } from '../../errors.js';

export interface StepProgress {
  epoch: number;
  epochs: number;
  /** Step within the epoch (1-based) and steps per epoch. */
  step: number;
  steps: number;
  loss: number;
  /** Training images per second over the epoch so far. */
  imgPerSec: number;
}

export interface TrainHooks {
  /** Informational lines (parameter count, backend, resume point). */
  info?(line: string): void;
  /** Warnings (ignored options …). */
  warn?(line: string): void;
  onStep?(p: StepProgress): void;
  onEpoch?(m: EpochMetrics, best: { acc: number; epoch: number }): void;
  onEvalBatch?(done: number, total: number): void;
}

export interface TrainRequest {
  /** Layered configuration (defaults are applied here); see config.ts. */
  config: TrainConfigInput;
  /** Keys the user set explicitly (flags or config file): compared against the saved run on --resume. */
  explicit?: ReadonlySet<string>;
  out: string;
  resume?: boolean;
  /** Stop after this many completed epochs, leaving a resumable run (staged training, tests). */
  stopAfter?: number;
  hooks?: TrainHooks;
}

export interface TrainResult {
  out: string;
  config: TrainConfig;
  summary: Summary;
  metrics: EpochMetrics[];
  backend: BackendInfo;
  params: number;
  /** Whether all `config.epochs` epochs are done (false after --stop-after). */
  complete: boolean;
  seconds: number;
}

/**
 * The divergence guard (docs/TRAINING.md, "When the loss explodes"): a step whose loss is not
 * finite, or exceeds LOSS_EXPLOSION_FACTOR × max(the first step's loss in this session, log K),
 * stops the run with exit 1, naming the step, the batch's samples and the caches. No working
 * run comes near it (losses fall from their first value); an exploding one passes it within steps.
 */
export const LOSS_EXPLOSION_FACTOR = 1000;

/** The one line that stops a diverging run: step, batch samples (first 8 of n), caches. */
export function explosionMessage(
  lossV: number,
  where: { epoch: number; step: number; globalStep: number },
  samples: ArrayLike<number>,
  caches: readonly CacheReader[],
  reference: number | null,
): string {
  const list = Array.from(samples).slice(0, 8).join(', ');
  const batch = `batch samples ${list}${samples.length > 8 ? `, … (${samples.length} in all)` : ''}`;
  const src = caches.length
    ? `soft targets from ${caches.map((c) => `cache ${c.dir} (key ${c.key.slice(0, 12)}…, ${c.topk === null ? 'all logits' : `top-${c.topk}`}, ${c.manifest.dtype})`).join(' and ')}`
    : 'no teacher cache';
  const what = Number.isFinite(lossV) ? `loss exploded to ${lossV.toExponential(3)} (> ${LOSS_EXPLOSION_FACTOR} × ${reference!.toPrecision(4)})` : `loss became ${lossV}`;
  return `${what} at epoch ${where.epoch}, step ${where.step} (global step ${where.globalStep}): ${batch}; ${src}`;
}

/** The resolved config: defaults, loss options for (loss, fidelity, K), lr and milestones filled in. */
export function resolveConfig(input: TrainConfigInput, numClasses: number, warn?: (s: string) => void, explicit?: ReadonlySet<string>): TrainConfig {
  const r = trainConfigSchema.safeParse(input);
  if (!r.success) throw new UsageError(`invalid options: ${formatZodError(r.error, '--')}`);
  const c = r.data;
  const { options, ignored } = resolveLossOptions(c.loss, c.fidelity, numClasses, {
    alpha: c.alpha,
    temperature: c.temperature,
    multiplier: c.multiplier,
    correctProb: c.correctProb,
    epsilon: c.epsilon,
  });
  // A run's config.json lists every option (unused ones at their neutral values); warn only about
  // values that would have mattered to another loss.
  const neutral = defaultLossOptions(c.loss, c.fidelity);
  const shown = ignored.filter((k) => (!explicit || explicit.has(k)) && c[k] !== neutral[k]);
  if (shown.length && warn) warn(`loss ${c.loss} does not use ${shown.join(', ')}; ignored`);
  const lr = c.lr ?? (c.optimizer === 'adam' ? TRAIN_DEFAULTS.lrAdam : TRAIN_DEFAULTS.lrSgd);
  const milestones = c.milestones ?? (c.schedule === 'step' ? defaultMilestones(c.epochs) : []);
  return {
    ...c,
    alpha: options.alpha,
    temperature: options.temperature,
    multiplier: options.multiplier,
    correctProb: options.correctProb,
    epsilon: options.epsilon,
    lr,
    milestones,
  };
}

/** Checks of the config that need no data: names, loss ↔ cache. UsageError (exit 2) with the reason. */
export function preflight(input: TrainConfigInput): void {
  const r = trainConfigSchema.safeParse(input);
  if (!r.success) throw new UsageError(`invalid options: ${formatZodError(r.error, '--')}`);
  const c = r.data;
  if (!isLossName(c.loss)) throw new UsageError(`unknown loss '${c.loss}'`, `valid losses: ${LOSS_NAMES.join(', ')}`);
  if (!MODEL_NAMES.includes(c.model)) throw new UsageError(`unknown model '${c.model}'`, `valid models: ${MODEL_NAMES.join(', ')}`);
  if (lossNeedsTeacher(c.loss) && c.cache.length === 0) {
    throw new UsageError(`loss ${c.loss} needs a teacher's soft targets: pass --cache CACHE (written by tfkd precompute)`, 'or use a teacher-free loss: ce, lsr, tfkd-reg');
  }
  if (!lossNeedsTeacher(c.loss) && c.cache.length > 0) {
    throw new UsageError(`loss ${c.loss} does not use a teacher; drop --cache`, 'teacher-based losses: kd, tfkd-self');
  }
  if (c.nesterov && c.momentum === 0) throw new UsageError('--nesterov needs --momentum > 0');
  if (c.schedule === 'step' && c.milestones && c.milestones.some((m, i) => i > 0 && m <= c.milestones![i - 1])) {
    throw new UsageError(`--milestones must increase: ${c.milestones.join(',')}`);
  }
}

/** Compares a resumed run's request with its saved config; only RESUME_MUTABLE_KEYS may differ. */
function mergeResume(saved: TrainConfig, input: TrainConfigInput, explicit: ReadonlySet<string> | undefined): TrainConfigInput {
  const given = input as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...saved };
  const keys = explicit ?? new Set(Object.keys(given));
  const diffs: string[] = [];
  for (const k of keys) {
    if (!(k in given)) continue;
    if (RESUME_MUTABLE_KEYS.has(k)) {
      merged[k] = given[k];
      continue;
    }
    if (JSON.stringify(given[k]) !== JSON.stringify((saved as unknown as Record<string, unknown>)[k])) {
      diffs.push(`${k}: run has ${JSON.stringify((saved as unknown as Record<string, unknown>)[k])}, given ${JSON.stringify(given[k])}`);
    }
  }
  if (diffs.length) {
    throw new UsageError(`--resume: options differ from the run's config.json (${diffs.join('; ')})`, `only ${[...RESUME_MUTABLE_KEYS].join(', ')} may change on resume`);
  }
  return merged as TrainConfigInput;
}

function versions(): Record<string, string | null> {
  const c = createdBy();
  return { tfkd: c.tfkd, git: c.git, tfjs: tf.version_core, node: process.version };
}

function nativeThreads(backend: BackendInfo): number | null {
  return backend.kernels === 'wasm+native-blas' ? (loadNative().addon?.getThreads() ?? null) : null;
}

/** `checkpoints/NAME/weights.safetensors` → sha256, for every checkpoint in the run (sorted). */
export function hashCheckpoints(run: string): Record<string, string> {
  const dir = runPaths(run).checkpoints;
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue; // temp / trash copies of a directory swap, not checkpoints
    const file = path.join(dir, name, 'weights.safetensors');
    if (fs.existsSync(file)) out[`checkpoints/${name}/weights.safetensors`] = sha256File(file);
  }
  return out;
}

function cacheRecord(c: CacheReader) {
  return {
    dir: c.dir,
    key: c.key,
    baseKey: c.manifest.baseKey,
    teacher: { file: c.manifest.teacher.file, sha256: c.manifest.teacher.sha256 },
    views: c.views,
    augment: c.manifest.augment,
    topk: c.topk,
    shards: c.manifest.shards.map((s) => ({ file: s.file, sha256: s.sha256 })),
  };
}

/** Runs (or resumes) a training run. */
export async function train(req: TrainRequest): Promise<TrainResult> {
  const t0 = Date.now();
  const paths = runPaths(req.out);
  let input = req.config;
  outDirExists(req.out);
  const existing = fs.existsSync(paths.config);
  if (req.resume) {
    if (!existing) throw new UsageError(`--resume: ${req.out} holds no run (no config.json)`, 'start it without --resume');
    input = mergeResume(readJson<TrainConfig>(paths.config), input, req.explicit);
  } else if (existing || runDirEntries(req.out).some((e) => !isStartLeftover(req.out, e))) {
    throw new UsageError(`${req.out} already exists and is not empty`, 'pass --resume to continue that run, or choose another --out');
  }
  preflight(input);
  // One trainer per run directory (util/lock.ts); the state is checked again under the lock.
  const created = prepareOutDir(req.out);
  const lock = acquireLock(req.out, 'train');
  if (lock.tookOver) req.hooks?.info?.(`took over the stale lock of pid ${lock.tookOver.pid} (${lock.tookOver.started}), which is gone`);
  try {
    if (fs.existsSync(paths.config) !== existing) throw new UsageError(`${req.out} changed while this run was starting (another process?)`, 'run the command again');
    if (!existing) removeStartLeftovers(req.out);
    return await trainLocked(req, input, t0);
  } catch (e) {
    // A start that failed before its commit record (config.json) leaves nothing behind.
    if (!fs.existsSync(paths.config)) {
      removeStartLeftovers(req.out);
      lock.release();
      if (created !== null && runDirEntries(req.out).length === 0) fs.rmSync(created, { recursive: true, force: true });
    }
    throw e;
  } finally {
    lock.release();
  }
}

/**
 * After a kill: every checkpoint caught between the two renames of its directory swap is restored
 * from its `.old-NAME` copy (not only last/: a best/ that is never improved again would stay
 * missing), and temp directories of swaps that never finished are removed.
 */
function recoverCheckpoints(dir: string): void {
  for (const e of runDirEntries(dir)) {
    if (e.startsWith('.old-')) {
      const target = path.join(dir, e.slice('.old-'.length));
      if (fs.existsSync(target)) fs.rmSync(path.join(dir, e), { recursive: true, force: true }); // the swap had finished
      else recoverDir(target);
    }
    else if (e.startsWith('.tmp-')) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

/** Entries of a run directory ([] when it does not exist). */
function runDirEntries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/**
 * What an interrupted *start* can leave in a run directory before its commit record (config.json,
 * written last of the initial files): the lock, temp files of atomic writes, an empty (or
 * temp-only) checkpoints/, and the run manifest. A fresh start removes them; nothing else.
 */
function isStartLeftover(dir: string, e: string): boolean {
  if (e === LOCK_FILE || e.startsWith(`${LOCK_FILE}.`) || e.startsWith('.tmp-')) return true;
  const full = path.join(dir, e);
  if (e === 'checkpoints') return fs.statSync(full).isDirectory() && fs.readdirSync(full).every((c) => c.startsWith('.tmp-'));
  if (e === 'manifest.json') {
    try {
      return (JSON.parse(fs.readFileSync(full, 'utf8')) as { schema?: string }).schema === 'tfkd-run/1';
    } catch {
      return false;
    }
  }
  return false;
}

function removeStartLeftovers(dir: string): void {
  for (const e of runDirEntries(dir)) {
    if (e === LOCK_FILE || e.startsWith(`${LOCK_FILE}.`) || !isStartLeftover(dir, e)) continue;
    fs.rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

async function trainLocked(req: TrainRequest, input: TrainConfigInput, t0: number): Promise<TrainResult> {
  const hooks = req.hooks ?? {};

  // ---- data -------------------------------------------------------------------------------------
  const trainDs = await openDataset(input.data, { split: 'train' });
  const testDs = await openDataset(input.data, { split: 'test' });
  if (trainDs.numClasses !== testDs.numClasses) throw new UsageError(`${input.data}: train has K = ${trainDs.numClasses}, test K = ${testDs.numClasses}`);
  const K = trainDs.numClasses;
  const config = resolveConfig(input, K, hooks.warn, req.explicit);
  checkSchedule(scheduleOf(config));
  const lossFn = getLoss(config.loss);
  const lossOptions: LossOptions = {
    numClasses: K,
    fidelity: config.fidelity,
    alpha: config.alpha,
    temperature: config.temperature,
    multiplier: config.multiplier,
    correctProb: config.correctProb,
    epsilon: config.epsilon,
  };
  if (config.limit !== null && config.limit > trainDs.size) throw new UsageError(`--limit ${config.limit} exceeds the ${trainDs.size} training samples`);
  if (config.testLimit !== null && config.testLimit > testDs.size) throw new UsageError(`--test-limit ${config.testLimit} exceeds the ${testDs.size} test samples`);
  // Seeded subsets, streams distinct from everything else that uses the seed.
  const trainIdx = config.limit === null ? Int32Array.from({ length: trainDs.size }, (_, i) => i) : subset(trainDs.size, config.limit, hashU32(config.seed, 0x1111));
  const testIdx = config.testLimit === null ? undefined : subset(testDs.size, config.testLimit, hashU32(config.seed, 0x7e57));
  const fp = await fingerprint(trainDs);

  // ---- teachers ---------------------------------------------------------------------------------
  const caches: CacheReader[] = [];
  try {
    for (const dir of config.cache) caches.push(openCache(dir, { fingerprint: fp, split: 'train', numClasses: K, N: trainDs.size }));
    for (const c of caches) {
      if (c.sampleStart > 0 || c.sampleEnd < trainDs.size) {
        throw new UsageError(`cache ${c.dir} covers only samples [${c.sampleStart}, ${c.sampleEnd}) of ${trainDs.size}`, 'tfkd merge the parts first');
      }
    }
    // --resume: the caches must be the ones the run trained on (else its record would be falsified).
    if (req.resume) {
      const rec = readRunRecord(req.out);
      if (rec?.caches) checkCachesAgainstRecord(req.out, rec.caches, caches);
    }
    const plan = planViews(config.augment, caches, config.seed, config.allowInconsistentViews);
    const inputs = studentInputs(trainDs, config.inputSize, config.evalCropPct, plan);
    return await run({ req, config, lossFn, lossOptions, trainDs, testDs, trainIdx, testIdx, fp, caches, plan, inputs, t0 });
  } finally {
    for (const c of caches) c.close();
  }
}

/** What `train` has resolved and opened before the backend and model exist. */
interface Prepared {
  req: TrainRequest;
  config: TrainConfig;
  lossFn: ReturnType<typeof getLoss>;
  lossOptions: LossOptions;
  trainDs: Dataset;
  testDs: Dataset;
  trainIdx: Int32Array;
  testIdx: Int32Array | undefined;
  fp: string;
  caches: CacheReader[];
  plan: ViewPlan;
  inputs: StudentInputs;
  t0: number;
}

/** …plus the backend, the model and its optimizer: everything the loop needs. */
interface Built extends Prepared {
  backend: BackendInfo;
  model: tf.LayersModel;
  spec: ModelSpec;
  params: ReturnType<typeof countParams>;
  optimizer: TrainOptimizer;
}

async function run(prepared: Prepared): Promise<TrainResult> {
  const { req, config, trainDs } = prepared;
  const hooks = req.hooks ?? {};
  const K = trainDs.numClasses;
  const shape = prepared.inputs.shape;

  // ---- backend and model --------------------------------------------------------------------------
  const backend = await selectBackend(config.backend);
  const inputShape: [number, number, number] = [shape.height, shape.width, shape.channels];
  const build = { inputShape, numClasses: K, seed: config.seed, widthMultiplier: config.widthMultiplier };
  const spec: ModelSpec = modelSpec(config.model, build);
  let model: tf.LayersModel;
  try {
    model = buildModel(config.model, build);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`model ${config.model} cannot take ${shape.height}x${shape.width}x${shape.channels} inputs: ${(e as Error).message.split('\n')[0]}`, 'choose a larger --input-size or another --model');
  }
  const params = countParams(model);
  hooks.info?.(`model ${config.model}: ${params.trainable.toLocaleString('en-US')} trainable parameters (${params.total.toLocaleString('en-US')} with BN statistics) · backend ${backend.name} (${backend.detail}) · kernels ${backend.kernels}`);
  const optimizer: TrainOptimizer = createTrainOptimizer(config, model);
  try {
    return await loop({ ...prepared, backend, model, spec, params, optimizer });
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

async function loop(built: Built): Promise<TrainResult> {
  const { req, config, lossFn, lossOptions, trainDs, testDs, trainIdx, testIdx, fp, caches, plan, inputs, t0, backend, model, spec, params, optimizer } = built;
  const hooks = req.hooks ?? {};
  const paths = runPaths(req.out);
  const K = trainDs.numClasses;
  const shape = inputs.shape;
  const trainable = optimizer.vars;

  const N = trainIdx.length;
  const B = config.batch;
  const stepsPerEpoch = Math.ceil(N / B);
  const needsTeacher = lossNeedsTeacher(config.loss);

  // ---- resume point -------------------------------------------------------------------------------
  let startEpoch = 0;
  let step = 0;
  let metrics: EpochMetrics[] = [];
  let best = { acc: -1, epoch: 0 };
  if (req.resume) {
    recoverCheckpoints(paths.checkpoints);
    if (fs.existsSync(paths.checkpoint('last'))) {
      const ck = readCheckpoint(paths.checkpoint('last'));
      checkCheckpointAgainstRun(paths.checkpoint('last'));
      if (JSON.stringify(ck.spec) !== JSON.stringify(spec)) throw new UsageError(`--resume: checkpoint model ${JSON.stringify(ck.spec)} differs from ${JSON.stringify(spec)}`);
      loadWeights(model, ck.weights);
      if (ck.optimizer) optimizer.setState(ck.optimizer);
      startEpoch = ck.state.epoch;
      step = ck.state.step;
      if (ck.state.best_test_acc !== null) best = { acc: ck.state.best_test_acc, epoch: ck.state.best_epoch ?? 0 };
      // Lines past the checkpoint (an interruption between writing metrics and last/) are redone.
      metrics = readMetrics(paths.metrics).filter((m) => m.epoch <= startEpoch);
      hooks.info?.(`resuming ${req.out} after epoch ${startEpoch} (step ${step})`);
    } else {
      hooks.info?.(`resuming ${req.out}: no checkpoint yet, starting from epoch 1`);
    }
  }

  // ---- run directory ------------------------------------------------------------------------------
  fs.mkdirSync(paths.checkpoints, { recursive: true });
  // A resumed run with more epochs is no longer finished until it is.
  if (startEpoch < config.epochs) fs.rmSync(paths.summary, { force: true });
  const manifest = {
    schema: 'tfkd-run/1',
    seed: config.seed,
    // nativeThreads: the add-on's thread count (the numbers do not depend on it; recorded for the
    // record, and `tfkd repro` reuses it). null when the native kernels are not in use.
    backend: { name: backend.name, detail: backend.detail, kernels: backend.kernels, requested: backend.requested, why: backend.why, nativeThreads: nativeThreads(backend) },
    versions: versions(),
    data: { spec: trainDs.spec, kind: trainDs.kind, fingerprint: fp, train: trainDs.size, test: testDs.size, numClasses: K, shape },
    model: spec,
    params,
    loss: { name: config.loss, options: lossOptions },
    caches: caches.map(cacheRecord),
    views: plan,
    preprocess: inputs.preprocess,
    trainSamples: N,
    testSamples: testIdx ? testIdx.length : testDs.size,
    stepsPerEpoch,
    started: new Date(t0).toISOString(),
    /** Epochs already done when this session started (0 unless --resume). */
    resumedAfterEpoch: startEpoch,
    finished: null as string | null,
    seconds: null as number | null,
    /** sha256 of every checkpoint's weights when the session ended (what `tfkd repro` compares). */
    outputs: {} as Record<string, string>,
  };
  writeJsonAtomic(paths.manifest, manifest);
  faultPoint('train-manifest');
  // config.json last: the commit record of the run's creation (a start interrupted before it leaves
  // only what the next start removes; after it, the run is resumable).
  // Keys sorted: a resumed run (whose config is re-parsed from the saved one) writes the same bytes.
  const sorted = Object.fromEntries(Object.entries(config).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  writeJsonAtomic(paths.config, sorted, { beforeRename: () => faultPoint('train-config-tmp') });
  faultPoint('train-created');

  // ---- buffers reused across steps ----------------------------------------------------------------
  const sb = sampleBytes(shape);
  const rawBuf = new Uint8Array(B * sb);
  const viewBuf = new Uint8Array(B * sb);
  const xBuf = new Float32Array(B * sb);
  const softBuf = new Float32Array(B * K);
  const softScratch = new Float32Array(B * K);
  const forward = modelForward(model, shape);
  const saveAt = config.saveAt;
  const ckState = (epoch: number, st: number, acc: number | null, loss: number | null) => ({
    epoch,
    step: st,
    test_acc: acc,
    test_loss: loss,
    best_test_acc: best.acc >= 0 ? best.acc : null,
    best_epoch: best.acc >= 0 ? best.epoch : null,
    preprocess: inputs.preprocess,
    ...(trainDs.classNames ? { classNames: trainDs.classNames } : {}),
    data: trainDs.spec,
    loss: config.loss,
  });
  const testFace = renderedDataset(testDs, inputs);
  const evalTest = () => evaluate(forward, testFace, { indices: testIdx, batch: config.evalBatch, onBatch: hooks.onEvalBatch });
  // Rendered inputs: the samples of step s of an epoch are decoded while step s − 1 trains
  // (sharp on the libuv pool); one batch ahead bounds the memory.
  const batchSamples = (order: Int32Array, s: number): Int32Array => {
    const n = Math.min(B, N - s * B);
    const samples = new Int32Array(n);
    for (let k = 0; k < n; k++) samples[k] = trainIdx[order[s * B + k]];
    return samples;
  };
  const readAhead = (samples: Int32Array) => {
    const p = trainDs.readImages(samples, inputs.side.eval.mode);
    p.catch(() => undefined); // surfaced when awaited
    return p;
  };

  const lastEpoch = Math.min(config.epochs, req.stopAfter ?? config.epochs);
  // The divergence guard's reference: the first step's loss in this session (≥ log K).
  let lossRef: number | null = null;
  for (let epoch = startEpoch; epoch < lastEpoch; epoch++) {
    const te = Date.now();
    const order = permutation(N, hashU32(config.seed, epoch, 0xe0c4));
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    const lr0 = learningRate(config, epoch * stepsPerEpoch, stepsPerEpoch);
    let ahead = inputs.rendered ? readAhead(batchSamples(order, 0)) : null;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const samples = batchSamples(order, s);
      const n = samples.length;
      const views = viewsFor(plan, config.seed, epoch, samples);
      let pixels: Uint8Array;
      if (ahead) {
        const imgs = await ahead;
        ahead = s + 1 < stepsPerEpoch ? readAhead(batchSamples(order, s + 1)) : null;
        pixels = renderStudentBatch(inputs, plan, imgs, samples, views.student, viewBuf);
      } else {
        const raw = await trainDs.readBatch(samples, rawBuf.subarray(0, n * sb));
        pixels = applyViews(plan, raw, shape, samples, views.student, viewBuf);
      }
      const xs = pixelsToFloat(pixels, xBuf.subarray(0, n * sb));
      const ys = new Int32Array(n);
      for (let k = 0; k < n; k++) ys[k] = trainDs.labels[samples[k]];
      const soft = needsTeacher ? cacheSoftTargets(caches, samples, views.cache, config.temperature, softBuf, softScratch) : null;
      const lr = learningRate(config, step, stepsPerEpoch);

      const [lossT, correctT] = tf.tidy(() => {
        const x = tf.tensor4d(xs, [n, shape.height, shape.width, shape.channels], 'float32');
        const y = tf.tensor1d(ys, 'int32');
        const t = soft ? (tf.tensor2d(soft, [n, K], 'float32') as tf.Tensor2D) : null;
        // Training accuracy comes from the same forward pass; kept out of the gradient's tidy scope.
        const box: { hits?: tf.Scalar } = {};
        const { value, grads } = tf.variableGrads(() => {
          const logits = model.apply(x, { training: true }) as tf.Tensor2D;
          box.hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')) as tf.Scalar);
          return lossFn(logits, y, t, lossOptions);
        }, trainable);
        optimizer.apply(grads, lr);
        return [value, box.hits as tf.Scalar];
      });
      const lossV = (await lossT.data())[0];
      const hitV = (await correctT.data())[0];
      lossT.dispose();
      correctT.dispose();
      if (lossRef === null && Number.isFinite(lossV)) lossRef = Math.max(lossV, Math.log(K));
      if (!Number.isFinite(lossV) || lossV > LOSS_EXPLOSION_FACTOR * lossRef!) {
        throw new WorkError(
          explosionMessage(lossV, { epoch: epoch + 1, step: s + 1, globalStep: step + 1 }, samples, needsTeacher ? caches : [], lossRef),
          needsTeacher ? 'lower --lr, or check the soft targets (tfkd verify CACHE)' : 'lower --lr',
        );
      }
      lossSum += lossV * n;
      correct += hitV;
      seen += n;
      step++;
      faultPoint('train-step', step);
      hooks.onStep?.({ epoch: epoch + 1, epochs: config.epochs, step: s + 1, steps: stepsPerEpoch, loss: lossV, imgPerSec: seen / Math.max(1e-3, (Date.now() - te) / 1000) });

      if (saveAt?.unit === 'step' && saveAt.at.includes(step)) {
        const r = await evalTest();
        const name = `step-${step}`;
        await saveCheckpoint(paths.checkpoint(name), model, spec, ckState(epoch, step, r.accuracy, r.loss), null);
        writeJsonAtomic(paths.checkpoint(`${name}.json`), { step, epoch: epoch + (s + 1) / stepsPerEpoch, test_acc: r.accuracy, test_loss: r.loss });
      }
    }

    const r = await evalTest();
    const line: EpochMetrics = {
      epoch: epoch + 1,
      step,
      train_loss: lossSum / seen,
      train_acc: correct / seen,
      test_loss: r.loss,
      test_acc: r.accuracy,
      lr: lr0,
      seconds: (Date.now() - te) / 1000,
    };
    metrics.push(line);
    const improved = r.accuracy > best.acc;
    if (improved) best = { acc: r.accuracy, epoch: epoch + 1 };
    writeMetrics(paths.metrics, metrics);
    const st = ckState(epoch + 1, step, r.accuracy, r.loss);
    if (improved) await saveCheckpoint(paths.checkpoint('best'), model, spec, st, null);
    if (saveAt?.unit === 'epoch' && saveAt.at.includes(epoch + 1)) {
      const name = `epoch-${epoch + 1}`;
      await saveCheckpoint(paths.checkpoint(name), model, spec, st, null);
      writeJsonAtomic(paths.checkpoint(`${name}.json`), { epoch: epoch + 1, step, test_acc: r.accuracy, test_loss: r.loss });
    }
    await saveCheckpoint(paths.checkpoint('last'), model, spec, st, optimizer.getState());
    faultPoint('train-epoch', epoch + 1);
    hooks.onEpoch?.(line, best);
  }

  const complete = metrics.length > 0 && metrics[metrics.length - 1].epoch >= config.epochs;
  const summary = makeSummary(config, metrics, best, backend, params.trainable);
  // summary.json is the run's commit record (experiments reuse a run that has one): written last,
  // and only once every epoch is done.
  if (complete) writeJsonAtomic(paths.summary, summary);
  const seconds = (Date.now() - t0) / 1000;
  manifest.finished = new Date().toISOString();
  manifest.seconds = seconds;
  manifest.outputs = hashCheckpoints(req.out);
  writeJsonAtomic(paths.manifest, manifest);
  return { out: req.out, config, summary, metrics, backend, params: params.trainable, complete, seconds };
}

function makeSummary(config: TrainConfig, metrics: EpochMetrics[], best: { acc: number; epoch: number }, backend: BackendInfo, params: number): Summary {
  const last = metrics[metrics.length - 1];
  return {
    final_test_acc: last ? last.test_acc : 0,
    best_test_acc: best.acc >= 0 ? best.acc : 0,
    best_epoch: best.epoch,
    epochs: last ? last.epoch : 0,
    backend: backend.name,
    seed: config.seed,
    params,
    model: config.model,
    loss: config.loss,
  };
}

export { metricValues };
