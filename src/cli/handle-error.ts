import { CommanderError, type Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
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

/** The command running when a signal arrives: main.ts records it just before its action starts. */
export interface RunningCommand {
  /** The words after `tfkd`: `precompute`, `data views`, `bench train`. */
  name: string;
  /** Its options as parsed (commander's opts()). */
  opts: Record<string, unknown>;
}

/** Commands whose re-run continues where the interrupted one stopped, and what it keeps. */
const RESUMES: Record<string, string> = {
  precompute: 'run the same command again to resume (the shards already written are kept)',
  merge: 'run the same command again to resume',
  experiment: 'run the same command again to resume (finished steps are kept)',
  demo: 'run the same command again to resume (finished steps are kept)',
};

/**
 * The one line (no hint line: a signal is not a failure of the command) that main.ts prints when
 * SIGINT or SIGTERM ends a command: what was interrupted and how to go on — what actually
 * continues it. Nothing is finished or flushed on a signal: each command's commit protocol
 * (docs/RELIABILITY.md) is what the next run continues from; the rest just run again (an export or
 * a report is written whole or not at all).
 *
 *   precompute, merge      the same command resumes
 *   train                  --resume continues the run (the same command when it has --resume; when
 *                          the run was not created yet — no config.json — the same command starts it)
 *   everything else        the same command again
 */
export function interruptedMessage(signal: NodeJS.Signals, running: RunningCommand | null, exists: (p: string) => boolean = fs.existsSync): string {
  if (!running) return `tfkd: interrupted by ${signal} before a command started; nothing was written`;
  const what = `tfkd: ${running.name} interrupted by ${signal}`;
  if (running.name === 'train') {
    const out = running.opts.out;
    if (running.opts.resume === true) return `${what}; run the same command again to continue from the last checkpoint`;
    if (typeof out === 'string' && !exists(path.join(out, 'config.json'))) return `${what} before the run was created; run the same command again`;
    return `${what}; add --resume to the same command to continue from the last checkpoint`;
  }
  return `${what}; ${RESUMES[running.name] ?? 'run the same command again'}`;
}
