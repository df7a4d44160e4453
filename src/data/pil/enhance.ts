/**
 * PIL's ImageEnhance (Pillow 9.4, PIL/ImageEnhance.py) — what torchvision's adjust_brightness,
 * adjust_saturation, adjust_contrast and adjust_sharpness call on PIL images. Each enhancer is
 * `Image.blend(degenerate, image, factor)` with its own degenerate image:
 *   Brightness  black;
 *   Color       image.convert('L').convert(mode) (ITU-R 601-2 luma, pil/convert.ts);
 *   Contrast    a flat grey of int(mean(image.convert('L')) + 0.5);
 *   Sharpness   image.filter(SMOOTH) (the 3×3 kernel [1 1 1; 1 5 1; 1 1 1] / 13).
 * The arithmetic is Blend.c's and Filter.c's, in C float (float32) where they use it.
 */
import { makeImage, type Image } from '../image.js';
import { convert } from './convert.js';

const f32 = Math.fround;

/**
 * Blend.c ImagingBlend(in1, in2, (float)alpha): alpha 0 / 1 copy; within [0, 1]
 * (UINT8)(in1 + alpha·(in2 − in1)); outside, the same clipped to [0, 255] — all in float32.
 */
function blend(a: Uint8Array, b: Uint8Array, alpha: number): Uint8Array {
  if (a.length !== b.length) throw new RangeError(`blend: images of ${a.length} and ${b.length} bytes`);
  const al = f32(alpha);
  if (al === 0) return a.slice();
  if (al === 1) return b.slice();
  const out = new Uint8Array(a.length);
  const inside = al >= 0 && al <= 1;
  for (let i = 0; i < a.length; i++) {
    const t = f32(a[i] + f32(al * (b[i] - a[i])));
    out[i] = inside ? Math.trunc(t) : t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
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
  const k1 = f32(1 / f32(13));
  const k5 = f32(5 / f32(13));
  const src = img.data;
  const out = makeImage(W, H, C, src.slice());
  const dst = out.data;
  const row = W * C;
  // KERNEL1x3(in, x, k) = in[x−1]·k[0] + in[x]·k[1] + in[x+1]·k[2], each product and sum in float32.
  const line = (o: number, kc: number) => f32(f32(f32(src[o - C] * k1) + f32(src[o] * kc)) + f32(src[o + C] * k1));
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      for (let c = 0; c < C; c++) {
        const o = y * row + x * C + c;
        let ss = f32(0.5);
        ss = f32(ss + line(o + row, k1));
        ss = f32(ss + line(o, k5));
        ss = f32(ss + line(o - row, k1));
        dst[o] = clip8(ss);
      }
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

/** The enhancer's degenerate image (module comment). */
function degenerate(img: Image, kind: Enhancer): Uint8Array {
  const n = img.data.length;
  const C = img.channels;
  switch (kind) {
    case 'brightness':
      return new Uint8Array(n);
    case 'color': {
      if (C === 1) return img.data.slice();
      const l = luma(img);
      const out = new Uint8Array(n);
      for (let p = 0; p < l.length; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = l[p];
      return out;
    }
    case 'contrast': {
      // ImageStat.Stat(L).mean: Σ j·h[j] / count in doubles (exact for any image that fits memory).
      const l = luma(img);
      let sum = 0;
      for (let p = 0; p < l.length; p++) sum += l[p];
      const mean = Math.trunc(sum / l.length + 0.5);
      return new Uint8Array(n).fill(mean);
    }
    case 'sharpness':
      return smooth(img).data;
  }
}

/** `ImageEnhance.<Kind>(img).enhance(factor)` of Pillow 9.4. */
export function enhance(img: Image, kind: Enhancer, factor: number): Image {
  return makeImage(img.width, img.height, img.channels, blend(degenerate(img, kind), img.data, factor));
}
