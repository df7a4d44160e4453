import { UsageError } from '../../errors.js';
import { INTERPOLATIONS, makeImage } from '../image.js';
import type { Image, Interpolation } from '../image.js';
import { nearest } from './nearest.js';
import { resampleAddon } from './native.js';

/**
 * `PIL.Image.resize((width, height), filter)` of Pillow 9.4 (box=None, reducing_gap=None) on mode
 * 'L' and 'RGB' images, byte for byte. Ported from src/libImaging/Resample.c, Geometry.c and
 * _imaging.c `_resize`:
 *
 *   - Same size: a copy (Image.resize returns `self.copy()`).
 *   - NEAREST does not go through Resample.c: `_resize` builds the affine matrix
 *     a = [w_in / w, 0, 0, 0, h_in / h, 0] and ImagingTransformAffine → ImagingScaleAffine samples
 *     source pixel `COORD(xo)` with `xo` starting at `a[0] · 0.5` and *accumulating* `+= a[0]` per
 *     output pixel in double precision (so the rule is not `floor((x + 0.5) · scale)` for every x;
 *     the running sum is reproduced exactly). Pixels mapping outside stay 0 (fill = 1).
 *   - Every other filter is the separable antialiased resampler (ImagingResampleInner):
 *     coefficients per output pixel from `precompute_coeffs` (support = filter support × max(1,
 *     scale), window `[trunc(center − support + 0.5), trunc(center + support + 0.5))` clamped to the
 *     image, weights normalised to sum 1 in double), then `normalize_coeffs_8bpc` rounds them to
 *     22-bit fixed point (PRECISION_BITS = 32 − 8 − 2, round half away from zero). A horizontal
 *     pass runs first, over only the source rows the vertical pass will read
 *     (`ybox_first..ybox_last`), then a vertical pass; each output sample is
 *     `clip8((1 << 21 + Σ pixel · k) >> 22)`. A pass whose size does not change is skipped.
 *   - The filters as C writes them: hamming's `0.54f + 0.46f · cos(x)` uses float constants
 *     (Math.fround here); lanczos is sinc(x)·sinc(x/3) on [−3, 3); bicubic a = −0.5; box (−0.5,
 *     0.5]. sin/cos come from V8 instead of glibc; a last-ulp difference could only matter where a
 *     coefficient lies on a rounding boundary of 2⁻²², and the tests see none.
 *
 * Speed: integer coefficient tables per axis (Int32Array), int32 sums, one temporary image, no
 * per-pixel allocation: 500×375 RGB → 298×224 bilinear takes ~3.7 ms of CPU (bicubic ~6, lanczos
 * ~9) on the 2-core build machine, where Pillow's C takes ~1.3 ms. When the image add-on is built
 * (native/src/resample.cc, AVX2), the two passes run there on the same coefficient tables — the
 * JS passes below stay the reference and the fallback (pil/native.ts; `tfkd bench render`
 * measures both against Pillow).
 */

const PRECISION_BITS = 32 - 8 - 2;
const ROUNDING = 1 << (PRECISION_BITS - 1);
const F054 = Math.fround(0.54);
const F046 = Math.fround(0.46);

interface Filter {
  fn: (x: number) => number;
  support: number;
}

const sinc = (x: number): number => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};

const FILTERS: Readonly<Record<Exclude<Interpolation, 'nearest'>, Filter>> = Object.freeze({
  box: { support: 0.5, fn: (x: number) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    fn: (x: number) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
  hamming: {
    support: 1,
    fn: (x: number) => {
      if (x < 0) x = -x;
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x = x * Math.PI;
      return (Math.sin(x) / x) * (F054 + F046 * Math.cos(x));
    },
  },
  bicubic: {
    support: 2,
    fn: (x: number) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x: number) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
});

/** Fixed-point coefficients of one axis: output i reads `size[i]` inputs from `start[i]`. */
export interface Coefficients {
  ksize: number;
  start: Int32Array;
  size: Int32Array;
  /** outSize · ksize, row i at i · ksize. */
  k: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for box (0, inSize), exactly as Resample.c. */
export function coefficients(inSize: number, outSize: number, filter: Exclude<Interpolation, 'nearest'>): Coefficients {
  const f = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const size = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = f.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    const row = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[row + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    size[xx] = xmax;
  }
  return { ksize, start, size, k };
}

// Images of a data set share a few sizes (ImageNet: mostly 500×375 / 375×500): the tables of the
// last few (in, out, filter) are kept. They are read-only once made.
const COEFF_CACHE = new Map<string, Coefficients>();
const COEFF_CACHE_SIZE = 32;

function cachedCoefficients(inSize: number, outSize: number, filter: Exclude<Interpolation, 'nearest'>): Coefficients {
  const key = `${inSize},${outSize},${filter}`;
  let c = COEFF_CACHE.get(key);
  if (!c) {
    c = coefficients(inSize, outSize, filter);
    if (COEFF_CACHE.size >= COEFF_CACHE_SIZE) COEFF_CACHE.delete(COEFF_CACHE.keys().next().value!);
    COEFF_CACHE.set(key, c);
  }
  return c;
}

function checkArgs(img: Image, width: number, height: number, filter: Interpolation): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new UsageError(`resize: width and height must be integers > 0, got ${width}x${height}`);
  }
  if (!INTERPOLATIONS.includes(filter)) throw new UsageError(`resize: unknown filter '${String(filter)}' (expected one of ${INTERPOLATIONS.join(', ')})`);
  if (img.channels !== 1 && img.channels !== 3) throw new UsageError(`resize: images have 1 or 3 channels, got ${String(img.channels)}`);
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new UsageError(`resize: image ${img.width}x${img.height}x${img.channels} needs ${img.width * img.height * img.channels} bytes, got ${img.data.length}`);
  }
}

/** `PIL.Image.resize((width, height), filter)` for mode L (1 channel) or RGB (3) images. */
/** A window of the resized image: output pixels [left, left + width) × [top, top + height). */
export interface ResizeWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

const sliceCoefficients = (c: Coefficients, from: number, n: number): Coefficients => ({
  ksize: c.ksize,
  start: c.start.subarray(from, from + n),
  size: c.size.subarray(from, from + n),
  k: c.k.subarray(from * c.ksize, (from + n) * c.ksize),
});

/**
 * `img.resize((width, height), filter)`; with `win`, only that window of the result (each output
 * pixel depends only on its own row's and column's coefficients, so the window's bytes are the
 * full result's — a resize followed by a center crop need not compute what the crop drops).
 */
export function resize(img: Image, width: number, height: number, filter: Interpolation, win?: ResizeWindow): Image {
  checkArgs(img, width, height, filter);
  if (win && !(Number.isInteger(win.left) && Number.isInteger(win.top) && win.left >= 0 && win.top >= 0 && win.width >= 1 && win.height >= 1 && win.left + win.width <= width && win.top + win.height <= height)) {
    throw new UsageError(`resize window ${JSON.stringify(win)} is not inside ${width}x${height}`);
  }
  const w = win ?? { left: 0, top: 0, width, height };
  const ch = img.channels;
  if (width === img.width && height === img.height) return win ? cropTo(img, w, width, height) : makeImage(width, height, ch, img.data.slice());
  if (filter === 'nearest') return cropTo(nearest(img, width, height), w, width, height);
  const needH = width !== img.width;
  const needV = height !== img.height;
  const horiz = sliceCoefficients(cachedCoefficients(img.width, width, filter), w.left, w.width);
  const vert = sliceCoefficients(cachedCoefficients(img.height, height, filter), w.top, w.height);
  let src = img.data;
  let srcWidth = img.width;
  let vStart = vert.start;
  if (needH) {
    // Only the rows the vertical pass reads (ybox_first .. ybox_last) — of the window's rows.
    const first = needV ? vert.start[0] : w.top;
    const last = needV ? vert.start[w.height - 1] + vert.size[w.height - 1] : w.top + w.height;
    const rows = last - first;
    if (!needV) {
      const out = uninitialized(w.width * rows * ch);
      horizontalPass(src, img.width, ch, first, rows, out, w.width, horiz);
      return makeImage(w.width, w.height, ch, out);
    }
    const tmp = scratch(w.width * rows * ch);
    horizontalPass(src, img.width, ch, first, rows, tmp, w.width, horiz);
    if (first !== 0) vStart = vert.start.map((s) => s - first);
    src = tmp;
    srcWidth = w.width;
  } else if (w.left !== 0 || w.width !== img.width) {
    // No horizontal resampling: the window's columns, as they are.
    src = cropTo(img, { left: w.left, top: 0, width: w.width, height: img.height }, img.width, img.height).data;
    srcWidth = w.width;
  }
  const out = uninitialized(srcWidth * w.height * ch);
  verticalPass(src, srcWidth * ch, out, w.height, { ...vert, start: vStart });
  return makeImage(srcWidth, w.height, ch, out);
}

/**
 * A result buffer every byte of which the caller writes: uninitialised memory (Node's allocUnsafeSlow,
 * its own ArrayBuffer, offset 0) seen as a plain Uint8Array (`slice` copies, as everywhere else).
 * Zero-filling a 224×224×3 output first cost as much as the vertical pass itself.
 */
function uninitialized(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** A box of the source image: columns [left, left + width), rows [top, top + height). */
export interface SourceBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * `img.crop(box).resize((width, height), filter)`, mirrored left–right when `flip` (torchvision's
 * resized_crop + hflip), without the crop's or the flip's copy: the coefficient tables of the
 * box's size, their windows shifted by the box's offset, read the same pixels of `img` as of the
 * crop (each window is clamped to the box, as it was to the crop); a flip is the horizontal table
 * in reverse output order (each output column depends on its own table row only). Same bytes.
 * Filters other than nearest when both axes change (the case of RandomResizedCrop boxes); the
 * others crop, resize and mirror as before.
 */
export function resizeBox(img: Image, box: SourceBox, width: number, height: number, filter: Interpolation, flip = false): Image {
  checkArgs(img, width, height, filter);
  if (!(Number.isInteger(box.left) && Number.isInteger(box.top) && box.left >= 0 && box.top >= 0 && box.width >= 1 && box.height >= 1 && box.left + box.width <= img.width && box.top + box.height <= img.height)) {
    throw new UsageError(`resize box ${JSON.stringify(box)} is not inside ${img.width}x${img.height}`);
  }
  const ch = img.channels;
  if (filter === 'nearest' || box.width === width || box.height === height) {
    const crop = cropTo(img, box, img.width, img.height);
    const out = crop.width === width && crop.height === height ? crop : resize(crop, width, height, filter);
    return flip ? mirror(out) : out;
  }
  const h = cachedCoefficients(box.width, width, filter);
  const v = cachedCoefficients(box.height, height, filter);
  const hStart = new Int32Array(width);
  let hSize = h.size;
  let hK = h.k;
  if (flip) {
    hSize = new Int32Array(width);
    hK = new Int32Array(h.k.length);
    for (let x = 0; x < width; x++) {
      const from = width - 1 - x;
      hStart[x] = h.start[from] + box.left;
      hSize[x] = h.size[from];
      hK.set(h.k.subarray(from * h.ksize, (from + 1) * h.ksize), x * h.ksize);
    }
  } else {
    for (let x = 0; x < width; x++) hStart[x] = h.start[x] + box.left;
  }
  const first = v.start[0] + box.top;
  const rows = v.start[height - 1] + v.size[height - 1] - v.start[0];
  const tmp = scratch(width * rows * ch);
  horizontalPass(img.data, img.width, ch, first, rows, tmp, width, { ksize: h.ksize, start: hStart, size: hSize, k: hK });
  const vStart = v.start[0] === 0 ? v.start : v.start.map((s) => s - v.start[0]);
  const out = uninitialized(width * height * ch);
  verticalPass(tmp, width * ch, out, height, { ...v, start: vStart });
  return makeImage(width, height, ch, out);
}

/** PIL's FLIP_LEFT_RIGHT, row by row. */
function mirror(img: Image): Image {
  const { width: W, height: H, channels: C } = img;
  const out = uninitialized(W * H * C);
  const src = img.data;
  for (let y = 0; y < H; y++) {
    const row = y * W * C;
    for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[row + (W - 1 - x) * C + c] = src[row + x * C + c];
  }
  return makeImage(W, H, C, out);
}

// The intermediate image of a two-pass resize never leaves resize(): one buffer, grown as needed,
// is reused (each thread has its own module instance). A fresh one per call cost a zeroed
// allocation and its page faults, ~10 % of a 500×375 resize; Pillow's block arena saves the same.
let scratchBuf = new Uint8Array(0);
function scratch(n: number): Uint8Array {
  if (scratchBuf.length < n) scratchBuf = new Uint8Array(Math.max(n, 1 << 20));
  return scratchBuf.subarray(0, n);
}

/** The window `w` of an image of `width`×`height` (the image itself when the window is all of it). */
function cropTo(img: Image, w: ResizeWindow, width: number, height: number): Image {
  if (w.left === 0 && w.top === 0 && w.width === width && w.height === height) return img;
  const ch = img.channels;
  const out = new Uint8Array(w.width * w.height * ch);
  for (let y = 0; y < w.height; y++) {
    const s = ((y + w.top) * width + w.left) * ch;
    out.set(img.data.subarray(s, s + w.width * ch), y * w.width * ch);
  }
  return makeImage(w.width, w.height, ch, out);
}

// Sums stay in int32 (`| 0`), as C's `int ss0` does: 255 · Σ|k| < 2³¹ for every filter.

function horizontalPass(src: Uint8Array, inWidth: number, ch: number, firstRow: number, rows: number, out: Uint8Array, outWidth: number, c: Coefficients): void {
  const { ksize, start, size, k } = c;
  const native = resampleAddon();
  if (native) return native.horizontal(src, inWidth, ch, firstRow, rows, out, outWidth, ksize, start, size, k);
  const inStride = inWidth * ch;
  let o = 0;
  if (ch === 3) {
    for (let y = 0; y < rows; y++) {
      const rowOff = (y + firstRow) * inStride;
      for (let xx = 0; xx < outWidth; xx++) {
        let kOff = xx * ksize;
        const kEnd = kOff + size[xx];
        let p = rowOff + start[xx] * 3;
        let s0 = ROUNDING;
        let s1 = ROUNDING;
        let s2 = ROUNDING;
        while (kOff < kEnd) {
          const kv = k[kOff++];
          s0 = (s0 + src[p] * kv) | 0;
          s1 = (s1 + src[p + 1] * kv) | 0;
          s2 = (s2 + src[p + 2] * kv) | 0;
          p += 3;
        }
        s0 >>= PRECISION_BITS;
        s1 >>= PRECISION_BITS;
        s2 >>= PRECISION_BITS;
        out[o++] = s0 < 0 ? 0 : s0 > 255 ? 255 : s0;
        out[o++] = s1 < 0 ? 0 : s1 > 255 ? 255 : s1;
        out[o++] = s2 < 0 ? 0 : s2 > 255 ? 255 : s2;
      }
    }
  } else {
    for (let y = 0; y < rows; y++) {
      const rowOff = (y + firstRow) * inStride;
      for (let xx = 0; xx < outWidth; xx++) {
        let kOff = xx * ksize;
        const kEnd = kOff + size[xx];
        let p = rowOff + start[xx];
        let s0 = ROUNDING;
        while (kOff < kEnd) s0 = (s0 + src[p++] * k[kOff++]) | 0;
        s0 >>= PRECISION_BITS;
        out[o++] = s0 < 0 ? 0 : s0 > 255 ? 255 : s0;
      }
    }
  }
}

/** Vertical pass: every sample of a row is independent, so rows are accumulated tap by tap. */
function verticalPass(src: Uint8Array, stride: number, out: Uint8Array, outHeight: number, c: Coefficients): void {
  const { ksize, start, size, k } = c;
  const native = resampleAddon();
  if (native) return native.vertical(src, stride, out, outHeight, ksize, start, size, k);
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outHeight; yy++) {
    acc.fill(ROUNDING);
    const n = size[yy];
    const kOff = yy * ksize;
    for (let y = 0; y < n; y++) {
      const kv = k[kOff + y];
      let p = (start[yy] + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i] + src[p++] * kv) | 0;
    }
    let o = yy * stride;
    for (let i = 0; i < stride; i++) {
      const v = acc[i] >> PRECISION_BITS;
      out[o++] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}
