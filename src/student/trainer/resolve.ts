/**
 * From what the user asked (TrainConfigInput: flags, config file, a resumed run's config.json) to
 * the run's TrainConfig: the checks that need no data (preflight), the resolution of defaults and
 * loss options once K is known (resolveConfig), and what --resume may change (mergeResume).
 */
import * as fs from 'node:fs';
import { formatZodError, optionName, optionPrefix, UsageError } from '../../errors.js';
import { defaultLossOptions, isLossName, lossNeedsTeacher, LOSS_NAMES, resolveLossOptions } from '../losses/index.js';
import { isCodeModelName, isModuleModelName, isOnnxModelName, MODEL_NAMES } from '../zoo/index.js';
import { readOnnxGraph } from '../zoo/onnx-graph.js';
import { freezeMatcher } from '../zoo/onnx-import.js';
import { defaultMilestones, RESUME_MUTABLE_KEYS, trainConfigSchema, TRAIN_DEFAULTS, type TrainConfig, type TrainConfigInput } from './config.js';

/** The resolved config: defaults, loss options for (loss, fidelity, K), lr and milestones filled in. */
export function resolveConfig(input: TrainConfigInput, numClasses: number, warn?: (s: string) => void, explicit?: ReadonlySet<string>): TrainConfig {
  const r = trainConfigSchema.safeParse(input);
  if (!r.success) throw new UsageError(`invalid options: ${formatZodError(r.error, optionPrefix())}`);
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
  if (!r.success) throw new UsageError(`invalid options: ${formatZodError(r.error, optionPrefix())}`);
  const c = r.data;
  if (!isLossName(c.loss)) throw new UsageError(`unknown loss '${c.loss}'`, `valid losses: ${LOSS_NAMES.join(', ')}`);
  if (isOnnxModelName(c.model)) {
    // The graph's ops and --freeze patterns are checked here, before the run directory exists.
    const g = readOnnxGraph(c.model.slice('onnx:'.length));
    for (const p of c.freeze ?? []) {
      if (!g.weights.some((w) => freezeMatcher(p)(w.name))) throw new UsageError(`${optionName('freeze')} ${p}: matches no weight of ${g.file}`, `its weights are named like ${g.weights.slice(0, 3).map((w) => w.name).join(', ')}, …`);
    }
  } else if (isModuleModelName(c.model) || isCodeModelName(c.model)) {
    if (isModuleModelName(c.model) && !fs.existsSync(c.model)) throw new UsageError(`--model ${c.model}: no such module`);
  } else {
    if (!MODEL_NAMES.includes(c.model)) throw new UsageError(`unknown model '${c.model}'`, `valid models: ${MODEL_NAMES.join(', ')}, onnx:FILE`);
    const onnxOnly = (['freeze', 'preprocess', 'allowFolded'] as const).filter((k) => c[k] !== undefined && !(k === 'freeze' && c.freeze!.length === 0));
    if (onnxOnly.length) throw new UsageError(`${onnxOnly.map((k) => optionName(k)).join(', ')}: only for ${optionName('model')} onnx:FILE students`);
  }
  if (lossNeedsTeacher(c.loss) && c.cache.length === 0) {
    throw new UsageError(`loss ${c.loss} needs a teacher's soft targets: pass --cache CACHE (written by tfkd precompute)`, 'or use a teacher-free loss: ce, lsr, tfkd-reg');
  }
  if (!lossNeedsTeacher(c.loss) && c.cache.length > 0) {
    throw new UsageError(`loss ${c.loss} does not use a teacher; drop ${optionName('cache')}`, 'teacher-based losses: kd, tfkd-self');
  }
  if (c.nesterov && c.momentum === 0) throw new UsageError(`${optionName('nesterov')} needs ${optionName('momentum')} > 0`);
  if (c.schedule === 'step' && c.milestones && c.milestones.some((m, i) => i > 0 && m <= c.milestones![i - 1])) {
    throw new UsageError(`${optionName('milestones')} must increase: ${c.milestones.join(',')}`);
  }
}

/** Compares a resumed run's request with its saved config; only RESUME_MUTABLE_KEYS may differ. */
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
    if (JSON.stringify(given[k]) !== JSON.stringify((saved as unknown as Record<string, unknown>)[k])) {
      diffs.push(`${k}: run has ${JSON.stringify((saved as unknown as Record<string, unknown>)[k])}, given ${JSON.stringify(given[k])}`);
    }
  }
  if (diffs.length) {
    throw new UsageError(`${optionName('resume')}: options differ from the run's config.json (${diffs.join('; ')})`, `only ${[...RESUME_MUTABLE_KEYS].join(', ')} may change on resume`);
  }
  return merged as TrainConfigInput;
}
