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

/** Commander hands numbers over as strings; coerce with a clear message. */
export const intString = (min = 0) => z.coerce.number().int().min(min);
export const numString = () => z.coerce.number().refine(Number.isFinite, 'must be a finite number');

/** Prints a JSON document, the machine-readable form of every command's result. */
export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
