/**
 * tfkd's public API: `import { precompute, train, evaluate, exportOnnx } from 'tfkd'`. The CLI is a
 * client of the same functions (src/cli/ parses flags, calls these, prints). Everything here is
 * re-exported from the pipeline's layers (data → teacher → cache → student → export/repro,
 * experiment), so a function has one implementation whichever way it is reached.
 *
 * Importing this module changes no process-wide state outside tfkd: tfjs's PROD flag and
 * onnxruntime's log level are set when tfkd first picks a backend or opens a session, and the
 * native kernels load at the first `train`/`evaluate`; the one thing it sets is tfkd's own message
 * style (options named as here, not as CLI flags). `configure()` sets what the TFKD_* environment
 * variables set.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDesign } from './experiment/design.js';
import { preflightDesign } from './experiment/preflight.js';
import { assertAllRan, runDesign, type RunDesignResult } from './experiment/run.js';
import { CliRunner, stepEnv } from './experiment/runner.js';
import { writeReport, type WriteReportOptions } from './experiment/report.js';
import { type Report } from './experiment/report-types.js';
import { getSettings, setSettings, settingsEnv, type TfkdSettings } from './settings.js';
import { checkIntegerOptions, setOptionStyle, UsageError } from './errors.js';
import { defaultThreads, loadNative, nativeLoaded, setNativeThreads } from './student/kernels/native.js';
import { train as trainRun } from './student/trainer/train.js';
import { type TrainRequest, type TrainResult } from './student/trainer/request.js';
import { registerModelFactory, type ModelFactory } from './student/zoo/index.js';
import { evaluateTarget, type EvalReport, type EvaluateTargetOptions } from './student/evaluate-target.js';

// Messages name options as this API does (`topk`, `augmentSeed`), not as the CLI's flags.
setOptionStyle('api');

// --- errors: exit code 2 (UsageError: bad input or options) and 1 (WorkError: the work failed) ---
export { TfkdError, UsageError, WorkError } from './errors.js';

// --- settings ---
export type { TfkdSettings } from './settings.js';

/**
 * Sets process-wide settings (threads, native kernels, oneDNN, the default student backend), the
 * in-code form of TFKD_THREADS, TFKD_NATIVE and TFKD_DNNL; a key given as `undefined` returns to
 * the environment's value. Returns the settings now set. Threads can change at any time; whether
 * the native kernels are used is fixed once they have loaded (the first train/evaluate).
 */
export function configure(settings: TfkdSettings): TfkdSettings {
  const before = getSettings();
  if (nativeLoaded() && 'nativeKernels' in settings && settings.nativeKernels !== before.nativeKernels) {
    throw new UsageError('configure({ nativeKernels }) must come before the first train or evaluate of the process (the kernels are registered then)');
  }
  const now = setSettings(settings);
  // The kernels read their thread count when they load; once loaded, follow the new value (or, for
  // `threads: undefined`, the environment's again).
  if (nativeLoaded() && 'threads' in settings) setNativeThreads(defaultThreads());
  return now;
}

/** The settings `configure()` has set, and how the native kernels stand (loaded or not, and why). */
export function settings(): TfkdSettings & { native: string | null } {
  return { ...getSettings(), native: nativeLoaded() ? loadNative().why : null };
}

// --- data ---
export { openDataset, type OpenOptions } from './data/open.js';
export type { Dataset, SampleShape } from './data/dataset.js';

/** The data and teachers tfkd ships (what `tfkd demo` runs on): absolute paths / specs. */
export const embedded = (() => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return Object.freeze({
    /** A 3 000 / 1 000-image Fashion-MNIST subset (train / test), as a data spec. */
    data: `fashion-mnist:${path.join(root, 'data', 'fashion-mnist-subset')}`,
    /** ONNX teachers for that data: an 88 % CNN ('good') and a 21 % one ('poor', for De-KD). */
    teachers: Object.freeze({ good: path.join(root, 'models', 'fmnist-good.onnx'), poor: path.join(root, 'models', 'fmnist-poor.onnx') }),
  });
})();

// --- teacher ---
export { openTeacher, type OpenTeacherOptions, type OrtTeacher } from './teacher/session.js';
export type { Layout, PreprocessSpec, Teacher, TeacherInfo } from './teacher/types.js';
export type { TeacherDevice as Device } from './catalog.js';

// --- cache ---
export { runPrecompute as precompute, type PrecomputeRunOptions as PrecomputeOptions, type PrecomputeSummary } from './cache/precompute-run.js';
export { openCache, type CacheExpect, type CacheReader } from './cache/reader.js';
export { runVerify as verifyCache, type VerifyOptions, type VerifyReport } from './cache/verify-run.js';
export { mergeCaches, type MergeResult } from './cache/merge.js';
export type { Manifest } from './cache/manifest.js';

// --- student ---
export type { TrainRequest, TrainResult, TrainHooks, StepProgress } from './student/trainer/request.js';
export type { TrainConfig, TrainConfigInput } from './student/trainer/config.js';
export type { TrainRequestConfig } from './student/trainer/request.js';
export type { EvalReport, EvaluateTargetOptions as EvaluateOptions } from './student/evaluate-target.js';
export type { Fidelity, ReliabilityBin, TemperatureScaled } from './student/evaluate.js';
export { LOSS_NAMES, LOSS_OPTION_NAMES, builtinLosses, describeLosses, lossContext, lossEntry } from './student/losses/index.js';
export type { BatchTeacher, LossContext, LossEntry, LossFn, LossOptionName, LossOptions, LossOptionSpec, TeacherAccess } from './student/losses/index.js';
export { MODEL_NAMES, type ModelFactory } from './student/zoo/index.js';

/**
 * Trains a student: `request.config` takes the keys of a run's `config.json` (data, model, loss —
 * a name, a module path, or a LossEntry / loss function —
 * cache, alpha, temperature, epochs, …; defaults filled in as `tfkd train` does), `request.out` is
 * the run directory (created, or continued with `resume: true`), `request.hooks` receive progress.
 * The backend is the config's, else `configure({ backend })`'s, else 'auto'.
 */
export function train(request: ApiTrainRequest): Promise<TrainResult> {
  const backend = getSettings().backend;
  // A factory (shape, classes, tf) => tf.LayersModel is registered under `code:<sha256 of its source>`,
  // the name the run's config.json records (zoo/module-model.ts).
  const m = request.config.model;
  const named = typeof m === 'function' ? { ...request.config, model: registerModelFactory(m) } : (request.config as TrainRequest['config']);
  const config = backend !== undefined && named.backend === undefined ? { ...named, backend } : named;
  return trainRun({ ...request, config, explicit: request.explicit ?? new Set(Object.keys(request.config)) });
}

/** train()'s request: `config.model` may also be a model factory (shape, classes, tf) => tf.LayersModel. */
export type ApiTrainRequest = Omit<TrainRequest, 'config'> & { config: Omit<TrainRequest['config'], 'model'> & { model?: string | ModelFactory } };

/**
 * Top-1 accuracy, mean cross-entropy, calibration and confusion matrix of a run (its best
 * checkpoint unless `checkpoint` says otherwise), a checkpoint directory, an ONNX classifier or a
 * cache, on `options.data`; with `teacherCache`, its fidelity to that cache's teacher.
 */
export function evaluate(target: string, options: EvaluateTargetOptions): Promise<EvalReport> {
  // A run's backend defaults to configure({ backend }) there; an ONNX file or a cache refuses one set here.
  return evaluateTarget(target, options);
}

// --- export ---
export { exportRun as exportOnnx, type ExportRunOptions as ExportOptions, type ExportRunResult as ExportResult } from './export/export-run.js';

// --- repro ---
export { repro, type ReproOptions, type ReproReport } from './repro/repro.js';

// --- experiments and reports ---
export interface RunExperimentOptions {
  /** Experiment directory (created, or resumed: finished steps are reused). */
  out: string;
  /** Steps run at once (independent ones only). Default: 1. */
  jobs?: number;
  /** Overrides of design values, `path=value` (a YAML value), e.g. 'train.epochs=2'. */
  set?: string[];
  /** Validate and expand only; run nothing. */
  dryRun?: boolean;
  /** Write OUT/report at the end. Default: true. */
  report?: boolean;
  /** Progress lines (one per step). Default: none. */
  say?: (line: string) => void;
}

/**
 * Runs an experiment design file (docs/EXPERIMENTS.md): validates it, expands it into content-keyed
 * steps, runs what is not finished (each step in a child process of the `tfkd` CLI, `jobs` at a
 * time, with this process's settings), writes the report. Throws WorkError when a step failed.
 */
export async function runExperiment(file: string, o: RunExperimentOptions): Promise<RunDesignResult> {
  checkIntegerOptions(o, { jobs: 1 });
  const jobs = o.jobs ?? 1;
  const loaded = loadDesign(file, o.set ?? []);
  await preflightDesign(loaded);
  const r = await runDesign(loaded, { out: o.out, runner: new CliRunner({ env: stepEnv(settingsEnv(), jobs) }), jobs, dryRun: o.dryRun, report: o.report, say: o.say ?? (() => {}) });
  assertAllRan(r, o.out);
  return r;
}
export type { RunDesignResult } from './experiment/run.js';

/** Writes table.md, report.json, index.html and the plots of experiment (or run) directories to `out`. */
export function report(dirs: string | string[], out: string, options: WriteReportOptions = {}): Promise<Report> {
  return writeReport(Array.isArray(dirs) ? dirs : [dirs], out, options);
}
export type { Report, MethodRow, RunRecord } from './experiment/report-types.js';
