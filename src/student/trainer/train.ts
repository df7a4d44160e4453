/**
 * Training a student (no `model.fit`): the whole of `tfkd train` below the CLI.
 *
 *   for epoch e: order = permutation of the (limited) training samples, seeded by (seed, e)
 *     for each batch: pixels ← readBatch, the epoch's views rebuilt (targets.ts), x = pixels/255,
 *       soft targets ← caches (ensemble mean) when the loss needs a teacher,
 *       lr ← schedule(step), loss + grads (tf.variableGrads, training mode), optimizer step
 *       (with --grad-accum-steps A: the gradients summed over A batches, one step per A)
 *     test-split evaluation (inference mode), metrics line, checkpoints best/ last/ (+ --save-at)
 *
 * Everything that decides a number derives from the config: same config + same backend → the
 * same metrics, and a run resumed from `last/` continues exactly where it stopped (weights, BN
 * statistics, optimizer slots and counters are all in the checkpoint; no RNG state exists).
 *
 * This file is the entry point (train: the run directory's state and lock, data, caches, backend,
 * model); the loop is loop.ts, config resolution resolve.ts, the divergence guard divergence.ts,
 * what the manifest records record.ts, the clean-up after a kill recovery.ts, and the request /
 * result types request.ts (import each from its owner).
 */
import * as fs from 'node:fs';
import { UsageError, optionName } from '../../errors.js';
import { openCache, type CacheReader } from '../../cache/reader.js';
import { classNamesDiffer, type Dataset } from '../../data/dataset.js';
import { openFidelityCache } from '../teacher-cache.js';
import { fingerprint } from '../../data/fingerprint.js';
import { openDataset } from '../../data/open.js';
import { hashU32, subset } from '../../data/rng.js';
import { checkMixData } from '../../data/mix.js';
import { checkAutoAugmentData } from '../../data/auto-augment.js';
import { checkMixedTargets } from '../losses/index.js';
import { selectBackend } from '../backend.js';
import { acquireLock } from '../../util/lock.js';
import { isDiskFull, outDirExists, prepareOutDir } from '../../util/out-dir.js';
import { tf } from '../tf.js';
import { buildFromSpec, buildModel, buildOnnxModel, countParams, isCodeModelName, isModuleModelName, isOnnxModelName, modelSpec, moduleModelSpec, onnxLayerOf, onnxModelSpec, type ModelSpec } from '../zoo/index.js';
import { dropPathRates } from '../zoo/onnx-fold.js';
import { checkCachesAgainstRecord, checkLossAgainstRecord, checkRecordedPaths, readRunJson, readRunRecord } from './integrity.js';
import type { TrainConfig, TrainConfigInput } from './config.js';
import { checkSchedule } from '../schedule.js';
import { createTrainOptimizer, scheduleOf, type TrainOptimizer } from './optimizer.js';
import { WeightEma } from '../ema.js';
import { runDiskFull, runPaths, trainIndices } from './run-dir.js';
import { planViews } from './targets.js';
import { studentInputs } from './inputs.js';
import { loop } from './loop.js';
import type { Prepared } from './built.js';
import { hasKeptCheckpoint, isStartLeftover, removeStartLeftovers, runDirEntries, undoStart } from './recovery.js';
import { absolutePaths, checkCachesForLoss, mergeResume, recordedPaths, preflight, resolveConfig, resolveLoss, type LossSpec, type ResolvedLoss } from './resolve.js';
import { checkResumeEarly, checkRunOptions, checkStopAfter } from './run-checks.js';
import type { TrainRequest, TrainResult } from './request.js';


/** Runs (or resumes) a training run. */
export async function train(req: TrainRequest): Promise<TrainResult> {
  const t0 = Date.now();
  const paths = runPaths(req.out);
  // Paths absolute, once, here: the run records them so (resolve.ts absolutePaths).
  let input = absolutePaths(req.config as TrainConfigInput);
  // A loss handed over as an entry or a function (API) is recorded as `api:NAME`; every loss is
  // resolved (a module imported, its entry checked) before anything is written.
  let custom: ResolvedLoss | null = null;
  if (typeof req.config.loss !== 'string' && req.config.loss !== undefined) {
    const r = await resolveLoss(req.config.loss as LossSpec, (req.config.cache?.length ?? 0) > 0);
    custom = r.resolved;
    input = { ...input, loss: r.configName };
  }
  outDirExists(req.out);
  const existing = fs.existsSync(paths.config);
  if (req.resume) {
    if (!existing) throw new UsageError(`${optionName('resume')}: ${req.out} holds no run (no config.json)`, `start it without ${optionName('resume')}`);
    input = mergeResume(readRunJson<TrainConfig>(paths.config), input, req.explicit);
    // What the run recorded by path is there (a relative path of an older run, from elsewhere, is named as such).
    checkRecordedPaths(req.out, recordedPaths(input as Parameters<typeof recordedPaths>[0]), 'resume');
  } else if (existing || runDirEntries(req.out).some((e) => !isStartLeftover(req.out, e))) {
    throw new UsageError(`${req.out} already exists and is not empty`, `pass ${optionName('resume')} to continue that run, or choose another ${optionName('out')}`);
  }
  const loss = custom ?? (await resolveLoss(input.loss, (input.cache?.length ?? 0) > 0)).resolved;
  preflight(input, loss.entry, req.explicit);
  checkStopAfter(req.stopAfter);
  // One trainer per run directory (util/lock.ts); the state is checked again under the lock.
  const created = prepareOutDir(req.out);
  const lock = acquireLock(req.out, 'train');
  if (lock.tookOver) req.hooks?.info?.(`took over the stale lock of pid ${lock.tookOver.pid} (${lock.tookOver.started}), which is gone`);
  try {
    if (fs.existsSync(paths.config) !== existing) throw new UsageError(`${req.out} changed while this run was starting (another process?)`, 'run the command again');
    if (!existing) removeStartLeftovers(req.out);
    // Too few --epochs, or a --save-at point already passed: refused before the data is read or a line printed.
    if (req.resume) checkResumeEarly(req.out, input);
    return await trainLocked(req, input, loss, t0);
  } catch (e) {
    // A fresh start that failed (bad data, a corrupt cache — not a kill) before any checkpoint was
    // kept is undone: what it wrote is only its own start, and keeping it would make the same
    // command refuse the directory ("already exists") although there is nothing to resume.
    if (!existing && !hasKeptCheckpoint(paths.checkpoints)) undoStart(req.out);
    // A start that failed before its commit record (config.json) leaves nothing behind.
    if (!fs.existsSync(paths.config)) {
      removeStartLeftovers(req.out);
      lock.release();
      if (created !== null && runDirEntries(req.out).length === 0) fs.rmSync(created, { recursive: true, force: true });
    }
    // A full disk anywhere in a run that keeps a checkpoint (metrics, manifest, summary, not only
    // the checkpoints) is resumed with --resume: the same command without it refuses the directory.
    throw isDiskFull(e) ? runDiskFull(req.out, e as Error) : e;
  } finally {
    lock.release();
  }
}

async function trainLocked(req: TrainRequest, input: TrainConfigInput, loss: ResolvedLoss, t0: number): Promise<TrainResult> {

  // ---- data -------------------------------------------------------------------------------------
  const trainDs = await openDataset(input.data, { split: 'train' });
  const testDs = await openDataset(input.data, { split: 'test' });
  if (trainDs.numClasses !== testDs.numClasses) throw new UsageError(`${input.data}: train has K = ${trainDs.numClasses}, test K = ${testDs.numClasses}`);
  const differ = classNamesDiffer(trainDs.classNames, 'the train split', testDs.classNames, 'the test split');
  if (differ) throw new UsageError(`${input.data}: ${differ}: the test accuracy would count other classes`, 'give both splits the same class folders');
  const K = trainDs.numClasses;
  const { config, lossOptions } = resolveConfig(input, K, loss.entry, req.explicit);
  checkSchedule(scheduleOf(config));
  if (config.limit !== null && config.limit > trainDs.size) throw new UsageError(`${optionName('limit')} ${config.limit} exceeds the ${trainDs.size} training samples`);
  if (config.testLimit !== null && config.testLimit > testDs.size) throw new UsageError(`${optionName('testLimit')} ${config.testLimit} exceeds the ${testDs.size} test samples`);
  // Seeded subsets, streams distinct from everything else that uses the seed.
  const trainIdx = trainIndices(trainDs.size, config.limit, config.seed);
  const testIdx = config.testLimit === null ? undefined : subset(testDs.size, config.testLimit, hashU32(config.seed, 0x7e57));
  checkRunOptions(config, trainIdx.length);
  const fp = await fingerprint(trainDs);

  // ---- teachers ---------------------------------------------------------------------------------
  const caches: CacheReader[] = [];
  let testTeacher: CacheReader | null = null;
  try {
    if (config.testCache !== undefined) testTeacher = await openTestTeacher(config.testCache, testDs);
    for (const dir of config.cache) caches.push(openCache(dir, { fingerprint: fp, split: 'train', numClasses: K, N: trainDs.size }));
    for (const c of caches) {
      if (c.sampleStart > 0 || c.sampleEnd < trainDs.size) {
        throw new UsageError(`cache ${c.dir} covers only samples [${c.sampleStart}, ${c.sampleEnd}) of ${trainDs.size}`, 'tfkd merge the parts first');
      }
    }
    checkCachesForLoss(loss.entry, config.logitStandardization, caches);
    // --resume: the caches (and a loss module) must be the ones the run trained on (else its record would be falsified).
    if (req.resume) {
      const rec = readRunRecord(req.out);
      if (rec?.caches) checkCachesAgainstRecord(req.out, rec.caches, caches);
      if (rec?.testCache && testTeacher) checkCachesAgainstRecord(req.out, [rec.testCache], [testTeacher], 'measured its fidelity against');
      checkLossAgainstRecord(req.out, rec?.loss?.source, loss);
    }
    const plan = planViews(config.augment, caches, config.seed, config.allowInconsistentViews);
    // It allows one thing: fresh augmented views beside a single-view cache. Anywhere else it was
    // recorded in config.json and allowed nothing.
    if (config.allowInconsistentViews && (!req.explicit || req.explicit.has('allowInconsistentViews')) && !(plan.mode === 'fresh' && caches.length > 0)) {
      throw new UsageError(
        `${optionName('allowInconsistentViews')} has nothing to allow: it accepts ${optionName('augment')} over a single-view cache, and this run has ${caches.length === 0 ? 'no cache' : plan.mode === 'cache' ? "the cache's own views" : `no ${optionName('augment')}`}`,
        `drop ${optionName('allowInconsistentViews')}`,
      );
    }
    if (plan.mode !== 'none' && plan.spec?.mix) {
      checkMixData(plan.spec.mix, trainDs.size, trainDs.spec);
      checkMixedTargets(loss.entry);
    }
    if (plan.mode !== 'none') checkAutoAugmentData(plan.spec?.auto, trainDs);
    const inputs = studentInputs(trainDs, config.inputSize, config.evalCropPct, plan, config.channels);
    // At the data's own size the student sees each image as it is: no resize to crop from, and a
    // recorded --eval-crop-pct would claim a transform its evaluation and export never apply.
    if (config.evalCropPct !== undefined && inputs.preprocess.resize === null && inputs.preprocess.crop === null && (!req.explicit || req.explicit.has('evalCropPct'))) {
      const [h, w] = [inputs.shape.height, inputs.shape.width];
      throw new UsageError(
        `${optionName('evalCropPct')} ${config.evalCropPct}: the student takes ${trainDs.spec} at its own size (${h}x${w}), with no resize or crop to evaluate through`,
        `it applies when the student's input is rendered: folder:/list: data, or an ${optionName('inputSize')} other than ${h}x${w}`,
      );
    }
    return await run({ req, config, loss, lossOptions, trainDs, testDs, trainIdx, testIdx, fp, caches, testTeacher, plan, inputs, t0 });
  } finally {
    for (const c of caches) c.close();
    testTeacher?.close();
  }
}

/**
 * --test-cache: a whole cache of a teacher on the test split (data, K and N checked by the reader).
 * One with samples left out (precompute --skip-bad) is refused: every epoch's figures are over the
 * same test samples, and the teacher has no row for some of them.
 */
async function openTestTeacher(dir: string, testDs: Dataset): Promise<CacheReader> {
  const { manifest: m, reader } = await openFidelityCache(dir, testDs, 'testCache', false);
  if (m.skipped?.length) {
    reader.close();
    throw new UsageError(`${optionName('testCache')} ${dir} has no teacher's row for ${m.skipped.length} test sample(s) (precompute --skip-bad could not decode them); the run's test figures are over every test sample`, 'evaluate the fidelity after training instead: tfkd eval RUN --teacher-cache DIR leaves those samples out');
  }
  return reader;
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
  const onnx = isOnnxModelName(config.model) ? onnxModelSpec(config.model, build, { preprocess: config.preprocess, freeze: config.freeze, allowFolded: config.allowFolded, dropPath: config.dropPath, distillToken: config.distillToken }) : null;
  const fromCode = isModuleModelName(config.model) || isCodeModelName(config.model);
  const spec: ModelSpec = onnx ? onnx.spec : fromCode ? await moduleModelSpec(config.model, build) : modelSpec(config.model, build);
  let model: tf.LayersModel;
  try {
    model = onnx ? buildOnnxModel(spec, onnx.graph) : fromCode ? buildFromSpec(spec) : buildModel(config.model, build);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`model ${config.model} cannot take ${shape.height}x${shape.width}x${shape.channels} inputs: ${(e as Error).message.split('\n')[0]}`, `choose a larger ${optionName('inputSize')} or another ${optionName('model')}`);
  }
  const params = countParams(model);
  // Before anything is printed: a --skip-decay name the model lacks is bad input (exit 2, stdout empty).
  let optimizer: TrainOptimizer;
  try {
    optimizer = createTrainOptimizer(config, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  hooks.info?.(`model ${config.model}: ${params.trainable.toLocaleString('en-US')} trainable parameters (${params.total.toLocaleString('en-US')} with BN statistics) · backend ${backend.name} (${backend.detail}) · kernels ${backend.kernels}`);
  if (config.lrBase !== undefined) {
    const global = config.batch * (config.gradAccumSteps ?? 1);
    hooks.info?.(`lr ${config.lr} = ${optionName('lrBase')} ${config.lrBase} × ${config.lrBaseScale === 'sqrt' ? `√(${global} / ${config.lrBaseSize})` : `${global} / ${config.lrBaseSize}`} (${config.lrBaseScale} scaling to the batch of an update)`);
  }
  if (optimizer.decayNote) hooks.info?.(optimizer.decayNote);
  if (optimizer.layerNote) hooks.info?.(optimizer.layerNote);
  const rates = spec.onnx?.dropPath ? dropPathRates(onnxLayerOf(model)!.graph.nodes) : null;
  if (rates) hooks.info?.(`drop path on ${rates.length} residual branches, rates ${rates[0].toPrecision(3)}…${rates[rates.length - 1].toPrecision(3)} (${optionName('dropPath')} ${spec.onnx!.dropPath})`);
  const heads = spec.onnx?.distillToken ? onnxLayerOf(model)!.heads : null;
  if (heads) hooks.info?.(`distillation token: labels on ${heads.clsNode}, the teacher on ${heads.distNode}; evaluation and export use their average (${optionName('distillToken')})`);
  const ema = config.ema !== undefined ? new WeightEma(model, { decay: config.ema, warmup: config.emaWarmup ?? false }) : null;
  try {
    return await loop({ ...prepared, backend, model, spec, params, optimizer, ema });
  } finally {
    ema?.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

