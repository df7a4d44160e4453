/**
 * The fault-injection suite (`npm run faults`; docs/RELIABILITY.md). Seeded and deterministic:
 * every kill lands at a named fault point (src/util/fault.ts), every corruption and crafted header
 * comes from a seeded generator. Each section returns its figures; `scripts/faults.ts` prints
 * them, and test/reliability/faults-slice.test.ts runs a small slice in `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyStructure } from '../../src/cache/verify.js';
import { Rng } from '../../src/data/rng.js';
import { badInputs, type Fixtures } from './bad-inputs.js';
import { checkpointCorruptions } from './checkpoints.js';
import { cacheCorruptions } from './corruptions.js';
import { runCraftedHeaders, type HeaderFigures } from './headers.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/tfkd.js');

export interface Run {
  code: number | null;
  signal: string | null;
  out: string;
  err: string;
}

/** The real CLI in a child process, with TFKD_FAULT=`fault` (SIGKILL at that point) when given. */
export function tfkd(args: string[], fault: string | null = null, extraEnv: Record<string, string> = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.TFKD_FAULT;
  delete env.TFKD_FAULT_ACTION;
  delete env.TFKD_FAULT_MARKER;
  if (fault) env.TFKD_FAULT = fault;
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 600000, maxBuffer: 64 << 20 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** One `tfkd: …` line (+ optional `hint: …`), no stack, no internal message. */
export function oneClearLine(err: string): boolean {
  const lines = err.trimEnd().split('\n');
  // commander's own errors (`error: …`) come with its `(run with --help for usage)` line.
  return /^(tfkd|error): /.test(lines[0] ?? '') && lines.length <= 2 && (lines.length < 2 || /^hint: |^\(run with --help for usage\)$/.test(lines[1])) && !/\bat .*:\d+|Cannot read properties|outside data|undefined/.test(err);
}

/** sha256 of every file under `dir` (relative names), for "identical" comparisons. */
export function treeHashes(dir: string, skip: (rel: string) => boolean = () => false, relocate = false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip(r)) continue;
      if (e.isDirectory()) walk(r);
      else {
        let b: Buffer | string = fs.readFileSync(path.join(dir, r));
        // Text files that name the directory itself (a run's config names its cache) compare
        // equal across two directories when `relocate` is set.
        // The git commit (and the manifest checksum over it) is normalised too: the working tree
        // may move on while a long run runs.
        if (relocate && /\.(json|jsonl|md|html|yaml)$/.test(r)) b = b.toString('utf8').split(dir).join('<DIR>').replace(/"git": "[0-9a-f]{40}"/g, '"git": "<GIT>"').replace(/"checksum": "[0-9a-f]{64}"/g, '"checksum": "<derived>"');
        out[r] = createHash('sha256').update(b).digest('hex');
      }
    }
  };
  walk('');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function diffTrees(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => a[k] !== b[k]).sort();
}

// ---- kills --------------------------------------------------------------------------------------

export interface KillFigures {
  what: string;
  kills: number;
  /** Kills that landed (the process died by SIGKILL at its point). */
  landed: number;
  /** The final state equals an uninterrupted run's (byte for byte, timings aside). */
  identical: boolean;
  /** Rows missing or present twice after the final resume (caches: verifyStructure). */
  lostOrDuplicatedRows: number;
  points: string[];
  differences: string[];
}

const CACHE_STAGES = ['cache-append', 'cache-shard-torn', 'cache-shard-tmp', 'cache-shard-renamed', 'cache-shard-journaled'];

/** kill -9 of precompute at `count` seeded points (one chain, then one clean finish). */
export function killPrecompute(work: string, teacher: string, count: number, seed: number): KillFigures {
  const SHARD_ROWS = 256;
  // Kill i is at shard 2(i + 1): 2 views × 128 samples a shard, and room for all of them.
  const data = `synthetic:${256 * count + 512}:3:4x4x1:2`;
  const args = (out: string) => ['precompute', '--teacher', teacher, '--data', data, '--out', out, '--device', 'cpu', '--threads', '1', '--dtype', 'f16', '--views', '2', '--augment', 'flip', '--augment-seed', '4', '--batch', '48', '--shard-rows', String(SHARD_ROWS), '--progress', 'off'];
  const clean = path.join(work, 'pc-clean');
  const out = path.join(work, 'pc-killed');
  const c = tfkd(args(clean));
  if (c.code !== 0) throw new Error(`clean precompute failed: ${c.err}`);
  const rng = new Rng(seed, 0x9c);
  const points: string[] = [];
  let shard = 0;
  for (let i = 0; i < count - 2; i++) {
    shard += 2;
    const stage = CACHE_STAGES[rng.below(CACHE_STAGES.length)];
    points.push(stage === 'cache-append' ? `${stage}:${shard * SHARD_ROWS + 1 + rng.below(SHARD_ROWS - 1)}` : `${stage}:${shard}`);
  }
  points.push('cache-manifest-tmp:0', 'cache-manifest-renamed:0');
  let landed = 0;
  for (const p of points) if (tfkd(args(out), p).signal === 'SIGKILL') landed++;
  const final = tfkd(args(out));
  const differences = final.code === 0 ? diffTrees(treeHashes(clean), treeHashes(out)) : [`final run exited ${final.code}: ${final.err}`];
  const rep = final.code === 0 ? verifyStructure(out) : null;
  return { what: 'precompute', kills: points.length, landed, identical: differences.length === 0, lostOrDuplicatedRows: rep && rep.ok ? 0 : 1, points, differences };
}

/** kill -9 of train at `count` seeded points (steps, epoch ends, checkpoint swaps, run creation). */
export function killTrain(work: string, count: number, seed: number): KillFigures {
  const args = (out: string, resume: boolean) =>
    resume
      ? ['train', '--out', out, '--resume', '--progress', 'off']
      : ['train', '--data', 'synthetic:512:4:8x8x1:5', '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '32', '--limit', '256', '--test-limit', '64', '--epochs', '6', '--loss', 'tfkd-reg', '--backend', 'wasm', '--progress', 'off', '--out', out];
  const clean = path.join(work, 'tr-clean');
  const out = path.join(work, 'tr-killed');
  const c = tfkd(args(clean, false));
  if (c.code !== 0) throw new Error(`clean train failed: ${c.err}`);
  const rng = new Rng(seed, 0x7a);
  const steps = 6 * 8;
  // Points in an order that always makes progress: a step point past the last one, or a point
  // reached early in every session (creation, epoch end, a checkpoint swap of this process).
  const early = ['train-manifest:0', 'train-config-tmp:0', 'train-created:0', 'checkpoint-filled:1', 'checkpoint-swap:1', 'checkpoint-swap:2', 'train-epoch:1'];
  const points: string[] = [];
  let step = 0;
  for (let i = 0; i < count; i++) {
    if (i < 3) points.push(early[i]);
    // Epoch-end and checkpoint points only while at most 2 of the 6 epochs can be done, so that no
    // kill finds the run already complete (each such point adds at most one durable epoch).
    else if (i % 3 === 0 && step < 16) points.push(early[3 + rng.below(early.length - 3)]);
    else {
      step = Math.min(steps - 1, step + 1 + rng.below(3));
      points.push(`train-step:${step}`);
    }
  }
  let landed = 0;
  for (const p of points) {
    const created = fs.existsSync(path.join(out, 'config.json'));
    if (tfkd(args(out, created), p).signal === 'SIGKILL') landed++;
  }
  const final = tfkd(args(out, fs.existsSync(path.join(out, 'config.json'))));
  const differences = final.code !== 0 ? [`final run exited ${final.code}: ${final.err}`] : runDifferences(clean, out);
  return { what: 'train', kills: points.length, landed, identical: differences.length === 0, lostOrDuplicatedRows: 0, points, differences };
}

/**
 * How two finished training runs differ: byte-identical but for what records time (metrics'
 * `seconds`, the manifest's timestamps); the checkpoints by the sha256 of their weights (the
 * manifest's `outputs`). [] when identical.
 */
export function runDifferences(clean: string, out: string): string[] {
  const strip = (d: string) => {
    const m = JSON.parse(fs.readFileSync(path.join(d, 'manifest.json'), 'utf8'));
    const metrics = fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => ({ ...JSON.parse(l), seconds: 0 }));
    return { outputs: m.outputs, caches: m.caches, metrics, summary: fs.readFileSync(path.join(d, 'summary.json'), 'utf8'), config: fs.readFileSync(path.join(d, 'config.json'), 'utf8') };
  };
  const a = strip(clean);
  const b = strip(out);
  const differences: string[] = (['outputs', 'caches', 'metrics', 'summary', 'config'] as const).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  const files = diffTrees(treeHashes(clean, (r) => !r.startsWith('checkpoints')), treeHashes(out, (r) => !r.startsWith('checkpoints')));
  differences.push(...files.map((f) => `file ${f}`));
  return differences;
}

/**
 * kill -9 of experiment at `count` points: the experiment itself before a step starts, after a step
 * finished but before its record, after its record (each at the first or second step of that
 * session, so that every session makes at most one step of progress and the chain never runs out
 * of work), and — a few times — every training step's own process inside a step.
 */
export function killExperiment(work: string, count: number, seed: number): KillFigures {
  const design = path.join(work, 'faults-design.yaml');
  fs.writeFileSync(
    design,
    [
      'data: synthetic:192:4:8x8x1:3',
      'model: mlp',
      'seeds: [1, 2, 3, 4]',
      "train: { epochs: 1, batch: 32, backend: wasm, args: ['--width-multiplier', '0.0625'] }",
      'teachers:',
      '  big: { model: mlp, seed: 7 }',
      'runs:',
      '  - { name: baseline, kind: baseline }',
      '  - { name: kd, kind: kd, teacher: big }',
      '  - { name: reg, kind: tfkd-reg }',
      '',
    ].join('\n'),
  );
  const args = (out: string) => ['experiment', design, '--out', out, '--jobs', '1'];
  const clean = path.join(work, 'ex-clean');
  const out = path.join(work, 'ex-killed');
  const c = tfkd(args(clean));
  if (c.code !== 0) throw new Error(`clean experiment failed: ${c.err}${c.out}`);
  const rng = new Rng(seed, 0xe8);
  const none = ['experiment-step-start:1'];
  const one = ['experiment-step-start:2', 'experiment-step-done:1', 'experiment-step-recorded:1'];
  const child = ['train-step:2', 'train-epoch:1', 'checkpoint-swap:1', 'train-config-tmp:0'];
  const points: string[] = [];
  for (let i = 0; i < count; i++) {
    // At most one step of progress every other session: 15 steps outlast 20 kills.
    if (i % 7 === 3) points.push(child[rng.below(child.length)]);
    else if (i % 2 === 0) points.push(none[0]);
    else points.push(one[rng.below(one.length)]);
  }
  let landed = 0;
  for (const p of points) {
    const r = tfkd(args(out), p);
    // A parent point kills the experiment; a step's point kills that step's process (the
    // experiment then reports the step failed and exits 1).
    if (r.signal === 'SIGKILL' || (r.code === 1 && /failed/.test(r.out + r.err))) landed++;
  }
  const final = tfkd(args(out));
  // Compared: every file but logs, timings and what records them (metrics' seconds, manifests'
  // timestamps, status.json, plots); metrics values are compared separately below.
  const skip = (r: string) => r.startsWith('logs/') || r === 'status.json' || r.startsWith('records/') || r.startsWith('report/') || /metrics\.jsonl$|\/manifest\.json$|\.svg$|\.png$/.test(r) && !r.startsWith('caches/');
  let differences: string[];
  if (final.code !== 0) differences = [`final run exited ${final.code}: ${final.err}`];
  else {
    differences = diffTrees(treeHashes(clean, skip, true), treeHashes(out, skip, true));
    // The table's rows (its prose may change with the code between the two runs).
    const table = (d: string) => fs.readFileSync(path.join(d, 'report', 'table.md'), 'utf8').split('\n').filter((l) => l.startsWith('|')).join('\n');
    if (table(clean) !== table(out)) differences.push('report/table.md');
    for (const f of Object.keys(treeHashes(clean)).filter((r) => r.endsWith('metrics.jsonl'))) {
      const vals = (d: string) => fs.readFileSync(path.join(d, f), 'utf8').trim().split('\n').map((l) => JSON.stringify({ ...JSON.parse(l), seconds: 0 }));
      if (JSON.stringify(vals(clean)) !== JSON.stringify(vals(out))) differences.push(f);
    }
  }
  return { what: 'experiment', kills: points.length, landed, identical: differences.length === 0, lostOrDuplicatedRows: 0, points, differences };
}

// ---- corruptions --------------------------------------------------------------------------------

export interface CorruptionFigures {
  cases: number;
  /** Consumer runs that accepted a corrupted input (exit 0): must be 0. */
  accepted: number;
  /** Refusals that did not name the file, or were not one clear line: must be 0. */
  unnamed: number;
  consumers: string[];
  examples: string[];
}

const TRAIN_KD = (data: string) => ['train', '--data', data, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--epochs', '1', '--test-limit', '16', '--loss', 'kd', '--backend', 'wasm', '--progress', 'off'];

/** Cache corruptions × (verify, train); `sound`/`foreign` from test/student/trainer/trainer-helpers writeImageCache. */
export function corruptCaches(work: string, sound: string, foreign: string, data: string, count: number, seed: number): CorruptionFigures {
  const fig: CorruptionFigures = { cases: 0, accepted: 0, unnamed: 0, consumers: ['verify', 'train'], examples: [] };
  for (const [n, c] of cacheCorruptions(sound, count, seed).entries()) {
    const dir = path.join(work, `cc-${path.basename(sound)}-${n}`);
    fs.cpSync(sound, dir, { recursive: true });
    c.apply(dir, foreign);
    fig.cases++;
    let v: string;
    try {
      const r = verifyStructure(dir);
      v = r.ok ? '' : r.problems.join('; ');
    } catch (e) {
      v = (e as Error).message;
    }
    if (!v) {
      fig.accepted++;
      fig.examples.push(`verify accepted: ${c.name}`);
    } else if (!v.includes(c.file)) {
      fig.unnamed++;
      fig.examples.push(`verify did not name ${c.file}: ${c.name}: ${v}`);
    }
    const t = tfkd([...TRAIN_KD(data), '--cache', dir, '--out', path.join(dir, 'run')]);
    if (t.code === 0) {
      fig.accepted++;
      fig.examples.push(`train accepted: ${c.name}`);
    } else if (!t.err.includes(c.file) || !oneClearLine(t.err)) {
      fig.unnamed++;
      fig.examples.push(`train: ${c.name}: ${t.err.trim()}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return fig;
}

/** Checkpoint corruptions × (eval, export, train --resume for last/) of a finished run. */
export function corruptCheckpoints(work: string, run: string, other: string, data: string, count: number, seed: number): CorruptionFigures {
  const fig: CorruptionFigures = { cases: 0, accepted: 0, unnamed: 0, consumers: ['eval', 'export', 'train --resume'], examples: [] };
  for (const [n, c] of checkpointCorruptions(count, seed).entries()) {
    const dir = path.join(work, `ck-${n}`);
    fs.cpSync(run, dir, { recursive: true });
    c.apply(dir, other);
    fig.cases++;
    const consumers: Array<[string, string[]]> = [
      ['eval', ['eval', dir, '--data', data, '--checkpoint', c.checkpoint, '--backend', 'wasm']],
      ['export', ['export', dir, '--checkpoint', c.checkpoint, '--out', path.join(dir, 'm.onnx')]],
    ];
    if (c.checkpoint === 'last') consumers.push(['train --resume', ['train', '--out', dir, '--resume', '--epochs', '3', '--progress', 'off']]);
    for (const [who, args] of consumers) {
      const r = tfkd(args);
      const named = r.err.includes(c.file) || r.err.includes(path.join(dir, c.file));
      if (r.code === 0) {
        fig.accepted++;
        fig.examples.push(`${who} accepted: ${c.name}`);
      } else if (!named || !oneClearLine(r.err)) {
        fig.unnamed++;
        fig.examples.push(`${who}: ${c.name}: ${r.err.trim()}`);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return fig;
}

// ---- concurrency, disk full, bad inputs ---------------------------------------------------------

export interface SimpleFigures {
  cases: number;
  ok: number;
  failures: string[];
}

/** A second writer started while the first is paused at a fault point must be refused (exit 2). */
export function concurrentWriters(work: string, teacher: string): SimpleFigures {
  const fig: SimpleFigures = { cases: 0, ok: 0, failures: [] };
  const pc = (out: string, ...more: string[]) => ['precompute', '--teacher', teacher, '--data', 'synthetic:3000:3:4x4x1:2', '--out', out, '--device', 'cpu', '--threads', '1', '--batch', '64', '--shard-rows', '256', '--progress', 'off', ...more];
  const tr = (out: string, ...more: string[]) => ['train', '--data', 'synthetic:256:4:8x8x1:5', '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '32', '--backend', 'wasm', '--loss', 'ce', '--epochs', '3', '--progress', 'off', '--out', out, ...more];
  const cases: Array<[string, string[], string, string[]]> = [
    ['precompute vs precompute --force', pc(path.join(work, 'cw-pc')), 'cache-shard-journaled:2', pc(path.join(work, 'cw-pc'), '--force')],
    ['precompute vs precompute (same command)', pc(path.join(work, 'cw-pc2')), 'cache-shard-journaled:2', pc(path.join(work, 'cw-pc2'))],
    ['precompute vs merge into the same --out', pc(path.join(work, 'cw-pc3')), 'cache-shard-journaled:2', ['merge', path.join(work, 'cw-p0'), path.join(work, 'cw-p1'), '--out', path.join(work, 'cw-pc3')]],
    ['train vs train --resume', tr(path.join(work, 'cw-tr')), 'train-epoch:1', ['train', '--out', path.join(work, 'cw-tr'), '--resume', '--progress', 'off']],
    ['train vs train (fresh, same --out)', tr(path.join(work, 'cw-tr2')), 'train-created:0', tr(path.join(work, 'cw-tr2'))],
  ];
  // Two sound parts for the merge case.
  for (const i of [0, 1]) {
    const r = tfkd(pc(path.join(work, `cw-p${i}`), '--shard', `${i}/2`));
    if (r.code !== 0) throw new Error(`part ${i}: ${r.err}`);
  }
  for (const [name, first, point, second] of cases) {
    fig.cases++;
    const marker = path.join(work, `${name.replace(/\W+/g, '-')}.marker`);
    const child = spawnPaused(first, point, marker);
    try {
      const r = tfkd(second);
      if (r.code === 2 && /being written by another tfkd process|already exists and is not empty/.test(r.err) && oneClearLine(r.err)) fig.ok++;
      else fig.failures.push(`${name}: exit ${r.code}: ${r.err.trim()}`);
    } finally {
      process.kill(child, 'SIGKILL');
    }
  }
  return fig;
}

/** Starts the CLI paused at `point` and returns its pid once it is there (its marker exists). */
function spawnPaused(args: string[], point: string, marker: string): number {
  // A detached child that pauses at its point; we wait for the marker it writes there.
  const env: NodeJS.ProcessEnv = { ...process.env, TFKD_FAULT: point, TFKD_FAULT_ACTION: 'pause', TFKD_FAULT_MARKER: marker };
  const r = spawnSync(process.execPath, ['-e', `
    const { spawn } = require('node:child_process');
    const c = spawn(process.execPath, ${JSON.stringify([BIN, ...args])}, { cwd: ${JSON.stringify(ROOT)}, stdio: 'ignore', detached: true });
    c.unref();
    process.stdout.write(String(c.pid));
  `], { encoding: 'utf8', env });
  const pid = Number(r.stdout);
  const t0 = Date.now();
  while (!fs.existsSync(marker)) {
    // Waiting for a condition, not a moment: bounded only so that a broken child cannot hang us.
    if (Date.now() - t0 > 120000) throw new Error(`${args.join(' ')}: never reached ${point}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return pid;
}

/**
 * Disk full on a small tmpfs: exit 1 naming the file, then the same command resumes identically
 * (precompute; train's run directory); eval --fit-temperature with TMPDIR there leaves no spill.
 */
export function diskFull(work: string, teacher: string): SimpleFigures & { skipped?: string } {
  const fig: SimpleFigures & { skipped?: string } = { cases: 0, ok: 0, failures: [] };
  const mnt = fs.mkdtempSync(path.join(work, 'tmpfs-'));
  const sh = (cmd: string, a: string[]) => spawnSync(cmd, a, { stdio: 'ignore' }).status === 0;
  if (!sh('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt])) return { ...fig, skipped: 'cannot mount a tmpfs here (not root?)' };
  try {
    const args = (out: string) => ['precompute', '--teacher', teacher, '--data', 'synthetic:20000:3:4x4x1:3', '--device', 'cpu', '--shard-rows', '2048', '--progress', 'off', '--out', out];
    const clean = path.join(work, 'df-clean');
    tfkd(args(clean));
    fig.cases++;
    const out = path.join(mnt, 'c');
    const r = tfkd(args(out));
    if (r.code === 1 && /no space left on the device \(ENOSPC\)/.test(r.err) && r.err.includes(mnt) && oneClearLine(r.err)) {
      sh('mount', ['-o', 'remount,size=4m', mnt]);
      const again = tfkd(args(out));
      if (again.code === 0 && diffTrees(treeHashes(clean), treeHashes(out)).length === 0) fig.ok++;
      else fig.failures.push(`precompute resume after ENOSPC: exit ${again.code}: ${again.err}`);
    } else fig.failures.push(`precompute into a full disk: exit ${r.code}: ${r.err}`);
    fs.rmSync(out, { recursive: true, force: true });
    sh('mount', ['-o', 'remount,size=12k', mnt]);
    fig.cases++;
    const t = tfkd(['train', '--data', 'synthetic:256:4:8x8x1:5', '--model', 'mlp', '--width-multiplier', '0.0625', '--epochs', '1', '--backend', 'wasm', '--loss', 'ce', '--progress', 'off', '--out', path.join(mnt, 'run')]);
    if (t.code === 1 && /no space left on the device \(ENOSPC\)/.test(t.err) && oneClearLine(t.err)) fig.ok++;
    else fig.failures.push(`train into a full disk: exit ${t.code}: ${t.err}`);
    // eval --fit-temperature keeps its logits in TMPDIR (20 000 × 3 floats: 240 kB, more than 12k).
    fig.cases++;
    const e = tfkd(['eval', teacher, '--data', 'synthetic:20000:3:4x4x1:3', '--device', 'cpu', '--fit-temperature'], null, { TMPDIR: mnt });
    const left = fs.readdirSync(mnt).filter((n) => n.startsWith('tfkd-eval-'));
    if (e.code === 1 && /no space left on the device \(ENOSPC\)/.test(e.err) && e.err.includes(mnt) && oneClearLine(e.err) && left.length === 0) fig.ok++;
    else fig.failures.push(`eval --fit-temperature with a full TMPDIR: exit ${e.code}${left.length ? `, left ${left.join(', ')}` : ''}: ${e.err}`);
  } finally {
    sh('umount', [mnt]);
  }
  return fig;
}

/** The bad-input matrix, each run as the real CLI. */
export function badInputMatrix(f: Fixtures): SimpleFigures {
  const fig: SimpleFigures = { cases: 0, ok: 0, failures: [] };
  const never = path.join(f.scratch, 'never');
  for (const [label, args] of badInputs(f)) {
    fig.cases++;
    const r = tfkd(args);
    const wrote = fs.existsSync(never);
    if (r.code === 2 && oneClearLine(r.err) && !wrote) fig.ok++;
    else fig.failures.push(`${label}: exit ${r.code}${wrote ? ', wrote files' : ''}: ${r.err.trim().slice(0, 300)}`);
    fs.rmSync(never, { recursive: true, force: true });
  }
  return fig;
}

export function craftedHeaders(work: string, count: number, seed: number): HeaderFigures {
  return runCraftedHeaders(path.join(work, 'headers'), count, seed);
}

