/**
 * Teacher preprocessing: decoded images → the model's input tensor.
 *
 *   render: convert(mode) → resize → center crop        (data/render.ts, PIL's resampler, exact)
 *   input[c] = (pixel · scale − mean[c]) / std[c]       in the model's layout (NCHW or NHWC)
 *
 * `channels` 'BGR' feeds the rendered RGB channels reversed (mean/std are in the fed order); 'L'
 * renders one grey channel (PIL's convert('L')). The spec is recorded in the cache manifest and
 * its key; models exported by tfkd carry theirs in the metadata_props key `tfkd.preprocess`, which
 * becomes the default. `--preprocess imagenet | timm:FILE | hf:FILE` resolve the ecosystem's
 * recipes (configs.ts) into the same keys.
 *
 * Speed: pixels are uint8, so each channel's transform has only 256 possible results. We build a
 * 256-entry lookup table per channel once (in float32, or as float16 bits rounded from that float32
 * — the same value a float32 pipeline followed by a cast to half would produce) and the per-batch
 * work is one gather per element into a reused buffer. Fixed-size data whose rendering is the
 * identity skips the render step.
 */
import { existsSync, readFileSync } from 'node:fs';
import { f32ToF16, f32ToF16Bits } from '../util/float16.js';
import { z } from 'zod';
import { UsageError, WorkError, optionName } from '../errors.js';
import { formatZodError } from '../errors.js';
import type { Image } from '../data/image.js';
import { INTERPOLATIONS } from '../data/image.js';
import { fixedOutputSize, isIdentity, render, type RenderSpec } from '../data/render.js';
import { IMAGENET_PRESET } from './configs.js';
import { hfPreprocess } from './configs-hf.js';
import { timmPreprocess } from './configs-timm.js';
import type { Layout, PreprocessSpec } from './types.js';

/** Metadata key under which tfkd-exported models record their preprocessing (JSON). */
const PREPROCESS_METADATA_KEY = 'tfkd.preprocess';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const side = z.number().int().positive().max(65535);
const hw = z.tuple([side, side]);
/** `crop: 224` means [224, 224]. */
const sideOrHw = z.union([side.transform((v): [number, number] => [v, v]), hw]);
const PreprocessSchema = z.strictObject({
  layout: z.enum(['NCHW', 'NHWC']).optional(),
  /** Final [H, W]; alone it means "stretch to [H, W]" (resize [H, W], no crop). */
  size: hw.optional(),
  resize: z.union([side, hw]).nullable().optional(),
  crop: sideOrHw.nullable().optional(),
  cropRounding: z.enum(['round', 'floor']).optional(),
  interpolation: z.enum(INTERPOLATIONS, { error: `must be one of ${INTERPOLATIONS.join(', ')}` }).optional(),
  channels: z.enum(['RGB', 'BGR', 'L', 'as-is']).optional(),
  source: z.string().optional(),
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

function readJson(file: string, what: string): unknown {
  if (!existsSync(file)) throw new UsageError(`${what}: file not found: ${file}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`invalid ${what} file ${file}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Parses `--preprocess`: an object, a JSON string, the path of a JSON file, `imagenet`
 * (torchvision's recipe), `timm:FILE` (a timm config.json / pretrained cfg) or `hf:FILE` (a Hugging
 * Face preprocessor_config.json). Unknown keys are rejected; missing ones are left for
 * `resolvePreprocess` to fill in.
 */
export function parsePreprocess(src: string | Partial<PreprocessSpec>, what = '--preprocess'): PartialPreprocess {
  if (typeof src !== 'string') return validate(src, what);
  const text = src.trim();
  if (text === 'imagenet') return validate(IMAGENET_PRESET, `${what} imagenet`);
  if (text.startsWith('timm:')) {
    const file = text.slice(5);
    return validate(timmPreprocess(readJson(file, `${what} timm:`), file), `${what} ${text}`);
  }
  if (text.startsWith('hf:')) {
    const file = text.slice(3);
    return validate(hfPreprocess(readJson(file, `${what} hf:`), file), `${what} ${text}`);
  }
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`invalid ${what}: not valid JSON (${(e as Error).message})`);
    }
    return validate(json, what);
  }
  if (!existsSync(src)) throw new UsageError(`${what}: neither a JSON object, imagenet, timm:FILE, hf:FILE nor an existing file: ${src}`);
  return validate(readJson(src, what), `${what} file ${src}`);
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
  /** Channels the model is fed (1 or 3): decides the default `channels` (L or RGB). */
  channels: number;
  /** The data's own [H, W] (fixed-size data) — for variable-size data its stretched face's. */
  dataSize: [number, number];
  /** True when the data's images differ in size (folder:, list:): a rendering must fix the size. */
  variableSize?: boolean;
  /** The model's fixed [H, W], if it has one. */
  modelSize: [number, number] | null;
  file: string;
}

const sizeText = (s: [number, number]) => `${s[0]}x${s[1]}`;

/**
 * Merges defaults < model metadata < user spec into a full spec and checks it against the data and
 * the model. Defaults: no resize or crop (the data's own size), bilinear, round, the fed channel
 * count's mode (L or RGB), scale 1/255, mean 0, std 1. A legacy `size` alone is a stretch to it.
 */
export function resolvePreprocess(layers: Array<PartialPreprocess | undefined>, ctx: PreprocessContext): PreprocessSpec {
  const m: PartialPreprocess = {};
  for (const l of layers) if (l) Object.assign(m, Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)));
  const channels = m.channels ?? (ctx.channels === 1 ? 'L' : ctx.channels === 3 ? 'RGB' : 'as-is');
  const C = channelCount(channels, ctx.channels);
  if (m.layout && m.layout !== ctx.layout) {
    throw new UsageError(`preprocess layout ${m.layout} does not fit the model input, which is ${ctx.layout}`);
  }
  if (C !== ctx.channels) throw new UsageError(`preprocess channels ${channels} gives ${C} channel(s), the model takes ${ctx.channels}`);
  let resize = m.resize ?? null;
  const crop = m.crop ?? null;
  if (resize === null && crop === null && m.size) resize = [m.size[0], m.size[1]];
  let size = fixedOutputSize({ resize, crop });
  if (size === null) {
    if (resize !== null) {
      throw new UsageError(`preprocess resize ${resize} (shorter side) without crop gives images of different sizes`, `add a crop, e.g. {"resize": ${resize}, "crop": ${ctx.modelSize?.[0] ?? 224}}`);
    }
    if (ctx.variableSize) {
      // A folder is not scanned for one common size (a pass over every header); the model's own
      // size, else the first image's, is what to type.
      const eg = ctx.modelSize ?? ctx.dataSize;
      const whose = ctx.modelSize ? 'the model\'s size' : 'the first image\'s size';
      throw new UsageError(
        `the data's images may differ in size (folder:/list: data is not scanned) and the preprocessing does not say how to render them${ctx.modelSize ? ` for ${ctx.file} (${sizeText(ctx.modelSize)})` : ''}`,
        `pass ${optionName('preprocess')} '{"size": [${eg[0]}, ${eg[1]}]}' (a stretch to ${whose}), '{"resize": ${Math.round((eg[0] * 8) / 7)}, "crop": ${eg[0]}}', imagenet (resize 256, crop 224), timm:config.json or hf:preprocessor_config.json`,
      );
    }
    size = [ctx.dataSize[0], ctx.dataSize[1]];
  }
  if (m.size && (m.size[0] !== size[0] || m.size[1] !== size[1])) {
    throw new UsageError(`preprocess size ${sizeText(m.size)} disagrees with what resize/crop give (${sizeText(size)})`, 'drop "size" or make it the crop size');
  }
  const spec: PreprocessSpec = {
    layout: ctx.layout,
    size,
    resize,
    crop,
    cropRounding: m.cropRounding ?? 'round',
    interpolation: m.interpolation ?? 'bilinear',
    channels,
    scale: m.scale ?? 1 / 255,
    mean: m.mean ?? new Array<number>(C).fill(0),
    std: m.std ?? new Array<number>(C).fill(1),
    ...(m.source !== undefined ? { source: m.source } : {}),
  };
  for (const key of ['mean', 'std'] as const) {
    if (spec[key].length !== C) throw new UsageError(`preprocess ${key} has ${spec[key].length} value(s), the model is fed ${C} channel(s) (${channels})`);
  }
  if (ctx.modelSize && (ctx.modelSize[0] !== spec.size[0] || ctx.modelSize[1] !== spec.size[1])) {
    throw new UsageError(
      `${ctx.file} takes ${ctx.modelSize[0]}x${ctx.modelSize[1]} images, preprocessing gives ${spec.size[0]}x${spec.size[1]}`,
      `resize with ${optionName('preprocess')} '{"size": [${ctx.modelSize[0]}, ${ctx.modelSize[1]}]}', or resize + crop (e.g. ${optionName('preprocess')} imagenet for 224x224)`,
    );
  }
  return spec;
}

/** Channels fed for a channel order ('as-is': the data's own count). */
const channelCount = (c: PreprocessSpec['channels'], dataChannels: number): number => (c === 'L' ? 1 : c === 'as-is' ? dataChannels : 3);

/** The rendering part of a resolved spec. */
export function renderSpecOf(spec: PreprocessSpec): RenderSpec {
  return { mode: spec.channels === 'L' ? 'L' : 'RGB', resize: spec.resize, crop: spec.crop, cropRounding: spec.cropRounding, interpolation: spec.interpolation };
}

export type InputBuffer = Float32Array | Uint16Array;

export interface SampleShapeLike {
  height: number;
  width: number;
  channels: number;
}

/**
 * Converts batches into model input (see the module comment): packed fixed-size samples of the
 * data's shape (`apply`) or decoded images of any size (`applyImages`).
 */
export class Preprocessor {
  /** Elements of one preprocessed sample (size[0]·size[1]·channels). */
  readonly sampleElems: number;
  /** Packed samples of the data's shape need no rendering (same size and channels). */
  readonly identity: boolean;
  readonly render: RenderSpec;
  /** Channels fed to the model. */
  readonly channels: number;
  private readonly lut: InputBuffer;
  private readonly HW: number;
  /** BGR: fed channel c reads rendered channel 2 − c. */
  private readonly reverse: boolean;

  constructor(
    readonly spec: PreprocessSpec,
    readonly data: SampleShapeLike,
    readonly dtype: 'float32' | 'float16',
  ) {
    const C = channelCount(spec.channels, data.channels);
    this.channels = C;
    this.HW = spec.size[0] * spec.size[1];
    this.sampleElems = this.HW * C;
    this.render = renderSpecOf(spec);
    this.reverse = spec.channels === 'BGR';
    this.identity = spec.channels === 'as-is' ? true : isIdentity(this.render, data);
    if (spec.channels === 'as-is' && !isIdentity({ ...this.render, mode: data.channels === 1 ? 'L' : 'RGB' }, { ...data, channels: data.channels === 1 ? 1 : 3 })) {
      throw new UsageError(`data with ${data.channels} channels can only be fed as they are (no resize or crop)`);
    }
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

  /** Renders each image (convert → resize → crop) and packs the results, `size`×channels each. */
  renderImages(images: readonly Image[]): Uint8Array {
    const [H, W] = this.spec.size;
    const sb = H * W * this.channels;
    const out = new Uint8Array(images.length * sb);
    images.forEach((img, i) => {
      const r = render(img, this.render);
      if (r.width !== W || r.height !== H || r.channels !== this.channels) {
        throw new WorkError(`internal: rendering gave ${r.width}x${r.height}x${r.channels}, expected ${W}x${H}x${this.channels}`);
      }
      out.set(r.data, i * sb);
    });
    return out;
  }

  /** Renders `n` packed samples of the data's shape (when not the identity). */
  renderPacked(pixels: Uint8Array, n: number): Uint8Array {
    const { height, width, channels } = this.data;
    if (channels !== 1 && channels !== 3) throw new UsageError(`data with ${channels} channels can only be fed as they are (no resize, crop or channel conversion)`);
    const sb = height * width * channels;
    const images = Array.from({ length: n }, (_, i): Image => ({ data: pixels.subarray(i * sb, (i + 1) * sb), width, height, channels }));
    return this.renderImages(images);
  }

  /**
   * Writes `n` rendered samples (`size`×channels, HWC) into `out` starting at row 0; rows of `out`
   * past `n` are left as they are (padding for fixed-batch models). Returns `out`.
   */
  fill(pixels: Uint8Array | Float32Array, n: number, out: InputBuffer): InputBuffer {
    if (pixels instanceof Float32Array) return this.fillFloat(pixels, n, out);
    const { HW, lut } = this;
    const C = this.channels;
    const total = n * HW * C;
    if (pixels.length < total) throw new WorkError(`preprocess: ${n} samples need ${total} bytes, got ${pixels.length}`);
    if (out.length < total) throw new WorkError(`preprocess: output buffer holds ${out.length} values, ${total} needed`);
    // Fed channel c reads rendered channel src(c).
    const src = (c: number) => (this.reverse ? C - 1 - c : c);
    if (C === 1) {
      for (let i = 0; i < total; i++) out[i] = lut[pixels[i]];
      return out;
    }
    if (this.spec.layout === 'NHWC' && C === 3) {
      const [s0, s1, s2] = [src(0), src(1), src(2)];
      for (let i = 0; i < total; i += 3) {
        out[i] = lut[pixels[i + s0]];
        out[i + 1] = lut[256 + pixels[i + s1]];
        out[i + 2] = lut[512 + pixels[i + s2]];
      }
      return out;
    }
    if (this.spec.layout === 'NHWC') {
      for (let i = 0; i < total; i += C) for (let c = 0; c < C; c++) out[i + c] = lut[c * 256 + pixels[i + c]];
      return out;
    }
    // NCHW: out[s, c, p] = lut_c[pixels[s, p, src(c)]]; one pass per channel keeps writes sequential.
    const S = HW * C;
    for (let s = 0; s < n; s++) {
      const base = s * S;
      for (let c = 0; c < C; c++) {
        const o = base + c * HW;
        const l = c * 256;
        for (let p = 0, q = base + src(c); p < HW; p++, q += C) out[o + p] = lut[l + pixels[q]];
      }
    }
    return out;
  }

  /**
   * `fill` for float pixels on [0, 1] (mixed views, docs/MIXING.md): fed value
   * (p · 255 · scale − mean[c]) / std[c], computed in double and rounded once — for p = v/255 the
   * lookup table's value up to the rounding of p; never rounded back to uint8.
   */
  fillFloat(pixels: Float32Array, n: number, out: InputBuffer): InputBuffer {
    const { HW } = this;
    const C = this.channels;
    const total = n * HW * C;
    if (pixels.length < total) throw new WorkError(`preprocess: ${n} samples need ${total} values, got ${pixels.length}`);
    if (out.length < total) throw new WorkError(`preprocess: output buffer holds ${out.length} values, ${total} needed`);
    const k = 255 * this.spec.scale;
    const mean = this.spec.mean;
    const std = this.spec.std;
    const src = (c: number) => (this.reverse ? C - 1 - c : c);
    // float16 feeds: the float32 value's half, as the lookup table's (f32 first, then f16).
    const put =
      out instanceof Uint16Array
        ? (i: number, v: number) => {
            out[i] = f32ToF16Bits(Math.fround(v));
          }
        : (i: number, v: number) => {
            out[i] = v;
          };
    if (this.spec.layout === 'NHWC') {
      for (let i = 0; i < total; i += C) for (let c = 0; c < C; c++) put(i + c, (pixels[i + src(c)] * k - mean[c]) / std[c]);
      return out;
    }
    const S = HW * C;
    for (let s = 0; s < n; s++) {
      const base = s * S;
      for (let c = 0; c < C; c++) {
        const o = base + c * HW;
        for (let p = 0, q = base + src(c); p < HW; p++, q += C) put(o + p, (pixels[q] * k - mean[c]) / std[c]);
      }
    }
    return out;
  }

  /** Packed samples of the data's shape: render (unless the identity) + fill. */
  async apply(pixels: Uint8Array, n: number, out: InputBuffer = this.alloc(n)): Promise<InputBuffer> {
    return this.fill(this.identity ? pixels : this.renderPacked(pixels, n), n, out);
  }

  /** Decoded images of any size: render + fill. */
  applyImages(images: readonly Image[], out: InputBuffer = this.alloc(images.length)): InputBuffer {
    return this.fill(this.renderImages(images), images.length, out);
  }
}
