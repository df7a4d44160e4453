/**
 * Child of webgpu-matmul.test.ts: on the webgpu backend (as tfkd selects it), runs the dense layer of
 * `cnn` at batch 4 (x [4, 9216] · W [9216, 128]) and its gradients, then the same product with tfjs's
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
const ours = (await y.data()) as Float32Array;
await g.data();
await fused.data();
const before = programs();
tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', 1);
const y2 = tf.matMul(x, w);
const theirs = (await y2.data()) as Float32Array;
tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', -1);
let maxDiff = 0;
for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
console.log(JSON.stringify({ before, after: programs(), maxDiff }));
