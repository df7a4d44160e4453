/**
 * Options that are valid on their own but not for this run: refused (exit 2, one line) before the
 * run starts instead of being accepted silently and doing nothing or the opposite of what was meant.
 */
import { optionName, UsageError } from '../../errors.js';
import { lossHyperparameters } from '../losses/index.js';
import type { TrainConfig } from './config.js';

/** `--stop-after N`: N ≥ 1 (0 would stop before the first epoch: a run that trains nothing). */
export function checkStopAfter(stopAfter: number | undefined): void {
  if (stopAfter !== undefined && !(Number.isInteger(stopAfter) && stopAfter >= 1)) {
    throw new UsageError(`${optionName('stopAfter')} must be an integer ≥ 1 (epochs to train in this session), got ${stopAfter}`);
  }
}

/**
 * Checks that need K and the number of training samples: `--correct-prob` a ≥ 1/K for a loss that
 * reads it (a = 1/K makes the virtual teacher uniform, below it the true class is the *least*
 * likely), and `--save-at` points inside the run (an epoch or step past the last is never reached).
 */
export function checkRunOptions(config: TrainConfig, numClasses: number, trainSamples: number): void {
  if (lossHyperparameters(config.loss).includes('correctProb') && config.correctProb < 1 / numClasses) {
    throw new UsageError(
      `${optionName('correctProb')} ${config.correctProb} is below 1/K = ${(1 / numClasses).toPrecision(3)} (K = ${numClasses}): the virtual teacher would make the true class the least likely`,
      `choose a in [${(1 / numClasses).toPrecision(3)}, 1] (the paper uses 0.99)`,
    );
  }
  const s = config.saveAt;
  if (s) {
    const last = s.unit === 'epoch' ? config.epochs : config.epochs * Math.ceil(trainSamples / config.batch);
    const past = s.at.filter((n) => n > last);
    if (past.length) {
      throw new UsageError(
        `${optionName('saveAt')}: ${s.unit} ${past.join(', ')} ${past.length > 1 ? 'are' : 'is'} past the run's last ${s.unit} (${last}), never reached`,
        s.unit === 'epoch' ? `raise ${optionName('epochs')} or save at epochs ≤ ${last}` : `save at steps ≤ ${last} (${config.epochs} epochs × ${Math.ceil(trainSamples / config.batch)} steps)`,
      );
    }
  }
}
