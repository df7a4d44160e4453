/**
 * The training loop itself, once train.ts has opened the data and caches and built the model:
 * resume point, run manifest and config.json (the commit record), then per epoch the seeded order,
 * the steps (views, soft targets, loss + grads, optimizer, divergence guard), the test evaluation,
 * metrics and checkpoints; summary.json when every epoch is done.
 */
import * as fs from 'node:fs';
import { UsageError, WorkError, optionName } from '../../errors.js';
import type { CacheReader } from '../../cache/reader.js';
import type { Dataset } from '../../data/dataset.js';
import { sampleBytes } from '../../data/dataset.js';
import { hashU32, permutation } from '../../data/rng.js';
import type { BackendInfo } from '../backend.js';
import { faultPoint } from '../../util/fault.js';
import { evaluate, modelForward, pixelsToFloat } from '../evaluate.js';
import { teacherAccess, type LossOptions } from '../losses/index.js';
import { downloadVariables, tf } from '../tf.js';
import { loadWeights, type countParams, type ModelSpec } from '../zoo/index.js';
import { readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { checkCheckpointAgainstRun } from './integrity.js';
import type { TrainConfig } from './config.js';
import { learningRate, type TrainOptimizer } from './optimizer.js';
import { readMetrics, runPaths, writeJsonAtomic, writeMetrics, type EpochMetrics, type Summary } from './run-dir.js';
import { applyViews, batchTeacher, viewsFor, type ViewPlan } from './targets.js';
import { renderedDataset, studentBatchSource, type BatchSource, type StudentInputs } from './inputs.js';
import { mixedTargets } from './mix-inputs.js';
import { defaultRenderWorkers } from '../../data/render-pool.js';
import { explosionMessage, LOSS_EXPLOSION_FACTOR } from './divergence.js';
import { cacheRecord, hashCheckpoints, nativeThreads, versions } from './record.js';
import { recoverCheckpoints } from './recovery.js';
import type { TrainRequest, TrainResult } from './request.js';
import type { ResolvedLoss } from './resolve.js';
import { SelfHistory } from './self-history.js';

/** What `train` has resolved and opened before the backend and model exist. */
export interface Prepared {
  req: TrainRequest;
  config: TrainConfig;
  loss: ResolvedLoss;
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
export interface Built extends Prepared {
  backend: BackendInfo;
  model: tf.LayersModel;
  spec: ModelSpec;
  params: ReturnType<typeof countParams>;
  optimizer: TrainOptimizer;
}

/** Runs the epochs of a built run (train.ts's run() disposes of the model and optimizer after). */
export async function loop(built: Built): Promise<TrainResult> {
  // Rendered inputs (folders, lists, boxes): decoded + rendered ahead of the step (inputs.ts).
  const source = built.inputs.rendered ? studentBatchSource(built.trainDs, built.inputs, built.plan, built.req.renderWorkers ?? defaultRenderWorkers()) : null;
  try {
    return await runEpochs(built, source);
  } finally {
    await source?.close();
  }
}

async function runEpochs(built: Built, source: BatchSource | null): Promise<TrainResult> {
  const { req, config, loss, lossOptions, trainDs, testDs, trainIdx, testIdx, fp, caches, plan, inputs, t0, backend, model, spec, params, optimizer } = built;
  const hooks = req.hooks ?? {};
  const paths = runPaths(req.out);
  const K = trainDs.numClasses;
  const shape = inputs.shape;
  const trainable = optimizer.vars;

  const N = trainIdx.length;
  const B = config.batch;
  const stepsPerEpoch = Math.ceil(N / B);
  const needsTeacher = teacherAccess(loss.entry, config.logitStandardization) !== 'none';

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
      if (JSON.stringify(ck.spec) !== JSON.stringify(spec)) throw new UsageError(`${optionName('resume')}: checkpoint model ${JSON.stringify(ck.spec)} differs from ${JSON.stringify(spec)}`);
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
    backend: { name: backend.name, detail: backend.detail, kernels: backend.kernels, requested: backend.requested, why: backend.why, nativeThreads: nativeThreads(backend), ...(backend.adapter ? { adapter: backend.adapter } : {}) },
    versions: versions(),
    data: { spec: trainDs.spec, kind: trainDs.kind, fingerprint: fp, train: trainDs.size, test: testDs.size, numClasses: K, shape },
    model: spec,
    params,
    loss: { name: config.loss, entry: loss.entry.name, source: loss.source, options: lossOptions },
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
  // Rendered inputs: the samples of step s of an epoch are decoded and rendered while step s − 1
  // trains (render workers, or the libuv pool); one batch ahead bounds the memory.
  const batchSamples = (order: Int32Array, s: number): Int32Array => {
    const n = Math.min(B, N - s * B);
    const samples = new Int32Array(n);
    for (let k = 0; k < n; k++) samples[k] = trainIdx[order[s * B + k]];
    return samples;
  };
  const readAhead = (order: Int32Array, epoch: number, s: number) => {
    const samples = batchSamples(order, s);
    const p = source!.fetch(samples, viewsFor(plan, config.seed, epoch, samples).student);
    p.catch(() => undefined); // surfaced when awaited
    return p;
  };

  // PS-KD and other losses that learn from the run's own past: last epoch's predictions (self-history.ts).
  const history = loss.entry.selfHistory
    ? new SelfHistory({ run: req.out, config, N: trainDs.size, K, fingerprint: fp, dataSpec: trainDs.spec, dataKind: trainDs.kind, shape })
    : null;
  try {
    return await epochs();
  } finally {
    history?.close();
  }

  async function epochs(): Promise<TrainResult> {
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
      history?.beginEpoch(epoch + 1);
      let ahead = source ? readAhead(order, epoch, 0) : null;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const samples = batchSamples(order, s);
        const n = samples.length;
        const views = viewsFor(plan, config.seed, epoch, samples);
        let pixels: Uint8Array | Float32Array;
        if (ahead) {
          pixels = await ahead;
          ahead = s + 1 < stepsPerEpoch ? readAhead(order, epoch, s + 1) : null;
        } else {
          const raw = await trainDs.readBatch(samples, rawBuf.subarray(0, n * sb));
          pixels = applyViews(plan, raw, shape, samples, views.student, viewBuf);
        }
        // Mixed views arrive as floats on [0, 1] already (mix-inputs.ts); their labels are mixed too.
        const xs = pixels instanceof Float32Array ? pixels : pixelsToFloat(pixels, xBuf.subarray(0, n * sb));
        const mixed = mixedTargets(plan, trainDs, inputs, samples, views.student);
        const ys = new Int32Array(n);
        for (let k = 0; k < n; k++) ys[k] = trainDs.labels[samples[k]];
        const teacher = needsTeacher ? batchTeacher(caches, samples, views.cache) : null;
        const previous = history?.previous(samples) ?? null;
        const lr = learningRate(config, step, stepsPerEpoch);

        // Training accuracy (and, for PS-KD, the logits) come from the same forward pass, kept out of the gradient's tidy scope.
        const box: { hits?: tf.Scalar; logits?: tf.Tensor2D } = {};
        const [lossT, correctT] = tf.tidy(() => {
          const x = tf.tensor4d(xs, [n, shape.height, shape.width, shape.channels], 'float32');
          const y = tf.tensor1d(ys, 'int32');
          const prev = previous ? (tf.tensor2d(previous, [n, K], 'float32') as tf.Tensor2D) : null;
          const targets = mixed ? (tf.tensor2d(mixed, [n, K], 'float32') as tf.Tensor2D) : null;
          const { value, grads } = tf.variableGrads(() => {
            const logits = model.apply(x, { training: true }) as tf.Tensor2D;
            box.hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')) as tf.Scalar);
            if (history) box.logits = tf.keep(tf.clone(logits));
            return loss.entry.fn({ tf, logits, labels: y, ...(targets ? { targets } : {}), teacher, previous: prev, epoch: epoch + 1, epochs: config.epochs, step: step + 1, options: lossOptions });
          }, trainable);
          optimizer.apply(grads, lr);
          return [value, box.hits as tf.Scalar];
        });
        // The forward pass's logits before the update: next epoch's self-targets (PS-KD's loop).
        if (box.logits) {
          history!.record(samples, (await box.logits.data()) as Float32Array);
          box.logits.dispose();
        }
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

      if (history) {
        history.commitEpoch(epoch + 1);
        faultPoint('train-history-committed', epoch + 1);
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
      await downloadVariables(); // webgpu: getState reads the optimizer's slots synchronously (tf.ts)
      await saveCheckpoint(paths.checkpoint('last'), model, spec, st, optimizer.getState());
      history?.dropBefore(epoch + 1);
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
