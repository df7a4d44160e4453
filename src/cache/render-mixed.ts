/**
 * Rows of a cache whose augmentation mixes views (docs/MIXING.md), rendered for one side: row g is
 * view (g mod V) of sample ⌊g / V⌋, mixed with its partner's same view when mixParams says so, as
 * float32 on [0, 1] (unmixed rows: pixels / 255). The teacher is fed these floats (normalised by
 * its preprocessing, never rounded back to uint8). Partners come from the whole data set (the
 * partner of a row depends on (spec, seed, sample, view, N) only), so a shard reads the images its
 * rows are mixed with too: at most twice its batch of images is held at once.
 */
import { workerFiles, type Dataset } from '../data/dataset.js';
import type { AugmentSpec } from '../data/augment.js';
import type { Image } from '../data/image.js';
import { mixParams } from '../data/mix.js';
import type { RenderPool } from '../data/render-pool.js';
import { renderMixedView, type SideRendering } from '../data/views.js';
import { WorkError } from '../errors.js';

export async function renderMixedRows(
  dataset: Dataset,
  g0: number,
  n: number,
  views: number,
  aug: { spec: AugmentSpec; seed: number },
  side: SideRendering,
  pool?: RenderPool | null,
): Promise<Float32Array> {
  const N = dataset.size;
  const [H, W] = side.size;
  const C = side.eval.mode === 'L' ? 1 : 3;
  const sb = H * W * C;
  const out = new Float32Array(n * sb);
  const rowOf = (r: number) => ({ s: Math.floor((g0 + r) / views), v: (g0 + r) % views });
  const partnerOf = (s: number, v: number) => mixParams(aug.spec.mix, aug.seed, s, v, N)?.partner ?? null;
  const put = (s: number, v: number, data: Float32Array) => {
    if (data.length !== sb) throw new WorkError(`internal: view ${v} of sample ${s} rendered to ${data.length} values, expected ${sb}`);
    out.set(data, (s * views + v - g0) * sb);
  };
  const path = workerFiles(dataset);
  if (pool && path) {
    // One job per sample with the views of it in these rows; the worker decodes their partners.
    const bySample = new Map<number, number[]>();
    for (let r = 0; r < n; r++) {
      const { s, v } = rowOf(r);
      const vs = bySample.get(s) ?? [];
      vs.push(v);
      bySample.set(s, vs);
    }
    const jobs = [...bySample].map(([s, vs]) =>
      pool
        .render({
          file: path(s),
          maxPixels: dataset.maxPixels,
          side,
          aug,
          sample: s,
          views: vs,
          mix: { N, partners: vs.map((v) => (partnerOf(s, v) === null ? null : path(partnerOf(s, v)!))) },
        })
        .then((bufs) => ({ s, vs, bufs })),
    );
    // Every job settles first; the error raised is the lowest sample's.
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((x) => x.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const x of settled) {
      const { s, vs, bufs } = (x as PromiseFulfilledResult<{ s: number; vs: number[]; bufs: Array<Uint8Array | Float32Array> }>).value;
      vs.forEach((v, j) => put(s, v, bufs[j] as Float32Array));
    }
    return out;
  }
  const need = new Set<number>();
  for (let r = 0; r < n; r++) {
    const { s, v } = rowOf(r);
    need.add(s);
    const p = partnerOf(s, v);
    if (p !== null) need.add(p);
  }
  const order = Int32Array.from([...need].sort((a, b) => a - b));
  const imgs = await dataset.readImages(order, side.eval.mode);
  const byIndex = new Map<number, Image>();
  order.forEach((i, k) => byIndex.set(i, imgs[k]!));
  for (let r = 0; r < n; r++) {
    const { s, v } = rowOf(r);
    const p = partnerOf(s, v);
    const mv = renderMixedView(byIndex.get(s)!, p === null ? null : byIndex.get(p)!, side, aug, s, v, N);
    if (mv.width !== W || mv.height !== H || mv.channels !== C) throw new WorkError(`internal: view ${v} of sample ${s} rendered to ${mv.width}x${mv.height}x${mv.channels}, expected ${W}x${H}x${C}`);
    put(s, v, mv.data);
  }
  return out;
}
