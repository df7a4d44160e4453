import { BaseDataset } from './base.js';
import type { Split } from './dataset.js';
import { hashU32, permutation, Rng } from './rng.js';
import type { SyntheticSpec } from './spec.js';

/**
 * `synthetic:N:K:HxWxC[:seed]`: seeded, class-dependent images a small MLP or CNN learns well
 * above chance, for tests and demos that must not depend on downloaded data.
 *
 * Class c (patterns depend on seed and c only, so train and test share them):
 *   - a bright Gaussian blob (σ = 0.15 of the side) centred on a circle of radius 0.3 around the
 *     image centre at angle 2πc/K + φ(seed) — a location cue a linear model can use;
 *   - oriented stripes, angle πc/K, 2 + (c mod 3) cycles per side — a texture cue for convs;
 *   - per-channel gains in [0.4, 1] (C > 1) — a colour cue.
 * Sample i of split s (stream Rng(seed, s, i), s = 0 train / 1 test): blob centre jitter ±0.15,
 * stripe phase uniform, stripe angle jitter ±π/(4K), contrast in [0.5, 1], and uniform pixel
 * noise ±60 grey levels. Pixel = clamp(round((30 + 60(stripe+1) + 110·blob)·contrast·gain + noise)).
 * Neighbouring classes on the circle look alike, so there is structure for a teacher to pass on.
 * Measured, nearest-centroid on raw pixels (chance 0.1): 16x16x3 0.84, 28x28x1 0.62, 32x32x3 0.83
 * (K = 10, 2000 training samples). Labels are balanced (⌊N/K⌋ or ⌈N/K⌉ per class) and shuffled by a seeded
 * permutation. Samples are generated on demand and memoised (up to 256 MiB), so any N opens fast.
 */

const SPLIT_TAG: Record<Split, number> = { train: 0, test: 1 };
const LABEL_STREAM = 0x1abe1;
const CLASS_STREAM = 0xc1a55;
const MEMO_LIMIT = 256 * 1024 * 1024;

interface ClassPattern {
  cy: number;
  cx: number;
  angle: number;
  freq: number;
  gains: Float64Array;
}

export class SyntheticDataset extends BaseDataset {
  private readonly patterns: ClassPattern[];
  private readonly memo?: Uint8Array;
  private readonly done?: Uint8Array;

  constructor(
    readonly params: SyntheticSpec,
    split: Split,
    spec: string,
  ) {
    const { n, k, height, width, channels, seed } = params;
    const perm = permutation(n, hashU32(seed, SPLIT_TAG[split], LABEL_STREAM));
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = perm[i] % k;
    super({
      kind: 'synthetic',
      spec,
      split,
      numClasses: k,
      shape: { height, width, channels },
      labels,
      classNames: Array.from({ length: k }, (_, c) => `class${c}`),
    });
    const phi = (hashU32(seed, CLASS_STREAM) / 4294967296) * 2 * Math.PI;
    this.patterns = Array.from({ length: k }, (_, c) => {
      const rng = new Rng(seed, CLASS_STREAM, c);
      const a = (2 * Math.PI * c) / k + phi;
      const gains = new Float64Array(channels);
      for (let ch = 0; ch < channels; ch++) gains[ch] = channels === 1 ? 1 : 0.4 + 0.6 * rng.next();
      return { cy: 0.5 + 0.3 * Math.sin(a), cx: 0.5 + 0.3 * Math.cos(a), angle: (Math.PI * c) / k, freq: 2 + (c % 3), gains };
    });
    if (n * this.sampleBytes <= MEMO_LIMIT) {
      this.memo = new Uint8Array(n * this.sampleBytes);
      this.done = new Uint8Array(n);
    }
  }

  protected fill(index: number, dst: Uint8Array): void {
    const sb = this.sampleBytes;
    if (this.memo && this.done) {
      const slot = this.memo.subarray(index * sb, (index + 1) * sb);
      if (!this.done[index]) {
        this.generate(index, slot);
        this.done[index] = 1;
      }
      dst.set(slot);
    } else {
      this.generate(index, dst);
    }
  }

  /** Renders sample `index` (see the module comment for the recipe). */
  private generate(index: number, dst: Uint8Array): void {
    const { height: H, width: W, channels: C } = this.shape;
    const k = this.numClasses;
    const p = this.patterns[this.labels[index]];
    const rng = new Rng(this.params.seed, SPLIT_TAG[this.split], index);
    const cy = p.cy + (rng.next() - 0.5) * 0.3;
    const cx = p.cx + (rng.next() - 0.5) * 0.3;
    const phase = rng.next() * 2 * Math.PI;
    const angle = p.angle + (rng.next() - 0.5) * (Math.PI / (2 * k));
    const contrast = 0.5 + 0.5 * rng.next();
    const cosA = Math.cos(angle);
    const sinA = Math.sin(angle);
    const twoPiF = 2 * Math.PI * p.freq;
    const inv2s2 = 1 / (2 * 0.15 * 0.15);
    let o = 0;
    for (let y = 0; y < H; y++) {
      const v = (y + 0.5) / H;
      for (let x = 0; x < W; x++) {
        const u = (x + 0.5) / W;
        const stripe = Math.sin(twoPiF * (u * cosA + v * sinA) + phase);
        const blob = Math.exp(-((u - cx) ** 2 + (v - cy) ** 2) * inv2s2);
        const base = (30 + 60 * (stripe + 1) + 110 * blob) * contrast;
        for (let ch = 0; ch < C; ch++) {
          const val = base * p.gains[ch] + (rng.next() - 0.5) * 120;
          dst[o++] = val <= 0 ? 0 : val >= 255 ? 255 : Math.round(val);
        }
      }
    }
  }
}

export function openSynthetic(params: SyntheticSpec, split: Split, spec: string): SyntheticDataset {
  return new SyntheticDataset(params, split, spec);
}
