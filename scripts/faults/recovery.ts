/**
 * `--resume` right after a kill -9 (issue 26, finding 4): the killed trainer is still a zombie — its
 * pid answers kill(pid, 0) until its parent reaps it — and its lock must count as stale.
 *
 * Deterministic, no clock raced: the trainer is started by `sh -c 'tfkd … & exec sleep'`, so its
 * parent is a `sleep` that never reaps it; it SIGKILLs itself at a seeded fault point
 * (src/util/fault.ts); we wait for the condition "the lock's pid is in state Z" and run
 * `train --resume` while the zombie exists. Then the `sleep` is killed (the zombie is reaped).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/data/rng.js';
import { LOCK_FILE } from '../../src/util/lock.js';
import { ROOT, runDifferences, tfkd } from './suite.js';

const BIN = path.join(ROOT, 'bin/tfkd.js');

export interface ResumeFigures {
  trials: number;
  /** Trials whose kill landed with the trainer left a zombie holding the lock. */
  zombies: number;
  /** `--resume` continued (exit 0) while the zombie existed. */
  continued: number;
  /** The finished run equals an uninterrupted one (runDifferences). */
  identical: number;
  points: string[];
  failures: string[];
}

/** State letter of /proc/PID/stat (R, S, Z …), or null when there is no such process. */
export function procState(pid: number): string | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Starts `tfkd args` under a parent that never reaps it, killing itself at `fault`. */
function startUnreaped(args: string[], fault: string): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, TFKD_FAULT: fault };
  delete env.TFKD_FAULT_ACTION;
  delete env.TFKD_FAULT_MARKER;
  // `exec sleep` replaces the shell: the backgrounded tfkd's parent is now a process that never waits.
  return spawn('sh', ['-c', '"$0" "$@" & exec sleep 100000', process.execPath, BIN, ...args], { cwd: ROOT, env, stdio: 'ignore' });
}

/** Waits for the condition: `lock` names a pid that is a zombie. Returns that pid. */
function waitForZombieHolder(lock: string, out: string): number {
  const t0 = Date.now();
  for (;;) {
    try {
      const pid = (JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number }).pid;
      if (procState(pid) === 'Z') return pid;
    } catch {
      // no lock yet, or being written
    }
    if (fs.existsSync(path.join(out, 'summary.json')) && !fs.existsSync(lock)) throw new Error(`${out}: the run finished without reaching its fault point`);
    // Bounded only so that a broken child cannot hang the suite.
    if (Date.now() - t0 > 180000) throw new Error(`${out}: no zombie lock holder after 180 s`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/**
 * `trials` times: a fresh train killed at a seeded point (a step, an epoch end, a checkpoint swap),
 * then `train --resume` at once, while the killed trainer is still a zombie; the finished run is
 * compared with an uninterrupted one. Both write last/ every 2 steps (--checkpoint-every), so a
 * kill after step 3, 7 or 11 resumes inside its epoch.
 */
export async function resumeAfterKill(work: string, trials: number, seed: number): Promise<ResumeFigures> {
  const data = ['--data', 'synthetic:512:4:8x8x1:5', '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '32', '--limit', '128', '--test-limit', '64', '--epochs', '3', '--loss', 'tfkd-reg', '--backend', 'wasm', '--progress', 'off', '--checkpoint-every', '2'];
  const fig: ResumeFigures = { trials, zombies: 0, continued: 0, identical: 0, points: [], failures: [] };
  const clean = path.join(work, 'rz-clean');
  const c = tfkd(['train', ...data, '--out', clean]);
  if (c.code !== 0) throw new Error(`clean train failed: ${c.err}`);
  const rng = new Rng(seed, 0x2f);
  const steps = 3 * 4;
  const others = ['train-epoch:1', 'checkpoint-swap:1', 'checkpoint-filled:2'];
  for (let i = 0; i < trials; i++) {
    const point = i % 3 === 2 ? others[rng.below(others.length)] : `train-step:${1 + rng.below(steps - 1)}`;
    fig.points.push(point);
    const out = path.join(work, `rz-${i}`);
    const lock = path.join(out, LOCK_FILE);
    const parent = startUnreaped(['train', ...data, '--out', out], point);
    const exited = new Promise((r) => parent.on('exit', r));
    try {
      const pid = waitForZombieHolder(lock, out);
      fig.zombies++;
      const r = tfkd(['train', '--out', out, '--resume', '--progress', 'off']);
      const stillZombie = procState(pid) === 'Z';
      if (r.code !== 0) fig.failures.push(`${point}: --resume exited ${r.code}: ${r.err.trim()}`);
      else if (!stillZombie) fig.failures.push(`${point}: the zombie was reaped before --resume ran (the trial proves nothing)`);
      else {
        fig.continued++;
        const d = runDifferences(clean, out);
        if (d.length === 0) fig.identical++;
        else fig.failures.push(`${point}: differs from an uninterrupted run: ${d.join(', ')}`);
      }
    } catch (e) {
      fig.failures.push(`${point}: ${(e as Error).message}`);
    } finally {
      parent.kill('SIGKILL');
      await exited;
      fs.rmSync(out, { recursive: true, force: true });
    }
  }
  return fig;
}
