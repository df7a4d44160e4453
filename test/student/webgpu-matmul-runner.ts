/**
 * Child of webgpu-matmul.test.ts: on the webgpu backend (as tfkd selects it), runs the dense layer of
 * `cnn` at batch 4 (x [4, 9216] · W [9216, 128]), its gradient, the fused form and two convolutions
 * tfjs computes as such a product (1×1 over 2048 channels, a filter as large as its input), then the same product with tfjs's
 * split-K program asked for explicitly; prints, as JSON, the shader programs compiled after each
 * (tfjs-backend-webgpu's pipeline cache keys) and whether the two products' values are equal.
 */
import { selectBackend } from '../../src/student/backend.js';
import { tf } from '../../src/student/tf.js';

await selectBackend('webgpu');
const programs = () => Object.keys((tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache).map((k) => k.split('_')[0]);
const x = tf.randomUniform([4, 9216], -1, 1, 'float32', 1);
const w = tf.variable(tf.randomUniform([9216, 128], -1, 1, 'float32', 2));
const y = tf.matMul(x, w);
const g = tf.grad((ww: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, ww))))(w);
const fused = tf.fused.matMul({ a: x, b: w, activation: 'relu' });
// Convolutions tfjs runs as that product: 1×1 over 2048 channels at batch 1, and a 6×6 filter over a 6×6 input.
const pointwise = tf.conv2d(tf.randomUniform([1, 1, 1, 2048], -1, 1, 'float32', 3) as tf.Tensor4D, tf.randomUniform([1, 1, 2048, 512], -1, 1, 'float32', 4) as tf.Tensor4D, 1, 'valid');
const whole = tf.fused.conv2d({ x: tf.randomUniform([4, 6, 6, 64], -1, 1, 'float32', 5) as tf.Tensor4D, filter: tf.randomUniform([6, 6, 64, 128], -1, 1, 'float32', 6) as tf.Tensor4D, strides: 1, pad: 'valid', activation: 'relu' });
const ours = (await y.data()) as Float32Array;
await Promise.all([g.data(), fused.data(), pointwise.data(), whole.data()]);
const before = programs();
tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', 1);
const y2 = tf.matMul(x, w);
const theirs = (await y2.data()) as Float32Array;
tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', -1);
let maxDiff = 0;
for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
console.log(JSON.stringify({ before, after: programs(), maxDiff }));
