/**
 * Two weight files (checkpoints' weights.safetensors) compared tensor by tensor, for backend parity
 * tests. A tensor whose values reach FLOOR is compared relatively, max |Δ| / max |a| ≤ tol; one
 * whose values all stay below it is rounding noise around zero (a BatchNorm β whose gradient is zero
 * in exact arithmetic because another BatchNorm follows, a moving mean of activations centred by the
 * BatchNorm before) and "relative" there is noise over noise: it is compared absolutely.
 * With `base` (the initial weights), the updates a − base and b − base are compared instead: after
 * one step of plain SGD that is the gradient, which the weights' own magnitude would otherwise hide.
 * An update is a difference of float32 values, known to an ulp of the weight on each side: `ulps`
 * takes 2 ulps of the tensor's largest weight off max |Δ| first (test/student/zoo/onnx-import.test.ts
 * holds ONNX students to PyTorch that way).
 */
import { expect } from 'chai';
import { openSafetensors } from '../../src/cache/safetensors.js';

export const FLOOR = 1e-3;

export interface WeightDiff {
  /** Worst max |Δ| / max |a| over the tensors reaching `floor`, and which tensor. */
  rel: number;
  relTensor: string;
  /** Worst max |Δ| over the others. */
  abs: number;
  absTensor: string;
  tensors: number;
}

export function weightDiff(a: string, b: string, opts: { base?: string; floor?: number; ulps?: boolean } = {}): WeightDiff {
  const floor = opts.floor ?? FLOOR;
  const files = [a, b, ...(opts.base ? [opts.base] : [])].map((f) => openSafetensors(f));
  const [fa, fb, f0] = files;
  const w: WeightDiff = { rel: 0, relTensor: '', abs: 0, absTensor: '', tensors: 0 };
  try {
    expect(Object.keys(fb.tensors).sort()).to.deep.equal(Object.keys(fa.tensors).sort());
    for (const name of Object.keys(fa.tensors)) {
      const x = fa.readTensor(name) as Float32Array;
      const y = fb.readTensor(name) as Float32Array;
      const z = f0 ? (f0.readTensor(name) as Float32Array) : null;
      let d = 0;
      let m = 0;
      let big = 0;
      for (let i = 0; i < x.length; i++) {
        big = Math.max(big, Math.abs(x[i]), z ? Math.abs(z[i]) : 0);
        const u = z ? x[i] - z[i] : x[i];
        const v = z ? y[i] - z[i] : y[i];
        d = Math.max(d, Number.isNaN(u - v) ? Infinity : Math.abs(u - v));
        m = Math.max(m, Math.abs(u));
      }
      if (opts.ulps) d = Math.max(0, d - 2 * 2 ** -23 * big);
      w.tensors++;
      if (m >= floor) {
        if (d / m > w.rel) Object.assign(w, { rel: d / m, relTensor: name });
      } else if (d > w.abs) Object.assign(w, { abs: d, absTensor: name });
    }
  } finally {
    for (const f of files) f.close();
  }
  return w;
}
