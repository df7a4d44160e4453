/**
 * Options that are valid on their own but not for this run: refused (exit 2, one line) before the
 * run starts instead of being accepted silently and doing nothing or the opposite of what was meant.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { optionName, UsageError } from '../../errors.js';
import { epochSteps, type TrainConfig } from './config.js';
import { recoverCheckpoints } from './recovery.js';
import { readJson, runPaths } from './run-dir.js';

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

/**
 * `--resume --save-at`: a checkpoint at an epoch or step the run has already passed can no longer
 * be saved; it must be one the run already holds (saved by an earlier session), else it is refused
 * rather than recorded in config.json and never written.
 */
export function checkResumeSaveAt(run: string, saveAt: TrainConfig['saveAt'], done: { epoch: number; step: number }, has: (name: string) => boolean): void {
  if (!saveAt) return;
  const reached = saveAt.unit === 'epoch' ? done.epoch : done.step;
  const lost = saveAt.at.filter((n) => n <= reached && !has(`${saveAt.unit}-${n}`));
  if (lost.length) {
    throw new UsageError(
      `${optionName('saveAt')}: ${run} is already past ${saveAt.unit} ${lost.join(', ')} (its last checkpoint is after ${saveAt.unit} ${reached}) and holds no checkpoint there`,
      `save at ${saveAt.unit}s after ${reached}, or train a new run to keep ${lost.length > 1 ? 'those' : 'that one'}`,
    );
  }
}

/** Where a run's last checkpoint is: after `epoch` epochs, and (--checkpoint-every) after `batch` batches of the next. */
interface ResumePoint {
  epoch: number;
  batch?: number;
}

/**
 * `--resume --epochs N`: N must reach the run's last checkpoint, whose weights are already past
 * the epochs before it. After epoch E (between epochs, or a finished run), N ≥ E — N = E ends the
 * run there; inside epoch E + 1 (--checkpoint-every), N ≥ E + 1. Fewer would record N epochs
 * beside E epochs of metrics and weights (and `repro` would re-run N). Refused with exit 2.
 */
export function checkResumeEpochs(run: string, epochs: number, at: ResumePoint): void {
  const resume = `resume with ${optionName('epochs')}`;
  if (at.batch !== undefined) {
    if (epochs <= at.epoch) throw new UsageError(`${optionName('epochs')} ${epochs}: ${run} is already inside epoch ${at.epoch + 1} (its last checkpoint is after batch ${at.batch})`, `${resume} ${at.epoch + 1} or more`);
  } else if (epochs < at.epoch) {
    throw new UsageError(`${optionName('epochs')} ${epochs}: ${run} is already past epoch ${epochs} (its last checkpoint is after epoch ${at.epoch})`, `${resume} ${at.epoch} or more`);
  }
}

/**
 * checkResumeEpochs and checkResumeSaveAt before anything is opened or printed (called under the
 * run's lock): the resume point as last/state.json records it, a half-swapped last/ restored first
 * as the resume itself would. A state.json that cannot be read is left to the resume, which
 * reports it (and checks --save-at again against the checkpoint it actually loads).
 */
export function checkResumeEarly(run: string, input: { epochs?: unknown; saveAt?: TrainConfig['saveAt'] }): void {
  const paths = runPaths(run);
  recoverCheckpoints(paths.checkpoints);
  const file = path.join(paths.checkpoint('last'), 'state.json');
  if (!fs.existsSync(file)) return;
  let at: Partial<ResumePoint & { step: number }>;
  try {
    at = readJson<Partial<ResumePoint & { step: number }>>(file);
  } catch {
    return;
  }
  if (typeof at.epoch !== 'number') return;
  if (typeof input.epochs === 'number') checkResumeEpochs(run, input.epochs, { epoch: at.epoch, ...(typeof at.batch === 'number' ? { batch: at.batch } : {}) });
  if (typeof at.step === 'number') checkResumeSaveAt(run, input.saveAt ?? null, { epoch: at.epoch, step: at.step }, (name) => fs.existsSync(paths.checkpoint(name)));
}
