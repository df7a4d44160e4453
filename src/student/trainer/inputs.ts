/**
 * The student's inputs: what each training sample and each test sample look like at the model's
 * input size. Two paths:
 *
 *  - packed (fixed-size data, the model takes the data's own size, no box views): the data set's
 *    `readBatch` and the pixel augmentation of targets.ts, as before;
 *  - rendered (image folders / lists, `--input-size` other than the data's, or rrc views): each
 *    image is read at its own size (streamed, decoded in parallel, the next batch read while the
 *    current step runs) and rendered by data/views.ts — the function precompute uses for the
 *    teacher — at the student's size: view 0 is the student's eval transform, views ≥ 1 the boxes
 *    (or pixel augmentation) of the plan.
 *
 * The student's eval transform (recorded in checkpoints and exported models as `preprocess`, so an
 * exported student renders the same way as a teacher): for fixed-size data at its own size, none;
 * otherwise resize the shorter side to floor(S / evalCropPct) (S = the input's height; for a
 * non-square input both sides scale: [floor(H / pct), floor(W / pct)]), then center crop [H, W],
 * bilinear, RGB (L for one-channel fixed-size data or `--channels L`), scale 1/255 — timm's default eval recipe with
 * crop_pct 0.875 unless --eval-crop-pct says otherwise.
 */
import { capabilitiesOf, type Dataset, type SampleShape } from '../../data/dataset.js';
import { RenderPool } from '../../data/render-pool.js';
import type { Image } from '../../data/image.js';
import type { RenderSpec } from '../../data/render.js';
import { renderView, type SideRendering } from '../../data/views.js';
import { UsageError, optionName } from '../../errors.js';
import type { PreprocessSpec } from '../../teacher/types.js';
import type { ViewPlan } from './targets.js';
import { mixedBatchSource, mixes } from './mix-inputs.js';

export const DEFAULT_EVAL_CROP_PCT = 0.875;

export interface StudentInputs {
  /** The model's input shape (HWC). */
  shape: SampleShape;
  /** True when samples are rendered from each image at its own size. */
  rendered: boolean;
  /** The student's eval transform and size (rendered path). */
  side: SideRendering;
  /** The preprocessing an exported student records (its eval transform + 1/255). */
  preprocess: PreprocessSpec;
}

/** Decides the student's input shape, path and eval transform (module comment). */
export function studentInputs(ds: Dataset, inputSize: [number, number] | undefined, evalCropPct: number | undefined, plan: ViewPlan, mode?: 'L' | 'RGB'): StudentInputs {
  // Box views and mixed views are rendered from each image (mixing needs each partner's view too).
  const boxes = plan.spec?.rrc !== undefined || (plan.mode !== 'none' && plan.spec?.mix !== undefined);
  if (ds.variableSize && !inputSize) {
    // Not scanned: a folder's images may differ in size, and reading every header to find out
    // costs a pass over the folder. The first image's size is what to type when they do not.
    const [h, w] = [ds.shape.height, ds.shape.width];
    throw new UsageError(
      `${ds.spec}: images of folder:/list: data may differ in size, so the student's input size is not taken from them`,
      `pass ${optionName('inputSize')} H[,W], e.g. ${optionName('inputSize')} ${h === w ? h : `${h},${w}`} (the first image's size)`,
    );
  }
  const [H, W] = inputSize ?? [ds.shape.height, ds.shape.width];
  // Image files are read in the asked mode (RGB unless L, as torchvision's ImageFolder loads);
  // fixed-size data sets have their own channel count, which a mode cannot change here.
  const channels = ds.variableSize ? (mode === 'L' ? 1 : 3) : ds.shape.channels;
  if (mode && !ds.variableSize && (mode === 'L' ? 1 : 3) !== channels) {
    throw new UsageError(`${optionName('channels')} ${mode}: ${ds.spec} has ${channels} channel(s)`, `${optionName('channels')} converts folder:/list: images; leave it out for ${ds.kind} data`);
  }
  if (inputSize && channels !== 1 && channels !== 3) throw new UsageError(`${optionName('inputSize')} needs images of 1 or 3 channels; ${ds.spec} has ${channels}`);
  const own = !ds.variableSize && H === ds.shape.height && W === ds.shape.width;
  const rendered = !own || boxes;
  const pct = evalCropPct ?? DEFAULT_EVAL_CROP_PCT;
  const evalSpec: RenderSpec = own
    ? { mode: channels === 1 ? 'L' : 'RGB', resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear' }
    : {
        mode: channels === 1 ? 'L' : 'RGB',
        resize: H === W ? Math.floor(H / pct) : [Math.floor(H / pct), Math.floor(W / pct)],
        crop: [H, W],
        cropRounding: 'round',
        interpolation: 'bilinear',
      };
  const preprocess: PreprocessSpec = {
    layout: 'NHWC',
    size: [H, W],
    resize: evalSpec.resize,
    crop: evalSpec.crop,
    cropRounding: evalSpec.cropRounding,
    interpolation: evalSpec.interpolation,
    channels: channels === 1 ? 'L' : channels === 3 ? 'RGB' : 'as-is',
    scale: 1 / 255,
    mean: new Array<number>(channels).fill(0),
    std: new Array<number>(channels).fill(1),
  };
  return { shape: { height: H, width: W, channels }, rendered, side: { eval: evalSpec, size: [H, W] }, preprocess };
}

/**
 * Renders samples (with their views under `plan`) at the student's size into `out`, packed HWC.
 * `images` are the samples decoded at their own size (`ds.readImages`), in the same order.
 */
export function renderStudentBatch(inputs: StudentInputs, plan: ViewPlan, images: ReadonlyArray<Image | null>, samples: ArrayLike<number>, views: ArrayLike<number>, out: Uint8Array): Uint8Array {
  const { height: H, width: W, channels: C } = inputs.shape;
  const sb = H * W * C;
  const aug = plan.spec && plan.mode !== 'none' ? { spec: plan.spec, seed: plan.augmentSeed } : null;
  for (let k = 0; k < samples.length; k++) {
    const img = images[k];
    if (!img) throw new UsageError(`sample ${samples[k]} could not be decoded`);
    const r = renderView(img, inputs.side, aug, samples[k], views[k]);
    out.set(r.data, k * sb);
  }
  return out.subarray(0, samples.length * sb);
}

/** Rendered training batches, fetched one step ahead (loop.ts). */
export interface BatchSource {
  /** The samples' views rendered at the student's size, packed HWC (a buffer of its own); float32 on [0, 1] when views are mixed. */
  fetch(samples: Int32Array, views: Int32Array): Promise<Uint8Array | Float32Array>;
  close(): Promise<void>;
}

/**
 * The rendered path's batches. With `workers` ≥ 1 and a source of encoded images (capability
 * `renderPool`: folder:, list:, tar:; a tar: sample's bytes are read at its offset), each image is
 * decoded and rendered by a RenderPool worker thread (render-pool.ts), in parallel with the step
 * and each other; with 0 (or other data), decoded on the libuv pool and rendered on this thread.
 * Either way the bytes are renderView's (views.ts) for the same sample and view, so results do not
 * depend on `workers`. Memory: the caller holds at most the batch in use and the one being fetched.
 * A failing file fails the batch with the lowest failing index's error, whatever order jobs end in.
 */
export function studentBatchSource(ds: Dataset, inputs: StudentInputs, plan: ViewPlan, workers: number): BatchSource {
  if (mixes(plan)) return mixedBatchSource(ds, inputs, plan, workers);
  const sb = inputs.shape.height * inputs.shape.width * inputs.shape.channels;
  const mode = inputs.side.eval.mode;
  if (workers < 1 || !capabilitiesOf(ds).renderPool || !ds.encodedImages) {
    return {
      fetch: async (samples, views) => renderStudentBatch(inputs, plan, await ds.readImages(samples, mode), samples, views, new Uint8Array(samples.length * sb)),
      close: async () => undefined,
    };
  }
  const pool = new RenderPool(workers);
  const aug = plan.spec && plan.mode !== 'none' ? { spec: plan.spec, seed: plan.augmentSeed } : null;
  return {
    async fetch(samples, views) {
      const out = new Uint8Array(samples.length * sb);
      const encoded = await ds.encodedImages!(samples);
      const jobs = encoded.map((e, k) =>
        pool.render({ file: e.file ?? e.name, bytes: e.bytes, maxPixels: ds.maxPixels, side: inputs.side, aug, sample: e.index, views: [views[k]] }).then(([v]) => {
          if (v.length !== sb) throw new RangeError(`internal: rendered ${v.length} bytes for sample ${e.index}, expected ${sb}`);
          out.set(v, k * sb);
        }),
      );
      const settled = await Promise.allSettled(jobs);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      return out;
    },
    close: () => pool.close(),
  };
}

/**
 * A Dataset face that renders every sample with the student's eval transform at its input size
 * (for evaluation: `evaluate` reads `readBatch`).
 */
export function renderedDataset(ds: Dataset, inputs: StudentInputs): Dataset {
  if (!inputs.rendered) return ds;
  const mode = inputs.side.eval.mode;
  const sb = inputs.shape.height * inputs.shape.width * inputs.shape.channels;
  const readBatch = async (indices: ArrayLike<number>, out?: Uint8Array) => {
    const imgs = await ds.readImages(indices, mode);
    const dst = out ?? new Uint8Array(indices.length * sb);
    return renderStudentBatch(inputs, { mode: 'none', cacheViews: 1, spec: null, augmentSeed: 0 }, imgs, indices, new Int32Array(indices.length), dst);
  };
  return {
    kind: ds.kind,
    spec: ds.spec,
    split: ds.split,
    size: ds.size,
    numClasses: ds.numClasses,
    shape: inputs.shape,
    labels: ds.labels,
    classNames: ds.classNames,
    get: (i) => readBatch([i]),
    readBatch,
    readImages: (indices, m, o) => ds.readImages(indices, m, o),
    async *iterate(batchSize = 256) {
      for (let start = 0; start < ds.size; start += batchSize) {
        const indices = Int32Array.from({ length: Math.min(batchSize, ds.size - start) }, (_, k) => start + k);
        yield { start, indices, pixels: await readBatch(indices), labels: ds.labels.slice(start, start + indices.length) };
      }
    },
  };
}

/** `--input-size H[,W]` → [H, W]. */
export function parseInputSize(s: string): [number, number] {
  const m = /^(\d+)(?:[,x](\d+))?$/.exec(s.trim());
  if (!m) throw new UsageError(`${optionName('inputSize')} ${JSON.stringify(s)}: expected H or H,W (e.g. 32 or 64,48)`);
  const h = Number(m[1]);
  const w = m[2] === undefined ? h : Number(m[2]);
  if (!(h >= 4 && w >= 4 && h <= 1024 && w <= 1024)) throw new UsageError(`${optionName('inputSize')} ${s}: each side must be in [4, 1024]`);
  return [h, w];
}

