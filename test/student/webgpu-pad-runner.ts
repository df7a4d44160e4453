/**
 * Child of webgpu-pad.test.ts: on the webgpu backend (as tfkd selects it) and on cpu, the gradient
 * of three rank-5 slices along axis 0 (an ONNX Split of timm's qkv), a rank-5 pad of one axis, and a
 * rank-5 pad of five axes (which must fail with tfkd's message). Prints JSON.
 */
import { selectBackend } from '../../src/student/backend.js';
import { tf } from '../../src/student/tf.js';

async function run(backend: 'webgpu' | 'cpu') {
  await selectBackend(backend);
  const x = tf.tensor(Float32Array.from({ length: 360 }, (_, i) => Math.sin(i)), [3, 2, 3, 5, 4]);
  const w = tf.tensor(Float32Array.from({ length: 120 }, (_, i) => Math.cos(i)), [1, 2, 3, 5, 4]);
  const f = (u: tf.Tensor) => {
    const parts = [0, 1, 2].map((k) => tf.mul(tf.slice(u, [k, 0, 0, 0, 0], [1, 2, 3, 5, 4]), tf.mul(w, k + 1)));
    return tf.sum(tf.addN(parts));
  };
  const grad = Array.from(await tf.grad(f)(x).data());
  const pad = Array.from(await tf.pad(x, [[0, 0], [1, 2], [0, 0], [0, 0], [0, 0]], 0.5).data());
  let error = '';
  try {
    await tf.pad(x, [[1, 0], [0, 1], [1, 0], [0, 1], [1, 1]]).data();
  } catch (e) {
    error = (e as Error).message;
  }
  return { grad, pad, error };
}

const gpu = await run('webgpu');
const cpu = await run('cpu');
const maxDiff = (a: number[], b: number[]) => (a.length === b.length ? a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) : Infinity);
console.log(JSON.stringify({ grad: maxDiff(gpu.grad, cpu.grad), gradAbs: Math.max(...cpu.grad.map(Math.abs)), pad: maxDiff(gpu.pad, cpu.pad), error: gpu.error }));
