/**
 * Mixing views (Mixup, CutMix) as pure seeded functions — docs/MIXING.md is the reader's version.
 *
 * View v ≥ 1 of sample i under (spec, seed) and a data set of N samples may be mixed with view v of
 * a partner j: its parameters depend on nothing else (not the batch, the shard, the worker or the
 * process), so precompute (the teacher's row) and the trainer (the student's input and label)
 * rebuild the same mixture. With u(k) = (hashU32(seed, i, v, k) + 0.5) / 2^32 ∈ (0, 1):
 *
 *   mixed    iff u(64) < mix-prob                          (view 0 is never mixed)
 *   kind     = cutmix iff u(65) < switch-prob when both mixup and cutmix are on, else the one on
 *   partner  j = (i + 1 + ⌊u(66) · (N − 1)⌋) mod N        (uniform over the N − 1 others; N ≥ 2)
 *   λ        ~ Beta(α, α) of the kind (betaSample below: the uniform stream u(128 + t), t = 0, 1, …)
 *   cut      (CutMix) timm's rand_bbox in fractions of the image: r = √(1 − λ), centre (cy, cx) =
 *            (u(67), u(68)); y0 = clamp(cy − r/2, 0, 1), y1 = clamp(cy + r/2, 0, 1), x0, x1 alike.
 *
 * A side of H×W pixels rounds the cut to its grid with one rule, round(f) = ⌊f + 0.5⌋:
 * rows [⌊y0·H + 0.5⌋, ⌊y1·H + 0.5⌋), columns [⌊x0·W + 0.5⌋, ⌊x1·W + 0.5⌋) hold the partner's
 * pixels, and the label weight of sample i is timm's corrected λ at that grid:
 * 1 − (rows · columns) / (H · W). Mixup's λ is the Beta draw itself.
 */
import { UsageError } from '../errors.js';
import { hashU32 } from './rng.js';

/** Mixup / CutMix of views (module comment); absent from an AugmentSpec: no mixing. */
export interface MixSpec {
  /** Mixup's α (λ ~ Beta(α, α)); null: no Mixup. */
  mixup: number | null;
  /** CutMix's α; null: no CutMix. */
  cutmix: number | null;
  /** Probability of CutMix when both are on (timm's switch_prob, default 0.5). */
  switchProb: number;
  /** Probability that a view ≥ 1 is mixed at all (timm's mix_prob / prob, default 1). */
  mixProb: number;
}

type MixKind = 'mixup' | 'cutmix';

/** One view's mixing, in fractions of the image (independent of any side's size). */
export interface MixParams {
  kind: MixKind;
  partner: number;
  /** The Beta draw: Mixup's weight of sample i; CutMix's before the box correction. */
  lambda: number;
  /** CutMix: the cut box in fractions of the image, [y0, x0, y1, x1]; absent for Mixup. */
  cut?: [number, number, number, number];
}

export const MIX_DEFAULTS = Object.freeze({ alpha: 1, switchProb: 0.5, mixProb: 1 });

/** Reads a mixing token (`mixup`, `mixup:0.2`, `switch-prob:0.5`) into `mix`; false when `tok` is not one. */
export function parseMixToken(tok: string, mix: MixSpec, input: string, hint: string): boolean {
  const m = /^(mixup|cutmix|switch-prob|mix-prob)(?::(.*))?$/.exec(tok);
  if (!m) return false;
  const name = m[1];
  const raw = m[2];
  const num = (what: string, d: number) => {
    if (raw === undefined) return d;
    const x = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${what} value "${raw}" in "${input}" is not a number`, hint);
    return x;
  };
  if (name === 'mixup') mix.mixup = num('mixup α', MIX_DEFAULTS.alpha);
  else if (name === 'cutmix') mix.cutmix = num('cutmix α', MIX_DEFAULTS.alpha);
  else if (name === 'switch-prob') {
    if (raw === undefined) throw new UsageError(`switch-prob needs a value (switch-prob:P) in "${input}"`, hint);
    mix.switchProb = num('switch-prob', MIX_DEFAULTS.switchProb);
  } else {
    if (raw === undefined) throw new UsageError(`mix-prob needs a value (mix-prob:P) in "${input}"`, hint);
    mix.mixProb = num('mix-prob', MIX_DEFAULTS.mixProb);
  }
  return true;
}

/** The checks every mixing spec passes (strings, JSON and objects alike). */
export function checkMixSpec(mix: MixSpec, input: unknown, switchGiven: boolean, hint: string): void {
  const what = typeof input === 'string' ? `"${input}"` : JSON.stringify(input);
  if (mix.mixup === null && mix.cutmix === null) throw new UsageError(`${what}: switch-prob / mix-prob without mixup or cutmix`, hint);
  for (const [k, a] of [['mixup', mix.mixup], ['cutmix', mix.cutmix]] as const) {
    if (a !== null && !(Number.isFinite(a) && a > 0)) throw new UsageError(`${k} α ${a} in ${what} must be > 0 (λ ~ Beta(α, α))`, hint);
  }
  if (!(mix.switchProb >= 0 && mix.switchProb <= 1)) throw new UsageError(`switch-prob ${mix.switchProb} in ${what} must be in [0, 1]`, hint);
  if (switchGiven && (mix.mixup === null || mix.cutmix === null)) throw new UsageError(`switch-prob in ${what} chooses between mixup and cutmix: give both`, hint);
  if (!(mix.mixProb > 0 && mix.mixProb <= 1)) throw new UsageError(`mix-prob ${mix.mixProb} in ${what} must be in (0, 1]`, hint);
}

/** Canonical form: `mixup:A`, `cutmix:A`, `switch-prob:P` (both on), `mix-prob:P` (≠ 1). */
export function formatMixSpec(mix: MixSpec): string[] {
  const parts: string[] = [];
  if (mix.mixup !== null) parts.push(`mixup:${mix.mixup}`);
  if (mix.cutmix !== null) parts.push(`cutmix:${mix.cutmix}`);
  if (mix.mixup !== null && mix.cutmix !== null) parts.push(`switch-prob:${mix.switchProb}`);
  if (mix.mixProb !== 1) parts.push(`mix-prob:${mix.mixProb}`);
  return parts;
}

/** Mixing needs a partner other than the sample: refuse a data set of one sample (exit 2). */
export function checkMixData(mix: MixSpec | undefined, N: number, spec: string): void {
  if (mix && N < 2) throw new UsageError(`mixup/cutmix on ${spec}: the data set has ${N} sample(s), and a view is mixed with another sample`, 'mix a data set of at least 2 samples, or drop mixup/cutmix from the augmentation');
}

const TWO32 = 4294967296;
/** u(k) of the module comment: a uniform in (0, 1), never 0 (its log is finite). */
const uni = (seed: number, i: number, v: number, k: number) => (hashU32(seed, i, v, k) + 0.5) / TWO32;

/** Index of the first word of the Beta stream (docs/MIXING.md). */
const BETA_STREAM = 128;
/** Tries per Gamma draw before the documented fallback (acceptance ≥ 0.95 per try for shape ≥ 1). */
const MAX_TRIES = 64;

/**
 * log of a Gamma(a, 1) draw from the uniform stream `next` (Marsaglia & Tsang 2000):
 *   a ≥ 1: d = a − 1/3, c = 1/√(9d); repeat: x = √(−2 ln u₁)·cos(2π u₂) (Box–Muller, one normal
 *          per two uniforms), w = (1 + c·x)³; if w > 0 and ln u₃ < x²/2 + d − d·w + d·ln w, return
 *          ln(d·w). After 64 rejected tries (probability < 1e-80): ln d.
 *   a < 1: ln Gamma(a + 1) + ln(u)/a (u drawn after the Gamma(a + 1) draw) — in logs, so small α
 *          does not underflow.
 */
function logGamma(a: number, next: () => number): number {
  if (a < 1) {
    const [g, lu] = logGammaParts(a, next);
    return g + lu / a;
  }
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (let t = 0; t < MAX_TRIES; t++) {
    const x = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
    const w0 = 1 + c * x;
    const u3 = next();
    if (w0 <= 0) continue;
    const w = w0 * w0 * w0;
    if (Math.log(u3) < 0.5 * x * x + d - d * w + d * Math.log(w)) return Math.log(d * w);
  }
  return Math.log(d);
}

/** α < 1: [ln Gamma(α + 1), ln u] with ln Gamma(α, 1) = ln Gamma(α + 1) + ln(u)/α (logGamma). */
function logGammaParts(a: number, next: () => number): [number, number] {
  const g = logGamma(a + 1, next);
  return [g, Math.log(next())];
}

/**
 * λ ~ Beta(α, α) = X / (X + Y), X, Y ~ Gamma(α, 1) drawn in that order from one uniform stream:
 * λ = 1 / (1 + exp(ln Y − ln X)).
 *
 * A tiny α (below about 1e-307) overflows ln(u)/α to −∞ in both draws, and −∞ − (−∞) is NaN. Then
 * ln Y − ln X is taken as (ln u_Y − ln u_X)/α + (ln G_Y − ln G_X) — the same uniforms, the same
 * value in exact arithmetic — which is ±∞ (λ = 0 or 1, each with probability 1/2) unless the two
 * uniforms are equal. That is Beta(α, α)'s limit as α → 0, and what numpy's `Generator.beta` returns
 * there (a Bernoulli(1/2) draw); timm's `np.random.beta` (the legacy RandomState) gives NaN like the
 * plain formula. Every α where the plain formula is defined keeps its draws bit for bit (caches'
 * views are rebuilt from them), so α stays accepted down to the smallest positive double.
 */
export function betaSample(alpha: number, next: () => number): number {
  if (alpha < 1) {
    const [gx, ux] = logGammaParts(alpha, next);
    const [gy, uy] = logGammaParts(alpha, next);
    const lx = gx + ux / alpha;
    const ly = gy + uy / alpha;
    const d = ly - lx;
    return 1 / (1 + Math.exp(Number.isNaN(d) ? (uy - ux) / alpha + (gy - gx) : d));
  }
  const lx = logGamma(alpha, next);
  const ly = logGamma(alpha, next);
  return 1 / (1 + Math.exp(ly - lx));
}

/** The Beta draw of view `view` of `sample` (stream u(128), u(129), …). */
export function mixLambda(alpha: number, seed: number, sample: number, view: number): number {
  let t = BETA_STREAM;
  return betaSample(alpha, () => uni(seed, sample, view, t++));
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/**
 * The mixing of view `view` ≥ 1 of `sample` in a data set of `N` samples, or null when the view is
 * not mixed (view 0, no mixing in the spec, or the mix-prob draw said no). Module comment.
 */
export function mixParams(mix: MixSpec | undefined, seed: number, sample: number, view: number, N: number): MixParams | null {
  if (!mix || view === 0) return null;
  if (!(Number.isInteger(N) && N >= 2)) throw new RangeError(`internal: mixing needs N ≥ 2 samples, got ${N}`);
  if (!(uni(seed, sample, view, 64) < mix.mixProb)) return null;
  const kind: MixKind = mix.mixup !== null && mix.cutmix !== null ? (uni(seed, sample, view, 65) < mix.switchProb ? 'cutmix' : 'mixup') : mix.cutmix !== null ? 'cutmix' : 'mixup';
  const partner = (sample + 1 + Math.floor(uni(seed, sample, view, 66) * (N - 1))) % N;
  const lambda = mixLambda(kind === 'mixup' ? mix.mixup! : mix.cutmix!, seed, sample, view);
  if (kind === 'mixup') return { kind, partner, lambda };
  const r = Math.sqrt(1 - lambda);
  const cy = uni(seed, sample, view, 67);
  const cx = uni(seed, sample, view, 68);
  return { kind, partner, lambda, cut: [clamp01(cy - r / 2), clamp01(cx - r / 2), clamp01(cy + r / 2), clamp01(cx + r / 2)] };
}

const gridRound = (f: number, n: number) => Math.floor(f * n + 0.5);

/** CutMix's cut on an H×W grid, [x0, y0, x1, y1] half-open (module comment's rounding rule). */
export function cutPixels(p: MixParams, height: number, width: number): [number, number, number, number] | null {
  if (!p.cut) return null;
  const [y0, x0, y1, x1] = p.cut;
  return [gridRound(x0, width), gridRound(y0, height), gridRound(x1, width), gridRound(y1, height)];
}

/** The label weight of sample i on an H×W grid: Mixup's λ, CutMix's λ corrected to the cut's pixels. */
export function labelLambda(p: MixParams, height: number, width: number): number {
  const c = cutPixels(p, height, width);
  if (!c) return p.lambda;
  return 1 - ((c[2] - c[0]) * (c[3] - c[1])) / (height * width);
}

/**
 * Mixes two renderings of H×W×C uint8 pixels (`a`: sample i's view, `b`: the partner's view) into
 * `out`, float32 on [0, 1] (docs/MIXING.md): Mixup λ·a/255 + (1 − λ)·b/255 (in double, rounded
 * once), CutMix b/255 inside the cut and a/255 outside; `p` null: a/255.
 */
export function mixPixels(a: Uint8Array, b: Uint8Array | null, height: number, width: number, channels: number, p: MixParams | null, out: Float32Array): Float32Array {
  const n = height * width * channels;
  if (a.length < n || out.length < n || (p && (!b || b.length < n))) throw new RangeError(`mixPixels: need ${n} values per image`);
  if (!p) {
    for (let k = 0; k < n; k++) out[k] = a[k] / 255;
    return out;
  }
  const bb = b!;
  if (p.kind === 'mixup') {
    const l = p.lambda;
    const m = 1 - l;
    for (let k = 0; k < n; k++) out[k] = l * (a[k] / 255) + m * (bb[k] / 255);
    return out;
  }
  const [x0, y0, x1, y1] = cutPixels(p, height, width)!;
  for (let k = 0; k < n; k++) out[k] = a[k] / 255;
  const row = width * channels;
  for (let y = y0; y < y1; y++) for (let k = y * row + x0 * channels; k < y * row + x1 * channels; k++) out[k] = bb[k] / 255;
  return out;
}
