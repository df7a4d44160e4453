/**
 * Child process of test/student/kernels/conv-bias-act.test.ts: the same comparisons in a process
 * whose CPU kernels its environment chose (TFKD_CPU_KERNELS=avx2). Prints one JSON line.
 */
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { loadNative, registerNativeKernels } from '../../../src/student/kernels/native.js';
import { tf } from '../../../src/student/tf.js';
import { CASES, compareCases, compareCnnSteps } from './conv-bias-act-cases.js';

registerWasmKernels();
registerNativeKernels();
await tf.setBackend('wasm');
// Every 4th case (the grid's corners and middles) and the cnn steps: the kernels of this process.
const cases = await compareCases(CASES.filter((_, i) => i % 4 === 0));
const cnn = await compareCnnSteps();
console.log(JSON.stringify({ why: loadNative().why, cpu: loadNative().cpu, ...cases, cnn }));
