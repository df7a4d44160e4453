/**
 * `npm run bench:train`: tfkd's student training step vs PyTorch's, side by side, in one run
 * (issue 6 acceptance). For each model it runs `tfkd bench train --json` and
 * `scripts/torch_bench_train.py --json` (Debian's torch under /usr/bin/python3) one after the
 * other, with the same batch, steps and warm-up, and prints img/s of both and the ratio.
 *
 *   npx tsx scripts/bench-train.ts [--models cnn,resnet8,resnet20] [--batch 128] [--steps 20]
 *                                  [--warmup 3] [--backend wasm] [--threads 2] [--json]
 *
 * Both sides report wall-clock img/s (median over steps), CPU ms per step (all threads) and peak
 * RSS. The machine must be quiet for the figures to mean anything: the load average at start and
 * end is printed.
 * A missing PyTorch is reported (and the exit code is 1), never silently skipped.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    models: { type: 'string', default: 'cnn,resnet8,resnet20' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '2' },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'boolean', default: false },
  },
});

interface Side {
  img_per_s: number;
  img_per_s_p10: number;
  img_per_s_p90: number;
  peak_rss_mib: number;
  [k: string]: unknown;
}

function runJson(cmd: string, args: string[]): { ok: true; r: Side } | { ok: false; why: string } {
  const p = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (p.error) return { ok: false, why: p.error.message };
  if (p.status !== 0) return { ok: false, why: (p.stderr || p.stdout).trim().split('\n').slice(-3).join(' | ') || `exit ${p.status}` };
  try {
    return { ok: true, r: JSON.parse(p.stdout) as Side };
  } catch {
    return { ok: false, why: `unparseable output: ${p.stdout.slice(0, 200)}` };
  }
}

const common = ['--batch', a.batch!, '--steps', a.steps!, '--warmup', a.warmup!];
const rows: Array<{ model: string; tfkd: Side | string; torch: Side | string; ratio: number | null }> = [];
const load0 = loadavg()[0];
let torchMissing = false;
for (const model of a.models!.split(',')) {
  const t = runJson(process.execPath, ['bin/tfkd.js', 'bench', 'train', '--model', model, '--backend', a.backend!, ...common, '--json']);
  const p = runJson(a.python!, ['scripts/torch_bench_train.py', '--model', model, '--threads', a.threads!, ...common, '--json']);
  if (!p.ok) torchMissing = true;
  rows.push({
    model,
    tfkd: t.ok ? t.r : `failed: ${t.why}`,
    torch: p.ok ? p.r : `failed: ${p.why}`,
    ratio: t.ok && p.ok ? t.r.img_per_s / p.r.img_per_s : null,
  });
  if (!a.json) {
    const f = (s: Side | string) =>
      typeof s === 'string'
        ? s
        : `${s.img_per_s.toFixed(1).padStart(7)} img/s (p10 ${s.img_per_s_p10.toFixed(0)}, p90 ${s.img_per_s_p90.toFixed(0)}), step ${Number(s.step_ms_median).toFixed(0)} ms wall / ${Number(s.cpu_ms_median).toFixed(0)} ms CPU, RSS ${s.peak_rss_mib.toFixed(0)} MiB`;
    const last = rows[rows.length - 1];
    process.stdout.write(`${model.padEnd(9)} tfkd ${a.backend}: ${f(last.tfkd)}\n${''.padEnd(9)} PyTorch ${a.threads} thr: ${f(last.torch)}\n${''.padEnd(9)} ratio tfkd/PyTorch: ${last.ratio === null ? 'n/a' : last.ratio.toFixed(3)}\n`);
  }
}
const load1 = loadavg()[0];
if (a.json) process.stdout.write(`${JSON.stringify({ batch: Number(a.batch), backend: a.backend, threads: Number(a.threads), loadavg: [load0, load1], rows }, null, 2)}\n`);
else process.stdout.write(`load average (1 min) at start ${load0.toFixed(2)}, at end ${load1.toFixed(2)} on this machine's CPUs\n`);
if (torchMissing) {
  process.stderr.write('bench-train: PyTorch could not run (see above); install python3-torch and libopenblas0-pthread for the reference figures\n');
  process.exitCode = 1;
}
