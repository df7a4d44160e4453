/**
 * The divergence guard's threshold and the one line it stops a run with (the check itself is in
 * the loop, loop.ts).
 */
import type { CacheReader } from '../../cache/reader.js';

/**
 * The divergence guard (docs/TRAINING.md, "When the loss explodes"): a step whose loss is not
 * finite, or exceeds LOSS_EXPLOSION_FACTOR × max(the first step's loss in this session, log K),
 * stops the run with exit 1, naming the step, the batch's samples and the caches. No working
 * run comes near it (losses fall from their first value); an exploding one passes it within steps.
 */
export const LOSS_EXPLOSION_FACTOR = 1000;

/** The one line that stops a diverging run: step, batch samples (first 8 of n), caches. */
export function explosionMessage(
  lossV: number,
  where: { epoch: number; step: number; globalStep: number },
  samples: ArrayLike<number>,
  caches: readonly CacheReader[],
  reference: number | null,
): string {
  const list = Array.from(samples).slice(0, 8).join(', ');
  const batch = `batch samples ${list}${samples.length > 8 ? `, … (${samples.length} in all)` : ''}`;
  const src = caches.length
    ? `soft targets from ${caches.map((c) => `cache ${c.dir} (key ${c.key.slice(0, 12)}…, ${c.topk === null ? 'all logits' : `top-${c.topk}`}, ${c.manifest.dtype})`).join(' and ')}`
    : 'no teacher cache';
  const what = Number.isFinite(lossV) ? `loss exploded to ${lossV.toExponential(3)} (> ${LOSS_EXPLOSION_FACTOR} × ${reference!.toPrecision(4)})` : `loss became ${lossV}`;
  return `${what} at epoch ${where.epoch}, step ${where.step} (global step ${where.globalStep}): ${batch}; ${src}`;
}
