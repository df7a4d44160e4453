/**
 * Losses from outside the registry: a module (`--loss ./my-loss.mjs`, exporting a LossEntry as its
 * default export or as `loss`) or, through the API, an entry or a bare function. The shape is checked
 * once here; what the function computes is the user's (the trainer still guards against NaN and
 * explosion). A module's sha256 goes into the run manifest, and `--resume` / `repro` refuse a module
 * that changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { UsageError, WorkError, formatZodError, optionName } from '../../errors.js';
import { sha256File } from '../../util/hash.js';
import { isLossName } from './registry.js';
import { LOSS_OPTION_NAMES, type LossEntry, type LossFn } from './types.js';

const specSchema = z.strictObject({
  help: z.string(),
  default: z.union([z.number(), z.strictObject({ paper: z.number(), official: z.number() })]),
  min: z.number().optional(),
  minExclusive: z.boolean().optional(),
  max: z.number().optional(),
  maxExclusive: z.boolean().optional(),
  integer: z.boolean().optional(),
});
const optionsSchema = z.partialRecord(z.enum(LOSS_OPTION_NAMES), specSchema);

const entrySchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a name of letters, digits, "_", "." and "-"'),
  summary: z.string().default(''),
  formula: z.string().default(''),
  source: z.string().default(''),
  teacher: z.enum(['none', 'probs', 'whole', 'logits']),
  options: optionsSchema.default({}),
  standardized: optionsSchema.optional(),
  selfHistory: z.boolean().optional(),
  fidelityModes: z.boolean().optional(),
  mixedTargets: z.union([z.literal(true), z.string()]).optional(),
  fn: z.custom<LossFn>((v) => typeof v === 'function', 'fn must be a function (ctx) => tf.Scalar'),
});

/** `x` as a LossEntry, or a UsageError saying what is wrong (`where`: the module or "loss"). */
export function checkLossEntry(x: unknown, where: string): LossEntry {
  const r = entrySchema.safeParse(x);
  if (!r.success) throw new UsageError(`${where}: not a loss entry (${formatZodError(r.error)})`, 'export { name, teacher: "none"|"probs"|"whole"|"logits", options: {}, fn: (ctx) => scalar } (docs/LOSSES.md)');
  if (isLossName(r.data.name)) throw new UsageError(`${where}: the name "${r.data.name}" is a built-in loss's`, 'give a user loss a name of its own');
  return guardHostReads(r.data as LossEntry);
}

/**
 * A user loss that reads a tensor on the host inside its function (`dataSync`, `arraySync`) works
 * on the CPU backends, but on webgpu in Node it fails deep inside tfjs with "OffscreenCanvas is not
 * defined" (there is no synchronous GPU read in Node): said here in one line, with what to do.
 * The built-in losses never read on the host (test/student/losses/webgpu.test.ts).
 */
function guardHostReads(entry: LossEntry): LossEntry {
  const fn: LossFn = (ctx) => {
    try {
      return entry.fn(ctx);
    } catch (e) {
      if (e instanceof Error && /OffscreenCanvas is not defined/.test(e.message)) {
        throw new WorkError(
          `loss ${entry.name} reads a tensor on the host inside its function (dataSync/arraySync), which the webgpu backend cannot do in Node`,
          `compute it with tensor ops (ctx.tf), or train with ${optionName('backend')} wasm`,
        );
      }
      throw e;
    }
  };
  return { ...entry, fn };
}

/** A bare function as an entry: it reads no options; it sees the teacher's rows when caches are given. */
export function lossFromFunction(fn: LossFn, withTeacher: boolean): LossEntry {
  const name = fn.name && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(fn.name) && !isLossName(fn.name) ? fn.name : 'custom';
  return guardHostReads({ name, summary: 'user function', formula: '', source: 'API', teacher: withTeacher ? 'probs' : 'none', options: {}, fn });
}

/** Whether a `--loss` value names a module rather than a built-in loss. */
export function isLossModuleSpec(spec: string): boolean {
  return /[\\/]/.test(spec) || /\.(mjs|cjs|js)$/.test(spec);
}

/** Imports a loss module; its entry and the sha256 of its bytes. UsageError (exit 2) when it has none. */
export async function loadLossModule(spec: string, cwd = process.cwd()): Promise<{ entry: LossEntry; file: string; sha256: string }> {
  const file = path.resolve(cwd, spec);
  const flag = `${optionName('loss')} ${spec}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new UsageError(`${flag}: no such file`, 'a built-in loss name, or the path of an ES module exporting a loss entry');
  }
  if (!st.isFile()) throw new UsageError(`${flag}: not a file`);
  const sha256 = sha256File(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${flag}: cannot be imported (${(e as Error).message.split('\n')[0]})`);
  }
  const cand = mod.default ?? mod.loss;
  if (cand === undefined) throw new UsageError(`${flag} exports no loss entry`, 'export default { name, teacher, options, fn } (or export const loss = …); docs/LOSSES.md');
  return { entry: checkLossEntry(cand, flag), file, sha256 };
}
