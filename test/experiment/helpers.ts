/** Shared helpers of the experiment tests: temp dirs (test/helpers/tmp-dir.ts), in-process CLI calls. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { handleError } from '../../src/cli/handle-error.js';

export { rmDir, tmpDir, withTmpDir } from '../helpers/tmp-dir.js';

/** Runs `tfkd ARGS` in this process; returns the exit code and what went to stdout / stderr. */
export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  let code = 0;
  try {
    await (await buildProgram()).parseAsync(['node', 'tfkd', ...args]);
  } catch (e) {
    code = handleError(e, (s) => (stderr += s));
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  return { code, stdout, stderr };
}

/**
 * A tiny Fashion-MNIST-format data set (IDX, uncompressed) of seeded random h×w images with
 * labels i mod 10; `test: 0` leaves the test files out.
 */
export function writeIdxDataset(dir: string, o: { train: number; test: number; h?: number; w?: number; seed?: number }): void {
  fs.mkdirSync(dir, { recursive: true });
  const h = o.h ?? 8;
  const w = o.w ?? 8;
  let x = (o.seed ?? 1) >>> 0 || 1;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) >>> 24);
  const be = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  for (const [prefix, n] of [['train', o.train], ['t10k', o.test]] as const) {
    if (!n) continue;
    const px = Buffer.alloc(n * h * w);
    for (let i = 0; i < px.length; i++) px[i] = rnd();
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), Buffer.concat([be(0x803), be(n), be(h), be(w), px]));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), Buffer.concat([be(0x801), be(n), Buffer.from(Array.from({ length: n }, (_, i) => i % 10))]));
  }
}
