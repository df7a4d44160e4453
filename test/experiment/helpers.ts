/** Shared helpers of the experiment tests: temp dirs, in-process CLI calls. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { handleError } from '../../src/cli/handle-error.js';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tfkd-exp-${tag}-`));
}

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
