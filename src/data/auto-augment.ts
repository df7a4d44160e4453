/**
 * torchvision's RandAugment, TrivialAugmentWide and AutoAugment (torchvision 0.14,
 * transforms/autoaugment.py) on PIL images, with their random draws replaced by seeded hashes so
 * that view v of sample i is the same image in every process — the teacher's cache row and the
 * student's input (docs/MIXING.md "Policies", docs/TRAINING.md "Consistent views").
 *
 * The 14 operations and their magnitude tables are torchvision's `_augmentation_space` (Identity,
 * ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness, Posterize,
 * Solarize, AutoContrast, Equalize), applied by torchvision's `_apply_op` with its defaults
 * (nearest-neighbour interpolation, fill 0) through the PIL ports in pil/geometry.ts,
 * pil/enhance.ts and pil/image-ops.ts — byte-exact against torchvision on PIL images
 * (test/data/auto-augment.test.ts, scripts/autoaugment_reference.py).
 *
 * Draws (u(k) = hashU32(seed, sample, view, k) / 2^32; operation j = 0, 1, …):
 *   op        = AUTO_OPS[⌊u(256 + 4j) · 14⌋]            (torch.randint(14))
 *   bin       = RandAugment: the policy's magnitude M;  TrivialAugmentWide: ⌊u(258 + 4j) · bins⌋
 *   negative  = signed op && (hashU32(seed, sample, view, 257 + 4j) & 1)
 * RandAugment draws `ops` operations in sequence, TrivialAugmentWide one. AutoAugment draws one of
 * its table's 25 sub-policies, ⌊u(255) · 25⌋, and applies each of its two (op, p, bin) when
 * u(256 + 4j) ≤ p, negated when bit 0 of hashU32(…, 257 + 4j) is set; its magnitudes are
 * RandAugment's ranges over 10 bins, and its tables (ImageNet, CIFAR-10, SVHN) add Invert.
 * View 0 is never augmented.
 * The magnitude tables are float32 `torch.linspace` values by its scalar rule (start + step·i for
 * the first half, end − step·(n − 1 − i) for the rest); torch's vectorised kernel can differ from
 * it by one float32 ulp on some bins, depending on the CPU's SIMD width (tested: within 1 ulp).
 */
import { UsageError } from '../errors.js';
import { makeImage, type Image } from './image.js';
import { enhance } from './pil/enhance.js';
import { affineNearest, radians, rotateNearest } from './pil/geometry.js';
import { autocontrast, equalize, invert, posterize, solarize } from './pil/image-ops.js';
import { hashU32 } from './rng.js';

/** The policies, by the names `--augment` takes. */
export const AUTO_POLICIES = ['randaugment', 'trivialaugment', 'autoaugment'] as const;
export type AutoAugmentPolicy = (typeof AUTO_POLICIES)[number];

/** AutoAugment's learned tables (torchvision's AutoAugmentPolicy). */
export const AUTOAUGMENT_TABLE_NAMES = ['imagenet', 'cifar10', 'svhn'] as const;
export type AutoAugmentTable = (typeof AUTOAUGMENT_TABLE_NAMES)[number];

export interface AutoAugmentSpec {
  policy: AutoAugmentPolicy;
  /** Operations per view (RandAugment's num_ops; 1 for TrivialAugmentWide). */
  ops: number;
  /** RandAugment's magnitude bin (0 … bins − 1); TrivialAugmentWide draws one per view (−1 here). */
  magnitude: number;
  /** num_magnitude_bins (AutoAugment: 10). */
  bins: number;
  /** AutoAugment's table. */
  table?: AutoAugmentTable;
}

/** torchvision's defaults: RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31), TrivialAugmentWide(31). */
const AUTO_DEFAULTS = Object.freeze({ ops: 2, magnitude: 9, bins: 31 });

/** The operations in torchvision's `_augmentation_space` order (the index the draw picks). */
export const AUTO_OPS = ['Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast', 'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize'] as const;
/** An operation `_apply_op` knows: the 14 above and AutoAugment's Invert. */
export type AutoOp = (typeof AUTO_OPS)[number] | 'Invert';

type SubPolicy = readonly [readonly [AutoOp, number, number | null], readonly [AutoOp, number, number | null]];

/** torchvision's AutoAugment._get_policies: 25 sub-policies of two (op, probability, magnitude bin) each. */
export const AUTOAUGMENT_TABLES: Readonly<Record<AutoAugmentTable, readonly SubPolicy[]>> = {
  imagenet: [
    [['Posterize', 0.4, 8], ['Rotate', 0.6, 9]],
    [['Solarize', 0.6, 5], ['AutoContrast', 0.6, null]],
    [['Equalize', 0.8, null], ['Equalize', 0.6, null]],
    [['Posterize', 0.6, 7], ['Posterize', 0.6, 6]],
    [['Equalize', 0.4, null], ['Solarize', 0.2, 4]],
    [['Equalize', 0.4, null], ['Rotate', 0.8, 8]],
    [['Solarize', 0.6, 3], ['Equalize', 0.6, null]],
    [['Posterize', 0.8, 5], ['Equalize', 1.0, null]],
    [['Rotate', 0.2, 3], ['Solarize', 0.6, 8]],
    [['Equalize', 0.6, null], ['Posterize', 0.4, 6]],
    [['Rotate', 0.8, 8], ['Color', 0.4, 0]],
    [['Rotate', 0.4, 9], ['Equalize', 0.6, null]],
    [['Equalize', 0.0, null], ['Equalize', 0.8, null]],
    [['Invert', 0.6, null], ['Equalize', 1.0, null]],
    [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
    [['Rotate', 0.8, 8], ['Color', 1.0, 2]],
    [['Color', 0.8, 8], ['Solarize', 0.8, 7]],
    [['Sharpness', 0.4, 7], ['Invert', 0.6, null]],
    [['ShearX', 0.6, 5], ['Equalize', 1.0, null]],
    [['Color', 0.4, 0], ['Equalize', 0.6, null]],
    [['Equalize', 0.4, null], ['Solarize', 0.2, 4]],
    [['Solarize', 0.6, 5], ['AutoContrast', 0.6, null]],
    [['Invert', 0.6, null], ['Equalize', 1.0, null]],
    [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
    [['Equalize', 0.8, null], ['Equalize', 0.6, null]],
  ],
  cifar10: [
    [['Invert', 0.1, null], ['Contrast', 0.2, 6]],
    [['Rotate', 0.7, 2], ['TranslateX', 0.3, 9]],
    [['Sharpness', 0.8, 1], ['Sharpness', 0.9, 3]],
    [['ShearY', 0.5, 8], ['TranslateY', 0.7, 9]],
    [['AutoContrast', 0.5, null], ['Equalize', 0.9, null]],
    [['ShearY', 0.2, 7], ['Posterize', 0.3, 7]],
    [['Color', 0.4, 3], ['Brightness', 0.6, 7]],
    [['Sharpness', 0.3, 9], ['Brightness', 0.7, 9]],
    [['Equalize', 0.6, null], ['Equalize', 0.5, null]],
    [['Contrast', 0.6, 7], ['Sharpness', 0.6, 5]],
    [['Color', 0.7, 7], ['TranslateX', 0.5, 8]],
    [['Equalize', 0.3, null], ['AutoContrast', 0.4, null]],
    [['TranslateY', 0.4, 3], ['Sharpness', 0.2, 6]],
    [['Brightness', 0.9, 6], ['Color', 0.2, 8]],
    [['Solarize', 0.5, 2], ['Invert', 0.0, null]],
    [['Equalize', 0.2, null], ['AutoContrast', 0.6, null]],
    [['Equalize', 0.2, null], ['Equalize', 0.6, null]],
    [['Color', 0.9, 9], ['Equalize', 0.6, null]],
    [['AutoContrast', 0.8, null], ['Solarize', 0.2, 8]],
    [['Brightness', 0.1, 3], ['Color', 0.7, 0]],
    [['Solarize', 0.4, 5], ['AutoContrast', 0.9, null]],
    [['TranslateY', 0.9, 9], ['TranslateY', 0.7, 9]],
    [['AutoContrast', 0.9, null], ['Solarize', 0.8, 3]],
    [['Equalize', 0.8, null], ['Invert', 0.1, null]],
    [['TranslateY', 0.7, 9], ['AutoContrast', 0.9, null]],
  ],
  svhn: [
    [['ShearX', 0.9, 4], ['Invert', 0.2, null]],
    [['ShearY', 0.9, 8], ['Invert', 0.7, null]],
    [['Equalize', 0.6, null], ['Solarize', 0.6, 6]],
    [['Invert', 0.9, null], ['Equalize', 0.6, null]],
    [['Equalize', 0.6, null], ['Rotate', 0.9, 3]],
    [['ShearX', 0.9, 4], ['AutoContrast', 0.8, null]],
    [['ShearY', 0.9, 8], ['Invert', 0.4, null]],
    [['ShearY', 0.9, 5], ['Solarize', 0.2, 6]],
    [['Invert', 0.9, null], ['AutoContrast', 0.8, null]],
    [['Equalize', 0.6, null], ['Rotate', 0.9, 3]],
    [['ShearX', 0.9, 4], ['Solarize', 0.3, 3]],
    [['ShearY', 0.8, 8], ['Invert', 0.7, null]],
    [['Equalize', 0.9, null], ['TranslateY', 0.6, 6]],
    [['Invert', 0.9, null], ['Equalize', 0.6, null]],
    [['Contrast', 0.3, 3], ['Rotate', 0.8, 4]],
    [['Invert', 0.8, null], ['TranslateY', 0.0, 2]],
    [['ShearY', 0.7, 6], ['Solarize', 0.4, 8]],
    [['Invert', 0.6, null], ['Rotate', 0.8, 4]],
    [['ShearY', 0.3, 7], ['TranslateX', 0.9, 3]],
    [['ShearX', 0.1, 6], ['Invert', 0.6, null]],
    [['Solarize', 0.7, 2], ['TranslateY', 0.6, 7]],
    [['ShearY', 0.8, 4], ['Invert', 0.8, null]],
    [['ShearX', 0.7, 9], ['TranslateY', 0.8, 3]],
    [['ShearY', 0.8, 5], ['AutoContrast', 0.7, null]],
    [['ShearX', 0.7, 2], ['Invert', 0.1, null]],
  ],
};

const SIGNED: ReadonlySet<AutoOp> = new Set(['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast', 'Sharpness']);

/** The operations without a magnitude table (`_apply_op` receives 0 for them). */
export const NO_MAGNITUDE: ReadonlySet<AutoOp> = new Set(['Identity', 'AutoContrast', 'Equalize', 'Invert']);

const f32 = Math.fround;

/** torch.linspace(start, end, n) in float32 by the scalar rule (module comment), as doubles. */
function linspace32(start: number, end: number, n: number): number[] {
  if (n === 1) return [f32(start)];
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  return Array.from({ length: n }, (_, i) => (i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (n - i - 1)))));
}

/** `8 − (torch.arange(n) / ((n − 1) / d)).round().int()` (float32 division, round half to even). */
function posterizeBits(n: number, d: number): number[] {
  const div = f32((n - 1) / d);
  return Array.from({ length: n }, (_, i) => {
    const q = f32(i / div);
    const f = Math.floor(q);
    const r = q - f > 0.5 ? f + 1 : q - f < 0.5 ? f : f % 2 === 0 ? f : f + 1;
    return 8 - r;
  });
}

/**
 * The magnitude table of `op` under the policy (torchvision's `_augmentation_space`), for an image
 * of `height`×`width`; null for the operations without one (Identity, AutoContrast, Equalize).
 */
export function magnitudeTable(policy: AutoAugmentPolicy, bins: number, op: AutoOp, height: number, width: number): number[] | null {
  if (NO_MAGNITUDE.has(op)) return null;
  // AutoAugment's ranges are RandAugment's (over its 10 bins).
  const ra = policy !== 'trivialaugment';
  switch (op) {
    case 'ShearX':
    case 'ShearY':
      return linspace32(0, ra ? 0.3 : 0.99, bins);
    case 'TranslateX':
      return linspace32(0, ra ? (150.0 / 331.0) * width : 32.0, bins);
    case 'TranslateY':
      return linspace32(0, ra ? (150.0 / 331.0) * height : 32.0, bins);
    case 'Rotate':
      return linspace32(0, ra ? 30.0 : 135.0, bins);
    case 'Brightness':
    case 'Color':
    case 'Contrast':
    case 'Sharpness':
      return linspace32(0, ra ? 0.9 : 0.99, bins);
    case 'Posterize':
      return posterizeBits(bins, ra ? 4 : 6);
    case 'Solarize':
      return linspace32(255.0, 0.0, bins);
    default:
      return null;
  }
}

export interface OpDraw {
  op: AutoOp;
  /** The signed magnitude `_apply_op` receives (0 for the operations without a table). */
  magnitude: number;
}

const u = (seed: number, sample: number, view: number, k: number) => hashU32(seed, sample, view, k) / 4294967296;

/** The operations of view `view` ≥ 1 of `sample` for an image of `height`×`width` (module comment). */
export function autoAugmentDraws(spec: AutoAugmentSpec, seed: number, sample: number, view: number, height: number, width: number): OpDraw[] {
  if (!Number.isInteger(view) || view < 1) throw new RangeError(`autoAugmentDraws: view must be ≥ 1 (view 0 is never augmented), got ${view}`);
  const draws: OpDraw[] = [];
  if (spec.policy === 'autoaugment') {
    const table = AUTOAUGMENT_TABLES[spec.table ?? 'imagenet'];
    const sub = table[Math.floor(u(seed, sample, view, 255) * table.length)];
    sub.forEach(([op, p, bin], j) => {
      if (u(seed, sample, view, 256 + 4 * j) > p) return;
      const mags = bin === null ? null : magnitudeTable('autoaugment', spec.bins, op, height, width);
      let magnitude = mags === null ? 0 : mags[bin!];
      if (mags && SIGNED.has(op) && (hashU32(seed, sample, view, 257 + 4 * j) & 1) === 1) magnitude *= -1.0;
      draws.push({ op, magnitude });
    });
    return draws;
  }
  for (let j = 0; j < spec.ops; j++) {
    const k = 256 + 4 * j;
    const op = AUTO_OPS[Math.floor(u(seed, sample, view, k) * AUTO_OPS.length)];
    const table = magnitudeTable(spec.policy, spec.bins, op, height, width);
    let magnitude = 0;
    if (table) {
      const bin = spec.policy === 'randaugment' ? spec.magnitude : Math.floor(u(seed, sample, view, k + 2) * spec.bins);
      magnitude = table[bin];
      if (SIGNED.has(op) && (hashU32(seed, sample, view, k + 1) & 1) === 1) magnitude *= -1.0;
    }
    draws.push({ op, magnitude });
  }
  return draws;
}

/** Python's math.degrees: x · (180 / π), the constant first. */
const degrees = (rad: number): number => rad * (180.0 / Math.PI);

/**
 * torchvision's `_get_inverse_affine_matrix(center, angle, translate, scale = 1, shear)` — the
 * matrix F.affine hands to PIL — in its order of operations.
 */
function inverseAffineMatrix(center: [number, number], angle: number, translate: [number, number], shear: [number, number]): number[] {
  const rot = radians(angle);
  const sx = radians(shear[0]);
  const sy = radians(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0.0, -c, a, 0.0].map((x) => x / 1.0);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/** torchvision's `_apply_op(img, op, magnitude, NEAREST, fill=None)` on a PIL image of mode L or RGB. */
export function applyAutoOp(img: Image, op: AutoOp, magnitude: number): Image {
  const { width: W, height: H } = img;
  switch (op) {
    case 'Identity':
      return img;
    case 'ShearX':
      return affineNearest(img, inverseAffineMatrix([0, 0], 0.0, [0, 0], [degrees(Math.atan(magnitude)), 0.0]));
    case 'ShearY':
      return affineNearest(img, inverseAffineMatrix([0, 0], 0.0, [0, 0], [0.0, degrees(Math.atan(magnitude))]));
    case 'TranslateX':
      return affineNearest(img, inverseAffineMatrix([W * 0.5, H * 0.5], 0.0, [Math.trunc(magnitude), 0], [0.0, 0.0]));
    case 'TranslateY':
      return affineNearest(img, inverseAffineMatrix([W * 0.5, H * 0.5], 0.0, [0, Math.trunc(magnitude)], [0.0, 0.0]));
    case 'Rotate':
      return rotateNearest(img, magnitude);
    case 'Brightness':
      return enhance(img, 'brightness', 1.0 + magnitude);
    case 'Color':
      return enhance(img, 'color', 1.0 + magnitude);
    case 'Contrast':
      return enhance(img, 'contrast', 1.0 + magnitude);
    case 'Sharpness':
      return enhance(img, 'sharpness', 1.0 + magnitude);
    case 'Posterize':
      return posterize(img, Math.trunc(magnitude));
    case 'Solarize':
      return solarize(img, magnitude);
    case 'AutoContrast':
      return autocontrast(img);
    case 'Equalize':
      return equalize(img);
    case 'Invert':
      return invert(img);
  }
}

/** View `view` of `sample` through the policy: the drawn operations in sequence (view 0: the image itself). */
export function autoAugment(img: Image, spec: AutoAugmentSpec, seed: number, sample: number, view: number): Image {
  if (view === 0) return img;
  let out = img;
  for (const d of autoAugmentDraws(spec, seed, sample, view, img.height, img.width)) out = applyAutoOp(out, d.op, d.magnitude);
  return out;
}

/**
 * A policy over a data set: fixed-size data of other than 1 or 3 channels is refused (PIL's modes L
 * and RGB are what torchvision's operations take); image files are decoded to L or RGB anyway.
 */
export function checkAutoAugmentData(spec: AutoAugmentSpec | undefined, ds: { variableSize?: boolean; shape: { channels: number }; spec: string }): void {
  if (!spec || ds.variableSize || ds.shape.channels === 1 || ds.shape.channels === 3) return;
  throw new UsageError(`${formatAutoAugment(spec)} works on images of 1 or 3 channels (PIL modes L and RGB); ${ds.spec} has ${ds.shape.channels}`);
}

/** autoAugment on packed HWC bytes of a fixed shape (the pixel augmentation's path, augment.ts). */
export function autoAugmentPixels(pixels: Uint8Array, height: number, width: number, channels: number, spec: AutoAugmentSpec, seed: number, sample: number, view: number): Uint8Array {
  if (channels !== 1 && channels !== 3) throw new UsageError(`${spec.policy} works on images of 1 or 3 channels (PIL modes L and RGB); these have ${channels}`);
  return autoAugment(makeImage(width, height, channels, pixels), spec, seed, sample, view).data;
}

/**
 * A policy's spec from the values given (token or JSON), the rest torchvision's defaults:
 * RandAugment's ops, magnitude, bins; TrivialAugmentWide's bins; AutoAugment's table (10 bins).
 * Checked (UsageError naming `input`).
 */
export function policySpec(policy: AutoAugmentPolicy, given: { ops?: number; magnitude?: number; bins?: number; table?: string }, input: unknown, hint: string): AutoAugmentSpec {
  if (policy === 'autoaugment') {
    const table = given.table ?? 'imagenet';
    if (!(AUTOAUGMENT_TABLE_NAMES as readonly string[]).includes(table)) {
      throw new UsageError(`autoaugment table "${table}" in ${typeof input === 'string' ? `"${input}"` : JSON.stringify(input)}: known tables are ${AUTOAUGMENT_TABLE_NAMES.join(', ')}`, hint);
    }
    return { policy, ops: 2, magnitude: -1, bins: 10, table: table as AutoAugmentTable };
  }
  const bins = given.bins ?? AUTO_DEFAULTS.bins;
  const spec: AutoAugmentSpec =
    policy === 'randaugment' ? { policy, ops: given.ops ?? AUTO_DEFAULTS.ops, magnitude: given.magnitude ?? AUTO_DEFAULTS.magnitude, bins } : { policy, ops: 1, magnitude: -1, bins };
  checkAutoAugment(spec, input, hint);
  return spec;
}

/** The values each policy takes, in the token's order (`randaugment:OPS:M:BINS`). */
export const POLICY_KEYS: Readonly<Record<AutoAugmentPolicy, readonly ('ops' | 'magnitude' | 'bins' | 'table')[]>> = {
  randaugment: ['ops', 'magnitude', 'bins'],
  trivialaugment: ['bins'],
  autoaugment: ['table'],
};

/** Parses `randaugment[:OPS[:M[:BINS]]]` / `trivialaugment[:BINS]` / `autoaugment[:TABLE]`; null when `tok` is none of them. */
export function parseAutoAugmentToken(tok: string, input: string, hint: string): AutoAugmentSpec | null {
  const m = new RegExp(`^(${AUTO_POLICIES.join('|')})((?::[^:]*)*)$`).exec(tok);
  if (!m) return null;
  const policy = m[1] as AutoAugmentPolicy;
  const args = m[2] === '' ? [] : m[2].slice(1).split(':');
  const names = POLICY_KEYS[policy];
  if (args.length > names.length) throw new UsageError(`"${tok}" in "${input}": ${policy} takes at most ${policy === 'autoaugment' ? `one table (${AUTOAUGMENT_TABLE_NAMES.join(', ')})` : names.join(':')}`, hint);
  const given: { ops?: number; magnitude?: number; bins?: number; table?: string } = {};
  args.forEach((a, k) => {
    const key = names[k];
    if (key === 'table') {
      given.table = a;
      return;
    }
    const x = Number(a);
    if (a.trim() === '' || !Number.isInteger(x)) throw new UsageError(`${policy} ${key} "${a}" in "${input}" is not an integer`, hint);
    given[key] = x;
  });
  return policySpec(policy, given, input, hint);
}

/** Bounds of a policy (UsageError naming the input). */
function checkAutoAugment(spec: AutoAugmentSpec, input: unknown, hint: string): void {
  const what = typeof input === 'string' ? `"${input}"` : JSON.stringify(input);
  if (!Number.isInteger(spec.bins) || spec.bins < 2 || spec.bins > 1000) throw new UsageError(`${spec.policy} bins ${spec.bins} in ${what}: need an integer in [2, 1000]`, hint);
  if (spec.policy === 'randaugment') {
    if (!Number.isInteger(spec.ops) || spec.ops < 1 || spec.ops > 16) throw new UsageError(`randaugment ops ${spec.ops} in ${what}: need an integer in [1, 16]`, hint);
    if (!Number.isInteger(spec.magnitude) || spec.magnitude < 0 || spec.magnitude >= spec.bins) {
      throw new UsageError(`randaugment magnitude ${spec.magnitude} in ${what}: need an integer in [0, ${spec.bins - 1}] (a bin of ${spec.bins})`, hint);
    }
  }
}

/** Canonical form: `randaugment:2:9:31`, `trivialaugment:31`, `autoaugment:imagenet`. */
export function formatAutoAugment(spec: AutoAugmentSpec): string {
  if (spec.policy === 'autoaugment') return `autoaugment:${spec.table ?? 'imagenet'}`;
  return spec.policy === 'randaugment' ? `randaugment:${spec.ops}:${spec.magnitude}:${spec.bins}` : `trivialaugment:${spec.bins}`;
}
