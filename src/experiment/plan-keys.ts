/**
 * What names a step of an experiment plan: its content key (docs/EXPERIMENTS.md; plan.ts says what
 * a key covers), the short form used in directory names, the labels of sweep points, and the
 * resolved `validation:` block every key of a validated design includes.
 */
import { createHash } from 'node:crypto';
import type { Design, SweepKey } from './design-schema.js';
import { canonicalJson } from '../util/canonical-json.js';
import type { HoldoutOptions, SweepValues } from './plan-types.js';

/** Bumped when what a key means changes; part of every key. */
const KEY_VERSION = 'tfkd-experiment-step/1';

export function stepKey(v: unknown): string {
  return createHash('sha256').update(KEY_VERSION).update('\n').update(canonicalJson(v)).digest('hex');
}

export const key8 = (k: string): string => k.slice(0, 8);

/** Short names of swept options in labels and directory names: `a0.5-t4`. */
// The first five keep the labels (and step keys) of designs written before the other losses existed.
const SWEEP_ABBREV: Record<SweepKey, string> = { alpha: 'a', temperature: 't', multiplier: 'm', correct_prob: 'p', epsilon: 'e', beta: 'b', loss_gamma: 'g', ce_weight: 'cw', kd_weight: 'kw', kd_warmup: 'kwu', power: 'pw' };
export const pointLabel = (v: SweepValues): string =>
  (Object.keys(SWEEP_ABBREV) as SweepKey[])
    .filter((k) => v[k] !== undefined)
    .map((k) => `${SWEEP_ABBREV[k]}${v[k]}`)
    .join('-');

/** The resolved `validation:` block. */
export function holdoutOptions(v: NonNullable<Design['validation']>): HoldoutOptions {
  return { fraction: v.fraction ?? (v.size === undefined ? 0.1 : null), size: v.size ?? null, seed: v.seed ?? 0, subset: v.subset ?? null };
}
