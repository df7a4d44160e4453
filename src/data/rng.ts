/**
 * Counter-based hashing and a small seeded PRNG. Every random choice in tfkd derives from these,
 * never from Math.random, so that two processes (precompute and the trainer, or a run and its
 * `repro`) rebuild the same choices from the same integers.
 *
 * `hashU32(a, b, …)` is MurmurHash3_x86_32 (Appleby, public domain) with seed 0 over the
 * little-endian bytes of the 32-bit words `a, b, …`:
 *   for each word k: k *= 0xcc9e2d51; k = rotl32(k, 15); k *= 0x1b873593;
 *                    h ^= k; h = rotl32(h, 13); h = h * 5 + 0xe6546b64
 *   h ^= 4 * nwords; h = fmix32(h)
 *   fmix32(h): h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13; h *= 0xc2b2ae35; h ^= h >>> 16
 * (all arithmetic mod 2^32). It is a pure function of its arguments, so it can be re-implemented
 * in any language (`mmh3.hash(struct.pack('<3I', a, b, c), signed=False)` in Python).
 *
 * `Rng` is splitmix32: a Weyl sequence (state += 0x9e3779b9) passed through fmix32, seeded from
 * `hashU32(...seedWords)`.
 */

/** Converts an integer to a uint32 word; refuses anything that is not an integer in [-2^31, 2^32). */
function word(v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new RangeError(`hash input must be an integer in [-2^31, 2^32), got ${v}`);
  }
  return v >>> 0;
}

/** MurmurHash3's 32-bit finalizer (avalanche mix). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3_x86_32, seed 0, over the 32-bit LE words `ints` (see the module comment). */
export function hashU32(...ints: number[]): number {
  let h = 0;
  for (const v of ints) {
    let k = word(v);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= ints.length * 4;
  return fmix32(h);
}

/** Seeded splitmix32 generator. `new Rng(seed, stream…)` seeds from `hashU32(seed, stream…)`. */
export class Rng {
  private state: number;

  constructor(...seedWords: number[]) {
    this.state = hashU32(...seedWords);
  }

  /** Next uniform uint32. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return fmix32(this.state);
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling), 1 ≤ n ≤ 2^32. */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) throw new RangeError(`below(n): n must be an integer in [1, 2^32], got ${n}`);
    // Reject the top 2^32 mod n values so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** Standard normal (Box–Muller; one value per call, the second is discarded for simplicity). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log is finite
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** A seeded permutation of 0..n-1 (Fisher–Yates driven by `new Rng(seed, n)`). */
export function permutation(n: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`permutation: n must be a non-negative integer, got ${n}`);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng(seed, n);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * `k` distinct indices drawn from 0..n-1 without replacement, seeded, returned in ascending order
 * (sorted so that reading them back is sequential). Partial Fisher–Yates with `new Rng(seed, n, k)`.
 */
export function subset(n: number, k: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`subset: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`subset: k must be an integer in [0, ${n}], got ${k}`);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng(seed, n, k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.below(n - i);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p.slice(0, k).sort();
}
