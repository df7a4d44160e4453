/**
 * The loss registry: every built-in loss by name, one line each. Everything else that lists losses or
 * their options — `tfkd train --help`, the CLI's flags, the trainer's config checks, the experiment
 * design's kinds and sweep keys, the report's hyperparameter columns, docs/LOSSES.md — derives from
 * these entries (torchdistill's `register_*_loss` is the model). Adding a loss is one file exporting
 * a LossEntry and one line in BUILTIN (docs/LOSSES.md, "Adding a loss").
 */
import { FIDELITIES, type Fidelity } from '../../catalog.js';
import { UsageError, optionName } from '../../errors.js';
import { ce } from './ce.js';
import { dist } from './dist.js';
import { dkd } from './dkd.js';
import { hardKd } from './hard-kd.js';
import { kd } from './kd.js';
import { lsr } from './lsr.js';
import { nkd } from './nkd.js';
import { psKd } from './ps-kd.js';
import { tfkdReg } from './tfkd-reg.js';
import { tfkdSelf } from './tfkd-self.js';
import { LOSS_OPTION_NAMES, type LossEntry, type LossOptionName, type LossOptions, type LossOptionSpec, type TeacherAccess } from './types.js';
import { wsld } from './wsld.js';
import { zipfLs } from './zipf-ls.js';

const BUILTIN: readonly LossEntry[] = Object.freeze([ce, lsr, kd, tfkdSelf, tfkdReg, dkd, dist, nkd, wsld, psKd, zipfLs, hardKd]);

const BY_NAME: ReadonlyMap<string, LossEntry> = new Map(BUILTIN.map((e) => [e.name, e]));

/** Built-in loss names, in the order `--help` lists them. */
export const LOSS_NAMES: readonly string[] = Object.freeze(BUILTIN.map((e) => e.name));

/** Every built-in entry (read-only). */
export function builtinLosses(): readonly LossEntry[] {
  return BUILTIN;
}

export function isLossName(name: string): boolean {
  return BY_NAME.has(name);
}

/** The built-in entry named `name`, or the UsageError every caller gives for an unknown loss. */
export function lossEntry(name: string): LossEntry {
  const e = BY_NAME.get(name);
  if (!e) {
    throw new UsageError(`unknown loss "${name}"`, `choose one of: ${LOSS_NAMES.join(', ')} — or a module: ${optionName('loss')} ./my-loss.mjs`);
  }
  return e;
}

/**
 * A run whose views are mixed (Mixup/CutMix) trains on mixed labels: the loss must read them
 * (`mixedTargets: true`), else one line saying why it cannot (exit 2).
 */
export function checkMixedTargets(entry: LossEntry): void {
  if (entry.mixedTargets === true) return;
  const why = entry.mixedTargets ?? `it does not declare mixedTargets: true, so it would learn the un-mixed label of a mixed image`;
  throw new UsageError(`loss ${entry.name} cannot train on mixed views (mixup/cutmix): ${why}`, `losses that can: ${BUILTIN.filter((e) => e.mixedTargets === true).map((e) => e.name).join(', ')} — or drop mixup/cutmix from ${optionName('augment')}`);
}

/** The losses that have a --logit-standardization form. */
export function standardizableLosses(): string[] {
  return BUILTIN.filter((e) => e.standardized).map((e) => e.name);
}

/** The options `entry` reads (in LOSS_OPTION_NAMES order), with or without logit standardization. */
function entryOptionSpecs(entry: LossEntry, logitStandardization: boolean): Array<[LossOptionName, LossOptionSpec]> {
  if (logitStandardization && !entry.standardized) {
    throw new UsageError(
      `loss ${entry.name} has no ${optionName('logitStandardization')} form`,
      `it applies to: ${standardizableLosses().join(', ')}`,
    );
  }
  const table = logitStandardization ? entry.standardized! : entry.options;
  return LOSS_OPTION_NAMES.filter((k) => table[k] !== undefined).map((k) => [k, table[k]!]);
}

/** The option names `entry` reads. */
export function entryOptionNames(entry: LossEntry, logitStandardization = false): LossOptionName[] {
  return entryOptionSpecs(entry, logitStandardization).map(([k]) => k);
}

/** How `entry` reads the teacher: standardization needs each row's raw logits. */
export function teacherAccess(entry: LossEntry, logitStandardization: boolean): TeacherAccess {
  return logitStandardization ? 'logits' : entry.teacher;
}

export function specDefault(spec: LossOptionSpec, fidelity: Fidelity): number {
  return typeof spec.default === 'number' ? spec.default : spec.default[fidelity];
}

/** Why `v` is outside `spec`'s range, or null. */
function outOfRange(spec: LossOptionSpec, v: number): string | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a finite number';
  if (spec.integer && !Number.isInteger(v)) return 'must be an integer';
  const lo = spec.min === undefined ? null : `${spec.minExclusive ? '>' : '≥'} ${spec.min}`;
  const hi = spec.max === undefined ? null : `${spec.maxExclusive ? '<' : '≤'} ${spec.max}`;
  const range = [lo, hi].filter(Boolean).join(' and ');
  if (spec.min !== undefined && (spec.minExclusive ? !(v > spec.min) : !(v >= spec.min))) return `must be ${range}`;
  if (spec.max !== undefined && (spec.maxExclusive ? !(v < spec.max) : !(v <= spec.max))) return `must be ${range}`;
  return null;
}

/** A sentence naming the options a loss reads, for hints. */
export function readsHint(entry: LossEntry, logitStandardization: boolean): string {
  const names = entryOptionNames(entry, logitStandardization).map((k) => optionName(k));
  return `loss ${entry.name}${logitStandardization ? ` with ${optionName('logitStandardization')}` : ''} reads ${names.length ? names.join(', ') : 'no options'}`;
}

/**
 * The defaults of (entry, fidelity, standardization) overlaid with the user's values. An option the
 * loss does not read is an error (not a warning: a sweep over it would train identical models), as is
 * a value outside the loss's range. Undefined values are skipped.
 */
export function resolveLossOptions(
  entry: LossEntry,
  fidelity: Fidelity,
  numClasses: number,
  logitStandardization: boolean,
  given: Partial<Record<LossOptionName, number | undefined>> = {},
): LossOptions {
  if (!(FIDELITIES as readonly string[]).includes(fidelity)) throw new UsageError(`unknown fidelity "${fidelity}"`, `choose one of: ${FIDELITIES.join(', ')}`);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new UsageError(`a loss needs K ≥ 2 classes, got ${numClasses}`);
  const specs = new Map(entryOptionSpecs(entry, logitStandardization));
  const out: LossOptions = { numClasses, fidelity, logitStandardization };
  for (const key of LOSS_OPTION_NAMES) {
    const v = given[key];
    if (v === undefined) continue;
    if (!specs.has(key)) throw new UsageError(`loss ${entry.name} does not read ${optionName(key)}`, readsHint(entry, logitStandardization));
  }
  for (const [key, spec] of specs) {
    const v = given[key] ?? specDefault(spec, fidelity);
    const why = outOfRange(spec, v);
    if (why) throw new UsageError(`${optionName(key)} ${v}: ${why}`, readsHint(entry, logitStandardization));
    out[key] = v;
  }
  // A virtual teacher below 1/K puts more mass on each wrong class than on the true one.
  if (out.correctProb !== undefined && out.correctProb < 1 / numClasses) {
    throw new UsageError(`${optionName('correctProb')} ${out.correctProb}: must be ≥ 1/K = ${1 / numClasses} (below it the virtual teacher prefers every wrong class to the label)`);
  }
  return out;
}

/** `--alpha 0.95 --temperature 20`: the defaults of (entry, standardization, fidelity), in option order. */
export function defaultsText(entry: LossEntry, logitStandardization: boolean, fidelity: Fidelity): string {
  return entryOptionSpecs(entry, logitStandardization)
    .map(([k, s]) => `${optionName(k)} ${specDefault(s, fidelity)}`)
    .join(' ');
}

/** One block per loss for `tfkd train --help`: summary, what it needs, defaults per mode. */
export function describeLosses(): string {
  const lines: string[] = [];
  const flags = defaultsText;
  for (const e of BUILTIN) {
    const needs = e.teacher === 'none' ? '' : e.teacher === 'whole' ? ' [needs --cache, all logits]' : ' [needs --cache]';
    lines.push(`  ${e.name.padEnd(10)} ${e.summary}${needs}`);
    if (entryOptionNames(e).length === 0) continue;
    if (e.fidelityModes) for (const f of FIDELITIES) lines.push(`  ${''.padEnd(10)}   ${f.padEnd(8)} defaults: ${flags(e, false, f)}`);
    else lines.push(`  ${''.padEnd(10)}   defaults: ${flags(e, false, 'paper')}`);
    if (e.standardized) lines.push(`  ${''.padEnd(10)}   with --logit-standardization: ${flags(e, true, 'paper')}`);
  }
  return lines.join('\n');
}
