import type { Command } from 'commander';
import { SUMMARIES, type CommandName } from './summaries.js';

type Register = (program: Command) => void;

/**
 * Every command, one file each, loaded only when it runs: `tfkd data info` should not pay for
 * tfjs (~1.3 s), vega (~0.5 s) or sharp. Listed in pipeline order, as `tfkd --help` shows them.
 */
const LOADERS: Record<CommandName, () => Promise<Register[]>> = {
  data: async () => [(await import('./data.js')).register],
  precompute: async () => [(await import('./precompute.js')).register],
  merge: async () => [(await import('./merge.js')).register],
  verify: async () => [(await import('./verify.js')).register],
  train: async () => [(await import('./train.js')).register],
  eval: async () => [(await import('./eval.js')).register],
  export: async () => [(await import('./export.js')).register],
  experiment: async () => [(await import('./experiment.js')).register],
  report: async () => [(await import('./report.js')).register],
  repro: async () => [(await import('./repro.js')).register],
  bench: async () => [(await import('./bench-train.js')).register, (await import('./bench-precompute.js')).register, (await import('./bench-render.js')).register, (await import('./bench-micro.js')).register],
  demo: async () => [(await import('./demo.js')).register],
  doctor: async () => [(await import('./doctor.js')).register],
};

const COMMAND_NAMES = Object.keys(LOADERS) as CommandName[];

const isCommand = (s: string | undefined): s is CommandName => s !== undefined && Object.hasOwn(LOADERS, s);

/**
 * Registers the commands `argv` needs: the one it names (also via `help NAME`), else — for the
 * top-level help or an unknown name, which commander then reports — one-line entries for all.
 * Without `argv`, every command is loaded in full (tests, tooling).
 */
export async function registerCommands(program: Command, argv?: readonly string[]): Promise<void> {
  if (!argv) {
    for (const name of COMMAND_NAMES) for (const register of await LOADERS[name]()) register(program);
    return;
  }
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  if (isCommand(name)) {
    for (const register of await LOADERS[name]()) register(program);
    return;
  }
  for (const n of COMMAND_NAMES) program.command(n).description(SUMMARIES[n]);
}
