/**
 * torchvision students exported by scripts/torchvision_student.py (64×64, K = 10, seeded), made
 * once per script version under the OS temp dir, not committed.
 */
import { spawnSync } from 'node:child_process';
import { needs } from '../../helpers/needs.js';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOrtSession, ortTensor } from '../../../src/teacher/ort.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STUDENT_SCRIPT = path.join(ROOT, 'scripts/torchvision_student.py');
export const PY = '/usr/bin/python3';
export const S = 64;
export const K = 10;

/** Skips the suite naming the packages when Debian's torch, torchvision or onnx is missing (fails under CI=true). */
export function requireTorch(ctx: Mocha.Context): void {
  needs(ctx, 'python3-torch', 'python3-torchvision', 'python3-onnx');
}

export function py(args: string[]): string {
  const r = spawnSync(PY, [STUDENT_SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONHASHSEED: '0', OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`torchvision_student.py ${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** The exported student `arch` with `classes` outputs at ONNX `opset` (its .pt state_dict next to it). */
export function studentOnnx(arch: string, classes = K, opset = 17): string {
  const key = crypto.createHash('sha256').update(fs.readFileSync(STUDENT_SCRIPT)).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `tfkd-tv-students-${key}`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${arch}${classes === K ? '' : `-k${classes}`}${opset === 17 ? '' : `-opset${opset}`}.onnx`);
  if (!fs.existsSync(file) || !fs.existsSync(file.replace(/\.onnx$/, '.pt'))) {
    const tmp = path.join(dir, `${path.basename(file, '.onnx')}.${process.pid}.tmp.onnx`);
    py(['export', '--arch', arch, '--out', tmp, '--size', String(S), '--classes', String(classes), '--opset', String(opset)]);
    fs.renameSync(tmp.replace(/\.onnx$/, '.pt'), file.replace(/\.onnx$/, '.pt'));
    fs.renameSync(tmp, file);
  }
  return file;
}

/** `data` of `shape` with its axes permuted by `perm` (ONNX OIHW weights → tfjs HWIO, and back). */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
  const outShape = perm.map((p) => shape[p]);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < perm.length; i++) src += idx[i] * strides[perm[i]];
    out[o] = data[src];
    for (let i = perm.length - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** onnxruntime's output of the ONNX model `bytes` on one float32 input. */
export async function ortLogits(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const sess = await createOrtSession(bytes, { intraOpNumThreads: 1 });
  const r = await sess.run({ [sess.inputNames[0]]: ortTensor('float32', x, dims) });
  await sess.release();
  return r[sess.outputNames[0]].data as Float32Array;
}
