/**
 * A cache standing for a teacher on the samples of a data set: what `tfkd eval` scores as a model,
 * what `eval --teacher-cache` and `train --test-cache` measure fidelity against. One set of checks
 * before any row is read, and one way to read a teacher's rows for evaluate.ts.
 */
import { optionName, UsageError } from '../errors.js';
import { openCache, type CacheReader } from '../cache/reader.js';
import { readManifest, type Manifest } from '../cache/manifest.js';
import { fingerprint } from '../data/fingerprint.js';
import type { Dataset } from '../data/dataset.js';
import type { TeacherRows } from './evaluate.js';

/**
 * The cache at `dir` (manifest `m`) opened for the samples of `ds`: a whole cache (not one part of
 * a job array) of the same split, then the reader's own checks (fingerprint, K, N). `role` names
 * the cache in the messages; `wrongSplit` says why another split is wrong, and the fix.
 */
export async function openCacheFor(dir: string, m: Manifest, ds: Dataset, role: string, wrongSplit: { why: string; fix: string }): Promise<CacheReader> {
  if (m.part) {
    throw new UsageError(`${role} ${dir} is part ${m.part.index + 1} of ${m.part.count} of a job array (samples ${m.part.sampleStart}–${m.part.sampleEnd - 1})`, 'tfkd merge the parts, then evaluate the merged cache');
  }
  if (ds.split !== m.data.split) {
    throw new UsageError(`${role} ${dir} holds the teacher's outputs on the ${m.data.split} split; ${wrongSplit.why}`, wrongSplit.fix);
  }
  return openCache(dir, { fingerprint: await fingerprint(ds), split: ds.split, numClasses: ds.numClasses, N: ds.size });
}

/**
 * The teacher's view-0 rows (the un-augmented image) by sample: its logits, and for a top-k cache
 * its probabilities at τ = 1 — its logits stand for the tail only through the stored mass, which
 * softTargets spreads evenly (docs/CACHE.md, "Top-k caches").
 */
export function teacherRowsOf(reader: CacheReader): (idx: Int32Array) => TeacherRows {
  return (idx) => {
    const view0 = new Int32Array(idx.length);
    const logits = reader.readLogits(idx, view0);
    return reader.topk === null ? { logits } : { logits, probs: reader.softTargets(idx, view0, 1) };
  };
}

/** The samples a cache has no teacher's row for (precompute --skip-bad could not decode them). */
export function skippedSamples(m: Manifest | null | undefined): Set<number> {
  return new Set((m?.skipped ?? []).map((x) => x.sample));
}

/**
 * The cache of `--teacher-cache` / `--test-cache` (`option`), opened for the samples of `ds` with
 * openCacheFor's checks; on another split the advice is to precompute the teacher on this one
 * (or, where the caller can, `evaluateOther`, to evaluate on the cache's split).
 */
export async function openFidelityCache(dir: string, ds: Dataset, option: string, evaluateOther: boolean): Promise<{ manifest: Manifest; reader: CacheReader }> {
  const m = readManifest(dir);
  const reader = await openCacheFor(dir, m, ds, optionName(option), {
    why: `the model is evaluated on the ${ds.split} split`,
    fix: `precompute the teacher on the ${ds.split} split (tfkd precompute … --split ${ds.split})${evaluateOther ? `, or evaluate on the ${m.data.split} split (${optionName('split')} ${m.data.split})` : ''}`,
  });
  return { manifest: m, reader };
}
