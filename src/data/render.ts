/**
 * Rendering: a decoded image of its own size → the fixed-size uint8 pixels one consumer needs
 * (docs/images.md). This is the eval transform of the ecosystem's classifiers, by the same algorithm:
 *
 *   convert(mode) → resize → center crop
 *
 * - resize S (an int): torchvision `Resize(S)` / HF `get_resize_output_image_size(default_to_square
 *   =False)`: the shorter side becomes S, the longer `int(S · long / short)` (Python's float
 *   division, truncated); resize [H, W]: exactly that size. Either way through PIL's resampler
 *   (`pil/resample.ts`, a port of Pillow's Resample.c), which is what both libraries call on PIL
 *   images. An image already at the target size is left as it is (torchvision returns it unchanged,
 *   PIL copies it).
 * - crop [h, w]: the center window, offsets per axis
 *     'round' (torchvision `CenterCrop`, timm): int(round((H − h) / 2)) with Python's round (half to
 *             even); an axis shorter than the crop is first zero-padded by (h − H) // 2 before and
 *             the rest after (torchvision pads, then crops at offset 0);
 *     'floor' (HF `center_crop`): (H − h) // 2; a short axis is padded by ceil((h − H) / 2) before.
 *   Pixels outside the image are 0, as both libraries fill them.
 *
 * Everything here is integer arithmetic on uint8 pixels: the same image and spec give the same
 * bytes on every machine.
 */
import type { Image, Interpolation, PilMode } from './image.js';
import { makeImage } from './image.js';
import { convert } from './pil/convert.js';
import { resize as pilResize } from './pil/resample.js';

export type CropRounding = 'round' | 'floor';

export interface RenderSpec {
  /** PIL mode of the output: 'L' (1 channel) or 'RGB' (3). */
  mode: PilMode;
  /** Shorter side (int) or exact [H, W]; null: no resize. */
  resize: number | [number, number] | null;
  /** Center crop [H, W]; null: none. */
  crop: [number, number] | null;
  cropRounding: CropRounding;
  interpolation: Interpolation;
}

/** torchvision's `_compute_resized_output_size` for Resize(int) / [H, W]: returns [width, height]. */
export function resizedSize(width: number, height: number, resize: number | [number, number]): [number, number] {
  if (Array.isArray(resize)) return [resize[1], resize[0]];
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((resize * long) / short);
  return width <= height ? [resize, newLong] : [newLong, resize];
}

/** Python's round() of (d / 2) for an integer d ≥ 0: half to even. */
function roundHalfEven2(d: number): number {
  if (d % 2 === 0) return d / 2;
  const lo = (d - 1) / 2;
  return lo % 2 === 0 ? lo : lo + 1;
}

/** Offset of the crop window's first row/column in the image (negative: that much zero padding). */
export function cropOffset(size: number, crop: number, rounding: CropRounding): number {
  if (crop > size) return rounding === 'round' ? -Math.floor((crop - size) / 2) : -Math.ceil((crop - size) / 2);
  return rounding === 'round' ? roundHalfEven2(size - crop) : Math.floor((size - crop) / 2);
}

/** The h×w window of `img` at (top, left); pixels outside the image are 0. */
export function cropWindow(img: Image, top: number, left: number, h: number, w: number): Image {
  const C = img.channels;
  const out = makeImage(w, h, C);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(w, img.width - left);
  if (x1 <= x0) return out;
  for (let y = 0; y < h; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= img.height) continue;
    const src = (sy * img.width + left + x0) * C;
    out.data.set(img.data.subarray(src, src + (x1 - x0) * C), (y * w + x0) * C);
  }
  return out;
}

export function centerCrop(img: Image, crop: [number, number], rounding: CropRounding): Image {
  const [h, w] = crop;
  if (h === img.height && w === img.width) return img;
  return cropWindow(img, cropOffset(img.height, h, rounding), cropOffset(img.width, w, rounding), h, w);
}

function resizeTo(img: Image, resize: number | [number, number], interpolation: Interpolation): Image {
  const [w, h] = resizedSize(img.width, img.height, resize);
  if (w === img.width && h === img.height) return img;
  return pilResize(img, w, h, interpolation);
}

/** [H, W] of every rendered image, or null when it depends on the image (resize S without crop). */
export function fixedOutputSize(spec: Pick<RenderSpec, 'resize' | 'crop'>): [number, number] | null {
  if (spec.crop) return [spec.crop[0], spec.crop[1]];
  if (Array.isArray(spec.resize)) return [spec.resize[0], spec.resize[1]];
  return null;
}

/** True when rendering an image of `shape` changes nothing (the fast path of fixed-size data). */
export function isIdentity(spec: RenderSpec, shape: { height: number; width: number; channels: number }): boolean {
  if (shape.channels !== (spec.mode === 'L' ? 1 : 3)) return false;
  if (spec.resize !== null) {
    const [w, h] = resizedSize(shape.width, shape.height, spec.resize);
    if (w !== shape.width || h !== shape.height) return false;
  }
  return spec.crop === null || (spec.crop[0] === shape.height && spec.crop[1] === shape.width);
}

/** PIL's `convert` between the two modes a rendering produces (pil/convert.ts: L → RGB, Convert.c's luma). */
export function convertImage(img: Image, mode: PilMode): Image {
  if (img.channels === (mode === 'L' ? 1 : 3)) return img;
  return convert({ mode: img.channels === 1 ? 'L' : 'RGB', width: img.width, height: img.height, data: img.data }, mode);
}

/**
 * convert(mode) → resize → center crop (module comment). May return `img` itself. A resize
 * followed by a crop computes only the pixels the crop keeps (the same bytes: each resized pixel
 * depends only on its own row and column).
 */
export function render(img: Image, spec: RenderSpec): Image {
  let out = convertImage(img, spec.mode);
  if (spec.resize !== null && spec.crop !== null) {
    const [w, h] = resizedSize(out.width, out.height, spec.resize);
    if (w === out.width && h === out.height) return centerCrop(out, spec.crop, spec.cropRounding);
    const [ch, cw] = spec.crop;
    const top = cropOffset(h, ch, spec.cropRounding);
    const left = cropOffset(w, cw, spec.cropRounding);
    // The part of the crop window inside the resized image; the rest is zero padding.
    const y0 = Math.max(0, top);
    const x0 = Math.max(0, left);
    const y1 = Math.min(h, top + ch);
    const x1 = Math.min(w, left + cw);
    const inside = pilResize(out, w, h, spec.interpolation, { left: x0, top: y0, width: x1 - x0, height: y1 - y0 });
    if (inside.width === cw && inside.height === ch) return inside;
    return cropWindow(inside, top - y0, left - x0, ch, cw);
  }
  if (spec.resize !== null) out = resizeTo(out, spec.resize, spec.interpolation);
  if (spec.crop !== null) out = centerCrop(out, spec.crop, spec.cropRounding);
  return out;
}
