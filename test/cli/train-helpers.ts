/** Runs the CLI in-process (fast: tfjs is loaded once) and captures stdout, stderr and the exit code. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** tfjs greets Node users once per process (console.warn); it is not ours. */
function stripGreeting(s: string): string {
  return s.replace(/\n?=+\nHi, looks like you are running TensorFlow\.js[^\n]*\n=+\n?/, '');
}

export async function cli(...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    await main(['node', 'tfkd', ...args]);
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { code, out: stripGreeting(out), err: stripGreeting(err) };
}

/** The real executable in a child process (exit code and streams exactly as a user sees them). */
export function tfkdProcess(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/tfkd.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? -1, out: stripGreeting(r.stdout), err: stripGreeting(r.stderr) };
}
