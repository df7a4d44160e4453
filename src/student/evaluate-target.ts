/**
 * Evaluation of a model named by its path — a run directory, a checkpoint directory, an ONNX
 * file or a soft-target cache — on a data spec: what `tfkd eval` and the library's `evaluate()`
 * do. A run is rebuilt in tfjs from its checkpoint (verified against the run's record) and fed
 * through its own eval transform; an ONNX model goes through a teacher session, with the
 * preprocessing it records or the one given; a cache is its teacher as recorded — the view-0 rows
 * of the samples, read (and checked) by the cache reader, with no inference, after the data set's
 * fingerprint has been matched against the cache's. All end in evaluate.ts's scoring, so they
 * agree on the same model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkIntegerOptions, optionName, UsageError, WorkError } from '../errors.js';
import { cacheManifestIn, type Manifest } from '../cache/manifest.js';
import { fingerprint } from '../data/fingerprint.js';
import { classNamesDiffer, type Dataset } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { hashU32, subset } from '../data/rng.js';
import { openTeacher } from '../teacher/session.js';
import { renderSpecOf, type PartialPreprocess } from '../teacher/preprocess.js';
import type { PreprocessSpec } from '../teacher/types.js';
import type { TeacherDevice as Device } from '../catalog.js';
import { selectBackend } from './backend.js';
import { getSettings } from '../settings.js';
import { type BackendChoice } from '../catalog.js';
import { evaluate, modelForward, type EvalResult, type EvaluateOptions, type Forward, type TeacherRows } from './evaluate.js';
import { loadCheckpointModel, readCheckpoint, resolveCheckpointDir } from './trainer/checkpoint.js';
import { prepareModelSpec } from './zoo/index.js';
import { checkCheckpointAgainstRun, readRunJson, readRunRecord } from './trainer/integrity.js';
import { readableDir, runOfCheckpoint, runPaths, trainIndices } from './trainer/run-dir.js';
import { renderedDataset } from './trainer/inputs.js';
import { openCacheFor, openFidelityCache, skippedSamples, teacherRowsOf } from './teacher-cache.js';

export interface EvaluateTargetOptions {
  /** Data spec (as for training). */
  data: string;
  /** Split. Default: 'test'. */
  split?: 'train' | 'test';
  /**
   * Runs: the checkpoint, best | best-ema | last | epoch-N | step-N. Default: 'best' ('best-ema' with `ema`, where the run has one).
   * A checkpoint directory takes only its own name. Options another kind of target reads (this, `backend`, `device`,
   * `preprocess`, `classMap`, `teacherLabels`) are refused when set for a target that does not (UsageError).
   */
  checkpoint?: string;
  /** Runs trained with --ema: the checkpoint's average of the weights. */
  ema?: boolean;
  /** Batch size. Default: 256. */
  batch?: number;
  /** Evaluate a seeded subset of this many samples. Default: all. */
  limit?: number;
  /** Seed of the `limit` subset (refused without `limit`). Default: 0. */
  seed?: number;
  /** Runs: the tfjs backend. Default: 'auto'. */
  backend?: BackendChoice;
  /** ONNX models: the execution device. Default: 'auto'. */
  device?: Device;
  /** ONNX models: preprocessing when the model does not record it ('imagenet', 'timm:FILE', 'hf:FILE', JSON, or a spec). */
  preprocess?: PreprocessSpec | PartialPreprocess | string;
  /** ONNX models: the teacher output of each data class (as for precompute). */
  classMap?: string;
  /** ONNX models: class names of the model's outputs, for a class map by name. */
  teacherLabels?: string;
  /**
   * Runs trained on a seeded subset (`--limit`): evaluate the train-split samples the run did not
   * train on (implies split 'train'; `limit` then picks among them). Default: false.
   */
  unseen?: boolean;
  /** Divide the logits by this T > 0 before scoring (temperature scaling). Default: 1. */
  temperature?: number;
  /** Also fit the NLL-minimising temperature over the evaluated samples (the report's temperatureFit). */
  fitTemperature?: boolean;
  /**
   * A cache of a teacher's outputs on the same data and split: the report gains `fidelity`, the
   * model's top-1 agreement with that teacher and the mean KL(teacher ‖ model) (Stanton et al. 2021).
   */
  teacherCache?: string;
  /** Called after each batch with (done, total). */
  onBatch?: (done: number, total: number) => void;
}

export interface EvalReport extends EvalResult {
  target: string;
  kind: 'run' | 'onnx' | 'cache';
  /** The checkpoint directory evaluated (runs), or null (ONNX, caches). */
  checkpoint: string | null;
  data: string;
  split: 'train' | 'test';
  /** e.g. 'tfjs wasm', 'onnxruntime cpu', or for a cache 'cache (onnxruntime cpu at precompute)'. */
  runtime: string;
  /** With `unseen`: the train-split samples the run trained on (left out) and those it did not (the pool `n` was drawn from). */
  unseen?: { trained: number; pool: number };
  /** Caches: the teacher file, the cache key, its top-k (null: every logit) and the samples left out (precompute --skip-bad). */
  cache?: { teacher: string; key: string; topk: number | null; views: number; skipped: number };
  /** With `teacherCache`: that cache (its teacher file, key, top-k) and the samples left out because it has no row for them. */
  teacherCache?: { dir: string; teacher: string; key: string; topk: number | null; views: number; skipped: number };
}

/** A model opened for evaluation: how to run it, on which data, and how to let it go. */
interface OpenedModel {
  forward: Forward;
  /** Variable-size images the model renders itself (ONNX models with their own preprocessing). */
  images?: EvaluateOptions['images'];
  /** The data set as the model takes it (a run's own eval transform applied). */
  evalDs: Dataset;
  /** Logits by sample index (a cache): no pixels read. */
  rows?: EvaluateOptions['rows'];
  /** The checkpoint directory (runs), or null (ONNX, caches). */
  checkpoint: string | null;
  runtime: string;
  close(): Promise<void>;
}

/**
 * A cache as a model: its teacher's view-0 rows (the un-augmented image), after the data set's
 * fingerprint, split, K and N have been checked against the cache's (the reader's own checks).
 */
async function openCacheModel(dir: string, m: Manifest, ds: Dataset): Promise<OpenedModel> {
  const reader = await openCacheFor(dir, m, ds, 'cache', {
    why: `${optionName('split')} ${ds.split} asks for another`,
    fix: `leave out ${optionName('split')} (a cache is evaluated on its own split), or precompute a cache of the ${ds.split} split`,
  });
  return {
    forward: () => {
      throw new Error('a cache is read by rows');
    },
    rows: (idx) => reader.readLogits(idx, new Int32Array(idx.length)),
    evalDs: ds,
    checkpoint: null,
    runtime: `cache (onnxruntime ${m.runtime.provider} at precompute)`,
    close: async () => reader.close(),
  };
}

/** --teacher-cache: the teacher's rows by sample, for evaluate.ts. */
interface TeacherSource {
  manifest: Manifest;
  rows: (idx: Int32Array) => TeacherRows;
  close(): void;
}

async function openTeacherCache(dir: string, ds: Dataset): Promise<TeacherSource> {
  const { manifest, reader } = await openFidelityCache(dir, ds, 'teacherCache', true);
  return { manifest, rows: teacherRowsOf(reader), close: () => reader.close() };
}

/** An ONNX file through a teacher session, with the preprocessing it records or the one given. */
async function openOnnx(target: string, ds: Dataset, o: EvaluateTargetOptions): Promise<OpenedModel> {
  const t = await openTeacher(target, {
    device: o.device ?? 'auto',
    preprocess: o.preprocess,
    classMap: o.classMap,
    teacherLabels: o.teacherLabels,
    data: { shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames, variableSize: ds.variableSize },
  });
  return {
    forward: (pixels, n) => t.run(pixels, n),
    // Variable-size images are rendered by the model's own preprocessing (resize + crop).
    images: ds.variableSize ? { mode: t.preprocess.channels === 'L' ? 'L' : 'RGB', forward: (imgs) => t.runImages(imgs) } : undefined,
    evalDs: ds,
    checkpoint: null,
    runtime: `onnxruntime ${t.info.provider}`,
    close: () => t.close(),
  };
}

/** A run's checkpoint (verified against the run's record) rebuilt in tfjs, fed through its own eval transform. */
async function openRun(dir: string, ds: Dataset, o: EvaluateTargetOptions): Promise<OpenedModel> {
  const ck = readCheckpoint(dir, { ema: o.ema });
  checkCheckpointAgainstRun(dir);
  const [h, w, c] = ck.spec.inputShape;
  // A student trained on rendered images (folders, an input size) evaluates through its own
  // eval transform, recorded in the checkpoint.
  const pre = ck.state.preprocess;
  let evalDs = ds;
  if ((ds.variableSize || pre.resize || pre.crop) && pre.resize !== undefined) {
    evalDs = renderedDataset(ds, { shape: { height: h, width: w, channels: c }, rendered: true, side: { eval: renderSpecOf(pre), size: [h, w] }, preprocess: pre });
  }
  const { height, width, channels } = evalDs.shape;
  if (h !== height || w !== width || c !== channels || ck.spec.numClasses !== ds.numClasses) {
    throw new UsageError(
      `${dir}: the model takes ${h}x${w}x${c} images and K = ${ck.spec.numClasses}; ${ds.spec} has ${height}x${width}x${channels} and K = ${ds.numClasses}`,
    );
  }
  const differ = classNamesDiffer(ck.state.classNames, dir, ds.classNames, ds.spec);
  if (differ) throw new UsageError(`${dir} was trained on other classes than ${ds.spec}'s: ${differ}`, 'evaluate it on data with the classes it was trained on');
  // The library's configure({ backend }) is the default a call without one gets (the CLI sets none).
  const backend = await selectBackend(o.backend ?? getSettings().backend ?? 'auto');
  await prepareModelSpec(ck.spec);
  const model = loadCheckpointModel(ck);
  return {
    forward: modelForward(model, evalDs.shape),
    evalDs,
    checkpoint: dir,
    runtime: `tfjs ${backend.name}`,
    close: async () => {
      model.dispose();
    },
  };
}

/**
 * Every output is checked: NaN/Inf logits score as "class 0" and a NaN loss, a figure that looks
 * like a result. A model that produces any is reported instead (exit 1), with how many.
 */
class NonFiniteCount {
  outputs = 0;
  bad = 0;
  samples = 0;

  constructor(private readonly numClasses: number) {}

  /** `logits` ([n, K]) unchanged, counted. */
  readonly count = (logits: Float32Array): Float32Array => {
    const K = this.numClasses;
    this.outputs += logits.length;
    for (let r = 0; r < logits.length; r += K) {
      let rowBad = 0;
      for (let k = r; k < r + K && k < logits.length; k++) if (!Number.isFinite(logits[k])) rowBad++;
      this.bad += rowBad;
      if (rowBad) this.samples++;
    }
    return logits;
  };

  /** The model's forward passes, with their outputs counted. */
  watch(m: OpenedModel): { forward: Forward; images: EvaluateOptions['images']; rows: EvaluateOptions['rows'] } {
    const { images, rows } = m;
    return {
      forward: async (pixels, n) => this.count(await m.forward(pixels, n)),
      images: images && { mode: images.mode, forward: async (x) => this.count(await images.forward(x)) },
      rows: rows && ((idx) => this.count(rows(idx))),
    };
  }

  /** WorkError when any output was not finite; `isOnnx` picks the advice. */
  check(label: string, n: number, isOnnx: boolean): void {
    if (this.bad === 0) return;
    throw new WorkError(
      `${label}: ${this.bad} of ${this.outputs} outputs were not finite (NaN or ±Inf), in ${this.samples} of ${n} samples; no accuracy is reported`,
      isOnnx ? 'check the model (tfkd precompute refuses it as a teacher for the same reason)' : 'the weights hold NaN/Inf: evaluate another checkpoint, or train again',
    );
  }
}

/** The run a run directory or one of its checkpoint directories belongs to, or null. */
function runOf(target: string): string | null {
  if (fs.existsSync(runPaths(target).config)) return target;
  const run = runOfCheckpoint(path.resolve(target));
  return run && fs.existsSync(runPaths(run).config) ? run : null;
}

/**
 * The train-split samples the run at `target` did not train on: the complement of its seeded
 * `--limit` subset (run-dir.ts trainIndices, as the trainer drew it), once the data set has been
 * matched against the fingerprint the run recorded.
 */
async function unseenIndices(target: string, ds: Dataset): Promise<{ indices: Int32Array; trained: number }> {
  const run = runOf(target);
  if (!run) throw new UsageError(`${optionName('unseen')}: ${target} is not a run directory or one of its checkpoints, so no record says which samples it trained on`);
  const config = readRunJson<{ limit?: number | null; seed?: number }>(runPaths(run).config);
  if (config.limit === null || config.limit === undefined) {
    throw new UsageError(`${optionName('unseen')}: ${run} trained on every sample of the train split (no --limit); there is nothing it did not see`, 'evaluate it on the test split, or on a folder it never saw');
  }
  const recorded = readRunRecord(run)?.data?.fingerprint;
  const fp = await fingerprint(ds);
  if (recorded !== fp) {
    throw new UsageError(`${optionName('unseen')}: ${ds.spec} is not the data ${run} trained on (fingerprint ${fp.slice(0, 12)}…, the run recorded ${recorded ? `${recorded.slice(0, 12)}…` : 'none'})`);
  }
  const trained = trainIndices(ds.size, config.limit, config.seed ?? 0);
  const seen = new Uint8Array(ds.size);
  for (const i of trained) seen[i] = 1;
  return { indices: Int32Array.from({ length: ds.size }, (_, i) => i).filter((i) => !seen[i]), trained: trained.length };
}

/**
 * Options that do nothing for this kind of target, refused (UsageError) rather than ignored: a run
 * is rebuilt in tfjs (`backend`, `checkpoint`) through its own eval transform; an ONNX file runs on
 * onnxruntime (`device`) with its recorded or given preprocessing and class map; a cache is its
 * rows, with no inference at all. Only options the caller set: those left undefined are defaults
 * (configure({ backend }) included: openRun reads it).
 */
function refuseOptionsOf(kind: 'run' | 'onnx' | 'cache', target: string, o: EvaluateTargetOptions): void {
  const given = (name: keyof EvaluateTargetOptions): boolean => o[name] !== undefined;
  const refuse = (name: keyof EvaluateTargetOptions, why: string, hint: string): void => {
    if (given(name)) throw new UsageError(`${optionName(name)} ${why}`, hint);
  };
  const leaveOut = (name: keyof EvaluateTargetOptions) => `leave out ${optionName(name)}`;
  if (kind === 'onnx') {
    refuse('checkpoint', `applies to runs: ${target} is an ONNX file, one model with no checkpoints`, `${leaveOut('checkpoint')}, or evaluate the run it was exported from`);
    refuse('backend', `applies to runs (the tfjs backend): ${target} is an ONNX file, run on onnxruntime`, `${leaveOut('backend')}; onnxruntime's device is ${optionName('device')}`);
    // As precompute refuses it: the teacher's class names are read only by a class map by name.
    if (o.classMap === undefined) refuse('teacherLabels', `needs ${optionName('classMap')}: the teacher's class names are read only to map data classes to teacher outputs by name`, `e.g. ${optionName('classMap')} names, or ${leaveOut('teacherLabels')}`);
  } else if (kind === 'cache') {
    for (const name of ['checkpoint', 'backend', 'device', 'preprocess', 'classMap', 'teacherLabels'] as const) {
      refuse(name, "does not apply to a cache: its rows are the teacher's outputs as recorded", `${leaveOut(name)}: a cache is scored from its rows, with no inference`);
    }
  } else {
    const tfjs = `${target} is a run (or one of its checkpoints), rebuilt in tfjs`;
    refuse('device', `applies to ONNX models (onnxruntime's device): ${tfjs}`, `${leaveOut('device')}; the tfjs backend is ${optionName('backend')}`);
    refuse('preprocess', `applies to ONNX models: ${tfjs} and fed through the eval transform recorded in its checkpoint`, leaveOut('preprocess'));
    for (const name of ['classMap', 'teacherLabels'] as const) {
      refuse(name, `applies to ONNX models: ${tfjs}, whose outputs are the classes it was trained on`, leaveOut(name));
    }
  }
}

/** Top-1/top-5 accuracy, mean cross-entropy, calibration and confusion matrix of the model at `target`. */
export async function evaluateTarget(target: string, o: EvaluateTargetOptions): Promise<EvalReport> {
  // A checkpoint directory given itself may be mid-swap: its `.old-` copy is read (checkpoint.ts).
  const midSwap = (): boolean => runOfCheckpoint(path.resolve(target)) !== null && readableDir(target) !== null;
  if (!fs.existsSync(target) && !midSwap()) throw new UsageError(`${target}: no such file or directory`);
  // The library's edge: a batch of 0 would never advance (the CLI's schema refuses it too).
  checkIntegerOptions(o, { batch: 1, limit: 1, seed: 0 });
  if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) {
    throw new UsageError(`${optionName('temperature')} ${o.temperature}: must be a number > 0`);
  }
  if (o.temperature !== undefined && o.fitTemperature) {
    throw new UsageError(`${optionName('temperature')} and ${optionName('fit-temperature')} exclude each other`, 'fit a temperature on one data set, then apply it to another with --temperature');
  }
  const isOnnx = fs.statSync(target, { throwIfNoEntry: false })?.isFile() === true;
  const cm = isOnnx ? null : cacheManifestIn(target);
  if (o.ema && (isOnnx || cm)) throw new UsageError(`${optionName('ema')} applies to runs: the average of the weights is a run's, kept in its checkpoints`);
  if (o.unseen && (isOnnx || cm)) throw new UsageError(`${optionName('unseen')} applies to runs: which samples a model trained on is a run's record`);
  if (o.unseen && o.split === 'test') throw new UsageError(`${optionName('unseen')} takes train-split samples the run did not train on; it does not go with ${optionName('split')} test`);
  if (o.seed !== undefined && o.limit === undefined) {
    throw new UsageError(`${optionName('seed')} picks the ${optionName('limit')} subset; without ${optionName('limit')} every sample is evaluated`, `add ${optionName('limit')} N, or leave out ${optionName('seed')}`);
  }
  // A run's checkpoint, resolved before any data is read: a directory that is no run, or a
  // checkpoint that is not there, is refused here.
  const runCheckpoint = isOnnx || cm ? null : resolveCheckpointDir(target, o.checkpoint, { ema: o.ema });
  refuseOptionsOf(isOnnx ? 'onnx' : cm ? 'cache' : 'run', target, o);
  // A cache is evaluated on the split it was made from, unless another is asked for (and refused).
  const split = o.split ?? (o.unseen ? 'train' : (cm?.data.split ?? 'test'));
  const ds = await openDataset(o.data, { split });
  const unseen = o.unseen ? await unseenIndices(target, ds) : null;
  const pool = unseen?.indices;
  const size = pool ? pool.length : ds.size;
  if (o.limit !== undefined && o.limit > size) {
    throw new UsageError(`${optionName('limit')} ${o.limit} exceeds the ${size} ${pool ? 'unseen samples' : 'samples'} of the ${split} split`);
  }
  const teacher = o.teacherCache === undefined ? null : await openTeacherCache(o.teacherCache, ds);
  try {
    // Samples a precompute --skip-bad could not decode have zero rows, not the teacher's: left out
    // (those of the evaluated cache, and those of the teacher's when fidelity is measured).
    const skipped = skippedSamples(cm);
    const teacherSkipped = skippedSamples(teacher?.manifest);
    const picked = o.limit === undefined ? undefined : subset(size, o.limit, hashU32(o.seed ?? 0, 0xe7a1));
    let indices = pool ? (picked ? picked.map((i) => pool[i]) : pool) : picked;
    if (skipped.size || teacherSkipped.size) {
      indices = (indices ?? Int32Array.from({ length: ds.size }, (_, i) => i)).filter((i) => !skipped.has(i) && !teacherSkipped.has(i));
    }
    const m = isOnnx ? await openOnnx(target, ds, o) : cm ? await openCacheModel(target, cm, ds) : await openRun(runCheckpoint!, ds, o);
    const counted = new NonFiniteCount(ds.numClasses);
    const { forward, images, rows } = counted.watch(m);
    let r: EvalResult;
    try {
      r = await evaluate(forward, m.evalDs, { indices, batch: o.batch ?? 256, images, rows, onBatch: o.onBatch, temperature: o.temperature, fitTemperature: o.fitTemperature, teacher: teacher?.rows });
    } finally {
      await m.close();
    }
    counted.check(m.checkpoint ?? target, r.n, isOnnx);
    const kind = isOnnx ? 'onnx' : cm ? 'cache' : 'run';
    const cache = cm ? { cache: { teacher: cm.teacher.file, key: cm.key, topk: cm.topk, views: cm.views, skipped: skipped.size } } : {};
    const tm = teacher?.manifest;
    const teacherInfo = tm ? { teacherCache: { dir: o.teacherCache!, teacher: tm.teacher.file, key: tm.key, topk: tm.topk, views: tm.views, skipped: teacherSkipped.size } } : {};
    const unseenInfo = unseen ? { unseen: { trained: unseen.trained, pool: unseen.indices.length } } : {};
    return { target, kind, checkpoint: m.checkpoint, data: ds.spec, split, runtime: m.runtime, ...r, ...cache, ...teacherInfo, ...unseenInfo };
  } finally {
    teacher?.close();
  }
}
