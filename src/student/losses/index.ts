/**
 * The loss registry: every loss by name, which ones need a teacher's soft targets, their default
 * hyperparameters per fidelity mode, and validation of user-given values (UsageError → exit 2).
 * Formulas and sources live in each loss's file; `describeLosses()` prints them for `--help`.
 */
import { UsageError } from '../../errors.js';
import { ceLoss } from './ce.js';
import { kdLoss } from './kd.js';
import { lsrLoss } from './lsr.js';
import { tfkdRegLoss } from './tfkd-reg.js';
import { tfkdSelfLoss } from './tfkd-self.js';
import type { Fidelity, LossFn, LossOptions } from './types.js';

export type { Fidelity, LossFn, LossOptions } from './types.js';
export { crossEntropy, klReduced, klRows } from './kl.js';
export { uniformPrior, virtualTeacher, virtualTeacherProbs } from './virtual-teacher.js';

export const LOSS_NAMES = ['ce', 'lsr', 'kd', 'tfkd-self', 'tfkd-reg'] as const;
export type LossName = (typeof LOSS_NAMES)[number];
export const FIDELITIES: readonly Fidelity[] = ['paper', 'official'];

/** The hyperparameters a user can set (LossOptions minus what the data and the mode fix). */
export type LossHyperparameters = Pick<LossOptions, 'alpha' | 'temperature' | 'multiplier' | 'correctProb' | 'epsilon'>;
export type LossHyperparameterName = keyof LossHyperparameters;

/** CLI flag of each hyperparameter (DESIGN §2). */
export const HYPERPARAMETER_FLAGS: Readonly<Record<LossHyperparameterName, string>> = Object.freeze({
  alpha: '--alpha',
  temperature: '--temperature',
  multiplier: '--multiplier',
  correctProb: '--correct-prob',
  epsilon: '--epsilon',
});

interface LossEntry {
  fn: LossFn;
  needsTeacher: boolean;
  uses: readonly LossHyperparameterName[];
  summary: string;
  defaults: Record<Fidelity, Partial<LossHyperparameters>>;
}

/**
 * Defaults, and why:
 *  - `lsr` ε = 0.1 in both modes: the official code hard-codes 0.1, the usual LSR value.
 *  - `kd` α = 0.95, τ = 20: the official MobileNetV2 ← ResNet18 config behind the paper's "normal
 *    KD" column. Same values in both modes, so `--fidelity` switches only the formula.
 *  - `tfkd-self` α = 0.95, τ = 6: the official ResNet18 self-training config. Multiplier 50 in
 *    `official` (that config; it largely undoes the ÷K of the 'mean' reduction at K = 100) and 1
 *    in `paper` (the paper has no multiplier; batchmean KL needs no compensation).
 *  - `tfkd-reg` a = 0.99, τ = 20, α = 0.1: the paper's a and the ImageNet / CIFAR-100 ResNet18
 *    config. Multiplier 100 in `official` (the ResNet18 config, ≈ undoing ÷K at K = 100), 1 in `paper`.
 * Unused hyperparameters are filled with neutral values (see NEUTRAL) so LossOptions is complete.
 */
const REGISTRY: Readonly<Record<LossName, LossEntry>> = Object.freeze({
  ce: { fn: ceLoss, needsTeacher: false, uses: [], summary: 'cross-entropy H(q,p) (baseline)', defaults: { paper: {}, official: {} } },
  lsr: {
    fn: lsrLoss,
    needsTeacher: false,
    uses: ['epsilon'],
    summary: 'label smoothing; paper: q\' = (1−ε)q + ε/K · official: target 1−ε, others ε/(K−1)',
    defaults: { paper: { epsilon: 0.1 }, official: { epsilon: 0.1 } },
  },
  kd: {
    fn: kdLoss,
    needsTeacher: true,
    uses: ['alpha', 'temperature'],
    summary: '(1−α)CE + α·τ²·KL(p^t_τ‖p_τ); paper: batchmean KL · official: KL/K (\'mean\' reduction)',
    defaults: { paper: { alpha: 0.95, temperature: 20 }, official: { alpha: 0.95, temperature: 20 } },
  },
  'tfkd-self': {
    fn: tfkdSelfLoss,
    needsTeacher: true,
    uses: ['alpha', 'temperature', 'multiplier'],
    summary: 'KD from a self-teacher cache, KL × multiplier; paper: batchmean · official: KL/K',
    defaults: { paper: { alpha: 0.95, temperature: 6, multiplier: 1 }, official: { alpha: 0.95, temperature: 6, multiplier: 50 } },
  },
  'tfkd-reg': {
    fn: tfkdRegLoss,
    needsTeacher: false,
    uses: ['alpha', 'temperature', 'multiplier', 'correctProb'],
    summary:
      'virtual teacher a / (1−a)/(K−1); paper: (1−α)CE + α·τ²·m·KL(softmax(log p^d/τ)‖p_τ) batchmean · ' +
      'official: (1−α)CE + α·m·KL(softmax(p^d/τ)‖p)/K, student untempered, no τ²',
    defaults: {
      paper: { alpha: 0.1, temperature: 20, multiplier: 1, correctProb: 0.99 },
      official: { alpha: 0.1, temperature: 20, multiplier: 100, correctProb: 0.99 },
    },
  },
});

/** Values for hyperparameters a loss does not use (they never influence its result). */
const NEUTRAL: LossHyperparameters = Object.freeze({ alpha: 0, temperature: 1, multiplier: 1, correctProb: 0.99, epsilon: 0 });

export function isLossName(name: string): name is LossName {
  return (LOSS_NAMES as readonly string[]).includes(name);
}

function entry(name: string): LossEntry {
  if (!isLossName(name)) throw new UsageError(`unknown loss "${name}"`, `choose one of: ${LOSS_NAMES.join(', ')}`);
  return REGISTRY[name];
}

/** The loss function registered under `name` (UsageError for an unknown name). */
export function getLoss(name: string): LossFn {
  return entry(name).fn;
}

/** Whether `name` needs a teacher's soft targets (`--cache`); the others get `soft = null`. */
export function lossNeedsTeacher(name: string): boolean {
  return entry(name).needsTeacher;
}

/** The hyperparameters `name` reads (the others are ignored). */
export function lossHyperparameters(name: string): readonly LossHyperparameterName[] {
  return entry(name).uses;
}

/** Default hyperparameters of `name` in `fidelity` mode; unused ones get neutral values. */
export function defaultLossOptions(name: string, fidelity: Fidelity): LossHyperparameters {
  checkFidelity(fidelity);
  return { ...NEUTRAL, ...entry(name).defaults[fidelity] };
}

function checkFidelity(fidelity: string): asserts fidelity is Fidelity {
  if (!(FIDELITIES as readonly string[]).includes(fidelity)) {
    throw new UsageError(`unknown fidelity "${fidelity}"`, `choose one of: ${FIDELITIES.join(', ')}`);
  }
}

export interface ResolvedLossOptions {
  options: LossOptions;
  /** Hyperparameters the user set that this loss does not read (the CLI should warn or refuse). */
  ignored: LossHyperparameterName[];
}

/**
 * Defaults for (name, fidelity) overlaid with the user's values, validated:
 * α ∈ [0, 1], τ > 0, multiplier ≥ 0, a ∈ [0, 1], ε ∈ [0, 1], K ≥ 2 integer; anything else is a
 * UsageError naming the flag. Undefined overrides are skipped.
 */
export function resolveLossOptions(
  name: string,
  fidelity: Fidelity,
  numClasses: number,
  overrides: Partial<Record<LossHyperparameterName, number | undefined>> = {},
): ResolvedLossOptions {
  const e = entry(name);
  checkFidelity(fidelity);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new UsageError(`a loss needs K ≥ 2 classes, got ${numClasses}`);
  const hp = defaultLossOptions(name, fidelity);
  const ignored: LossHyperparameterName[] = [];
  for (const key of Object.keys(HYPERPARAMETER_FLAGS) as LossHyperparameterName[]) {
    const v = overrides[key];
    if (v === undefined) continue;
    if (!e.uses.includes(key)) ignored.push(key);
    hp[key] = v;
  }
  const bad = (key: LossHyperparameterName, why: string) =>
    new UsageError(`${HYPERPARAMETER_FLAGS[key]} ${hp[key]}: ${why}`, `loss "${name}" reads ${e.uses.map((k) => HYPERPARAMETER_FLAGS[k]).join(', ') || 'no options'}`);
  if (!(hp.alpha >= 0 && hp.alpha <= 1)) throw bad('alpha', 'α must be in [0, 1]');
  if (!(hp.temperature > 0 && Number.isFinite(hp.temperature))) throw bad('temperature', 'τ must be > 0');
  if (!(hp.multiplier >= 0 && Number.isFinite(hp.multiplier))) throw bad('multiplier', 'the multiplier must be ≥ 0');
  if (!(hp.correctProb >= 0 && hp.correctProb <= 1)) throw bad('correctProb', 'a must be in [0, 1]');
  if (!(hp.epsilon >= 0 && hp.epsilon <= 1)) throw bad('epsilon', 'ε must be in [0, 1]');
  return { options: { numClasses, fidelity, ...hp }, ignored };
}

/** One block per loss for `tfkd train --help` and the README: summary and defaults per mode. */
export function describeLosses(): string {
  const lines: string[] = [];
  for (const name of LOSS_NAMES) {
    const e = REGISTRY[name];
    lines.push(`  ${name.padEnd(10)} ${e.summary}${e.needsTeacher ? ' [needs --cache]' : ''}`);
    if (e.uses.length === 0) continue;
    for (const f of FIDELITIES) {
      const d = defaultLossOptions(name, f);
      lines.push(`  ${''.padEnd(10)}   ${f.padEnd(8)} defaults: ${e.uses.map((k) => `${HYPERPARAMETER_FLAGS[k]} ${d[k]}`).join(' ')}`);
    }
  }
  return lines.join('\n');
}
