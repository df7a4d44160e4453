/**
 * The PIL tests' reference and how they compare with it: scripts/pil_reference.py run with
 * Debian's /usr/bin/python3 (Pillow 9.4) writes images and PIL's bytes for them; `byteDiff` counts
 * where tfkd's bytes differ from PIL's.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const PY = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, '../../../scripts/pil_reference.py');

/** `pil_reference.py CMD OUT ...ARGS`; returns OUT/index.json and the blob of PIL's bytes it names. */
export function pilReference(cmd: string, out: string, ...args: string[]): { index: Record<string, unknown>; blob: Buffer } {
  const r = spawnSync(PY, [SCRIPT, cmd, out, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`pil_reference.py ${cmd} failed: ${r.stderr || r.error}`);
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as Record<string, unknown>;
  return { index, blob: readFileSync(index.blob as string) };
}

/** How many bytes differ and the largest difference (arrays of different lengths: all of them, by 256). */
export function byteDiff(a: Uint8Array, b: Uint8Array): { count: number; max: number } {
  if (a.length !== b.length) return { count: Math.max(a.length, b.length), max: 256 };
  let count = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) {
      count++;
      if (d > max) max = d;
    }
  }
  return { count, max };
}
