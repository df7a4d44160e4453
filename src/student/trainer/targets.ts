/**
 * What each training sample looks like in each epoch (its *view*) and where its soft targets come
 * from. This is where the index-keyed-cache bug (a teacher's view of an image paired with a
 * different student view) is made impossible:
 *
 *  - `cache` mode — the caches hold V > 1 views (row (i, v) = the teacher's logits for view v of
 *    sample i under the cache's augmentation spec and seed). In epoch e sample i is trained on
 *    view v = hashU32(seed, e, i) mod V; the trainer rebuilds exactly that image with
 *    `augment(pixels, shape, spec, augSeed, i, v)` (view 0 = the original) and reads row (i, v).
 *  - `fresh` mode — no teacher cache (or a single-view cache with --allow-inconsistent-views): the
 *    student sees view e + 1 of sample i under (--augment, seed), a new augmentation every epoch;
 *    cached targets, if any, come from view 0 (that is the inconsistency the flag admits to).
 *  - `none` — no augmentation: view 0 everywhere.
 */
import { UsageError, optionName } from '../../errors.js';
import { temperedLogSoftmaxRows, temperedLogSoftmaxRows64 } from '../../util/softmax.js';
import type { CacheReader } from '../../cache/reader.js';
import { augmentBatch, formatAugmentSpec, isIdentity, parseAugmentSpec, type AugmentSpec } from '../../data/augment.js';
import type { SampleShape } from '../../data/dataset.js';
import { hashU32 } from '../../data/rng.js';
import type { BatchTeacher } from '../losses/index.js';
import { tf } from '../tf.js';

export interface ViewPlan {
  mode: 'none' | 'cache' | 'fresh';
  /** Views held by the caches (1 when none). */
  cacheViews: number;
  spec: AugmentSpec | null;
  /** Seed of the augmentation (the caches' for `cache`, the run seed for `fresh`). */
  augmentSeed: number;
}

/**
 * Decides the view plan from the run's `--augment`, the caches and --allow-inconsistent-views;
 * refuses (UsageError, exit 2) every combination that would pair a teacher's output with a
 * different image than the student's.
 */
export function planViews(
  augment: string | null,
  caches: readonly CacheReader[],
  seed: number,
  allowInconsistentViews: boolean,
): ViewPlan {
  const asked = augment === null ? null : parseAugmentSpec(augment);
  const askedOn = asked !== null && !isIdentity(asked);
  if (caches.length === 0) {
    return askedOn ? { mode: 'fresh', cacheViews: 1, spec: asked, augmentSeed: seed } : { mode: 'none', cacheViews: 1, spec: null, augmentSeed: seed };
  }
  const first = caches[0];
  const describe = (c: CacheReader) =>
    `${c.views} view(s)${c.manifest.augment ? `, augment ${formatAugmentSpec(parseAugmentSpec(c.manifest.augment.spec))} seed ${c.manifest.augment.seed}` : ''}`;
  for (const c of caches.slice(1)) {
    const same =
      c.views === first.views &&
      JSON.stringify(c.manifest.augment ? [parseAugmentSpec(c.manifest.augment.spec), c.manifest.augment.seed] : null) ===
        JSON.stringify(first.manifest.augment ? [parseAugmentSpec(first.manifest.augment.spec), first.manifest.augment.seed] : null);
    if (c.views > 1 || first.views > 1) {
      if (!same) {
        throw new UsageError(
          `caches ${first.dir} (${describe(first)}) and ${c.dir} (${describe(c)}) hold different views; an ensemble needs the same views of the same images`,
          `precompute every teacher with the same ${optionName('views')}, ${optionName('augment')} and seed`,
        );
      }
    }
  }
  if (first.views > 1) {
    const m = first.manifest.augment;
    if (!m) throw new UsageError(`cache ${first.dir} has ${first.views} views but no augmentation spec in its manifest`);
    const spec = parseAugmentSpec(m.spec);
    if (asked !== null && formatAugmentSpec(asked) !== formatAugmentSpec(spec)) {
      throw new UsageError(
        `${optionName('augment')} ${formatAugmentSpec(asked)} differs from the augmentation the cache's views were made with (${formatAugmentSpec(spec)})`,
        `drop ${optionName('augment')}: the trainer rebuilds the cached views itself`,
      );
    }
    return { mode: 'cache', cacheViews: first.views, spec, augmentSeed: m.seed };
  }
  if (askedOn) {
    if (!allowInconsistentViews) {
      throw new UsageError(
        `${optionName('augment')} ${formatAugmentSpec(asked!)} with a single-view cache would pair the teacher's output for the original image with a differently augmented student input`,
        `precompute the cache with ${optionName('views')} V ${optionName('augment')} SPEC, or pass ${optionName('allowInconsistentViews')} to accept the mismatch`,
      );
    }
    return { mode: 'fresh', cacheViews: 1, spec: asked, augmentSeed: seed };
  }
  return { mode: 'none', cacheViews: 1, spec: null, augmentSeed: seed };
}

/** The view of `sample` in `epoch` (0-based) the student trains on, and the cache row it uses. */
export function viewsFor(plan: ViewPlan, seed: number, epoch: number, samples: ArrayLike<number>): { student: Int32Array; cache: Int32Array } {
  const n = samples.length;
  const student = new Int32Array(n);
  const cache = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    if (plan.mode === 'cache') {
      const v = hashU32(seed, epoch, samples[k]) % plan.cacheViews;
      student[k] = v;
      cache[k] = v;
    } else if (plan.mode === 'fresh') {
      student[k] = epoch + 1;
    }
  }
  return { student, cache };
}

/** Rebuilds the student's views of a packed batch in place of `out` (or returns `pixels` untouched). */
export function applyViews(plan: ViewPlan, pixels: Uint8Array, shape: SampleShape, samples: ArrayLike<number>, views: Int32Array, out: Uint8Array): Uint8Array {
  if (plan.mode === 'none' || !plan.spec) return pixels;
  return augmentBatch(pixels, shape, plan.spec, plan.augmentSeed, samples, views, out.subarray(0, pixels.length));
}

/**
 * Soft targets of rows (samples, views) from one or several caches: one cache's tempered
 * probabilities softmax(z/τ), or the ensemble mean (1/T) Σ_t softmax(z_t/τ) (mean of
 * probabilities, not logits — docs/PAPER.md: several teachers at once). Accumulated in double.
 */
export function cacheSoftTargets(
  caches: readonly CacheReader[],
  samples: ArrayLike<number>,
  views: ArrayLike<number>,
  temperature: number,
  out: Float32Array,
  scratch: Float32Array,
): Float32Array {
  const n = samples.length;
  const K = caches[0].numClasses;
  const dst = out.subarray(0, n * K);
  if (caches.length === 1) return caches[0].softTargets(samples, views, temperature, dst);
  const acc = new Float64Array(n * K);
  for (const c of caches) {
    const p = c.softTargets(samples, views, temperature, scratch.subarray(0, n * K));
    for (let j = 0; j < acc.length; j++) acc[j] += p[j];
  }
  for (let j = 0; j < acc.length; j++) dst[j] = acc[j] / caches.length;
  return dst;
}

/**
 * The log-probabilities of the ensemble mean p = (1/M) Σ_m p_m at τ, in log space:
 *   log p = logsumexp_m(log p_m) − log M,
 * each log p_m a teacher's log-softmax in double (a full cache, or a top-k cache at τ = 1 from its
 * rebuilt row). log of the float32 mean instead underflows to −∞ on every class more than about
 * 104·τ below its row's max in every teacher: WSLD's CE_t became 0·(−∞) = NaN, and NKD's and DKD's
 * non-target softmax of log p collapsed onto the target. A top-k member at τ ≠ 1 enters as the log
 * of its float32 probabilities (all the reader gives there); another member's finite value still
 * keeps the ensemble's finite. The same cache given M times gives exactly that cache's log-softmax.
 */
function ensembleLogProbs(caches: readonly CacheReader[], samples: ArrayLike<number>, views: ArrayLike<number>, temperature: number): Float32Array {
  const n = samples.length;
  const K = caches[0].numClasses;
  const members = caches.map((c): ArrayLike<number> =>
    c.topk === null || temperature === 1 ? temperedLogSoftmaxRows64(c.readLogits(samples, views), K, temperature) : c.softTargets(samples, views, temperature).map(Math.log),
  );
  const out = new Float32Array(n * K);
  const logM = Math.log(caches.length);
  for (let j = 0; j < n * K; j++) {
    let max = -Infinity;
    for (const a of members) max = Math.max(max, a[j]);
    if (max === -Infinity) {
      out[j] = -Infinity;
      continue;
    }
    let s = 0;
    for (const a of members) s += Math.exp(a[j] - max);
    // log s − log M is exactly 0 when the M members agree (s = M): the same cache M times is exact.
    out[j] = max + (Math.log(s) - logM);
  }
  return out;
}

/**
 * The teacher's rows of a batch — (samples[i], views[i]) of every cache — as the loss context's
 * BatchTeacher. Each access reads the rows (positioned reads) and makes a fresh tensor from a fresh
 * array: tfjs's cpu backend keeps the array it is given, so buffers are never shared between tensors.
 *  - probs(τ): cacheSoftTargets (one cache's softmax(z/τ), or the ensemble mean; top-k caches too);
 *  - logProbs(τ): one full cache: log-softmax of its logits in double (a top-k cache at τ = 1: of its
 *    rebuilt rows, whose tail mass is exact there); an ensemble: ensembleLogProbs, in log space; a
 *    single top-k cache at τ ≠ 1: the log of probs(τ) — the reader gives only float32 probabilities
 *    there, so a class whose rebuilt probability underflows is −∞ (docs/LOSSES.md says which losses
 *    that affects);
 *  - logits(): one cache's raw logits (the registry admits only full caches for losses that ask).
 */
export function batchTeacher(caches: readonly CacheReader[], samples: ArrayLike<number>, views: ArrayLike<number>): BatchTeacher {
  const n = samples.length;
  const K = caches[0].numClasses;
  const tensor = (a: Float32Array) => tf.tensor2d(a, [n, K], 'float32') as tf.Tensor2D;
  const probs = (t: number) => cacheSoftTargets(caches, samples, views, t, new Float32Array(n * K), new Float32Array(n * K));
  const single = caches.length === 1 ? caches[0] : null;
  return {
    probs: (t) => tensor(probs(t)),
    logProbs: (t) => {
      if (single && (single.topk === null || t === 1)) return tensor(temperedLogSoftmaxRows(single.readLogits(samples, views), K, t));
      if (single) return tensor(probs(t).map(Math.log));
      return tensor(ensembleLogProbs(caches, samples, views, t));
    },
    logits: () => {
      if (!single || single.topk !== null) throw new Error('logits(): one cache with all logits is needed (the registry checks this before training)');
      return tensor(single.readLogits(samples, views));
    },
  };
}
