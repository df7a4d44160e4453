/**
 * Teacher preprocessing: packed HWC uint8 pixels of the data set → the model's input tensor.
 *
 *   input[c] = (pixel · scale − mean[c]) / std[c]      in the model's layout (NCHW or NHWC),
 *
 * after a per-image resize with sharp when `size` differs from the data's size. The spec is
 * recorded in the cache manifest; models exported by tfkd carry theirs in the metadata_props key
 * `tfkd.preprocess`, which becomes the default.
 *
 * Speed: pixels are uint8, so each channel's transform has only 256 possible results. We build a
 * 256-entry lookup table per channel once (in float32, or as float16 bits rounded from that float32
 * — the same value a float32 pipeline followed by a cast to half would produce) and the per-batch
 * work is one gather per element into a reused buffer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { f32ToF16 } from '../util/float16.js';
import sharp from 'sharp';
import { z } from 'zod';
import { UsageError, WorkError } from '../errors.js';
import { formatZodError } from '../errors.js';
import type { Layout, PreprocessSpec } from './types.js';

/** Metadata key under which tfkd-exported models record their preprocessing (JSON). */
export const PREPROCESS_METADATA_KEY = 'tfkd.preprocess';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
export const PreprocessSchema = z.strictObject({
  layout: z.enum(['NCHW', 'NHWC']).optional(),
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  scale: finite.optional(),
  mean: z.array(finite).min(1).optional(),
  std: z.array(finite.refine((v) => v !== 0, 'must be non-zero')).min(1).optional(),
});
/** A spec where every key may be missing (defaults fill it in). */
export type PartialPreprocess = z.infer<typeof PreprocessSchema>;

function validate(v: unknown, what: string): PartialPreprocess {
  const r = PreprocessSchema.safeParse(v);
  if (!r.success) throw new UsageError(`invalid ${what}: ${formatZodError(r.error)}`);
  return r.data;
}

/**
 * Parses `--preprocess`: an object, a JSON string, or the path of a JSON file. Unknown keys are
 * rejected; missing ones are left for `resolvePreprocess` to fill in.
 */
export function parsePreprocess(src: string | Partial<PreprocessSpec>, what = '--preprocess'): PartialPreprocess {
  if (typeof src !== 'string') return validate(src, what);
  let text = src.trim();
  if (!text.startsWith('{')) {
    if (!existsSync(src)) throw new UsageError(`${what}: neither a JSON object nor an existing file: ${src}`);
    text = readFileSync(src, 'utf8');
    what = `${what} file ${src}`;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`invalid ${what}: not valid JSON (${(e as Error).message})`);
  }
  return validate(json, what);
}

/** The spec a tfkd-exported model carries in its metadata, if any. */
export function preprocessFromMetadata(metadata: Record<string, string>, file: string): PartialPreprocess | undefined {
  const raw = metadata[PREPROCESS_METADATA_KEY];
  if (raw === undefined) return undefined;
  const what = `${PREPROCESS_METADATA_KEY} metadata in ${file}`;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new UsageError(`invalid ${what}: not valid JSON`);
  }
  return validate(json, what);
}

export interface PreprocessContext {
  /** The model's layout (already resolved against its input shape). */
  layout: Layout;
  channels: number;
  /** The data's own [H, W]. */
  dataSize: [number, number];
  /** The model's fixed [H, W], if it has one. */
  modelSize: [number, number] | null;
  file: string;
}

/**
 * Merges defaults < model metadata < user spec into a full spec and checks it against the data and
 * the model. Defaults: the data's own size, scale 1/255, mean 0, std 1.
 */
export function resolvePreprocess(layers: Array<PartialPreprocess | undefined>, ctx: PreprocessContext): PreprocessSpec {
  const m: PartialPreprocess = {};
  for (const l of layers) if (l) Object.assign(m, Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)));
  const C = ctx.channels;
  const spec: PreprocessSpec = {
    layout: ctx.layout,
    size: m.size ?? [...ctx.dataSize],
    scale: m.scale ?? 1 / 255,
    mean: m.mean ?? new Array<number>(C).fill(0),
    std: m.std ?? new Array<number>(C).fill(1),
  };
  if (m.layout && m.layout !== ctx.layout) {
    throw new UsageError(`preprocess layout ${m.layout} does not fit the model input, which is ${ctx.layout}`);
  }
  for (const key of ['mean', 'std'] as const) {
    if (spec[key].length !== C) throw new UsageError(`preprocess ${key} has ${spec[key].length} value(s), the data has ${C} channel(s)`);
  }
  if (ctx.modelSize && (ctx.modelSize[0] !== spec.size[0] || ctx.modelSize[1] !== spec.size[1])) {
    throw new UsageError(
      `${ctx.file} takes ${ctx.modelSize[0]}x${ctx.modelSize[1]} images, preprocessing gives ${spec.size[0]}x${spec.size[1]}`,
      `resize with --preprocess '{"size": [${ctx.modelSize[0]}, ${ctx.modelSize[1]}]}'`,
    );
  }
  return spec;
}

export type InputBuffer = Float32Array | Uint16Array;

export interface SampleShapeLike {
  height: number;
  width: number;
  channels: number;
}

/** Converts batches of packed HWC uint8 samples into model input (see the module comment). */
export class Preprocessor {
  /** Elements of one preprocessed sample (size[0]·size[1]·channels). */
  readonly sampleElems: number;
  readonly needsResize: boolean;
  private readonly lut: InputBuffer;
  private readonly C: number;
  private readonly HW: number;

  constructor(
    readonly spec: PreprocessSpec,
    readonly data: SampleShapeLike,
    readonly dtype: 'float32' | 'float16',
  ) {
    const C = data.channels;
    this.C = C;
    this.HW = spec.size[0] * spec.size[1];
    this.sampleElems = this.HW * C;
    this.needsResize = spec.size[0] !== data.height || spec.size[1] !== data.width;
    const lut32 = new Float32Array(256 * C);
    for (let c = 0; c < C; c++)
      for (let v = 0; v < 256; v++) lut32[c * 256 + v] = (v * spec.scale - spec.mean[c]) / spec.std[c];
    this.lut = dtype === 'float16' ? f32ToF16(lut32) : lut32;
  }

  /** A buffer for `rows` preprocessed samples of the right element type. */
  alloc(rows: number): InputBuffer {
    const len = rows * this.sampleElems;
    return this.dtype === 'float16' ? new Uint16Array(len) : new Float32Array(len);
  }

  /** Resizes each of `n` samples to `spec.size` with sharp (libuv pool, in parallel). */
  async resize(pixels: Uint8Array, n: number): Promise<Uint8Array> {
    const { height, width, channels } = this.data;
    const inBytes = height * width * channels;
    const [H, W] = this.spec.size;
    const outBytes = H * W * channels;
    const out = new Uint8Array(n * outBytes);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const img = pixels.subarray(i * inBytes, (i + 1) * inBytes);
        let pipe = sharp(img, { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 } }).resize(W, H, { fit: 'fill' });
        // sharp would otherwise widen grey input to sRGB on output.
        if (channels <= 2) pipe = pipe.toColourspace('b-w');
        const { data, info } = await pipe
          .raw()
          .toBuffer({ resolveWithObject: true });
        if (info.channels !== channels || data.length !== outBytes) {
          throw new WorkError(`resize of sample ${i} gave ${info.width}x${info.height}x${info.channels}, expected ${W}x${H}x${channels}`);
        }
        out.set(data, i * outBytes);
      }),
    );
    return out;
  }

  /**
   * Writes `n` samples (already at `spec.size`) into `out` starting at row 0; rows of `out` past
   * `n` are left as they are (padding for fixed-batch models). Returns `out`.
   */
  fill(pixels: Uint8Array, n: number, out: InputBuffer): InputBuffer {
    const { C, HW, lut } = this;
    const total = n * HW * C;
    if (pixels.length < total) throw new WorkError(`preprocess: ${n} samples need ${total} bytes, got ${pixels.length}`);
    if (out.length < total) throw new WorkError(`preprocess: output buffer holds ${out.length} values, ${total} needed`);
    if (this.spec.layout === 'NHWC' || C === 1) {
      // Same element order as the input (HWC; for one channel NCHW is HWC too).
      if (C === 1) {
        for (let i = 0; i < total; i++) out[i] = lut[pixels[i]];
      } else {
        for (let i = 0; i < total; i += C) for (let c = 0; c < C; c++) out[i + c] = lut[c * 256 + pixels[i + c]];
      }
      return out;
    }
    // NCHW: out[s, c, p] = lut_c[pixels[s, p, c]]; one pass per channel keeps writes sequential.
    const S = HW * C;
    for (let s = 0; s < n; s++) {
      const base = s * S;
      for (let c = 0; c < C; c++) {
        const o = base + c * HW;
        const l = c * 256;
        for (let p = 0, q = base + c; p < HW; p++, q += C) out[o + p] = lut[l + pixels[q]];
      }
    }
    return out;
  }

  /** Resize (when needed) + fill. */
  async apply(pixels: Uint8Array, n: number, out: InputBuffer = this.alloc(n)): Promise<InputBuffer> {
    const src = this.needsResize ? await this.resize(pixels, n) : pixels;
    return this.fill(src, n, out);
  }
}
