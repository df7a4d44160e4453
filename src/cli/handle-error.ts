import { CommanderError, type Command } from 'commander';
import { ZodError } from 'zod';
import { formatZodError, TfkdError, UsageError } from '../errors.js';

/** commander's exits that are not failures: help asked for (or shown for a bare command group) and --version. */
const COMMANDER_NOT_ERRORS = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** Whether a CommanderError is a parse error of the command line (exit 2), not help or --version. */
export const isCommanderParseError = (err: CommanderError): boolean => err.exitCode !== 0 && !COMMANDER_NOT_ERRORS.has(err.code);

/** `tfkd data info`: the words a user types to reach `c`. */
export function commandPath(c: Command): string {
  const words: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) words.unshift(x.name());
  return words.join(' ');
}

/**
 * A parse error of commander's (unknown option or command, an option's missing value, a missing or
 * extra argument) as tfkd's own: the message without commander's `error: ` prefix, one line, and a
 * hint naming the `--help` of the command it happened in (`tfkd train --help lists the options`),
 * after commander's suggestion when it has one (`did you mean --epochs?`). Commander itself prints
 * nothing (main.ts silences its error output), so handleError prints it like every other error.
 */
export function commanderUsageError(err: CommanderError, command = 'tfkd'): UsageError {
  const [first, ...rest] = err.message.replace(/^error: /, '').split('\n');
  const suggestion = /^\(Did you mean (.+)\?\)$/.exec(rest.join(' ').trim())?.[1];
  const what =
    err.code === 'commander.unknownCommand' ? 'lists the commands' : err.code === 'commander.missingArgument' || err.code === 'commander.excessArguments' ? 'shows its usage' : 'lists the options';
  const help = `${command} --help ${what}`;
  return new UsageError(first.trim(), suggestion ? `did you mean ${suggestion}? (${help})` : help);
}

/**
 * The one place that turns an error into output and an exit code. Returns the exit code; the
 * caller (`main`) sets it. One line for the message, a second `hint:` line where we have one.
 * With `--verbose` (or TFKD_DEBUG set) the stack follows. Errors from the operating system that
 * reach here (a bug: every path we write goes through a wrapper that names it) keep their code
 * and path on the one line.
 */
export function handleError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s), opts: { verbose?: boolean } = {}): number {
  const verbose = opts.verbose === true || !!process.env.TFKD_DEBUG;
  const stack = (): void => {
    const st = (err as Error)?.stack;
    if (verbose && st) write(`${st}\n`);
  };
  if (err instanceof CommanderError) {
    // Help and --version were printed by commander; a parse error arrives here as a UsageError
    // (main.ts's exitOverride, naming the command) — or, from elsewhere, is formatted the same way.
    if (!isCommanderParseError(err)) return 0;
    err = commanderUsageError(err);
  }
  if (err instanceof TfkdError) {
    write(`tfkd: ${err.message}\n`);
    if (err.hint) write(`hint: ${err.hint}\n`);
    stack();
    return err.exitCode;
  }
  if (err instanceof ZodError) {
    write(`tfkd: invalid options: ${formatZodError(err)}\n`);
    stack();
    return 2;
  }
  const e = err as NodeJS.ErrnoException;
  const msg = (e?.message ?? String(err)).split('\n')[0];
  const where = e?.path && !msg.includes(e.path) ? ` (${e.path})` : '';
  write(`tfkd: ${msg}${where}\n`);
  stack();
  return 1;
}
