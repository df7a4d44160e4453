import type { Command } from 'commander';

/** Every command, one file each; each registers itself on the program. */
const commands: Array<(program: Command) => void> = [
];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
