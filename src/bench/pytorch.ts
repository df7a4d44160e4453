/**
 * The PyTorch references the benches time in the same run (scripts/torch_bench_*.py), run under
 * Debian's /usr/bin/python3 with its python3-torch and python3-torchvision: each script prints
 * its figures as JSON on stdout; a failure is one line naming the flag that asked for it.
 */
import { spawnSync, type SpawnSyncOptionsWithStringEncoding } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

/** Runs scripts/`script` with `args` and returns its stdout; UsageError (`flag`: … failed: the last stderr line) when it fails. */
export function runTorchScript(script: string, args: string[], flag: string, options: Omit<SpawnSyncOptionsWithStringEncoding, 'encoding'> = {}): string {
  const file = fileURLToPath(new URL(`../../scripts/${script}`, import.meta.url));
  const r = spawnSync('/usr/bin/python3', [file, ...args], { ...options, encoding: 'utf8' });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').pop();
    throw new UsageError(`${flag}: the PyTorch reference failed: ${why}`, "it needs Debian's python3-torch and python3-torchvision (/usr/bin/python3)");
  }
  return r.stdout;
}

/** The last line of a script's stdout, parsed (the scripts may log before their JSON line). */
const lastJsonLine = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').pop()!) as T;

/** `scripts/torch_bench_eval.py`: PyTorch eval img/s of a torchvision architecture. */
export function torchEvalBench(arch: string, batch: number, threads: number): { img_per_s: number; torch: string } {
  return lastJsonLine(runTorchScript('torch_bench_eval.py', ['--arch', arch, '--batch', String(batch), '--threads', String(threads), '--seconds', '10'], `--torch ${arch}`));
}

/** `scripts/torch_bench_loader.py`: one timed DataLoader + eval pass over the folder's first `rows` images, img/s. */
export function torchLoaderPass(root: string, arch: string, batch: number, threads: number, workers: number, rows: number): number {
  const args = ['--root', root, '--arch', arch, '--batch', String(batch), '--threads', String(threads), '--workers', String(workers), '--rows', String(rows)];
  return lastJsonLine<{ img_per_s: number[] }>(runTorchScript('torch_bench_loader.py', args, '--torch-loader')).img_per_s[0];
}
