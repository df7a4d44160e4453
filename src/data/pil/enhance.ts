/**
 * PIL's ImageEnhance (Pillow 9.4, PIL/ImageEnhance.py) — what torchvision's adjust_brightness,
 * adjust_saturation, adjust_contrast and adjust_sharpness call on PIL images. Each enhancer is
 * `Image.blend(degenerate, image, factor)` with its own degenerate image:
 *   Brightness  black;
 *   Color       image.convert('L').convert(mode) (ITU-R 601-2 luma, pil/convert.ts);
 *   Contrast    a flat grey of int(mean(image.convert('L')) + 0.5);
 *   Sharpness   image.filter(SMOOTH) (the 3×3 kernel [1 1 1; 1 5 1; 1 1 1] / 13).
 * The arithmetic is Blend.c's and Filter.c's, in C float (float32) where they use it; with the
 * image add-on loaded (pil/native.ts) the blend and the filter run in C (native/src/policy.cc).
 */
import { makeImage, type Image } from '../image.js';
import { convert } from './convert.js';
import { resampleAddon } from './native.js';

const f32 = Math.fround;

/** Blend.c's value of one byte pair: in1 + alpha·(in2 − in1) in float32, truncated, clipped outside [0, 1]. */
function blendValue(x: number, y: number, al: number, inside: boolean): number {
  const t = f32(x + f32(al * (y - x)));
  return inside ? Math.trunc(t) : t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
}

/**
 * Blend.c ImagingBlend(in1, in2, (float)alpha): (UINT8)(in1 + alpha·(in2 − in1)) in float32, clipped
 * to [0, 255] outside alpha ∈ [0, 1] (Pillow's copies at alpha 0 and 1 are the same bytes). `a` is an
 * image or one grey level (Brightness's black, Contrast's mean): then a 256-entry table.
 */
function blend(a: Uint8Array | number, b: Uint8Array, alpha: number): Uint8Array {
  if (typeof a !== 'number' && a.length !== b.length) throw new RangeError(`blend: images of ${a.length} and ${b.length} bytes`);
  const out = new Uint8Array(b.length);
  const addon = resampleAddon();
  if (addon) {
    addon.blend(a, b, alpha, out);
    return out;
  }
  const al = f32(alpha);
  const inside = al >= 0 && al <= 1;
  if (typeof a === 'number') {
    const lut = Uint8Array.from({ length: 256 }, (_, v) => blendValue(a, v, al, inside));
    for (let i = 0; i < b.length; i++) out[i] = lut[b[i]];
  } else {
    for (let i = 0; i < b.length; i++) out[i] = blendValue(a[i], b[i], al, inside);
  }
  return out;
}

/** Filter.c clip8: float → uint8, truncating. */
const clip8 = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v));

/**
 * `image.filter(ImageFilter.SMOOTH)`: Filter.c ImagingFilter3x3 with the kernel divided by 13 in
 * float32 (_imaging.c _filter), offset 0 + 0.5 for rounding, rows summed bottom to top as the C
 * macro does; the border rows and columns are copied. Images under 3×3 are copied whole.
 */
function smooth(img: Image): Image {
  const { width: W, height: H, channels: C } = img;
  if (W < 3 || H < 3) return makeImage(W, H, C, img.data.slice());
  const addon = resampleAddon();
  if (addon) {
    const o = makeImage(W, H, C);
    addon.smooth(img.data, W, H, C, o.data);
    return o;
  }
  const k1 = f32(1 / f32(13));
  const k5 = f32(5 / f32(13));
  // Every product is a byte times a kernel weight: tabulated (float32 values, exact as doubles).
  const p1 = Float64Array.from({ length: 256 }, (_, v) => f32(v * k1));
  const p5 = Float64Array.from({ length: 256 }, (_, v) => f32(v * k5));
  const src = img.data;
  const out = makeImage(W, H, C, src.slice());
  const dst = out.data;
  const row = W * C;
  const half = f32(0.5);
  for (let y = 1; y < H - 1; y++) {
    const end = y * row + (W - 1) * C;
    for (let o = y * row + C; o < end; o++) {
      // KERNEL1x3(in, x, k) = in[x−1]·k[0] + in[x]·k[1] + in[x+1]·k[2], each sum in float32; the
      // row below first, as the C macro's order.
      const lo = o + row;
      const hi = o - row;
      let ss = f32(half + f32(f32(p1[src[lo - C]] + p1[src[lo]]) + p1[src[lo + C]]));
      ss = f32(ss + f32(f32(p1[src[o - C]] + p5[src[o]]) + p1[src[o + C]]));
      ss = f32(ss + f32(f32(p1[src[hi - C]] + p1[src[hi]]) + p1[src[hi + C]]));
      dst[o] = clip8(ss);
    }
  }
  return out;
}

export type Enhancer = 'brightness' | 'color' | 'contrast' | 'sharpness';

/** The grey of `image.convert('L')` (the image itself when it is L). */
function luma(img: Image): Uint8Array {
  if (img.channels === 1) return img.data;
  return convert({ mode: 'RGB', width: img.width, height: img.height, data: img.data }, 'L').data;
}

/** The enhancer's degenerate image, or its one grey level (module comment). */
function degenerate(img: Image, kind: Enhancer): Uint8Array | number {
  const C = img.channels;
  switch (kind) {
    case 'brightness':
      return 0;
    case 'color': {
      if (C === 1) return img.data;
      const l = luma(img);
      const out = new Uint8Array(img.data.length);
      for (let p = 0; p < l.length; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = l[p];
      return out;
    }
    case 'contrast': {
      // ImageStat.Stat(L).mean: Σ j·h[j] / count in doubles (exact for any image that fits memory).
      const l = luma(img);
      let sum = 0;
      for (let p = 0; p < l.length; p++) sum += l[p];
      return Math.trunc(sum / l.length + 0.5);
    }
    case 'sharpness':
      return smooth(img).data;
  }
}

/** `ImageEnhance.<Kind>(img).enhance(factor)` of Pillow 9.4. */
export function enhance(img: Image, kind: Enhancer, factor: number): Image {
  return makeImage(img.width, img.height, img.channels, blend(degenerate(img, kind), img.data, factor));
}
