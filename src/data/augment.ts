import { z } from 'zod';
import { UsageError } from '../errors.js';
import type { SampleShape } from './dataset.js';
import { sampleBytes } from './dataset.js';
import { AUTO_POLICIES, AUTOAUGMENT_TABLE_NAMES, autoAugmentPixels, formatAutoAugment, parseAutoAugmentToken, POLICY_KEYS, policySpec, type AutoAugmentSpec } from './auto-augment.js';
import { checkMixSpec, formatMixSpec, MIX_DEFAULTS, parseMixToken, type MixSpec } from './mix.js';
import { hashU32 } from './rng.js';

/**
 * Seeded augmentation as pure functions on decoded HWC uint8 images. The same
 * (spec, seed, sample, view) gives the same bytes in every process, which is what lets the
 * precompute step cache the teacher's logits for view v of sample i and the trainer later rebuild
 * exactly that image (docs/ARCHITECTURE.md §3, "views").
 *
 * Operations, in torchvision's order for CIFAR (RandomCrop(size, padding=p), then
 * RandomHorizontalFlip):
 *   crop: pad by p zero pixels on every side, take the H×W window at offset (p+dy, p+dx), i.e.
 *         out[y][x] = in[y+dy][x+dx] (0 where that falls outside), dy, dx ∈ [-p, p];
 *   flip: out[y][x] = out[y][W-1-x] with probability 1/2.
 *
 * Parameters of view v ≥ 1 of sample i under seed s (hashU32 = MurmurHash3_x86_32, see rng.ts):
 *   dy   = hashU32(s, i, v, 0) mod (2p+1) − p
 *   dx   = hashU32(s, i, v, 1) mod (2p+1) − p
 *   flip = spec.flip && (hashU32(s, i, v, 2) & 1) === 1
 * View 0 is always the un-augmented image. (The mod has a bias below 2^-24 for p ≤ 64; it is a
 * fixed, documented function, which is what matters here.)
 *
 * A policy (`randaugment`, `trivialaugment`, `autoaugment`; auto-augment.ts) runs after the crop and flip, as in
 * torchvision's training transforms (RandomCrop / RandomResizedCrop, RandomHorizontalFlip, then
 * RandAugment), and before any mixing.
 */

export interface AugmentSpec {
  /** Zero padding p of the random crop (0 = no crop). */
  cropPad: number;
  /** Random horizontal flip. */
  flip: boolean;
  /**
   * RandomResizedCrop (views as boxes in the original image, views.ts): the box's area fraction and
   * aspect-ratio ranges, torchvision's defaults [0.08, 1] and [3/4, 4/3]. Absent: no box.
   */
  rrc?: { scale: [number, number]; ratio: [number, number] };
  /**
   * Mixup / CutMix of views ≥ 1 with a seeded partner's same view (mix.ts, docs/MIXING.md), after
   * the crop/box and flip above. Absent: no mixing.
   */
  mix?: MixSpec;
  /**
   * RandAugment / TrivialAugmentWide / AutoAugment (auto-augment.ts) of views ≥ 1, after the crop/box and flip and
   * before mixing. Absent: none.
   */
  auto?: AutoAugmentSpec;
}

/** torchvision's RandomResizedCrop defaults. */
const RRC_DEFAULT = Object.freeze({ scale: [0.08, 1] as [number, number], ratio: [3 / 4, 4 / 3] as [number, number] });

export interface AugmentParams {
  dy: number;
  dx: number;
  flip: boolean;
}

export const NO_AUGMENT: AugmentSpec = Object.freeze({ cropPad: 0, flip: false });

const MAX_PAD = 64;
const HINT =
  'augmentation spec: comma-separated "crop:P" (zero padding P), "rrc[:SMIN-SMAX[:RMIN-RMAX]]" (RandomResizedCrop), "flip", "randaugment[:OPS[:M[:BINS]]]", "trivialaugment[:BINS]", "autoaugment[:imagenet|cifar10|svhn]", "mixup[:ALPHA]", "cutmix[:ALPHA]", "switch-prob:P", "mix-prob:P", "none", or JSON {"cropPad":P,"flip":true,"rrc":{"scale":[a,b],"ratio":[c,d]},"auto":{"policy":"randaugment","ops":2,"magnitude":9,"bins":31},"mix":{"mixup":1,"cutmix":1,"switchProb":0.5,"mixProb":1}}';

const range = z.tuple([z.number().refine(Number.isFinite), z.number().refine(Number.isFinite)]);
const SpecSchema = z.strictObject({
  cropPad: z.number().int().min(0).max(MAX_PAD).default(0),
  flip: z.boolean().default(false),
  rrc: z.strictObject({ scale: range.default([...RRC_DEFAULT.scale]), ratio: range.default([...RRC_DEFAULT.ratio]) }).optional(),
  mix: z
    .strictObject({
      mixup: z.number().nullable().default(null),
      cutmix: z.number().nullable().default(null),
      switchProb: z.number().optional(),
      mixProb: z.number().default(MIX_DEFAULTS.mixProb),
    })
    .optional(),
  auto: z
    .strictObject({
      policy: z.enum(AUTO_POLICIES),
      ops: z.number().int().optional(),
      magnitude: z.number().int().optional(),
      bins: z.number().int().optional(),
      table: z.enum(AUTOAUGMENT_TABLE_NAMES).optional(),
    })
    .optional(),
});

/** An impossible RandomResizedCrop range → UsageError (torchvision would warn and sample nonsense). */
function checkRrc(rrc: NonNullable<AugmentSpec['rrc']>, input: unknown): void {
  const [s0, s1] = rrc.scale;
  const [r0, r1] = rrc.ratio;
  const what = typeof input === 'string' ? `"${input}"` : JSON.stringify(input);
  if (!(s0 > 0 && s0 <= s1 && s1 <= 1)) throw new UsageError(`rrc scale range ${s0}-${s1} in ${what} is impossible: need 0 < min ≤ max ≤ 1 (fractions of the image's area)`, HINT);
  if (!(r0 > 0 && r0 <= r1)) throw new UsageError(`rrc ratio range ${r0}-${r1} in ${what} is impossible: need 0 < min ≤ max (width / height)`, HINT);
}

/** The JSON form's `auto` object: only the keys its policy takes, the rest torchvision's defaults. */
function autoFromJson(a: NonNullable<z.infer<typeof SpecSchema>['auto']>, input: unknown): AutoAugmentSpec {
  const allowed = POLICY_KEYS[a.policy];
  const extra = (['ops', 'magnitude', 'bins', 'table'] as const).filter((k) => a[k] !== undefined && !allowed.includes(k));
  if (extra.length) throw new UsageError(`${JSON.stringify(input)}: ${a.policy} takes ${allowed.map((k) => `"${k}"`).join(', ')}, not ${extra.map((k) => `"${k}"`).join(', ')}`, HINT);
  return policySpec(a.policy, a, input, HINT);
}

/** Parses `crop:4,flip` / `flip` / `none` / `` or a JSON object (string or value). */
export function parseAugmentSpec(input: string | object | undefined | null): AugmentSpec {
  if (input === undefined || input === null) return { ...NO_AUGMENT };
  let obj: unknown = input;
  if (typeof input === 'string') {
    const s = input.trim();
    if (s.startsWith('{')) {
      try {
        obj = JSON.parse(s);
      } catch (e) {
        throw new UsageError(`bad augmentation spec JSON: ${(e as Error).message}`, HINT);
      }
    } else {
      const spec: AugmentSpec = { cropPad: 0, flip: false };
      if (s === '' || s === 'none') return spec;
      const seen = new Set<string>();
      const mix: MixSpec = { mixup: null, cutmix: null, switchProb: MIX_DEFAULTS.switchProb, mixProb: MIX_DEFAULTS.mixProb };
      for (const raw of s.split(',')) {
        const tok = raw.trim();
        const m = /^crop:(\d+)$/.exec(tok);
        const rr = /^rrc(?::([^:]+?)-([^:]+?)(?::([^:]+?)-([^:]+?))?)?$/.exec(tok);
        const head = tok.split(':')[0];
        const name = m ? 'crop' : rr ? 'rrc' : (AUTO_POLICIES as readonly string[]).includes(head) ? 'auto' : head;
        if (seen.has(name)) throw new UsageError(name === 'auto' ? `"${input}" names two policies (${AUTO_POLICIES.join(', ')}); use one` : `augmentation "${name}" given twice in "${input}"`, HINT);
        seen.add(name);
        if (parseMixToken(tok, mix, input, HINT)) continue;
        const auto = parseAutoAugmentToken(tok, input, HINT);
        if (auto) spec.auto = auto;
        else if (m) {
          const p = Number(m[1]);
          if (p > MAX_PAD) throw new UsageError(`crop padding ${p} too large (max ${MAX_PAD})`, HINT);
          spec.cropPad = p;
        } else if (rr) {
          const num = (v: string | undefined, d: number) => {
            if (v === undefined) return d;
            const x = Number(v);
            if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`rrc range value "${v}" in "${input}" is not a number`, HINT);
            return x;
          };
          spec.rrc = { scale: [num(rr[1], RRC_DEFAULT.scale[0]), num(rr[2], RRC_DEFAULT.scale[1])], ratio: [num(rr[3], RRC_DEFAULT.ratio[0]), num(rr[4], RRC_DEFAULT.ratio[1])] };
        } else if (tok === 'flip') spec.flip = true;
        else throw new UsageError(`unknown augmentation "${tok}" in "${input}"`, HINT);
      }
      if (spec.rrc) checkRrc(spec.rrc, input);
      if (spec.rrc && spec.cropPad > 0) throw new UsageError(`"${input}": rrc and crop:P are two different crops; use one`, HINT);
      if (['mixup', 'cutmix', 'switch-prob', 'mix-prob'].some((k) => seen.has(k))) {
        checkMixSpec(mix, input, seen.has('switch-prob'), HINT);
        spec.mix = mix;
      }
      return spec;
    }
  }
  const r = SpecSchema.safeParse(obj);
  if (!r.success) {
    throw new UsageError(`bad augmentation spec: ${r.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; ')}`, HINT);
  }
  const out: AugmentSpec = { cropPad: r.data.cropPad, flip: r.data.flip };
  if (r.data.rrc) {
    out.rrc = { scale: [r.data.rrc.scale[0], r.data.rrc.scale[1]], ratio: [r.data.rrc.ratio[0], r.data.rrc.ratio[1]] };
    checkRrc(out.rrc, input);
    if (out.cropPad > 0) throw new UsageError(`${JSON.stringify(input)}: rrc and cropPad are two different crops; use one`, HINT);
  }
  if (r.data.mix) {
    const m = r.data.mix;
    out.mix = { mixup: m.mixup, cutmix: m.cutmix, switchProb: m.switchProb ?? MIX_DEFAULTS.switchProb, mixProb: m.mixProb };
    checkMixSpec(out.mix, input, m.switchProb !== undefined, HINT);
  }
  if (r.data.auto) out.auto = autoFromJson(r.data.auto, input);
  return out;
}

/** Canonical string form (`none`, `flip`, `crop:4`, `crop:4,flip`, `rrc:…,flip,mixup:1`), for manifests and keys. */
export function formatAugmentSpec(spec: AugmentSpec): string {
  const parts: string[] = [];
  if (spec.rrc) parts.push(`rrc:${spec.rrc.scale[0]}-${spec.rrc.scale[1]}:${spec.rrc.ratio[0]}-${spec.rrc.ratio[1]}`);
  if (spec.cropPad > 0) parts.push(`crop:${spec.cropPad}`);
  if (spec.flip) parts.push('flip');
  if (spec.auto) parts.push(formatAutoAugment(spec.auto));
  if (spec.mix) parts.push(...formatMixSpec(spec.mix));
  return parts.length ? parts.join(',') : 'none';
}

export function isIdentity(spec: AugmentSpec): boolean {
  return spec.cropPad === 0 && !spec.flip && !spec.rrc && !spec.mix && !spec.auto;
}

/** The crop offset and flip of view `view` of sample `sample` (see the module comment). */
export function augmentParams(spec: AugmentSpec, seed: number, sample: number, view: number): AugmentParams {
  if (!Number.isInteger(view) || view < 0) throw new RangeError(`view must be a non-negative integer, got ${view}`);
  if (spec.rrc) throw new RangeError('internal: an rrc view is a box in the original image (views.ts viewBox), not a pixel shift');
  if (view === 0) return { dy: 0, dx: 0, flip: false };
  const p = spec.cropPad;
  const m = 2 * p + 1;
  return {
    dy: p > 0 ? (hashU32(seed, sample, view, 0) % m) - p : 0,
    dx: p > 0 ? (hashU32(seed, sample, view, 1) % m) - p : 0,
    flip: spec.flip && (hashU32(seed, sample, view, 2) & 1) === 1,
  };
}

/** Applies explicit parameters: out[y][x] = in[y+dy][x'+dx] with x' = flip ? W-1-x : x, 0 outside. */
export function applyAugment(pixels: Uint8Array, shape: SampleShape, params: AugmentParams, out?: Uint8Array): Uint8Array {
  const { height: H, width: W, channels: C } = shape;
  const n = sampleBytes(shape);
  if (pixels.length < n) throw new RangeError(`augment: image has ${pixels.length} bytes, shape needs ${n}`);
  if (out && out.length < n) throw new RangeError(`augment: out has ${out.length} bytes, need ${n}`);
  if (out && out.buffer === pixels.buffer && out.byteOffset < pixels.byteOffset + n && pixels.byteOffset < out.byteOffset + n) {
    throw new RangeError('augment: out must not overlap the input');
  }
  const dst = out ?? new Uint8Array(n);
  const { dy, dx, flip } = params;
  const row = W * C;
  for (let y = 0; y < H; y++) {
    const sy = y + dy;
    const o = y * row;
    if (sy < 0 || sy >= H) {
      dst.fill(0, o, o + row);
      continue;
    }
    const srow = sy * row;
    for (let x = 0; x < W; x++) {
      const sx = (flip ? W - 1 - x : x) + dx;
      const d = o + x * C;
      if (sx < 0 || sx >= W) {
        for (let c = 0; c < C; c++) dst[d + c] = 0;
      } else {
        const s = srow + sx * C;
        for (let c = 0; c < C; c++) dst[d + c] = pixels[s + c];
      }
    }
  }
  return dst;
}

/**
 * View `view` of sample `sample` under `seed`: a new array (or `out`), never the input itself.
 * View 0 is an exact copy of the input. A policy (spec.auto) runs on the cropped and flipped image.
 */
export function augment(
  pixels: Uint8Array,
  shape: SampleShape,
  spec: AugmentSpec,
  seed: number,
  sample: number,
  view: number,
  out?: Uint8Array,
): Uint8Array {
  const shifted = applyAugment(pixels, shape, augmentParams(spec, seed, sample, view), out);
  if (!spec.auto || view === 0) return shifted;
  const a = autoAugmentPixels(shifted, shape.height, shape.width, shape.channels, spec.auto, seed, sample, view);
  if (a !== shifted) shifted.set(a);
  return shifted;
}

/**
 * Augments a packed batch (`samples.length` images of `shape`, as readBatch returns them):
 * image k becomes view `views[k]` (or `views` for all) of data-set index `samples[k]`.
 */
export function augmentBatch(
  pixels: Uint8Array,
  shape: SampleShape,
  spec: AugmentSpec,
  seed: number,
  samples: ArrayLike<number>,
  views: ArrayLike<number> | number,
  out?: Uint8Array,
): Uint8Array {
  const sb = sampleBytes(shape);
  const n = samples.length;
  if (pixels.length < n * sb) throw new RangeError(`augmentBatch: ${pixels.length} bytes for ${n} images of ${sb}`);
  const dst = out ?? new Uint8Array(n * sb);
  if (dst.length < n * sb) throw new RangeError(`augmentBatch: out has ${dst.length} bytes, need ${n * sb}`);
  for (let k = 0; k < n; k++) {
    const v = typeof views === 'number' ? views : views[k];
    augment(pixels.subarray(k * sb, (k + 1) * sb), shape, spec, seed, samples[k], v, dst.subarray(k * sb, (k + 1) * sb));
  }
  return dst;
}
