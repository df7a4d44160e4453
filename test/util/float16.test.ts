import { expect } from 'chai';
import { Float16Array } from '@petamoriken/float16';
import { f16ToF32, f32ToF16 } from '../../src/util/float16.js';

// The bulk encoder is also checked against the library on 100 k random values and every edge
// case in test/cache/writer.test.ts; the decoder on all 65 536 bit patterns there.
describe('util/float16', () => {
  it('float16 bits ↔ float32 round trip agrees with @petamoriken/float16', () => {
    const vals = [0, -0, 1, -2.5, 65504, 1e-7, 3.14159, -1e5, 6.1e-5];
    const bits = f32ToF16(vals);
    const ref = new Float16Array(vals);
    expect(Array.from(bits)).to.deep.equal(Array.from(new Uint16Array(ref.buffer)));
    expect(Array.from(f16ToF32(bits))).to.deep.equal(Array.from(ref));
  });
});
