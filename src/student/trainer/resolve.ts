/**
 * From what the user asked (TrainConfigInput: flags, config file, a resumed run's config.json) to
 * the run's TrainConfig: which loss it is (resolveLoss: a built-in, a module, an API function), the
 * checks that need no data (preflight), the resolution of defaults and loss options once K is known
 * (resolveConfig), the loss ↔ cache checks once the caches are open (checkCachesForLoss), the
 * paths the run records made absolute (absolutePaths), and what --resume may change (mergeResume).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatZodError, optionName, optionPrefix, UsageError } from '../../errors.js';
import type { CacheReader } from '../../cache/reader.js';
import {
  builtinLosses,
  entryOptionNames,
  isLossModuleSpec,
  LOSS_OPTION_NAMES,
  loadLossModule,
  lossEntry,
  lossFromFunction,
  checkLossEntry,
  readsHint,
  resolveLossOptions,
  standardizableLosses,
  teacherAccess,
  type LossEntry,
  type LossFn,
  type LossOptionName,
  type LossOptions,
} from '../losses/index.js';
import { isCodeModelName, isModuleModelName, isOnnxModelName, MODEL_NAMES } from '../zoo/index.js';
import { DATA_SOURCES } from '../../data/spec.js';
import { distillationHeads } from '../zoo/onnx-distill.js';
import { readOnnxGraph } from '../zoo/onnx-graph.js';
import { frozenSet } from '../zoo/onnx-import.js';
import { unusedOptions } from './unused-options.js';
import { defaultMilestones, RESUME_MUTABLE_KEYS, trainConfigSchema, TRAIN_DEFAULTS, type TrainConfig, type TrainConfigInput } from './config.js';

/** Where a run's loss came from (recorded in the run manifest; `repro` and `--resume` check it). */
export type LossSource = { kind: 'builtin' } | { kind: 'module'; spec: string; file: string; sha256: string } | { kind: 'api' };

export interface ResolvedLoss {
  entry: LossEntry;
  source: LossSource;
}

/** What `config.loss` may be through the API: a name or module path, an entry, or a bare function. */
export type LossSpec = string | LossEntry | LossFn;

/**
 * The run's loss and the string its config.json records: a built-in name, the module path as given
 * (its sha256 in the manifest), or `api:NAME` for an entry or function handed to train().
 */
export async function resolveLoss(loss: LossSpec, withTeacher: boolean): Promise<{ configName: string; resolved: ResolvedLoss }> {
  if (typeof loss === 'function') {
    const entry = lossFromFunction(loss, withTeacher);
    return { configName: `api:${entry.name}`, resolved: { entry, source: { kind: 'api' } } };
  }
  if (typeof loss === 'object' && loss !== null) {
    const entry = checkLossEntry(loss, 'loss');
    return { configName: `api:${entry.name}`, resolved: { entry, source: { kind: 'api' } } };
  }
  if (typeof loss !== 'string' || loss === '') throw new UsageError(`${optionName('loss')} must be a loss name, a module path or (API) a loss entry or function`);
  if (loss.startsWith('api:')) {
    throw new UsageError(`this run's loss was a function given through the API (${loss})`, 'pass the same function (or entry) as config.loss to resume or reproduce it');
  }
  if (isLossModuleSpec(loss)) {
    const m = await loadLossModule(loss);
    return { configName: loss, resolved: { entry: m.entry, source: { kind: 'module', spec: loss, file: m.file, sha256: m.sha256 } } };
  }
  return { configName: loss, resolved: { entry: lossEntry(loss), source: { kind: 'builtin' } } };
}

/** The loss options of a (parsed) config, as the registry takes them. */
function givenLossOptions(c: Partial<Record<LossOptionName, number | undefined>>): Partial<Record<LossOptionName, number>> {
  const out: Partial<Record<LossOptionName, number>> = {};
  for (const k of LOSS_OPTION_NAMES) if (c[k] !== undefined) out[k] = c[k];
  return out;
}

/**
 * The resolved config: defaults, loss options for (loss, fidelity, standardization, K), lr and
 * milestones filled in. An option the loss does not read is an error when the user set it
 * (`explicit`, or every key when the caller says nothing); a saved config.json of an older version,
 * which listed every option at a neutral value, has its unread ones dropped.
 */
export function resolveConfig(input: TrainConfigInput, numClasses: number, entry: LossEntry, explicit?: ReadonlySet<string>): { config: TrainConfig; lossOptions: LossOptions } {
  const r = trainConfigSchema.safeParse(input);
  if (!r.success) throw new UsageError(`invalid options: ${formatZodError(r.error, optionPrefix())}`);
  const c = r.data;
  const given = givenLossOptions(c);
  const reads = new Set(entryOptionNames(entry, c.logitStandardization));
  for (const k of Object.keys(given) as LossOptionName[]) {
    if (reads.has(k)) continue;
    if (!explicit || explicit.has(k)) throw new UsageError(`loss ${entry.name} does not read ${optionName(k)}`, readsHint(entry, c.logitStandardization));
    delete given[k];
  }
  const lossOptions = resolveLossOptions(entry, c.fidelity, numClasses, c.logitStandardization, given);
  const scaled = scaledLr(c);
  const lr = scaled?.lr ?? c.lr ?? (c.optimizer === 'sgd' ? TRAIN_DEFAULTS.lrSgd : TRAIN_DEFAULTS.lrAdam);
  const weightDecay = c.weightDecay ?? (c.optimizer === 'adamw' ? TRAIN_DEFAULTS.weightDecayAdamw : TRAIN_DEFAULTS.weightDecay);
  const milestones = c.milestones ?? (c.schedule === 'step' ? defaultMilestones(c.epochs) : []);
  const config: TrainConfig = { ...c, lr, weightDecay, milestones, ...(scaled ? { lrBaseSize: scaled.size, lrBaseScale: scaled.scale } : {}) };
  for (const k of LOSS_OPTION_NAMES) {
    if (lossOptions[k] === undefined) delete config[k];
    else config[k] = lossOptions[k];
  }
  return { config, lossOptions };
}

/**
 * timm's learning-rate scaling (train.py, when --lr is not given): with a global batch of
 * batch · grad_accum_steps, lr = lr_base · ratio, ratio = global / lr_base_size (default 256), its
 * square root under lr_base_scale 'sqrt' — timm's default for optimizers whose name contains
 * 'ada' (adam, adamw here), 'linear' for the others (sgd). DeiT's rule (lr · batch / 512, with
 * AdamW) is --lr-base LR --lr-base-size 512 --lr-base-scale linear. Null without lrBase. A given lr
 * must be the one this yields (a saved config.json holds both), else the two options contradict.
 */
function scaledLr(c: { lr?: number; lrBase?: number; lrBaseSize?: number; lrBaseScale?: 'linear' | 'sqrt'; batch: number; gradAccumSteps?: number; optimizer: string }): { lr: number; size: number; scale: 'linear' | 'sqrt' } | null {
  if (c.lrBase === undefined) {
    if (c.lrBaseSize !== undefined || c.lrBaseScale !== undefined) throw new UsageError(`${optionName(c.lrBaseSize !== undefined ? 'lrBaseSize' : 'lrBaseScale')} scales ${optionName('lrBase')}, which is not given`);
    return null;
  }
  const size = c.lrBaseSize ?? 256;
  const scale = c.lrBaseScale ?? (c.optimizer.includes('ada') ? 'sqrt' : 'linear');
  const ratio = (c.batch * (c.gradAccumSteps ?? 1)) / size;
  const lr = c.lrBase * (scale === 'sqrt' ? Math.sqrt(ratio) : ratio);
  if (c.lr !== undefined && c.lr !== lr) {
    throw new UsageError(`${optionName('lr')} ${c.lr} and ${optionName('lrBase')} ${c.lrBase} contradict each other (${optionName('lrBase')} gives ${lr} at batch ${c.batch}${c.gradAccumSteps ? ` × ${c.gradAccumSteps}` : ''})`, `give one of them`);
  }
  return { lr, size, scale };
}

/** Checks of the config that need no data: names, loss ↔ cache. UsageError (exit 2) with the reason. */
export function preflight(input: TrainConfigInput, entry: LossEntry, explicit?: ReadonlySet<string>): void {
  const r = trainConfigSchema.safeParse(input);
  if (!r.success) throw new UsageError(`invalid options: ${formatZodError(r.error, optionPrefix())}`);
  const c = r.data;
  const onnxOnly = (['freeze', 'preprocess', 'allowFolded', 'dropPath', 'distillToken'] as const).filter((k) => c[k] !== undefined && !(k === 'freeze' && c.freeze!.length === 0));
  if (isOnnxModelName(c.model)) {
    // The graph's ops and --freeze patterns are checked here, before the run directory exists.
    const g = readOnnxGraph(c.model.slice('onnx:'.length));
    frozenSet(g, c.freeze ?? []);
    if (c.distillToken) distillationHeads(g);
  } else if (isModuleModelName(c.model) || isCodeModelName(c.model)) {
    if (isModuleModelName(c.model) && !fs.existsSync(c.model)) throw new UsageError(`--model ${c.model}: no such module`);
    // A module's or code: factory's model is built by its own code: the graph options have nothing to
    // act on. Only those given now (a run of an older tfkd recorded them, and resumes).
    const given = onnxOnly.filter((k) => !explicit || explicit.has(k));
    if (given.length) throw new UsageError(`${given.map((k) => optionName(k)).join(', ')}: only for ${optionName('model')} onnx:FILE students (${c.model} is built by its own code)`);
  } else {
    if (!MODEL_NAMES.includes(c.model)) throw new UsageError(`unknown model '${c.model}'`, `valid models: ${MODEL_NAMES.join(', ')}, onnx:FILE`);
    if (onnxOnly.length) throw new UsageError(`${onnxOnly.map((k) => optionName(k)).join(', ')}: only for ${optionName('model')} onnx:FILE students`);
  }
  // The zoo's builders take a width; an ONNX graph or a module's factory has its own.
  if (c.widthMultiplier !== 1 && !MODEL_NAMES.includes(c.model) && (!explicit || explicit.has('widthMultiplier'))) {
    throw new UsageError(`${optionName('widthMultiplier')} ${c.widthMultiplier}: only for the built-in models (${c.model} has the widths it was made with)`, `built-in models: ${MODEL_NAMES.join(', ')}`);
  }
  const unused = unusedOptions(
    // A user's loss may read the mode itself (ctx.options.fidelity, or defaults per mode): only a
    // built-in one is known to compute the same in both.
    { ...c, fidelityActs: !builtinLosses().includes(entry) || (entry.fidelityModes === true && !(c.logitStandardization && entry.standardized !== undefined)), defaultMilestones: defaultMilestones(c.epochs) },
    (k) => !explicit || explicit.has(k),
  );
  if (unused.length) {
    const u = unused[0]!;
    const value = u.key === 'milestones' ? c.milestones!.join(',') : String(c[u.key]);
    throw new UsageError(`${optionName(u.key)} ${value}: ${u.why}; it would be recorded in config.json and not act`, `drop ${optionName(u.key)}${unused.length > 1 ? ` (and ${unused.slice(1).map((x) => optionName(x.key)).join(', ')})` : ''}`);
  }
  const access = teacherAccess(entry, c.logitStandardization && entry.standardized !== undefined);
  if (c.emaWarmup && c.ema === undefined) throw new UsageError(`${optionName('emaWarmup')} needs ${optionName('ema')} DECAY`);
  if (c.distillToken && !entry.distillationToken) {
    throw new UsageError(`loss ${entry.name} has no distillation-token form (${optionName('distillToken')})`, `losses that train DeiT's distillation head: ${builtinLosses().filter((e) => e.distillationToken).map((e) => e.name).join(', ')}`);
  }
  if (c.logitStandardization && !entry.standardized) {
    throw new UsageError(`loss ${entry.name} has no ${optionName('logitStandardization')} form`, `it applies to: ${standardizableLosses().join(', ')}`);
  }
  if (access !== 'none' && c.cache.length === 0) {
    throw new UsageError(`loss ${entry.name} needs a teacher's soft targets: pass ${optionName('cache')} CACHE (written by tfkd precompute)`, `teacher-free losses: ${teacherFree().join(', ')}`);
  }
  if (access === 'none' && c.cache.length > 0) {
    throw new UsageError(`loss ${entry.name} does not use a teacher; drop ${optionName('cache')}`, `teacher-based losses: ${builtinLosses().filter((e) => e.teacher !== 'none').map((e) => e.name).join(', ')}`);
  }
  if (access === 'logits' && c.cache.length > 1) {
    throw new UsageError(
      `loss ${entry.name}${c.logitStandardization ? ` with ${optionName('logitStandardization')}` : ''} reads one teacher's raw logits; ${c.cache.length} caches (an ensemble) have none`,
      `pass one ${optionName('cache')}`,
    );
  }
  if (c.nesterov && c.momentum === 0) throw new UsageError(`${optionName('nesterov')} needs ${optionName('momentum')} > 0`);
  if (c.schedule === 'step' && c.milestones && c.milestones.some((m, i) => i > 0 && m <= c.milestones![i - 1])) {
    throw new UsageError(`${optionName('milestones')} must increase: ${c.milestones.join(',')}`);
  }
}

function teacherFree(): string[] {
  return builtinLosses()
    .filter((e) => e.teacher === 'none')
    .map((e) => e.name);
}

/** Once the caches are open: a loss that needs whole distributions or raw logits refuses top-k caches. */
export function checkCachesForLoss(entry: LossEntry, logitStandardization: boolean, caches: readonly CacheReader[]): void {
  const access = teacherAccess(entry, logitStandardization);
  if (access !== 'whole' && access !== 'logits') return;
  const topk = caches.find((c) => c.topk !== null);
  if (!topk) return;
  const why = logitStandardization ? `${optionName('logitStandardization')} needs each row's mean and std over all K logits` : `loss ${entry.name} needs whole teacher distributions`;
  throw new UsageError(`${why}; cache ${topk.dir} keeps only the top ${topk.topk} logits of ${topk.numClasses}`, `precompute the cache without ${optionName('topk')} (docs/LOSSES.md: losses × cache kinds)`);
}

/** `folder:photos` → `folder:/abs/photos`: a data spec's directory or list file, absolute; any other spec as it is. */
function absoluteDataSpec(spec: string): string {
  const colon = spec.indexOf(':');
  if (colon < 0) return spec;
  const kind = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  if (!Object.hasOwn(DATA_SOURCES, kind) || kind === 'synthetic' || rest === '' || path.isAbsolute(rest)) return spec;
  return `${kind}:${path.resolve(rest)}`;
}

/** `--preprocess timm:FILE`, `hf:FILE` or FILE with the file absolute; `imagenet` and JSON as they are. */
function absolutePreprocess(spec: string): string {
  const text = spec.trim();
  if (text === 'imagenet' || text.startsWith('{')) return spec;
  const m = /^(timm:|hf:)(.+)$/.exec(text);
  if (m) return path.isAbsolute(m[2]) ? spec : `${m[1]}${path.resolve(m[2])}`;
  // A bare FILE only when it is one (else parsePreprocess refuses the spec as the user wrote it).
  return !path.isAbsolute(text) && fs.existsSync(text) ? path.resolve(text) : spec;
}

const absoluteDir = (v: unknown): unknown => (typeof v === 'string' && v !== '' ? path.resolve(v) : v);

/**
 * The options that name files or directories, each made absolute (against the working directory,
 * which they were relative to): `cache`, `testCache`, a data spec's directory or file, a
 * `preprocess` file. The run records them so, as it records an `onnx:` student's and a loss
 * module's file (ModelSpec, manifest): `--resume` and `tfkd repro` of the run work from any
 * directory. Values of other types are left to the schema to refuse.
 */
const PATH_OPTIONS: Readonly<Record<string, (v: unknown) => unknown>> = {
  cache: (v) => (Array.isArray(v) ? v.map(absoluteDir) : v),
  testCache: absoluteDir,
  data: (v) => (typeof v === 'string' ? absoluteDataSpec(v) : v),
  preprocess: (v) => (typeof v === 'string' ? absolutePreprocess(v) : v),
};

/** `input` with the paths it names absolute (PATH_OPTIONS); the keys it has, no others. */
export function absolutePaths<T extends object>(input: T): T {
  const out = { ...input } as Record<string, unknown>;
  for (const [k, abs] of Object.entries(PATH_OPTIONS)) if (out[k] !== undefined) out[k] = abs(out[k]);
  return out as T;
}

/**
 * The files and directories a recorded config names, with what each is (for messages): caches,
 * the data's directory or list file, an `onnx:` student's or a model module's file, a loss
 * module. What `--resume` and `repro` open again (integrity.ts checkRecordedPaths).
 */
export function recordedPaths(c: { cache?: readonly string[]; testCache?: string; data?: string; model?: string; loss?: string }): Array<{ what: string; path: string }> {
  const out: Array<{ what: string; path: string }> = [];
  for (const dir of c.cache ?? []) out.push({ what: 'cache', path: dir });
  if (c.testCache !== undefined) out.push({ what: 'cache', path: c.testCache });
  if (c.data !== undefined) {
    const colon = c.data.indexOf(':');
    const kind = c.data.slice(0, colon);
    if (colon > 0 && Object.hasOwn(DATA_SOURCES, kind) && kind !== 'synthetic') out.push({ what: 'data', path: c.data.slice(colon + 1) });
  }
  if (c.model !== undefined && isOnnxModelName(c.model)) out.push({ what: 'model', path: c.model.slice('onnx:'.length) });
  else if (c.model !== undefined && isModuleModelName(c.model)) out.push({ what: 'model', path: c.model });
  if (c.loss !== undefined && isLossModuleSpec(c.loss)) out.push({ what: 'loss module', path: c.loss });
  return out.filter((p) => p.path !== '');
}

/** An option's value as compared on resume: a path option in its absolute form (a run of an older tfkd recorded it as given). */
const comparable = (k: string, v: unknown): string => JSON.stringify(Object.hasOwn(PATH_OPTIONS, k) && v !== undefined ? PATH_OPTIONS[k](v) : v);

/**
 * Compares a resumed run's request with its saved config; only RESUME_MUTABLE_KEYS may differ. A
 * path names the same file whether given relative or absolute (`--cache cache-good` is the run's
 * `/work/cache-good`); the saved value is kept, so the run's config.json stays as it was.
 */
export function mergeResume(saved: TrainConfig, input: TrainConfigInput, explicit: ReadonlySet<string> | undefined): TrainConfigInput {
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
    if (comparable(k, given[k]) !== comparable(k, (saved as unknown as Record<string, unknown>)[k])) {
      diffs.push(`${k}: run has ${JSON.stringify((saved as unknown as Record<string, unknown>)[k])}, given ${JSON.stringify(given[k])}`);
    }
  }
  if (diffs.length) {
    throw new UsageError(`${optionName('resume')}: options differ from the run's config.json (${diffs.join('; ')})`, `only ${[...RESUME_MUTABLE_KEYS].join(', ')} may change on resume`);
  }
  return merged as TrainConfigInput;
}
