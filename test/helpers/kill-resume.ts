/**
 * kill -9 of the real CLI at fault points (src/util/fault.ts): the child SIGKILLs itself when it
 * reaches the point named in TFKD_FAULT — exactly what an external kill -9 does — so every kill
 * lands where it was meant to, on any machine, at any load: no clock is raced.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * `node bin/tfkd.js …args` from the repository root, stdout ignored; with TFKD_FAULT=`fault` when
 * given. The action is always the default kill: a TFKD_FAULT_ACTION in the test's own environment
 * (pause would block the child for ever) is not passed on.
 */
export function runCli(args: string[], fault: string | null = null): Promise<CliExit> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.TFKD_FAULT;
    delete env.TFKD_FAULT_ACTION;
    if (fault) env.TFKD_FAULT = fault;
    const child = spawn(process.execPath, ['bin/tfkd.js', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/**
 * The kill -9 check of a command that writes the folder it is given: a clean run into `clean`;
 * then into `killed` one run per fault point, each of which must die of SIGKILL at it; then the
 * same command without a fault, which must finish (exit 0). The caller compares the two folders.
 */
export async function killAndResume(argsFor: (out: string) => string[], clean: string, killed: string, points: string[]): Promise<void> {
  const first = await runCli(argsFor(clean));
  expect(first.code, first.stderr).to.equal(0);
  for (const p of points) {
    const r = await runCli(argsFor(killed), p);
    expect(r.signal, `${p}: ${r.stderr}`).to.equal('SIGKILL');
  }
  const final = await runCli(argsFor(killed));
  expect(final.code, final.stderr).to.equal(0);
}
