import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';

/** The `bench` command group: created by whichever bench subcommand registers first, then shared. */
export function benchGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description(SUMMARIES.bench);
}
