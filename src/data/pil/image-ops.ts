/**
 * PIL's ImageOps lookup-table operations (Pillow 9.4, PIL/ImageOps.py) — what torchvision's
 * posterize, solarize, invert, autocontrast and equalize call on PIL images. Each builds a 256-entry table
 * per band from the band's histogram (or from nothing) and maps every pixel through it
 * (`image.point(lut)`, in C with the image add-on: native/src/policy.cc); the tables are computed
 * exactly as the Python code computes them.
 */
import { makeImage, type Image } from '../image.js';
import { resampleAddon } from './native.js';

/** Per-band 256-bin histograms (`image.histogram()`). */
function histograms(img: Image): Float64Array[] {
  const C = img.channels;
  const d = img.data;
  if (C === 1) {
    const h = new Float64Array(256);
    for (let i = 0; i < d.length; i++) h[d[i]]++;
    return [h];
  }
  const h0 = new Float64Array(256);
  const h1 = new Float64Array(256);
  const h2 = new Float64Array(256);
  for (let i = 0; i < d.length; i += 3) {
    h0[d[i]]++;
    h1[d[i + 1]]++;
    h2[d[i + 2]]++;
  }
  return [h0, h1, h2];
}

/** `image.point(lut)` with one table per band. */
function applyLuts(img: Image, luts: Uint8Array[]): Image {
  const out = makeImage(img.width, img.height, img.channels);
  const addon = resampleAddon();
  if (addon) {
    const all = new Uint8Array(256 * img.channels);
    luts.forEach((l, c) => all.set(l, 256 * c));
    addon.lut(img.data, img.channels, all, out.data);
    return out;
  }
  const s = img.data;
  const d = out.data;
  if (img.channels === 1 || luts.every((l) => l === luts[0])) {
    const l = luts[0];
    for (let i = 0; i < s.length; i++) d[i] = l[s[i]];
    return out;
  }
  const [l0, l1, l2] = luts;
  for (let i = 0; i < s.length; i += 3) {
    d[i] = l0[s[i]];
    d[i + 1] = l1[s[i + 1]];
    d[i + 2] = l2[s[i + 2]];
  }
  return out;
}

const perBand = (img: Image, lut: Uint8Array): Image => applyLuts(img, [lut, lut, lut].slice(0, img.channels));
const identity = (): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => i);

/** ImageOps.posterize(image, bits): i & ~(2^(8 − bits) − 1). */
export function posterize(img: Image, bits: number): Image {
  if (!Number.isInteger(bits) || bits < 0 || bits > 8) throw new RangeError(`posterize: bits must be an integer in [0, 8], got ${bits}`);
  const mask = ~(2 ** (8 - bits) - 1);
  return perBand(
    img,
    Uint8Array.from({ length: 256 }, (_, i) => i & mask),
  );
}

/** ImageOps.invert(image): 255 − i. */
export function invert(img: Image): Image {
  return perBand(
    img,
    Uint8Array.from({ length: 256 }, (_, i) => 255 - i),
  );
}

/** ImageOps.solarize(image, threshold): i below the threshold kept, else 255 − i. */
export function solarize(img: Image, threshold: number): Image {
  return perBand(
    img,
    Uint8Array.from({ length: 256 }, (_, i) => (i < threshold ? i : 255 - i)),
  );
}

/**
 * ImageOps.autocontrast(image) (cutoff 0): per band, lo and hi are the darkest and lightest values
 * present; scale = 255 / (hi − lo), offset = −lo · scale, lut[i] = clamp(int(i · scale + offset));
 * a band with one value (hi ≤ lo) is left as it is.
 */
export function autocontrast(img: Image): Image {
  const luts = histograms(img).map((h) => {
    let lo = 0;
    while (lo < 256 && !h[lo]) lo++;
    let hi = 255;
    while (hi >= 0 && !h[hi]) hi--;
    if (hi <= lo) return identity();
    const scale = 255.0 / (hi - lo);
    const offset = -lo * scale;
    return Uint8Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset))));
  });
  return applyLuts(img, luts);
}

/**
 * ImageOps.equalize(image): per band, step = (Σ of the non-empty bins − the last non-empty bin) // 255;
 * lut[i] = n // step with n starting at step // 2 and growing by h[i] after each entry; a band
 * with at most one value, or step 0, is left as it is.
 */
export function equalize(img: Image): Image {
  const luts = histograms(img).map((h) => {
    let total = 0;
    let last = 0;
    let nonEmpty = 0;
    for (let i = 0; i < 256; i++) {
      if (h[i]) {
        total += h[i];
        last = h[i];
        nonEmpty++;
      }
    }
    if (nonEmpty <= 1) return identity();
    const step = Math.floor((total - last) / 255);
    if (!step) return identity();
    let n = Math.floor(step / 2);
    const lut = new Uint8Array(256);
    // n // step can pass 255; point() clips each entry to [0, 255] (_imaging.c _point, CLIP8).
    for (let i = 0; i < 256; i++) {
      lut[i] = Math.min(255, Math.floor(n / step));
      n += h[i];
    }
    return lut;
  });
  return applyLuts(img, luts);
}
