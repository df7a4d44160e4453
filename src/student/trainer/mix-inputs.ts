/**
 * The student's side of mixed views (docs/MIXING.md): the inputs — view v of sample i mixed with
 * its partner's view v at the student's size, float32 on [0, 1], by the function precompute uses
 * for the teacher (data/views.ts renderMixedView) — and the mixed labels
 * λ·onehot(y_i) + (1 − λ)·onehot(y_j), λ corrected to the cut's pixels at the student's size for
 * CutMix (timm's correct_lam). Both depend on (spec, seed, sample, view, N) only, never on the batch.
 */
import { workerFiles, type Dataset } from '../../data/dataset.js';
import type { Image } from '../../data/image.js';
import { labelLambda, mixParams } from '../../data/mix.js';
import { RenderPool } from '../../data/render-pool.js';
import { renderMixedView } from '../../data/views.js';
import { UsageError } from '../../errors.js';
import type { SampleShape } from '../../data/dataset.js';
import type { SideRendering } from '../../data/views.js';
import type { ViewPlan } from './targets.js';

/** What of the student's inputs (inputs.ts StudentInputs) mixing needs: its size and its rendering. */
export interface MixInputs {
  shape: SampleShape;
  side: SideRendering;
}

/** Whether the plan mixes views (Mixup / CutMix in its spec). */
export const mixes = (plan: ViewPlan): boolean => plan.mode !== 'none' && plan.spec?.mix !== undefined;

/** The batch's mixed labels [n, K] (unmixed rows: one-hot), or null when the plan does not mix. */
export function mixedTargets(plan: ViewPlan, ds: Dataset, inputs: MixInputs, samples: ArrayLike<number>, views: ArrayLike<number>): Float32Array | null {
  if (!mixes(plan)) return null;
  const K = ds.numClasses;
  const n = samples.length;
  const out = new Float32Array(n * K);
  for (let k = 0; k < n; k++) {
    const i = samples[k];
    const p = mixParams(plan.spec!.mix, plan.augmentSeed, i, views[k], ds.size);
    if (!p) {
      out[k * K + ds.labels[i]] = 1;
      continue;
    }
    const l = labelLambda(p, inputs.shape.height, inputs.shape.width);
    out[k * K + ds.labels[i]] += l;
    out[k * K + ds.labels[p.partner]] += 1 - l;
  }
  return out;
}

/** Renders a batch of mixed views from decoded images (`imgs` keyed by data-set index). */
function renderMixedBatch(inputs: MixInputs, plan: ViewPlan, N: number, byIndex: Map<number, Image | null>, samples: ArrayLike<number>, views: ArrayLike<number>): Float32Array {
  const { height: H, width: W, channels: C } = inputs.shape;
  const sb = H * W * C;
  const out = new Float32Array(samples.length * sb);
  const aug = { spec: plan.spec!, seed: plan.augmentSeed };
  for (let k = 0; k < samples.length; k++) {
    const i = samples[k];
    const p = mixParams(plan.spec!.mix, plan.augmentSeed, i, views[k], N);
    const img = byIndex.get(i);
    const partner = p ? byIndex.get(p.partner) : null;
    if (!img || (p && !partner)) throw new UsageError(`sample ${!img ? i : p!.partner} could not be decoded`);
    const r = renderMixedView(img, partner ?? null, inputs.side, aug, i, views[k], N);
    if (r.data.length !== sb) throw new RangeError(`internal: mixed view of sample ${i} has ${r.data.length} values, expected ${sb}`);
    out.set(r.data, k * sb);
  }
  return out;
}

/** The images a batch needs: its samples and the partners of its mixed views, in index order. */
function neededIndices(plan: ViewPlan, N: number, samples: ArrayLike<number>, views: ArrayLike<number>): Int32Array {
  const need = new Set<number>();
  for (let k = 0; k < samples.length; k++) {
    need.add(samples[k]);
    const p = mixParams(plan.spec!.mix, plan.augmentSeed, samples[k], views[k], N);
    if (p) need.add(p.partner);
  }
  return Int32Array.from([...need].sort((a, b) => a - b));
}

/**
 * Mixed training batches (loop.ts's BatchSource for a mixing plan): on render workers for image
 * files (each job decodes the sample and its partner), else decoded on the libuv pool and rendered
 * here. The floats are the same either way (the same pure functions).
 */
export function mixedBatchSource(ds: Dataset, inputs: MixInputs, plan: ViewPlan, workers: number): { fetch(samples: Int32Array, views: Int32Array): Promise<Float32Array>; close(): Promise<void> } {
  const N = ds.size;
  const mode = inputs.side.eval.mode;
  const sb = inputs.shape.height * inputs.shape.width * inputs.shape.channels;
  const path = workerFiles(ds);
  if (workers < 1 || !path) {
    return {
      async fetch(samples, views) {
        const idx = neededIndices(plan, N, samples, views);
        const imgs = await ds.readImages(idx, mode);
        const byIndex = new Map<number, Image | null>();
        idx.forEach((i, k) => byIndex.set(i, imgs[k]));
        return renderMixedBatch(inputs, plan, N, byIndex, samples, views);
      },
      close: async () => undefined,
    };
  }
  const pool = new RenderPool(workers);
  const aug = { spec: plan.spec!, seed: plan.augmentSeed };
  return {
    async fetch(samples, views) {
      const out = new Float32Array(samples.length * sb);
      const jobs = Array.from(samples, (i, k) => {
        const p = mixParams(plan.spec!.mix, plan.augmentSeed, i, views[k], N);
        return pool
          .render({ file: path(i), maxPixels: ds.maxPixels, side: inputs.side, aug, sample: i, views: [views[k]], mix: { N, partners: [p ? path(p.partner) : null] } })
          .then(([v]) => {
            if (v.length !== sb) throw new RangeError(`internal: rendered ${v.length} values for sample ${i}, expected ${sb}`);
            out.set(v as Float32Array, k * sb);
          });
      });
      const settled = await Promise.allSettled(jobs);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      return out;
    },
    close: () => pool.close(),
  };
}
