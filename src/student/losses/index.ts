/**
 * The loss registry: every loss by name, which ones need a teacher's soft targets, and validation
 * of user-given values (UsageError → exit 2) against the catalog's bounds. What each loss reads
 * and its defaults per fidelity mode are in ./defaults.ts (runtime-free, re-exported here).
 * Formulas and sources live in each loss's file; `describeLosses()` prints them for `--help`.
 */
import { FIDELITIES, LOSS_HYPERPARAMETER_NAMES, LOSS_HYPERPARAMETERS, LOSS_NAMES, type Fidelity, type LossHyperparameterName, type LossName } from '../../catalog.js';
import { UsageError } from '../../errors.js';
import { ceLoss } from './ce.js';
import { checkFidelity, checkLossName, defaultLossOptions, lossHyperparameters } from './defaults.js';
import { kdLoss } from './kd.js';
import { lsrLoss } from './lsr.js';
import { tfkdRegLoss } from './tfkd-reg.js';
import { tfkdSelfLoss } from './tfkd-self.js';
import type { LossFn, LossOptions } from './types.js';

export type { Fidelity, LossFn, LossOptions } from './types.js';
export { crossEntropy, klReduced, klRows } from './kl.js';
export { uniformPrior, virtualTeacher, virtualTeacherProbs } from './virtual-teacher.js';
export { defaultLossOptions, isLossName, lossHyperparameters, sharedLossDefaults } from './defaults.js';
export { FIDELITIES, LOSS_NAMES, type LossHyperparameterName, type LossHyperparameters, type LossName } from '../../catalog.js';

/** CLI flag of each hyperparameter (DESIGN §2). */
export const HYPERPARAMETER_FLAGS: Readonly<Record<LossHyperparameterName, string>> = Object.freeze({
  alpha: '--alpha',
  temperature: '--temperature',
  multiplier: '--multiplier',
  correctProb: '--correct-prob',
  epsilon: '--epsilon',
});

/** The formula of each loss; what it reads and its defaults are in ./defaults.ts. */
interface LossEntry {
  fn: LossFn;
  needsTeacher: boolean;
  summary: string;
}

const REGISTRY: Readonly<Record<LossName, LossEntry>> = Object.freeze({
  ce: { fn: ceLoss, needsTeacher: false, summary: 'cross-entropy H(q,p) (baseline)' },
  lsr: {
    fn: lsrLoss,
    needsTeacher: false,
    summary: 'label smoothing; paper: q\' = (1−ε)q + ε/K · official: target 1−ε, others ε/(K−1)',
  },
  kd: {
    fn: kdLoss,
    needsTeacher: true,
    summary: '(1−α)CE + α·τ²·KL(p^t_τ‖p_τ); paper: batchmean KL · official: KL/K (\'mean\' reduction)',
  },
  'tfkd-self': {
    fn: tfkdSelfLoss,
    needsTeacher: true,
    summary: 'KD from a self-teacher cache, KL × multiplier; paper: batchmean · official: KL/K',
  },
  'tfkd-reg': {
    fn: tfkdRegLoss,
    needsTeacher: false,
    summary:
      'virtual teacher a / (1−a)/(K−1); paper: (1−α)CE + α·τ²·m·KL(softmax(log p^d/τ)‖p_τ) batchmean · ' +
      'official: (1−α)CE + α·m·KL(softmax(p^d/τ)‖p)/K, student untempered, no τ²',
  },
});

function entry(name: string): LossEntry {
  return REGISTRY[checkLossName(name)];
}

/** The loss function registered under `name` (UsageError for an unknown name). */
export function getLoss(name: string): LossFn {
  return entry(name).fn;
}

/** Whether `name` needs a teacher's soft targets (`--cache`); the others get `soft = null`. */
export function lossNeedsTeacher(name: string): boolean {
  return entry(name).needsTeacher;
}

export interface ResolvedLossOptions {
  options: LossOptions;
  /** Hyperparameters the user set that this loss does not read (the CLI should warn or refuse). */
  ignored: LossHyperparameterName[];
}

/**
 * Defaults for (name, fidelity) overlaid with the user's values, validated against the catalog's
 * bounds (LOSS_HYPERPARAMETERS: α ∈ [0, 1], τ > 0, multiplier > 0, a ∈ (0, 1], ε ∈ [0, 1)) and
 * K ≥ 2 integer; anything else is a UsageError naming the flag. Undefined overrides are skipped.
 */
export function resolveLossOptions(
  name: string,
  fidelity: Fidelity,
  numClasses: number,
  overrides: Partial<Record<LossHyperparameterName, number | undefined>> = {},
): ResolvedLossOptions {
  checkLossName(name);
  checkFidelity(fidelity);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new UsageError(`a loss needs K ≥ 2 classes, got ${numClasses}`);
  const uses = lossHyperparameters(name);
  const hp = defaultLossOptions(name, fidelity);
  const ignored: LossHyperparameterName[] = [];
  for (const key of LOSS_HYPERPARAMETER_NAMES) {
    const v = overrides[key];
    if (v === undefined) continue;
    if (!uses.includes(key)) ignored.push(key);
    hp[key] = v;
  }
  for (const key of LOSS_HYPERPARAMETER_NAMES) {
    const r = LOSS_HYPERPARAMETERS[key].safeParse(hp[key]);
    if (!r.success) {
      throw new UsageError(`${HYPERPARAMETER_FLAGS[key]} ${hp[key]}: ${r.error.issues[0].message}`, `loss "${name}" reads ${uses.map((k) => HYPERPARAMETER_FLAGS[k]).join(', ') || 'no options'}`);
    }
  }
  return { options: { numClasses, fidelity, ...hp }, ignored };
}

/** One block per loss for `tfkd train --help` and the README: summary and defaults per mode. */
export function describeLosses(): string {
  const lines: string[] = [];
  for (const name of LOSS_NAMES) {
    const e = REGISTRY[name];
    const uses = lossHyperparameters(name);
    lines.push(`  ${name.padEnd(10)} ${e.summary}${e.needsTeacher ? ' [needs --cache]' : ''}`);
    if (uses.length === 0) continue;
    for (const f of FIDELITIES) {
      const d = defaultLossOptions(name, f);
      lines.push(`  ${''.padEnd(10)}   ${f.padEnd(8)} defaults: ${uses.map((k) => `${HYPERPARAMETER_FLAGS[k]} ${d[k]}`).join(' ')}`);
    }
  }
  return lines.join('\n');
}
