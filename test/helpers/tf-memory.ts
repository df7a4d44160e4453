/** tfjs memory hygiene in tests: a body that must leave the engine's live tensors as it found them. */
import { expect } from 'chai';
import { tf } from '../../src/student/tf.js';

/**
 * Runs `fn` (sync or async) and asserts it left no tensor behind — and no backend data buffer
 * either with `buffers: true` (a wasm kernel can leak one without a tensor). Returns fn's result.
 */
export function expectNoLeakedTensors<T>(fn: () => T, what = 'live tensors', opts: { buffers?: boolean } = {}): T {
  const before = tf.memory();
  const check = () => {
    const after = tf.memory();
    expect(after.numTensors, what).to.equal(before.numTensors);
    if (opts.buffers) expect(after.numDataBuffers, `${what} (data buffers)`).to.equal(before.numDataBuffers);
  };
  const r = fn();
  if (r instanceof Promise) return r.then((v) => (check(), v)) as T;
  check();
  return r;
}
