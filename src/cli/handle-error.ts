import { CommanderError } from 'commander';
import { ZodError } from 'zod';
import { formatZodError, TfkdError } from '../errors.js';

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
    // commander already printed its message (unknown option, missing argument, --help …)
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
    return err.exitCode === 0 ? 0 : 2;
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
