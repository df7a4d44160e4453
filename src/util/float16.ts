/**
 * float16 ⇄ float32 in bulk, for the cache's F16 tensors and for teachers with float16 inputs or
 * outputs (onnxruntime-node hands float16 over as raw Uint16Array bits on Node < 24).
 */
import { getFloat16 } from '@petamoriken/float16';

// float16 conversion. The library's Float16Array is a Proxy (slow per element), so bulk conversion
// uses a 64 K lookup table (f16 → f32, built once from the library's exact decoder) and a
// bit-level round-to-nearest-even encoder (f32 → f16), checked against the library in the tests.

let F16_TABLE: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    const t = new Float32Array(65536);
    const dv = new DataView(new ArrayBuffer(2));
    for (let i = 0; i < 65536; i++) {
      dv.setUint16(0, i, true);
      t[i] = getFloat16(dv, 0, true);
    }
    F16_TABLE = t;
  }
  return F16_TABLE;
}

/** float16 bits → float32 values. */
export function f16ToF32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const t = f16Table();
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** One float32 → float16 bits, round to nearest even; overflow → ±Inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const f = u32Scratch[0];
  const sign = (f >>> 16) & 0x8000;
  const absf = f & 0x7fffffff;
  if (absf >= 0x7f800000) return sign | (absf > 0x7f800000 ? 0x7e00 : 0x7c00); // NaN / Inf
  if (absf >= 0x477ff000) return sign | 0x7c00; // ≥ 65520 rounds to Inf
  if (absf < 0x38800000) {
    // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
    if (absf < 0x33000000) return sign; // < 2^-25 → ±0
    const e = absf >>> 23;
    const mant = (absf & 0x7fffff) | 0x800000;
    // value = mant · 2^(e−150); in units of 2^-24 that is mant · 2^(e−126): drop 126−e bits.
    const drop = 126 - e;
    const q = mant >>> drop;
    const rem = mant & ((1 << drop) - 1);
    const half = 1 << (drop - 1);
    const r = rem > half || (rem === half && (q & 1)) ? q + 1 : q;
    return sign | r;
  }
  // Normal: rebias exponent (127 → 15), keep 10 mantissa bits, round to nearest even (may carry
  // into the exponent, which is correct: it becomes the next power of two or Inf).
  const base = absf - 0x38000000; // exponent rebias by 112 << 23
  const q = base >>> 13;
  const rem = base & 0x1fff;
  const r = rem > 0x1000 || (rem === 0x1000 && (q & 1)) ? q + 1 : q;
  return sign | r;
}

/** float32 values → float16 bits. */
export function f32ToF16(values: ArrayLike<number>, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}
