/**
 * The folder a PyTorch reference script reads (scripts/torch_loss_step.py, torch_pskd_loop.py): the
 * job's JSON (with the weights' names and shapes), the batch's pixels and labels, optionally the
 * teacher's logits, and one little-endian file per weight in tfjs's layout; and the float64 tensors
 * the script writes back, by weight name.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WeightRecord } from '../../../src/student/zoo/index.js';

const fileOf = (name: string) => name.replace('/', '__');
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

export function writeTorchJob(dir: string, job: Record<string, unknown>, inputs: { weights: WeightRecord; pixels: Uint8Array; labels: Int32Array; teacher?: Float32Array }): void {
  fs.mkdirSync(dir);
  const weights = Object.entries(inputs.weights).map(([name, e]) => ({ name, shape: e.shape }));
  fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify({ ...job, weights }));
  fs.writeFileSync(path.join(dir, 'pixels.u8'), inputs.pixels);
  fs.writeFileSync(path.join(dir, 'labels.i32'), bytes(inputs.labels));
  if (inputs.teacher) fs.writeFileSync(path.join(dir, 'teacher.f32'), bytes(inputs.teacher));
  for (const [name, e] of Object.entries(inputs.weights)) fs.writeFileSync(path.join(dir, `${fileOf(name)}.f32`), bytes(e.data));
}

/** Runs a reference script on the folder (Debian's python3, which has torch). */
export function runTorchJob(script: string, dir: string, env: NodeJS.ProcessEnv = {}): void {
  execFileSync('/usr/bin/python3', [script, dir], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/**
 * How far a run's weights are from a reference run's, relative to how far the reference moved them:
 * max over weights of max|after − ref| / max|ref − before| (`before` the common start), and the
 * weight where it is largest (NaN when a weight's reference change is 0, so it cannot pass unseen).
 */
export function changeError(before: WeightRecord, after: WeightRecord, ref: (name: string) => ArrayLike<number>): { worst: number; name: string } {
  let worst = 0;
  let name = '';
  for (const [k, rel] of Object.entries(changeErrors(before, after, ref))) if (!(rel <= worst) && !Number.isNaN(worst)) [worst, name] = [rel, k];
  return { worst, name };
}

/** changeError of every weight, by name. */
export function changeErrors(before: WeightRecord, after: WeightRecord, ref: (name: string) => ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, e] of Object.entries(before)) {
    const r = ref(k);
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < r.length; i++) {
      scale = Math.max(scale, Math.abs(r[i] - e.data[i]));
      diff = Math.max(diff, Math.abs(after[k].data[i] - r[i]));
    }
    // NaN (a weight the reference did not move, or a non-finite one) is the worst and stays it.
    out[k] = diff / scale;
  }
  return out;
}

/** The float64 tensor `<weight>.<suffix>.f64` the script wrote for a weight. */
export function readTorchResult(dir: string, name: string, suffix: string): Float64Array {
  const buf = fs.readFileSync(path.join(dir, `${fileOf(name)}.${suffix}.f64`));
  return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
}

/** A script's `suffix` tensors (final, ema) of every weight of `like`, as a weight record (float32 values: exact for a float32 run). */
export function readTorchWeights(dir: string, like: WeightRecord, suffix: string): WeightRecord {
  return Object.fromEntries(Object.entries(like).map(([k, e]) => [k, { ...e, data: Float32Array.from(readTorchResult(dir, k, suffix)) }])) as WeightRecord;
}
