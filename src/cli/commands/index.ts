import type { Command } from 'commander';
import { register as benchPrecompute } from './bench-precompute.js';
import { register as benchTrain } from './bench-train.js';
import { register as data } from './data.js';
import { register as demo } from './demo.js';
import { register as experiment } from './experiment.js';
import { register as report } from './report.js';
import { register as train } from './train.js';
import { register as evalCmd } from './eval.js';
import { register as exportCmd } from './export.js';
import { register as precompute } from './precompute.js';
import { register as merge } from './merge.js';
import { register as verify } from './verify.js';

/** Every command, one file each; each registers itself on the program. */
const commands: Array<(program: Command) => void> = [
  // In pipeline order, as `tfkd --help` lists them.
  data,
  precompute,
  merge,
  verify,
  train,
  evalCmd,
  exportCmd,
  experiment,
  report,
  benchTrain,
  benchPrecompute,
  demo,
];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
