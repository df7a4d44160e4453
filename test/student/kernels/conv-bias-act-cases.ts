/**
 * The comparisons of test/student/kernels/conv-bias-act.test.ts, shared with its child process
 * (conv-bias-act-child.ts, run with TFKD_CPU_KERNELS=avx2: the CPU kernels are chosen once per
 * process): the zoo conv layer and three cnn KD steps, fused (TfkdConv2DBiasAct) vs the three
 * kernels (TFKD_FUSED_CONV=0), bit for bit, on wasm with the native kernels registered.
 */
import { convBiasActCalls } from '../../../src/student/kernels/conv-bias-act.js';
import { LayerFactory } from '../../../src/student/zoo/common.js';
import { tf } from '../../../src/student/tf.js';
import { CONV_CASES, kdTrainSteps, randn, type Arr } from '../compare-backends.js';

/** Runs `fn` with the fused path on or off (TFKD_FUSED_CONV), restoring the variable after. */
export async function fusedOr<T>(fused: boolean, fn: () => Promise<T> | T): Promise<T> {
  const before = process.env.TFKD_FUSED_CONV;
  if (fused) delete process.env.TFKD_FUSED_CONV;
  else process.env.TFKD_FUSED_CONV = '0';
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.TFKD_FUSED_CONV;
    else process.env.TFKD_FUSED_CONV = before;
  }
}

export type Case = { k: number; s: number; pad: 'same' | 'valid'; hw: number; bias: boolean; act: 'relu' | 'linear' };

/**
 * The conv grid (kernel 1/3/5, stride 1/2, same/valid) at 32 and 33 px, batch 24, 3 → 16 channels
 * (every output ≥ 65 536 elements, where the fused kernel runs), × {bias + ReLU, bias, ReLU}.
 */
export const CASES: Case[] = CONV_CASES.flatMap((g) =>
  [
    { bias: true, act: 'relu' as const },
    { bias: true, act: 'linear' as const },
    { bias: false, act: 'relu' as const },
  ].map((o) => ({ ...g, hw: g.hw === 8 ? 32 : 33, ...o })),
);

/**
 * One zoo conv layer (LayerFactory.conv, seeded weights, the bias set to random values) in training
 * mode: its output and the gradients of sum(y · r) with respect to x, the kernel and the bias.
 */
export function layerOutputs(c: Case, x: Arr, seed: number, filters = 16): Arr[] {
  return tf.tidy(() => {
    const layer = new LayerFactory(seed).conv('c', filters, c.k, { strides: c.s, padding: c.pad, useBias: c.bias, activation: c.act });
    const xv = tf.variable(tf.tensor(x.data, x.shape));
    layer.apply(xv, { training: true }); // builds the weights
    const [kernel, bias] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    if (bias) bias.assign(tf.tensor(randn(bias.shape, seed + 1).data, bias.shape));
    const y = layer.apply(xv, { training: true }) as tf.Tensor;
    const r = tf.tensor(randn(y.shape, seed + 2).data, y.shape);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv, { training: true }) as tf.Tensor, r)) as tf.Scalar, [xv, kernel, ...(bias ? [bias] : [])]);
    const outs = [y, grads[xv.name], grads[kernel.name], ...(bias ? [grads[bias.name]] : [])];
    const res = outs.map((t) => ({ shape: t.shape, data: (t.dataSync() as Float32Array).slice() }));
    xv.dispose();
    layer.dispose();
    return res;
  }) as unknown as Arr[];
}

/** The first index where two arrays' bits differ, or −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/** '' when `got` and `want` are the same bits, else where and what differs. */
function bitDiff(got: Arr[], want: Arr[], what: string): string {
  if (got.length !== want.length) return `${what}: ${got.length} outputs vs ${want.length}`;
  for (const [i, g] of got.entries()) {
    if (g.shape.join() !== want[i].shape.join()) return `${what}[${i}]: shape [${g.shape}] vs [${want[i].shape}]`;
    const at = firstDiff(g.data, want[i].data);
    if (at >= 0) return `${what}[${i}]: fused ${g.data[at]} vs three kernels ${want[i].data[at]} at ${at}`;
  }
  return '';
}

/** Every case fused and not: the differences (empty: all the same bits) and the fused calls per case. */
export async function compareCases(cases: readonly Case[]): Promise<{ diffs: string[]; fusedPerCase: number[] }> {
  const diffs: string[] = [];
  const fusedPerCase: number[] = [];
  for (const [i, c] of cases.entries()) {
    const x = randn([24, c.hw, c.hw, 3], 100 + i);
    const want = await fusedOr(false, () => layerOutputs(c, x, 200 + i));
    const n0 = convBiasActCalls.fused;
    const got = await fusedOr(true, () => layerOutputs(c, x, 200 + i));
    fusedPerCase.push(convBiasActCalls.fused - n0);
    const d = bitDiff(got, want, `k${c.k} s${c.s} ${c.pad} ${c.hw}px bias=${c.bias} ${c.act}`);
    if (d) diffs.push(d);
  }
  return { diffs, fusedPerCase };
}

/** Three KD + momentum steps of cnn on 28×28 (both convs fused), fused vs not: the difference or ''. */
export async function compareCnnSteps(): Promise<{ diff: string; fused: number }> {
  const want = await fusedOr(false, () => kdTrainSteps('cnn', [28, 28, 1], 'wasm'));
  const n0 = convBiasActCalls.fused;
  const got = await fusedOr(true, () => kdTrainSteps('cnn', [28, 28, 1], 'wasm'));
  return { diff: bitDiff(got, want, 'cnn after 3 steps'), fused: convBiasActCalls.fused - n0 };
}
