import { z } from 'zod';
import { UsageError } from '../errors.js';
import { formatZodError } from '../errors.js';

/**
 * Validates commander's option bag once, at the edge. Unknown keys are rejected by the schemas
 * (z.strictObject); any problem becomes a UsageError (exit 2) naming the option.
 */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, what = 'options'): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new UsageError(`invalid ${what}: ${formatZodError(r.error, '--')}`);
  return r.data;
}

/**
 * Values on the command line: commander hands every one over as a string. The coercers of all
 * commands, so the same input gets the same answer everywhere:
 *  - `num(what)` / `int(what)`: a finite number / an integer, refused with `WHAT must be a
 *    number, got "S"` / `WHAT must be an integer`. A blank string is refused (Number('') is 0,
 *    and an unset shell variable must not read as 0). Bounds are the config schema's business.
 *  - `intString(min)`: an integer ≥ min that stays a plain zod number, so further bounds chain on
 *    it (`.max(n)`, `.default(n)`); zod's coercion and messages (a blank reads as 0, then meets `min`).
 *  - `list(what, parse)`: a value parsed by `parse`, its error message reworded to name `what`.
 */
export const num = (what: string) =>
  z.string().transform((s, ctx) => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) {
      ctx.addIssue({ code: 'custom', message: `${what} must be a number, got "${s}"` });
      return z.NEVER;
    }
    return v;
  });
export const int = (what: string) => num(what).refine((v) => Number.isInteger(v), `${what} must be an integer`);
export const intString = (min = 0) => z.coerce.number().int().min(min);
export const list = <T>(what: string, parse: (s: string) => T) =>
  z.string().transform((s, ctx) => {
    try {
      return parse(s);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^[^:]*: /, `${what}: `) });
      return z.NEVER;
    }
  });

/** Prints a JSON document, the machine-readable form of every command's result. */
export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
