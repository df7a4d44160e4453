import type { ZodError } from 'zod';

/**
 * The one vocabulary of failures, at the bottom of the tree so every layer can throw them without
 * importing the CLI. Only the CLI's `handleError` (called from `main`) turns them into a message and
 * an exit code; library users catch them by class:
 *   0 ok · 1 the work failed · 2 bad usage or bad input.
 */
export class TfkdError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad usage or bad input (exit 2): the user can fix it by changing what they pass. */
export class UsageError extends TfkdError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
  }
}

/** The work itself failed (exit 1): a verification mismatch, a runtime that broke, … */
export class WorkError extends TfkdError {
  constructor(message: string, hint?: string) {
    super(message, 1, hint);
  }
}

/**
 * How messages name options: library callers read the API's names (`topk`, `augmentSeed`), CLI
 * users the flags they typed (`--topk`, `--augment-seed`), so each reader is told what to change in
 * what they wrote. 'flag' unless the public entry (src/index.ts) switched to 'api' on import; the
 * CLI's main() sets 'flag' before it runs a command. Lower layers name options with optionName().
 */
let optionStyle: 'api' | 'flag' = 'flag';

export function setOptionStyle(style: 'api' | 'flag'): void {
  optionStyle = style;
}

/** The current style (so a caller that switches it for a moment can switch it back). */
export function getOptionStyle(): 'api' | 'flag' {
  return optionStyle;
}

/** An option's name in a message: `augmentSeed` (API) or `--augment-seed` (CLI). */
export function optionName(name: string): string {
  return optionStyle === 'flag' ? `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : name;
}

/** The prefix of option paths in formatZodError: '--' for the CLI, none for the API. */
export const optionPrefix = (): string => (optionStyle === 'flag' ? '--' : '');

/** Formats a zod error as one line naming each offending path (as a flag, `--eval-crop-pct`, under the '--' prefix). */
export function formatZodError(err: ZodError, prefix = ''): string {
  return err.issues
    .map((i) => {
      const keys = i.path.map(String);
      if (prefix === '--' && keys.length) keys[0] = keys[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const path = keys.length ? `${prefix}${keys.join('.')}` : prefix.replace(/\.$/, '') || 'input';
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/**
 * The integer options of a library call, checked at its edge as the CLI's schemas check the flags:
 * each given value must be an integer ≥ its minimum (a batch of 0 would loop forever, a fraction
 * would reach a typed array). UsageError naming the option; undefined values are skipped.
 */
export function checkIntegerOptions(o: object, mins: Readonly<Record<string, number>>): void {
  const values = o as Record<string, unknown>;
  for (const [k, min] of Object.entries(mins)) {
    const v = values[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new UsageError(`${optionName(k)} ${String(v)}: must be an integer ≥ ${min}`);
  }
}
