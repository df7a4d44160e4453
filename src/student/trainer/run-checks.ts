/**
 * Options that are valid on their own but not for this run: refused (exit 2, one line) before the
 * run starts instead of being accepted silently and doing nothing or the opposite of what was meant.
 */
import { optionName, UsageError } from '../../errors.js';
import { epochSteps, type TrainConfig } from './config.js';

/** `--stop-after N`: N ≥ 1 (0 would stop before the first epoch: a run that trains nothing). */
export function checkStopAfter(stopAfter: number | undefined): void {
  if (stopAfter !== undefined && !(Number.isInteger(stopAfter) && stopAfter >= 1)) {
    throw new UsageError(`${optionName('stopAfter')} must be an integer ≥ 1 (epochs to train in this session), got ${stopAfter}`);
  }
}

/**
 * Checks that need the number of training samples: `--save-at` points inside the run (an epoch or
 * step past the last is never reached). (`--correct-prob` ≥ 1/K is the loss registry's check.)
 */
export function checkRunOptions(config: TrainConfig, trainSamples: number): void {
  const s = config.saveAt;
  if (s) {
    // Steps are optimizer updates (with --grad-accum-steps, fewer than batches).
    const { steps } = epochSteps(config, trainSamples);
    const last = s.unit === 'epoch' ? config.epochs : config.epochs * steps;
    const past = s.at.filter((n) => n > last);
    if (past.length) {
      throw new UsageError(
        `${optionName('saveAt')}: ${s.unit} ${past.join(', ')} ${past.length > 1 ? 'are' : 'is'} past the run's last ${s.unit} (${last}), never reached`,
        s.unit === 'epoch' ? `raise ${optionName('epochs')} or save at epochs ≤ ${last}` : `save at steps ≤ ${last} (${config.epochs} epochs × ${steps} steps)`,
      );
    }
  }
}
