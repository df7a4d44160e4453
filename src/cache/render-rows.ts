/**
 * The pixels of a cache's rows, as precompute (and verify) feed them to the teacher. Row g is view
 * (g mod V) of sample ⌊g / V⌋: view 0 the image itself (or the teacher's eval transform), views ≥ 1
 * its seeded augmentation — the functions the trainer uses for the student side (data/augment.ts,
 * data/views.ts). How the images are read is asked of the source (SourceCapabilities, never its
 * class): packed samples (`readBatch`), images at their own size (`readImages`), or encoded images
 * (`encodedImages`, `streamEncoded`) decoded and rendered by a render pool or on this thread. The
 * bytes are the same whichever way they are read.
 */
import type { AugmentSpec } from '../data/augment.js';
import { augment } from '../data/augment.js';
import { capabilitiesOf, sampleBytes, type Dataset, type EncodedImage } from '../data/dataset.js';
import { renderHere, type RenderPool } from '../data/render-pool.js';
import { renderView, type SideRendering } from '../data/views.js';
import { renderMixedRows } from './render-mixed.js';
import { UsageError, WorkError } from '../errors.js';
import { renderSpecOf } from '../teacher/preprocess.js';
import type { Teacher } from '../teacher/types.js';

export type RowAugment = { spec: AugmentSpec; seed: number } | null;

const range = (first: number, last: number): Int32Array => Int32Array.from({ length: last - first + 1 }, (_, i) => first + i);

/**
 * Pixels of global rows [g0, g0+n): each row is view (g mod V) of sample ⌊g / V⌋; view 0 is the
 * decoded image itself, views ≥ 1 its seeded augmentation (the same function the trainer uses).
 */
export async function rowPixels(dataset: Dataset, g0: number, n: number, views: number, aug: RowAugment): Promise<Uint8Array> {
  const sb = sampleBytes(dataset.shape);
  const first = Math.floor(g0 / views);
  const raw = await dataset.readBatch(range(first, Math.floor((g0 + n - 1) / views)));
  if (views === 1) return raw;
  const out = new Uint8Array(n * sb);
  for (let r = 0; r < n; r++) {
    const g = g0 + r;
    const s = Math.floor(g / views);
    const v = g % views;
    const src = raw.subarray((s - first) * sb, (s - first + 1) * sb);
    const dst = out.subarray(r * sb, (r + 1) * sb);
    if (v === 0 || !aug) dst.set(src);
    else augment(src, dataset.shape, aug.spec, aug.seed, s, v, dst);
  }
  return out;
}

/** Encoded images of consecutive samples, in increasing order (`take` is called batch after batch). */
export interface EncodedSamples {
  take(first: number, last: number): Promise<EncodedImage[]>;
  /** Ends a stream early (closes the shard it is reading). */
  close?(): Promise<void>;
}

/**
 * A sequential source's samples [from, to), streamed once: each `take` continues where the last
 * one ended, and may start again at the last sample handed out (a batch boundary inside its views).
 */
class StreamedSamples implements EncodedSamples {
  private readonly it: AsyncIterator<EncodedImage>;
  private held: EncodedImage | null = null;

  constructor(ds: Dataset, from: number, to: number) {
    this.it = ds.streamEncoded!(from, to)[Symbol.asyncIterator]();
  }

  async take(first: number, last: number): Promise<EncodedImage[]> {
    const out: EncodedImage[] = [];
    if (this.held && this.held.index === first) out.push(this.held);
    for (let i = first + out.length; i <= last; i++) {
      const r = await this.it.next();
      if (r.done || r.value.index !== i) throw new WorkError(`internal: sequential read gave ${r.done ? 'nothing' : `sample ${r.value.index}`} where sample ${i} was due`);
      out.push(r.value);
    }
    this.held = out[out.length - 1] ?? null;
    return out;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * How rows of samples [from, to) get their encoded images, or null when the source is read as
 * decoded images (`readImages`): sequential sources always stream; random-access sources of
 * encoded images hand them over when a render pool decodes them.
 */
export function encodedSamples(ds: Dataset, from: number, to: number, pool: RenderPool | null): EncodedSamples | null {
  const caps = capabilitiesOf(ds);
  if (caps.access === 'sequential') {
    if (!ds.streamEncoded) throw new WorkError(`internal: ${ds.kind} data is sequential but cannot stream`);
    return new StreamedSamples(ds, from, to);
  }
  if (pool && caps.renderPool && ds.encodedImages) return { take: (first, last) => ds.encodedImages!(range(first, last)) };
  return null;
}

type OnBad = { onBad: (b: { index: number; file: string; reason: string }) => void };

/**
 * Rows [g0, g0+n) rendered for one side (`side`: its eval transform and size), packed: view 0 the
 * eval transform, views ≥ 1 the seeded view (a box for rrc, else the pixel augmentation at the
 * image's own size), rendered by data/views.ts. Images come from `encoded` (decoded by `pool`, or
 * here without one) or, without it, from `readImages` in the side's mode. With `bad`, an
 * undecodable sample's rows are black and the sample is reported to `onBad`.
 */
export async function renderRows(dataset: Dataset, g0: number, n: number, views: number, aug: RowAugment, side: SideRendering, bad?: OnBad, encoded?: EncodedSamples | null, pool?: RenderPool | null): Promise<Uint8Array | Float32Array> {
  // A mixing spec gives float32 rows on [0, 1] instead (render-mixed.ts).
  if (aug?.spec.mix) return renderMixedRows(dataset, g0, n, views, aug, side, pool);
  const first = Math.floor(g0 / views);
  const last = Math.floor((g0 + n - 1) / views);
  const [H, W] = side.size;
  const C = side.eval.mode === 'L' ? 1 : 3;
  const sb = H * W * C;
  const out = new Uint8Array(n * sb);
  if (encoded) {
    await renderEncoded(await encoded.take(first, last), { dataset, g0, n, views, aug, side, sb, out, bad, pool: pool ?? null });
    return out;
  }
  const raw = await dataset.readImages(range(first, last), side.eval.mode, bad ? { skipBad: true, onBad: bad.onBad } : {});
  for (let r = 0; r < n; r++) {
    const g = g0 + r;
    const s = Math.floor(g / views);
    const img = raw[s - first];
    if (!img) continue; // zeros
    const v = renderView(img, side, aug, s, g % views);
    if (v.width !== W || v.height !== H || v.channels !== C) throw new WorkError(`internal: view ${g % views} of sample ${s} rendered to ${v.width}x${v.height}x${v.channels}, expected ${W}x${H}x${C}`);
    out.set(v.data, r * sb);
  }
  return out;
}

/** One job per sample with the views of it in these rows, on the pool or here; written into `o.out`. */
async function renderEncoded(
  list: EncodedImage[],
  o: { dataset: Dataset; g0: number; n: number; views: number; aug: RowAugment; side: SideRendering; sb: number; out: Uint8Array; bad?: OnBad; pool: RenderPool | null },
): Promise<void> {
  const { g0, n, views, sb } = o;
  const run = o.pool ? (j: Parameters<typeof renderHere>[0]) => o.pool!.render(j) : renderHere;
  const jobs = list.map((e) => {
    const s = e.index;
    const vs: number[] = [];
    for (let g = Math.max(g0, s * views); g < Math.min(g0 + n, (s + 1) * views); g++) vs.push(g % views);
    return run({ file: e.file ?? e.name, bytes: e.bytes, maxPixels: o.dataset.maxPixels, side: o.side, aug: o.aug, sample: s, views: vs }).then(
      (bufs) => ({ e, vs, bufs }),
      (error: unknown) => ({ e, vs, error }),
    );
  });
  // Every job settles first; the error raised is the lowest sample's (as readImages does).
  for (const r of await Promise.all(jobs)) {
    if ('error' in r) {
      if (!o.bad || !(r.error instanceof UsageError)) throw r.error;
      o.bad.onBad({ index: r.e.index, file: r.e.name, reason: (r.error as Error).message });
      continue; // zeros
    }
    r.vs.forEach((v, j) => {
      const g = r.e.index * views + v;
      if (r.bufs[j].length !== sb) throw new WorkError(`internal: view ${v} of sample ${r.e.index} rendered to ${r.bufs[j].length} bytes, expected ${sb}`);
      o.out.set(r.bufs[j], (g - g0) * sb);
    });
  }
}

/** The teacher's side of a rendering: its eval transform and input size. */
export function teacherSide(teacher: Teacher): SideRendering {
  return { eval: renderSpecOf(teacher.preprocess), size: [teacher.preprocess.size[0], teacher.preprocess.size[1]] };
}

/** Rows need rendering from each image at its own size (variable-size data, or box views). */
export const rendersImages = (dataset: Dataset, aug: RowAugment): boolean => capabilitiesOf(dataset).size === 'variable' || aug?.spec.rrc !== undefined || aug?.spec.mix !== undefined;
