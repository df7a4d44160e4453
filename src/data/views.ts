/**
 * Views as boxes in the original image (RandomResizedCrop + flip), the one implementation that
 * precompute, training, verify and `tfkd data views` share — so the teacher's soft target of view v
 * of sample i and the student's input for that view are renderings of the same box, each at its own
 * resolution (FKD / Beyer et al. 2022: the teacher must see the student's view).
 *
 * The box of view v ≥ 1 of sample i is a pure function of (spec, seed, i, v, the image's size):
 * torchvision's `RandomResizedCrop.get_params`, with its random draws replaced by seeded hashes
 * (u(k) = hashU32(seed, i, v, k) / 2^32, k = 16 + 4·attempt + {0, 1, 2, 3}):
 *   for 10 attempts:
 *     target_area = W·H · (s0 + (s1 − s0) · u(…0))
 *     aspect      = exp(log r0 + (log r1 − log r0) · u(…1))
 *     w = round(√(target_area · aspect)),  h = round(√(target_area / aspect))   (half to even)
 *     if 0 < w ≤ W and 0 < h ≤ H: top = ⌊u(…2) · (H − h + 1)⌋, left = ⌊u(…3) · (W − w + 1)⌋; done
 *   fallback (torchvision's): the central crop of the whole image clamped to the ratio range.
 * flip = spec.flip && (hashU32(seed, i, v, 2) & 1) — the same flip bit as the pixel augmentation.
 * Rendering a box (torchvision's `resized_crop` + `hflip` on a PIL image): crop the box, resize it to
 * the side's [H, W] with the side's PIL filter (pil/resample.ts, exact), then mirror. View 0 is each
 * side's eval transform (render.ts).
 */
import type { AugmentSpec } from './augment.js';
import { augment } from './augment.js';
import { autoAugment } from './auto-augment.js';
import type { Image, Interpolation } from './image.js';
import { mixParams, mixPixels, type MixParams } from './mix.js';
import { makeImage } from './image.js';
import { resize as pilResize, resizeBox } from './pil/resample.js';
import { convertImage, cropWindow, render, type RenderSpec } from './render.js';
import { hashU32 } from './rng.js';

export interface ViewBox {
  left: number;
  top: number;
  width: number;
  height: number;
  flip: boolean;
}

/** Python's round() (half to even) of a non-negative double. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const u = (seed: number, sample: number, view: number, k: number) => hashU32(seed, sample, view, k) / 4294967296;

/** The box and flip of view `view` ≥ 1 of `sample` in a `width`×`height` image (module comment). */
export function viewBox(spec: AugmentSpec, seed: number, sample: number, view: number, width: number, height: number): ViewBox {
  if (!spec.rrc) throw new RangeError('internal: viewBox needs an rrc spec');
  if (!Number.isInteger(view) || view < 1) throw new RangeError(`viewBox: view must be ≥ 1 (view 0 is the eval transform), got ${view}`);
  const flip = spec.flip && (hashU32(seed, sample, view, 2) & 1) === 1;
  const [s0, s1] = spec.rrc.scale;
  const [r0, r1] = spec.rrc.ratio;
  const area = width * height;
  const l0 = Math.log(r0);
  const l1 = Math.log(r1);
  for (let attempt = 0; attempt < 10; attempt++) {
    const k = 16 + 4 * attempt;
    const targetArea = area * (s0 + (s1 - s0) * u(seed, sample, view, k));
    const aspect = Math.exp(l0 + (l1 - l0) * u(seed, sample, view, k + 1));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(u(seed, sample, view, k + 2) * (height - h + 1));
      const left = Math.floor(u(seed, sample, view, k + 3) * (width - w + 1));
      return { left, top, width: w, height: h, flip };
    }
  }
  // torchvision's fallback: the whole image, clamped to the ratio range, centred.
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(r0, r1)) {
    w = width;
    h = pyRound(w / Math.min(r0, r1));
  } else if (inRatio > Math.max(r0, r1)) {
    h = height;
    w = pyRound(h * Math.max(r0, r1));
  } else {
    w = width;
    h = height;
  }
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h, flip };
}

/** Mirrors an image left–right (PIL's FLIP_LEFT_RIGHT). */
export function hflip(img: Image): Image {
  const { width: W, height: H, channels: C } = img;
  const out = makeImage(W, H, C);
  const src = img.data;
  const dst = out.data;
  // Per channel count, without an inner loop: the generic form took ~0.7 ms for 224×224 RGB.
  for (let y = 0; y < H; y++) {
    const row = y * W * C;
    if (C === 3) {
      for (let s = row, d = row + (W - 1) * 3; d >= row; s += 3, d -= 3) {
        dst[d] = src[s];
        dst[d + 1] = src[s + 1];
        dst[d + 2] = src[s + 2];
      }
    } else if (C === 1) {
      for (let s = row, d = row + W - 1; d >= row; s++, d--) dst[d] = src[s];
    } else {
      for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) dst[row + (W - 1 - x) * C + c] = src[row + x * C + c];
    }
  }
  return out;
}

/** torchvision's resized_crop(img, top, left, h, w, [H, W], filter) then hflip when `box.flip`. */
export function renderBox(img: Image, box: ViewBox, size: [number, number], interpolation: Interpolation): Image {
  // Crop, resize and flip in one resampling when both axes change (pil/resample.ts: the same bytes).
  if (interpolation !== 'nearest' && box.width !== size[1] && box.height !== size[0]) return resizeBox(img, box, size[1], size[0], interpolation, box.flip);
  const crop = box.left === 0 && box.top === 0 && box.width === img.width && box.height === img.height ? img : cropWindow(img, box.top, box.left, box.height, box.width);
  const [H, W] = size;
  const resized = crop.width === W && crop.height === H ? crop : pilResize(crop, W, H, interpolation);
  return box.flip ? hflip(resized) : resized;
}

/** One side's rendering: its eval transform (view 0) and its [H, W] + filter for boxes. */
export interface SideRendering {
  eval: RenderSpec;
  size: [number, number];
}

/**
 * View `view` of `sample` as one side renders it: view 0 its eval transform; views ≥ 1 either the
 * box (rrc specs) at the side's size, then the policy (randaugment, trivialaugment) at that size,
 * or the pixel augmentation (crop:P, flip, then the policy) at the image's own size followed by the
 * eval transform.
 */
export function renderView(img: Image, side: SideRendering, aug: { spec: AugmentSpec; seed: number } | null, sample: number, view: number): Image {
  if (view === 0 || !aug) return render(img, side.eval);
  if (aug.spec.rrc) {
    const src = convertImage(img, side.eval.mode);
    const boxed = renderBox(src, viewBox(aug.spec, aug.seed, sample, view, src.width, src.height), side.size, side.eval.interpolation);
    // torchvision's order: RandomResizedCrop, RandomHorizontalFlip, then the policy, at the side's size.
    return aug.spec.auto ? autoAugment(boxed, aug.spec.auto, aug.seed, sample, view) : boxed;
  }
  return render({ ...img, data: augment(img.data, img, aug.spec, aug.seed, sample, view) }, side.eval);
}

/** A view as a mixing spec renders it: float32 on [0, 1], HWC (docs/MIXING.md). */
export interface MixedView {
  data: Float32Array;
  width: number;
  height: number;
  channels: number;
  mix: MixParams | null;
}

/**
 * View `view` of `sample` under a spec with mixing, as one side sees it: sample i's view and (when
 * the view is mixed) partner j's own view v, each rendered by renderView at the side's size, then
 * mixed in float (mix.ts mixPixels). `partner` is the decoded partner image (needed only when
 * mixParams names one; `N` is the data set's size). Unmixed views come back as a/255.
 */
export function renderMixedView(img: Image, partner: Image | null, side: SideRendering, aug: { spec: AugmentSpec; seed: number }, sample: number, view: number, N: number): MixedView {
  const a = renderView(img, side, aug, sample, view);
  const p = mixParams(aug.spec.mix, aug.seed, sample, view, N);
  let b: Image | null = null;
  if (p) {
    if (!partner) throw new RangeError(`internal: view ${view} of sample ${sample} is mixed with sample ${p.partner}, which was not given`);
    b = renderView(partner, side, aug, p.partner, view);
    if (b.width !== a.width || b.height !== a.height || b.channels !== a.channels) {
      throw new RangeError(`internal: view ${view} of samples ${sample} and ${p.partner} rendered to ${a.width}x${a.height}x${a.channels} and ${b.width}x${b.height}x${b.channels}`);
    }
  }
  const data = mixPixels(a.data, b?.data ?? null, a.height, a.width, a.channels, p, new Float32Array(a.width * a.height * a.channels));
  return { data, width: a.width, height: a.height, channels: a.channels, mix: p };
}
