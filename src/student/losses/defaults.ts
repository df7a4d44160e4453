/**
 * What each loss reads and its default hyperparameters per fidelity mode: the loss registry's data
 * without its formulas. Kept apart from index.ts because that one loads tfjs (the formulas), while
 * an experiment design needs these defaults long before any tensor exists.
 */
import { FIDELITIES, LOSS_NAMES, type Fidelity, type LossHyperparameterName, type LossHyperparameters, type LossName } from '../../catalog.js';
import { UsageError } from '../../errors.js';

/** The hyperparameters each loss reads (the others are ignored). */
const USES: Readonly<Record<LossName, readonly LossHyperparameterName[]>> = Object.freeze({
  ce: [],
  lsr: ['epsilon'],
  kd: ['alpha', 'temperature'],
  'tfkd-self': ['alpha', 'temperature', 'multiplier'],
  'tfkd-reg': ['alpha', 'temperature', 'multiplier', 'correctProb'],
});

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
const DEFAULTS: Readonly<Record<LossName, Record<Fidelity, Partial<LossHyperparameters>>>> = Object.freeze({
  ce: { paper: {}, official: {} },
  lsr: { paper: { epsilon: 0.1 }, official: { epsilon: 0.1 } },
  kd: { paper: { alpha: 0.95, temperature: 20 }, official: { alpha: 0.95, temperature: 20 } },
  'tfkd-self': { paper: { alpha: 0.95, temperature: 6, multiplier: 1 }, official: { alpha: 0.95, temperature: 6, multiplier: 50 } },
  'tfkd-reg': {
    paper: { alpha: 0.1, temperature: 20, multiplier: 1, correctProb: 0.99 },
    official: { alpha: 0.1, temperature: 20, multiplier: 100, correctProb: 0.99 },
  },
});

/** Values for hyperparameters a loss does not use (they never influence its result). */
const NEUTRAL: LossHyperparameters = Object.freeze({ alpha: 0, temperature: 1, multiplier: 1, correctProb: 0.99, epsilon: 0 });

export function isLossName(name: string): name is LossName {
  return (LOSS_NAMES as readonly string[]).includes(name);
}

/** `name` as a LossName, or the UsageError every registry function gives for an unknown loss. */
export function checkLossName(name: string): LossName {
  if (!isLossName(name)) throw new UsageError(`unknown loss "${name}"`, `choose one of: ${LOSS_NAMES.join(', ')}`);
  return name;
}

export function checkFidelity(fidelity: string): asserts fidelity is Fidelity {
  if (!(FIDELITIES as readonly string[]).includes(fidelity)) {
    throw new UsageError(`unknown fidelity "${fidelity}"`, `choose one of: ${FIDELITIES.join(', ')}`);
  }
}

/** The hyperparameters `name` reads (the others are ignored). */
export function lossHyperparameters(name: string): readonly LossHyperparameterName[] {
  return USES[checkLossName(name)];
}

/** Default hyperparameters of `name` in `fidelity` mode; unused ones get neutral values. */
export function defaultLossOptions(name: string, fidelity: Fidelity): LossHyperparameters {
  checkFidelity(fidelity);
  return { ...NEUTRAL, ...DEFAULTS[checkLossName(name)][fidelity] };
}

/**
 * The defaults of `name` that every fidelity mode shares, for hyperparameters it reads: what a
 * caller may fix before it knows the mode (an experiment design). The rest (the official
 * multipliers) is left to the trainer, which knows the run's fidelity.
 */
export function sharedLossDefaults(name: string): Partial<LossHyperparameters> {
  const per = FIDELITIES.map((f) => defaultLossOptions(name, f));
  const out: Partial<LossHyperparameters> = {};
  for (const k of lossHyperparameters(name)) if (per.every((d) => d[k] === per[0][k])) out[k] = per[0][k];
  return out;
}
