/**
 * PIL's nearest-neighbour geometry, as Pillow 9.4 computes it (src/libImaging/Geometry.c and
 * Image.rotate in PIL/Image.py): the affine transform `Image.transform(size, AFFINE, a, NEAREST)`
 * and `Image.rotate(angle, NEAREST)` about the centre, output the input's size, filled with 0 —
 * what torchvision's `F.affine` / `F.rotate` call on PIL images (and so its RandAugment and
 * TrivialAugmentWide, data/auto-augment.ts).
 *
 * `a` maps an output pixel to the input: (x_in, y_in) = (a0·x + a1·y + a2, a3·x + a4·y + a5) at
 * pixel centres (x + 0.5, y + 0.5). Geometry.c has three loops for it and the bytes depend on which
 * one runs, so all three are ported with their own arithmetic:
 *   - a1 = a3 = 0 (ImagingScaleAffine; every translation): doubles, accumulated per column/row;
 *   - all four corners map inside ±32768 (affine_fixed; shears and rotations of images this size):
 *     16.16 fixed point, FIX(v) = floor(v·65536 + 0.5), int32 accumulation, `>> 16`;
 *   - otherwise (ImagingTransformAffine's float loop): doubles, accumulated.
 * COORD(v) = v < 0 ? −1 : trunc(v) — a source coordinate below 0 is outside, never rounded to 0.
 * With the image add-on loaded (pil/native.ts) the same loops run in C (native/src/policy.cc).
 */
import { makeImage, type Image } from '../image.js';
import { resampleAddon } from './native.js';

/** Geometry.c's COORD: −1 for negative coordinates (outside), else the truncation. */
const coord = (v: number): number => (v < 0 ? -1 : Math.trunc(v));

/** `img.transform(img.size, AFFINE, a, NEAREST)` with fill 0 (module comment). */
export function affineNearest(img: Image, a: readonly number[]): Image {
  if (a.length < 6) throw new RangeError(`affineNearest: the matrix has ${a.length} coefficients, need 6`);
  const { width: W, height: H } = img;
  const addon = resampleAddon();
  if (addon) {
    const out = makeImage(W, H, img.channels);
    addon.affine(img.data, W, H, img.channels, Float64Array.from(a.slice(0, 6)), out.data);
    return out;
  }
  // Each loop only says which source pixel lands where (−1: none, the fill); one gather copies them.
  const map = new Int32Array(W * H).fill(-1);
  const fits = (x: number, y: number) => Math.abs(x * a[0] + y * a[1] + a[2]) < 32768 && Math.abs(x * a[3] + y * a[4] + a[5]) < 32768;
  if (a[1] === 0 && a[3] === 0) scaleAffine(W, H, a, map);
  else if (fits(0, 0) && fits(W, H) && fits(0, H) && fits(W, 0)) fixedAffine(W, H, a, map);
  else floatAffine(W, H, a, map);
  return gather(img, map);
}

/** out pixel p = img pixel map[p], or 0 where map[p] < 0. */
function gather(img: Image, map: Int32Array): Image {
  const out = makeImage(img.width, img.height, img.channels);
  const src = img.data;
  const dst = out.data;
  if (img.channels === 3) {
    for (let p = 0, d = 0; p < map.length; p++, d += 3) {
      const s = map[p] * 3;
      if (s < 0) continue;
      dst[d] = src[s];
      dst[d + 1] = src[s + 1];
      dst[d + 2] = src[s + 2];
    }
  } else {
    for (let p = 0; p < map.length; p++) if (map[p] >= 0) dst[p] = src[map[p]];
  }
  return out;
}

/** ImagingScaleAffine: the source column of every output column tabulated once, doubles accumulated. */
function scaleAffine(W: number, H: number, a: readonly number[], map: Int32Array): void {
  const xintab = new Int32Array(W); // calloc'ed in C: a column left out of [xmin, xmax) stays 0
  let xo = a[2] + a[0] * 0.5;
  let yo = a[5] + a[4] * 0.5;
  let xmin = W;
  let xmax = 0;
  for (let x = 0; x < W; x++) {
    const xin = coord(xo);
    if (xin >= 0 && xin < W) {
      xmax = x + 1;
      if (x < xmin) xmin = x;
      xintab[x] = xin;
    }
    xo += a[0];
  }
  for (let y = 0; y < H; y++) {
    const yi = coord(yo);
    if (yi >= 0 && yi < H) for (let x = xmin; x < xmax; x++) map[y * W + x] = yi * W + xintab[x];
    yo += a[4];
  }
}

/** affine_fixed: 16.16 fixed point, int32 arithmetic as C's int. */
function fixedAffine(W: number, H: number, a: readonly number[], map: Int32Array): void {
  const fix = (v: number) => Math.floor(v * 65536.0 + 0.5) | 0;
  const a0 = fix(a[0]);
  const a1 = fix(a[1]);
  const a3 = fix(a[3]);
  const a4 = fix(a[4]);
  let a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
  let a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (let y = 0; y < H; y++) {
    let xx = a2;
    let yy = a5;
    for (let x = 0; x < W; x++) {
      const xin = xx >> 16;
      if (xin >= 0 && xin < W) {
        const yin = yy >> 16;
        if (yin >= 0 && yin < H) map[y * W + x] = yin * W + xin;
      }
      xx = (xx + a0) | 0;
      yy = (yy + a3) | 0;
    }
    a2 = (a2 + a1) | 0;
    a5 = (a5 + a4) | 0;
  }
}

/** ImagingTransformAffine's floating-point loop (doubles, accumulated). */
function floatAffine(W: number, H: number, a: readonly number[], map: Int32Array): void {
  let xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  let yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (let y = 0; y < H; y++) {
    let xx = xo;
    let yy = yo;
    for (let x = 0; x < W; x++) {
      const xin = coord(xx);
      if (xin >= 0 && xin < W) {
        const yin = coord(yy);
        if (yin >= 0 && yin < H) map[y * W + x] = yin * W + xin;
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
}

/**
 * `img.transpose(ROTATE_90 | ROTATE_180 | ROTATE_270)` (Geometry.c ImagingRotate90/180/270: a
 * quarter turn counter-clockwise, a half turn, a quarter turn clockwise). The quarter turns swap
 * width and height.
 */
function rotateQuarter(img: Image, turns: 1 | 2 | 3): Image {
  const { width: W, height: H, channels: C } = img;
  const out = turns === 2 ? makeImage(W, H, C) : makeImage(H, W, C);
  const src = img.data;
  const dst = out.data;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // ROTATE_90: out[W−1−x][y] = in[y][x]; ROTATE_180: out[H−1−y][W−1−x]; ROTATE_270: out[x][H−1−y].
      const d = turns === 1 ? (W - 1 - x) * H + y : turns === 2 ? (H - 1 - y) * W + (W - 1 - x) : x * H + (H - 1 - y);
      const s = (y * W + x) * C;
      for (let c = 0; c < C; c++) dst[d * C + c] = src[s + c];
    }
  }
  return out;
}

/** Python's round(x, 15): JS's toFixed is exact (the nearest decimal), and a tie at 15 digits cannot occur for |x| ≤ 1 that is not exact. */
const round15 = (x: number): number => Number(x.toFixed(15));

/** Python's `math.radians`: x · (π / 180), the constant first. */
export const radians = (deg: number): number => deg * (Math.PI / 180.0);

/**
 * `img.rotate(angle, NEAREST)` — counter-clockwise degrees about the image centre, same size, fill
 * 0 (PIL/Image.py 9.4): angle mod 360; 0 copies, 180 (and 90/270 of square images) transpose, any
 * other angle is the affine transform of the matrix Image.rotate builds (cos and sin rounded to 15
 * decimals, as it does).
 */
export function rotateNearest(img: Image, angle: number): Image {
  let deg = angle % 360.0;
  if (deg < 0) deg += 360.0; // Python's float modulo takes the divisor's sign
  if (deg === 0) return makeImage(img.width, img.height, img.channels, img.data.slice(0, img.width * img.height * img.channels));
  if (deg === 180) return rotateQuarter(img, 2);
  if ((deg === 90 || deg === 270) && img.width === img.height) return rotateQuarter(img, deg === 90 ? 1 : 3);
  const cx = img.width / 2.0;
  const cy = img.height / 2.0;
  const r = -radians(deg);
  const m = [round15(Math.cos(r)), round15(Math.sin(r)), 0.0, round15(-Math.sin(r)), round15(Math.cos(r)), 0.0];
  // transform(−cx, −cy, matrix), then + the centre — in Image.rotate's order of operations.
  const m2 = m[0] * -cx + m[1] * -cy + m[2];
  const m5 = m[3] * -cx + m[4] * -cy + m[5];
  m[2] = m2 + cx;
  m[5] = m5 + cy;
  return affineNearest(img, m);
}
