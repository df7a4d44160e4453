import { CommanderError } from 'commander';
import { ZodError } from 'zod';
import { formatZodError, TfkdError } from '../errors.js';

/**
 * The one place that turns an error into output and an exit code. Returns the exit code; the
 * caller (`main`) sets it. One line for the message, a second `hint:` line where we have one.
 * Unexpected errors (bugs) print their stack when TFKD_DEBUG is set.
 */
export function handleError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, --help …)
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof TfkdError) {
    write(`tfkd: ${err.message}\n`);
    if (err.hint) write(`hint: ${err.hint}\n`);
    return err.exitCode;
  }
  if (err instanceof ZodError) {
    write(`tfkd: invalid options: ${formatZodError(err)}\n`);
    return 2;
  }
  const e = err as Error;
  write(`tfkd: ${e?.message ?? String(err)}\n`);
  if (process.env.TFKD_DEBUG && e?.stack) write(`${e.stack}\n`);
  return 1;
}
