/**
 * The Runner: the three kinds of work an experiment orders (train, export, precompute), behind
 * one small interface. The executor only decides *what* runs and *whether* it is already done;
 * a Runner does it. The default `CliRunner` spawns this package's own CLI (`tfkd train …`) as
 * child processes, so the experiment layer depends on the documented command-line contract
 * (docs/ARCHITECTURE.md §2), not on the trainer's internals, and every step's full output lands in a log
 * file. Tests inject a fake runner that writes the files a real one would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkError } from '../errors.js';
import { checkpointUnit, type LossOptions, type PrecomputeOptions, type TrainOptions } from './design-schema.js';

export interface TrainRequest {
  data: string;
  model: string;
  loss: string;
  lossOptions: LossOptions;
  train: TrainOptions;
  seed: number;
  /** Absolute cache directory, or null. */
  cache: string | null;
  /** Absolute directory of a teacher's test-split cache to measure fidelity against (--test-cache), or null. */
  testCache?: string | null;
  /** Checkpoint names to keep (`epoch-1`, `step-500`). */
  saveAt: string[];
  /** Absolute run directory (does not exist yet). */
  out: string;
  /** Where the step's output goes. */
  log: string;
}

export interface ExportRequest {
  run: string;
  /** Checkpoint name, or null for the final weights. */
  checkpoint: string | null;
  out: string;
  log: string;
}

export interface PrecomputeRequest {
  teacher: string;
  data: string;
  split: 'train' | 'test';
  options: PrecomputeOptions;
  out: string;
  log: string;
}

export interface Runner {
  train(req: TrainRequest): Promise<void>;
  exportRun(req: ExportRequest): Promise<void>;
  precompute(req: PrecomputeRequest): Promise<void>;
  /** Stops the work in flight (its promises then reject); called on SIGINT / SIGTERM. */
  cancel?(signal: NodeJS.Signals): void;
}

const kebab = (k: string): string => k.replace(/_/g, '-');

/** `--flag value`, or for a boolean the bare `--flag` (true) or nothing (false): commander's switches take no value. */
const flag = (a: string[], k: string, v: unknown): void => {
  if (typeof v === 'boolean') {
    if (v) a.push(`--${kebab(k)}`);
  } else a.push(`--${kebab(k)}`, Array.isArray(v) ? v.join(',') : String(v));
};

/** `tfkd train` arguments for a request (pure; tested). Values go as `--flag value`; `args` verbatim, last. */
export function trainArgs(req: Omit<TrainRequest, 'log'>): string[] {
  const a = ['train', '--data', req.data, '--model', req.model, '--loss', req.loss];
  for (const [k, v] of Object.entries(req.lossOptions)) if (v !== undefined) flag(a, k, v);
  if (req.cache) a.push('--cache', req.cache);
  if (req.testCache) a.push('--test-cache', req.testCache);
  for (const [k, v] of Object.entries(req.train)) {
    if (v === undefined || k === 'args') continue;
    flag(a, k, v);
  }
  a.push('--seed', String(req.seed));
  if (req.saveAt.length) {
    const nums = req.saveAt.map((c) => c.split('-')[1]).join(',');
    a.push('--save-at', checkpointUnit(req.saveAt[0]) === 'step' ? `steps:${nums}` : nums);
  }
  a.push('--out', req.out, ...(req.train.args ?? []));
  return a;
}

function exportArgs(req: Omit<ExportRequest, 'log'>): string[] {
  return ['export', req.run, '--out', req.out, ...(req.checkpoint ? ['--checkpoint', req.checkpoint] : [])];
}

export function precomputeArgs(req: Omit<PrecomputeRequest, 'log'>): string[] {
  const a = ['precompute', '--teacher', req.teacher, '--data', req.data, '--split', req.split, '--out', req.out];
  for (const [k, v] of Object.entries(req.options)) if (v !== undefined && k !== 'args') flag(a, k, v);
  return [...a, ...(req.options.args ?? [])];
}

/**
 * The environment of each step's process when `jobs` steps run at once: TFKD_THREADS = the cores
 * divided among the jobs (at least 1), unless the user set TFKD_THREADS. Each training step's
 * native kernels would otherwise take every core (jobs × cores threads on cores cores; measured:
 * `tfkd demo`, 2 jobs on 2 cores, 64 s with 2 threads per step vs 38 s with 1). The numbers do not
 * depend on it (the native kernels split work by shape, not by thread count), so --jobs changes
 * only the speed; each run's manifest records it (backend.nativeThreads).
 */
export function stepEnv(env: NodeJS.ProcessEnv, jobs: number, cores = availableParallelism()): NodeJS.ProcessEnv {
  if (env.TFKD_THREADS !== undefined && env.TFKD_THREADS !== '') return env;
  return { ...env, TFKD_THREADS: String(Math.max(1, Math.floor(cores / Math.max(1, jobs)))) };
}

const DEFAULT_BIN = fileURLToPath(new URL('../../bin/tfkd.js', import.meta.url));

/** Runs each step as `node bin/tfkd.js …`, stdout + stderr appended to the step's log file. */
export class CliRunner implements Runner {
  private readonly live = new Set<ChildProcess>();

  constructor(private readonly opts: { bin?: string; node?: string; env?: NodeJS.ProcessEnv } = {}) {}

  train(req: TrainRequest): Promise<void> {
    return this.spawn(trainArgs(req), req.log);
  }

  exportRun(req: ExportRequest): Promise<void> {
    return this.spawn(exportArgs(req), req.log);
  }

  precompute(req: PrecomputeRequest): Promise<void> {
    return this.spawn(precomputeArgs(req), req.log);
  }

  cancel(signal: NodeJS.Signals): void {
    for (const c of this.live) c.kill(signal);
  }

  private spawn(args: string[], log: string): Promise<void> {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    const fd = fs.openSync(log, 'a');
    fs.writeSync(fd, `$ tfkd ${args.map(shellQuote).join(' ')}\n`);
    const child = spawn(this.opts.node ?? process.execPath, [this.opts.bin ?? DEFAULT_BIN, ...args], {
      stdio: ['ignore', fd, fd],
      env: this.opts.env ?? process.env,
    });
    this.live.add(child);
    return new Promise((resolve, reject) => {
      child.on('error', (e) => {
        this.live.delete(child);
        fs.closeSync(fd);
        reject(new WorkError(`could not start tfkd ${args[0]}: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        this.live.delete(child);
        fs.closeSync(fd);
        if (code === 0) return resolve();
        const tail = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-3).join(' | ');
        reject(new WorkError(`tfkd ${args[0]} ${signal ? `killed by ${signal}` : `exited with ${code}`}: ${tail}`, `full output: ${log}`));
      });
    });
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:,=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
