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

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STUDENT_SCRIPT = path.join(ROOT, 'scripts/torchvision_student.py');
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

