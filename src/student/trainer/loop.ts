/** A JSON file's value (run-dir.ts's bounded read), or null when it is missing or not JSON (the session history is then this session's alone). */
function readJsonOrNull(file: string): unknown {
  try {
    return readJson(file);
  } catch {
    return null;
  }
}

/**
 * The training loop itself, once train.ts has opened the data and caches and built the model:
 * resume point, run manifest and config.json (the commit record), then per epoch the seeded order,
 * the steps (views, soft targets, loss + grads, optimizer, divergence guard), the test evaluation,
 * metrics and checkpoints; summary.json when every epoch is done.
 */
import * as fs from 'node:fs';
import { UsageError, WorkError, optionName } from '../../errors.js';
import type { Dataset } from '../../data/dataset.js';
import { sampleBytes } from '../../data/dataset.js';
import { hashU32, permutation } from '../../data/rng.js';
import { faultPoint } from '../../util/fault.js';
import { evaluate, modelForward, pixelsToFloat } from '../evaluate.js';
import { teacherRowsOf } from '../teacher-cache.js';
import { teacherAccess } from '../losses/index.js';
import { downloadVariables, tf } from '../tf.js';
import { loadWeights, onnxLayerOf, type WeightRecord } from '../zoo/index.js';
import { readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { checkCheckpointAgainstRun } from './integrity.js';
import { checkResumeEpochs, checkResumeSaveAt } from './run-checks.js';
import { learningRate } from './optimizer.js';
import { readJson, readMetrics, runPaths, writeMetrics, type EpochMetrics } from './run-dir.js';
import { epochSteps } from './config.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { applyViews, batchTeacher, viewsFor } from './targets.js';
import { renderedDataset, studentBatchSource, type BatchSource } from './inputs.js';
import { mixedTargets } from './mix-inputs.js';
import { trainingHits } from './hits.js';
import { defaultRenderWorkers } from '../../data/render-pool.js';
import { explosionMessage, LOSS_EXPLOSION_FACTOR } from './divergence.js';
import { emaBestLine, hashCheckpoints, makeSummary, runManifest, sessionHistory, type RunSession } from './record.js';
import type { Built } from './built.js';
import { recoverCheckpoints } from './recovery.js';
import type { TrainRequest, TrainResult } from './request.js';
import { SelfHistory } from './self-history.js';

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
  const run = new TrainLoop(built, source);
  run.resumePoint();
  run.writeRunRecord();
  try {
    return await run.epochs();
  } finally {
    run.history?.close();
  }
}

/** What a step's forward and backward pass gave: the loss and the training hits of the batch. */
interface StepResult {
  loss: number;
  hits: number;
}

/**
 * One session of a run, read top-down: `resumePoint` (where a resumed run starts), `writeRunRecord`
 * (manifest.json, then config.json: the commit record), then `epochs` → `runEpoch` → `trainStep`
 * (the batch's inputs, labels and soft targets → loss + grads → optimizer → divergence guard) and
 * `endEpoch` (evaluation, metrics, checkpoints); `finish` writes summary.json once every epoch is
 * done. The fields are the run's fixed parts (from `Built`) and the state the epochs carry.
 */
class TrainLoop {
  private readonly hooks: NonNullable<TrainRequest['hooks']>;
  private readonly paths: ReturnType<typeof runPaths>;
  private readonly K: number;
  private readonly N: number;
  private readonly B: number;
  /** Batches of --batch per epoch (the last one may be short). */
  private readonly batchesPerEpoch: number;
  /** --grad-accum-steps: batches per optimizer update (1: every batch is one). */
  private readonly A: number;
  /** Optimizer updates per epoch: what the schedule, the EMA, `step` and --save-at steps count. */
  private readonly stepsPerEpoch: number;
  private readonly needsTeacher: boolean;
  // Where the session starts and what it has done (resumePoint, then every step and epoch).
  private startEpoch = 0;
  /** --checkpoint-every: a session resumed inside epoch startEpoch + 1 starts at this batch, with these totals. */
  private startBatch = 0;
  private startTotals = { lossSum: 0, correct: 0, seen: 0 };
  private step = 0;
  private metrics: EpochMetrics[] = [];
  private best = { acc: -1, epoch: 0 };
  /** The divergence guard's reference: the first step's loss in this session (≥ log K). */
  private lossRef: number | null = null;
  /** --distill-token: the student's training output is DeiT's two heads, [N, 2K]. */
  private readonly distillToken: boolean;
  /** --grad-accum-steps: the gradients summed so far in the current update (null between updates). */
  private pending: tf.NamedTensorMap | null = null;
  private manifest: ReturnType<typeof runManifest> | null = null;
  // Buffers reused across steps.
  private readonly sb: number;
  private readonly rawBuf: Uint8Array;
  private readonly viewBuf: Uint8Array;
  private readonly xBuf: Float32Array<ArrayBuffer>;
  private readonly forward: ReturnType<typeof modelForward>;
  private readonly testFace: Dataset;
  /** PS-KD and other losses that learn from the run's own past: last epoch's predictions (self-history.ts). */
  readonly history: SelfHistory | null;

  constructor(
    private readonly built: Built,
    /** Rendered inputs: the samples of step s are decoded and rendered while step s − 1 trains. */
    private readonly source: BatchSource | null,
  ) {
    const { req, config, loss, trainDs, trainIdx, inputs, model } = built;
    this.hooks = req.hooks ?? {};
    this.paths = runPaths(req.out);
    this.K = trainDs.numClasses;
    this.N = trainIdx.length;
    this.B = config.batch;
    ({ batches: this.batchesPerEpoch, steps: this.stepsPerEpoch } = epochSteps(config, this.N));
    this.A = config.gradAccumSteps ?? 1;
    this.distillToken = built.spec.onnx?.distillToken === true;
    this.needsTeacher = teacherAccess(loss.entry, config.logitStandardization) !== 'none';
    this.sb = sampleBytes(inputs.shape);
    this.rawBuf = new Uint8Array(this.B * this.sb);
    this.viewBuf = new Uint8Array(this.B * this.sb);
    this.xBuf = new Float32Array(this.B * this.sb);
    this.forward = modelForward(model, inputs.shape);
    this.testFace = renderedDataset(built.testDs, inputs);
    this.history = loss.entry.selfHistory
      ? new SelfHistory({ run: req.out, config, N: trainDs.size, K: this.K, fingerprint: built.fp, dataSpec: trainDs.spec, dataKind: trainDs.kind, shape: inputs.shape })
      : null;
  }

  /** With --resume: the last checkpoint's weights, optimizer state, epoch, step, best and metrics. */
  resumePoint(): void {
    const { req, model, spec, optimizer } = this.built;
    if (!req.resume) return;
    const paths = this.paths;
    recoverCheckpoints(paths.checkpoints);
    if (!fs.existsSync(paths.checkpoint('last'))) {
      this.hooks.info?.(`resuming ${req.out}: no checkpoint yet, starting from epoch 1`);
      return;
    }
    const ck = readCheckpoint(paths.checkpoint('last'));
    checkCheckpointAgainstRun(paths.checkpoint('last'));
    if (JSON.stringify(ck.spec) !== JSON.stringify(spec)) throw new UsageError(`${optionName('resume')}: checkpoint model ${JSON.stringify(ck.spec)} differs from ${JSON.stringify(spec)}`);
    loadWeights(model, ck.weights);
    if (ck.optimizer) optimizer.setState(ck.optimizer);
    if (this.built.ema) {
      if (!ck.ema) throw new WorkError(`${paths.checkpoint('last')} has no ema.safetensors, but the run keeps an average of its weights (${optionName('ema')})`, 'the checkpoint is damaged: restore it or train again');
      this.built.ema.load(ck.ema);
    }
    this.startEpoch = ck.state.epoch;
    this.step = ck.state.step;
    // train.ts refused too few --epochs from last/state.json already; this is the checkpoint as read.
    checkResumeEpochs(req.out, this.built.config.epochs, ck.state);
    checkResumeSaveAt(req.out, this.built.config.saveAt, { epoch: ck.state.epoch, step: ck.state.step }, (name) => fs.existsSync(paths.checkpoint(name)));
    if (ck.state.batch !== undefined) {
      const t = ck.state.epoch_totals!;
      this.startBatch = ck.state.batch;
      this.startTotals = { lossSum: t.loss_sum, correct: t.correct, seen: t.seen };
    }
    if (ck.state.best_test_acc !== null) this.best = { acc: ck.state.best_test_acc, epoch: ck.state.best_epoch ?? 0 };
    // Lines past the checkpoint (an interruption between writing metrics and last/) are redone.
    this.metrics = readMetrics(paths.metrics).filter((m) => m.epoch <= this.startEpoch);
    this.hooks.info?.(`resuming ${req.out} ${this.startBatch ? `inside epoch ${this.startEpoch + 1}, after batch ${this.startBatch} of ${this.batchesPerEpoch}` : `after epoch ${this.startEpoch}`} (step ${this.step})`);
  }

  /** The run directory: manifest.json, then config.json — the commit record of the run's creation. */
  writeRunRecord(): void {
    const paths = this.paths;
    fs.mkdirSync(paths.checkpoints, { recursive: true });
    // A resumed run with more epochs is no longer finished until it is.
    if (this.startEpoch < this.built.config.epochs) fs.rmSync(paths.summary, { force: true });
    const { config, backend } = this.built;
    const session: RunSession = { after_epoch: this.startEpoch, ...(this.startBatch > 0 ? { after_batch: this.startBatch } : {}), epochs: config.epochs, backend: backend.name, eval_batch: config.evalBatch ?? null };
    // The previous session's record, before this one replaces it (a run is resumed only once config.json exists).
    const prev = fs.existsSync(paths.config) ? { manifest: readJsonOrNull(paths.manifest), config: readJsonOrNull(paths.config) } : null;
    const sessions = sessionHistory(prev, session);
    this.manifest = runManifest(this.built, { N: this.N, stepsPerEpoch: this.stepsPerEpoch, ...(this.A > 1 ? { batchesPerEpoch: this.batchesPerEpoch } : {}), startEpoch: this.startEpoch, startBatch: this.startBatch, sessions });
    writeJsonAtomic(paths.manifest, this.manifest);
    faultPoint('train-manifest');
    // config.json last: the commit record of the run's creation (a start interrupted before it leaves
    // only what the next start removes; after it, the run is resumable).
    // Keys sorted: a resumed run (whose config is re-parsed from the saved one) writes the same bytes.
    const sorted = Object.fromEntries(Object.entries(this.built.config).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    writeJsonAtomic(paths.config, sorted, { beforeRename: () => faultPoint('train-config-tmp') });
    faultPoint('train-created');
  }

  private ckState(epoch: number, st: number, acc: number | null, loss: number | null) {
    const { config, trainDs, inputs } = this.built;
    const best = this.best;
    return {
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
    };
  }

  private evalTest() {
    const { testIdx, config, testTeacher } = this.built;
    return evaluate(this.forward, this.testFace, { indices: testIdx, batch: config.evalBatch, onBatch: this.hooks.onEvalBatch, teacher: testTeacher ? teacherRowsOf(testTeacher) : undefined });
  }

  /** The samples of step `s` of an epoch in `order`. */
  private batchSamples(order: Int32Array, s: number): Int32Array {
    const { B, N } = this;
    const n = Math.min(B, N - s * B);
    const samples = new Int32Array(n);
    for (let k = 0; k < n; k++) samples[k] = this.built.trainIdx[order[s * B + k]];
    return samples;
  }

  /** Rendered inputs of step `s`, fetched ahead (one batch ahead bounds the memory). */
  private readAhead(order: Int32Array, epoch: number, s: number): Promise<Uint8Array | Float32Array> {
    const samples = this.batchSamples(order, s);
    const p = this.source!.fetch(samples, viewsFor(this.built.plan, this.built.config.seed, epoch, samples).student);
    p.catch(() => undefined); // surfaced when awaited
    return p;
  }

  async epochs(): Promise<TrainResult> {
    const { config, req } = this.built;
    const lastEpoch = Math.min(config.epochs, req.stopAfter ?? config.epochs);
    for (let epoch = this.startEpoch; epoch < lastEpoch; epoch++) await this.runEpoch(epoch);
    return this.finish();
  }

  /** One epoch: the seeded order, every step, then `endEpoch`. */
  private async runEpoch(epoch: number): Promise<void> {
    const { config } = this.built;
    const te = Date.now();
    const order = permutation(this.N, hashU32(config.seed, epoch, 0xe0c4));
    // A session resumed inside this epoch (--checkpoint-every) starts at its next batch.
    const s0 = epoch === this.startEpoch ? this.startBatch : 0;
    const totals = s0 > 0 ? { ...this.startTotals } : { lossSum: 0, correct: 0, seen: 0 };
    const lr0 = learningRate(config, epoch * this.stepsPerEpoch, this.stepsPerEpoch);
    this.history?.beginEpoch(epoch + 1, s0 > 0);
    let ahead = this.source ? this.readAhead(order, epoch, s0) : null;
    for (let s = s0; s < this.batchesPerEpoch; s++) {
      const samples = this.batchSamples(order, s);
      const views = viewsFor(this.built.plan, config.seed, epoch, samples);
      let pixels: Uint8Array | Float32Array;
      if (ahead) {
        pixels = await ahead;
        ahead = s + 1 < this.batchesPerEpoch ? this.readAhead(order, epoch, s + 1) : null;
      } else {
        pixels = await this.packedPixels(samples, views.student);
      }
      const group = this.updateGroup(s);
      const r = await this.trainStep(epoch, s, group, samples, views, pixels);
      totals.lossSum += r.loss * samples.length;
      totals.correct += r.hits;
      totals.seen += samples.length;
      if (group.update) {
        this.step++;
        faultPoint('train-step', this.step);
      }
      this.hooks.onStep?.({ epoch: epoch + 1, epochs: config.epochs, step: s + 1, steps: this.batchesPerEpoch, loss: r.loss, imgPerSec: totals.seen / Math.max(1e-3, (Date.now() - te) / 1000) });
      if (group.update) {
        await this.saveStepCheckpoint(epoch, s);
        await this.saveMidEpoch(epoch, s, totals);
      }
    }
    await this.endEpoch(epoch, te, lr0, totals);
  }

  /**
   * --grad-accum-steps A, as timm's train_one_epoch: batch `s` belongs to update ⌊s / A⌋, which has
   * A batches except the epoch's last, which takes those left (so no update spans two epochs and a
   * checkpoint never holds half-summed gradients). `size` divides the loss (timm: loss /= accum_steps);
   * `update`: the group's last batch, where the optimizer steps.
   */
  private updateGroup(s: number): { size: number; update: boolean } {
    const first = s - (s % this.A);
    const size = Math.min(this.A, this.batchesPerEpoch - first);
    return { size, update: s === first + size - 1 };
  }

  /** Packed inputs (fixed-size data at its own size): the batch read, then its views applied. */
  private async packedPixels(samples: Int32Array, studentViews: Int32Array): Promise<Uint8Array> {
    const { trainDs, plan, inputs } = this.built;
    const n = samples.length;
    const raw = await trainDs.readBatch(samples, this.rawBuf.subarray(0, n * this.sb));
    return applyViews(plan, raw, inputs.shape, samples, studentViews, this.viewBuf);
  }

  /** One batch: inputs, labels and soft targets → loss + grads → update (or its share of one), guarded. */
  private async trainStep(epoch: number, s: number, group: { size: number; update: boolean }, samples: Int32Array, views: { student: Int32Array; cache: Int32Array }, pixels: Uint8Array | Float32Array): Promise<StepResult> {
    const { config, trainDs, caches, plan, inputs } = this.built;
    const n = samples.length;
    // Mixed views arrive as floats on [0, 1] already (mix-inputs.ts); their labels are mixed too.
    const xs = pixels instanceof Float32Array ? pixels : pixelsToFloat(pixels, this.xBuf.subarray(0, n * this.sb));
    const mixed = mixedTargets(plan, trainDs, inputs, samples, views.student);
    const cacheViews = views.cache;
    const ys = new Int32Array(n);
    for (let k = 0; k < n; k++) ys[k] = trainDs.labels[samples[k]];
    const teacher = this.needsTeacher ? batchTeacher(caches, samples, cacheViews) : null;
    const previous = this.history?.previous(samples) ?? null;
    const lr = learningRate(config, this.step, this.stepsPerEpoch);
    const r = await this.applyGradients({ epoch, batch: epoch * this.batchesPerEpoch + s, group, xs, ys, mixed, teacher, previous, lr, samples });
    this.checkDivergence(r.loss, epoch, s, samples);
    return r;
  }

  /**
   * The forward and backward pass and the update; training accuracy (and PS-KD's logits) from the
   * same forward pass. With --grad-accum-steps the gradients of loss / group size are summed over
   * the group's batches (timm's loss /= accum_steps, then .backward() into .grad), and the group's
   * last batch updates with the sum; the loss reported stays the batch's own.
   */
  private async applyGradients(b: { epoch: number; batch: number; group: { size: number; update: boolean }; xs: Float32Array; ys: Int32Array; mixed: Float32Array | null; teacher: ReturnType<typeof batchTeacher> | null; previous: Float32Array | null; lr: number; samples: Int32Array }): Promise<StepResult> {
    const { config, model, loss, lossOptions, optimizer, inputs } = this.built;
    const { K, history } = this;
    const shape = inputs.shape;
    const n = b.ys.length;
    // Kept out of the gradient's tidy scope.
    const box: { hits?: tf.Scalar; logits?: tf.Tensor2D; loss?: tf.Scalar } = {};
    // ONNX students draw their Dropout / drop-path masks from the batch's index in the run (so a
    // resumed run draws the same); without accumulation, that is the step.
    onnxLayerOf(model)?.setStep(b.batch);
    const { size, update } = b.group;
    let pending: tf.NamedTensorMap | null = null;
    const [lossT, correctT] = tf.tidy(() => {
      const x = tf.tensor4d(b.xs, [n, shape.height, shape.width, shape.channels], 'float32');
      const y = tf.tensor1d(b.ys, 'int32');
      const prev = b.previous ? (tf.tensor2d(b.previous, [n, K], 'float32') as tf.Tensor2D) : null;
      const targets = b.mixed ? (tf.tensor2d(b.mixed, [n, K], 'float32') as tf.Tensor2D) : null;
      const { value, grads } = tf.variableGrads(() => {
        const out = model.apply(x, { training: true }) as tf.Tensor2D;
        // --distill-token: DeiT's two heads side by side (class, distillation); the model's
        // prediction — what evaluation and export compute — is their average.
        const [logits, distLogits] = this.distillToken ? (tf.split(out, 2, 1) as [tf.Tensor2D, tf.Tensor2D]) : [out, null];
        const predicted = distLogits ? (tf.div(tf.add(logits, distLogits), 2) as tf.Tensor2D) : logits;
        box.hits = tf.keep(trainingHits(predicted, y, targets));
        if (history) box.logits = tf.keep(tf.clone(predicted));
        const l = loss.entry.fn({ tf, logits, ...(distLogits ? { distLogits } : {}), labels: y, ...(targets ? { targets } : {}), teacher: b.teacher, previous: prev, epoch: b.epoch + 1, epochs: config.epochs, step: this.step + 1, options: lossOptions });
        if (size === 1) return l;
        box.loss = tf.keep(l);
        return tf.div(l, size);
      }, optimizer.vars);
      const sum = this.pending ? Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.add(this.pending![k], g)])) : grads;
      if (update) {
        optimizer.apply(sum, b.lr);
        this.built.ema?.update(this.step + 1); // timm: model_ema.update(model, step=num_updates), after the step
      } else {
        pending = sum;
        for (const g of Object.values(sum)) tf.keep(g);
      }
      return [box.loss ?? value, box.hits as tf.Scalar];
    });
    if (this.pending) tf.dispose(this.pending);
    this.pending = pending;
    // The forward pass's logits before the update: next epoch's self-targets (PS-KD's loop).
    if (box.logits) {
      history!.record(b.samples, (await box.logits.data()) as Float32Array);
      box.logits.dispose();
    }
    const lossV = (await lossT.data())[0];
    const hitV = (await correctT.data())[0];
    lossT.dispose();
    correctT.dispose();
    return { loss: lossV, hits: hitV };
  }

  /** The divergence guard: a non-finite loss, or one far above the session's first. */
  private checkDivergence(lossV: number, epoch: number, s: number, samples: Int32Array): void {
    if (this.lossRef === null && Number.isFinite(lossV)) this.lossRef = Math.max(lossV, Math.log(this.K));
    if (Number.isFinite(lossV) && lossV <= LOSS_EXPLOSION_FACTOR * this.lossRef!) return;
    const caches = this.needsTeacher ? this.built.caches : [];
    throw new WorkError(
      explosionMessage(lossV, { epoch: epoch + 1, step: s + 1, globalStep: this.step + 1 }, samples, caches, this.lossRef),
      this.needsTeacher ? 'lower --lr, or check the soft targets (tfkd verify CACHE)' : 'lower --lr',
    );
  }

  /**
   * A step whose loss was finite can still leave non-finite weights (a NaN or ±Inf gradient: the
   * loss guard cannot see it), and such weights must never be evaluated as an epoch nor
   * checkpointed. One reduction over the trainable weights, before each evaluation or checkpoint.
   */
  private async assertFiniteWeights(epoch: number, s: number): Promise<void> {
    const vars = this.built.optimizer.vars;
    // The sum of every weight is finite unless one is not (NaN and ±Inf propagate); tf.isFinite is
    // not used: tfjs-backend-webgpu's flags finite values (zeros, denormals) on some devices.
    const total = tf.tidy(() => tf.addN(vars.map((v) => tf.sum(v))) as tf.Scalar);
    const sum = (await total.data())[0];
    total.dispose();
    if (Number.isFinite(sum)) return;
    // Only then each value, counted exactly (and a sum that overflowed is not a failure).
    let n = 0;
    for (const v of vars) for (const x of (await v.data()) as Float32Array) if (!Number.isFinite(x)) n++;
    if (n === 0) return;
    throw new WorkError(
      `weights became non-finite (${n} value(s) NaN or ±Inf) by epoch ${epoch + 1}, step ${s + 1} (global step ${this.step}), though every loss was finite: a gradient was not`,
      'lower --lr; with a loss module of your own, check its gradient where its value is flat (a norm or sqrt at 0)',
    );
  }

  /** `--save-at steps:…`: a checkpoint (with its test accuracy) after the steps named. */
  private async saveStepCheckpoint(epoch: number, s: number): Promise<void> {
    const { config, model, spec } = this.built;
    const step = this.step;
    if (config.saveAt?.unit !== 'step' || !config.saveAt.at.includes(step)) return;
    await this.assertFiniteWeights(epoch, s);
    const r = await this.evalTest();
    const name = `step-${step}`;
    await saveCheckpoint(this.paths.checkpoint(name), model, spec, this.ckState(epoch, step, r.accuracy, r.loss), null, (await this.built.ema?.record()) ?? null);
    writeJsonAtomic(this.paths.checkpoint(`${name}.json`), { step, epoch: epoch + (s + 1) / this.batchesPerEpoch, test_acc: r.accuracy, test_loss: r.loss });
  }

  /**
   * --checkpoint-every N: last/ after every N-th step that does not end its epoch (that one's
   * last/ comes with the evaluation), with the position in the epoch and its running totals; the
   * self-history rows written so far are made durable first. Nothing is evaluated: no numbers move.
   */
  private async saveMidEpoch(epoch: number, s: number, totals: { lossSum: number; correct: number; seen: number }): Promise<void> {
    const every = this.built.config.checkpointEvery;
    if (every === undefined || this.step % every !== 0 || s === this.batchesPerEpoch - 1) return;
    await this.assertFiniteWeights(epoch, s);
    this.history?.flush();
    const st = { ...this.ckState(epoch, this.step, null, null), batch: s + 1, epoch_totals: { loss_sum: totals.lossSum, correct: totals.correct, seen: totals.seen } };
    await this.saveLast(st, (await this.built.ema?.record()) ?? null);
    faultPoint('train-mid-epoch', this.step);
  }

  /** last/: the weights, the optimizer's state (what --resume needs beyond any checkpoint) and the average. */
  private async saveLast(st: Parameters<typeof saveCheckpoint>[3], avg: WeightRecord | null): Promise<void> {
    const { model, spec, optimizer } = this.built;
    await downloadVariables(); // webgpu: getState reads the optimizer's slots synchronously (tf.ts)
    await saveCheckpoint(this.paths.checkpoint('last'), model, spec, st, optimizer.getState(), avg);
  }

  /** After the last step of an epoch: self-history, evaluation, metrics, best/epoch/last checkpoints. */
  private async endEpoch(epoch: number, te: number, lr0: number, totals: { lossSum: number; correct: number; seen: number }): Promise<void> {
    const { config, model, spec } = this.built;
    const { paths, history } = this;
    if (history) {
      history.commitEpoch(epoch + 1);
      faultPoint('train-history-committed', epoch + 1);
    }
    await this.assertFiniteWeights(epoch, this.batchesPerEpoch - 1);
    const r = await this.evalTest();
    const ema = this.built.ema;
    const re = ema ? await ema.withAverage(() => this.evalTest()) : null;
    const line: EpochMetrics = {
      epoch: epoch + 1,
      step: this.step,
      train_loss: totals.lossSum / totals.seen,
      train_acc: totals.correct / totals.seen,
      test_loss: r.loss,
      test_acc: r.accuracy,
      test_ece: r.ece,
      ...(r.fidelity ? { test_agreement: r.fidelity.agreement, test_kl: r.fidelity.kl } : {}),
      ...(re ? { ema_test_loss: re.loss, ema_test_acc: re.accuracy, ema_test_ece: re.ece } : {}),
      ...(re?.fidelity ? { ema_test_agreement: re.fidelity.agreement, ema_test_kl: re.fidelity.kl } : {}),
      lr: lr0,
      seconds: (Date.now() - te) / 1000,
    };
    this.metrics.push(line);
    const improved = r.accuracy > this.best.acc;
    if (improved) this.best = { acc: r.accuracy, epoch: epoch + 1 };
    writeMetrics(paths.metrics, this.metrics);
    const st = { ...this.ckState(epoch + 1, this.step, r.accuracy, r.loss), ...(re ? { ema_test_acc: re.accuracy, ema_test_loss: re.loss } : {}) };
    const avg = (await ema?.record()) ?? null;
    if (improved) await saveCheckpoint(paths.checkpoint('best'), model, spec, st, null, avg);
    // best-ema/: the epoch whose average tested best (summary.json's ema_best_epoch), as timm's
    // checkpoint saver ranks epochs by the EMA's accuracy when the EMA is on.
    if (re && emaBestLine(this.metrics) === line) await saveCheckpoint(paths.checkpoint('best-ema'), model, spec, st, null, avg);
    if (config.saveAt?.unit === 'epoch' && config.saveAt.at.includes(epoch + 1)) {
      const name = `epoch-${epoch + 1}`;
      await saveCheckpoint(paths.checkpoint(name), model, spec, st, null, avg);
      writeJsonAtomic(paths.checkpoint(`${name}.json`), { epoch: epoch + 1, step: this.step, test_acc: r.accuracy, test_loss: r.loss, ...(re ? { ema_test_acc: re.accuracy, ema_test_loss: re.loss } : {}) });
    }
    await this.saveLast(st, avg);
    history?.dropBefore(epoch + 1);
    faultPoint('train-epoch', epoch + 1);
    this.hooks.onEpoch?.(line, this.best);
  }

  /** summary.json (only once every epoch is done) and the manifest's end of session. */
  private finish(): TrainResult {
    const { req, config, backend, params, t0 } = this.built;
    const metrics = this.metrics;
    const complete = metrics.length > 0 && metrics[metrics.length - 1].epoch >= config.epochs;
    const summary = makeSummary(config, metrics, this.best, backend, params.trainable);
    // summary.json is the run's commit record (experiments reuse a run that has one): written last,
    // and only once every epoch is done.
    if (complete) writeJsonAtomic(this.paths.summary, summary);
    const seconds = (Date.now() - t0) / 1000;
    const manifest = this.manifest!;
    manifest.finished = new Date().toISOString();
    manifest.seconds = seconds;
    manifest.outputs = hashCheckpoints(req.out);
    writeJsonAtomic(this.paths.manifest, manifest);
    return { out: req.out, config, summary, metrics, backend, params: params.trainable, complete, seconds };
  }
}
