/** Bit-for-bit comparison of two float32 arrays (NaN matches any NaN), for kernels that replace a composition. */
import { expect } from 'chai';

export function expectBitIdentical(got: Float32Array, want: Float32Array, what: string, reference: string): void {
  expect(got.length, what).to.equal(want.length);
  const gb = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const wb = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < got.length; i++) {
    const same = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : gb[i] === wb[i];
    if (!same) {
      bad++;
      if (first < 0) first = i;
    }
  }
  expect(bad, `${what}: ${bad} of ${got.length} elements differ from ${reference} (first at ${first}: ${got[first]} vs ${want[first]})`).to.equal(0);
}
