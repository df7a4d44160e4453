/**
 * Bounded reads and clean failures (issue 26): shards that never end (a symlink to /dev/zero or
 * /dev/urandom, a FIFO) or are larger than their rows can take; image files that are devices or
 * larger than the encoded-size limit; an `--out` below a read-only location; an ONNX model whose
 * outputs are NaN; a directory holding another program's manifest.json. Each case is the real CLI in
 * a child process with a time limit (a hang is a failure, not a stuck suite), checked for its exit
 * code, its one line naming the file, and what it left behind.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCK_FILE } from '../../src/util/lock.js';
import { writeTinyTeacher } from '../../test/teacher/fixtures.js';
import { oneClearLine, ROOT, type SimpleFigures } from './suite.js';

const BIN = path.join(ROOT, 'bin/tfkd.js');

export interface Measured {
  code: number | null;
  signal: string | null;
  out: string;
  err: string;
  /** Peak resident memory of the tfkd process (KiB), when it exited normally. */
  peakKiB: number | null;
  seconds: number;
}

/**
 * The CLI with a time limit and its peak RSS: a preload writes process.resourceUsage().maxRSS to a
 * file at exit (no /usr/bin/time needed).
 */
export function measured(work: string, args: string[], o: { env?: Record<string, string>; timeoutS?: number } = {}): Measured {
  const preload = path.join(work, 'peak-rss.cjs');
  if (!fs.existsSync(preload)) fs.writeFileSync(preload, "process.on('exit', () => { if (process.env.TFKD_PEAK_FILE) require('fs').writeFileSync(process.env.TFKD_PEAK_FILE, String(process.resourceUsage().maxRSS)); });\n");
  const peak = path.join(work, `peak-${process.pid}.txt`);
  fs.rmSync(peak, { force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env, TFKD_PEAK_FILE: peak };
  delete env.TFKD_FAULT;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--require', preload, BIN, ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: (o.timeoutS ?? 120) * 1000, maxBuffer: 64 << 20 });
  const peakKiB = fs.existsSync(peak) ? Number(fs.readFileSync(peak, 'utf8')) : null;
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr, peakKiB, seconds: (Date.now() - t0) / 1000 };
}

const listing = (d: string): string => (fs.existsSync(d) ? JSON.stringify(fs.readdirSync(d).sort()) : '(none)');

/** Shards that never end or are too large: verify and train fail within the time limit naming it. */
export function endlessShards(work: string, teacher: string, only?: readonly string[]): SimpleFigures {
  const fig: SimpleFigures = { cases: 0, ok: 0, failures: [] };
  const data = 'synthetic:256:3:4x4x1';
  const sound = path.join(work, 'bs-sound');
  const pc = measured(work, ['precompute', '--teacher', teacher, '--data', data, '--out', sound, '--device', 'cpu', '--shard-rows', '64', '--progress', 'off']);
  if (pc.code !== 0) throw new Error(`fixture cache: ${pc.err}`);
  const fifo = path.join(work, 'bs-fifo');
  spawnSync('mkfifo', [fifo]);
  const sparse = path.join(work, 'bs-sparse');
  fs.closeSync(fs.openSync(sparse, 'w'));
  fs.truncateSync(sparse, 200 * 2 ** 20); // > 8 + 100 MiB header limit + the rows: never a shard
  const targets: Array<[string, string]> = [
    ['/dev/zero', '/dev/zero'],
    ['/dev/urandom', '/dev/urandom'],
    ['a FIFO', fifo],
    ['a 200 MiB sparse file', sparse],
  ];
  for (const [name, target] of targets.filter(([n]) => !only || only.includes(n))) {
    const cache = path.join(work, `bs-${name.replace(/\W+/g, '-')}`);
    fs.cpSync(sound, cache, { recursive: true });
    const shard = path.join(cache, 'shard-00001.safetensors');
    fs.rmSync(shard);
    fs.symlinkSync(target, shard);
    fig.cases++;
    const v = measured(work, ['verify', cache], { timeoutS: 60 });
    if (v.signal || v.code === 0 || !(v.out + v.err).includes('shard-00001')) fig.failures.push(`verify, shard → ${name}: ${v.signal ? `killed after ${v.seconds} s (hung)` : `exit ${v.code}`}: ${(v.out + v.err).trim().slice(0, 300)}`);
    else fig.ok++;
    fig.cases++;
    const run = path.join(work, `${path.basename(cache)}-run`);
    const args = ['train', '--data', data, '--loss', 'kd', '--cache', cache, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', run];
    const t = measured(work, args, { timeoutS: 60 });
    const problems: string[] = [];
    if (t.signal) problems.push(`killed after ${t.seconds} s (hung)`);
    else if (t.code === 0 || !t.err.includes('shard-00001') || !oneClearLine(t.err)) problems.push(`exit ${t.code}: ${t.err.trim().slice(0, 300)}`);
    if (fs.existsSync(path.join(run, LOCK_FILE))) problems.push('its --out is left locked');
    // The same command again: the same failure, not "already exists" (the failed start was undone).
    const again = measured(work, args, { timeoutS: 60 });
    if (/already exists/.test(again.err)) problems.push(`the same command again is refused: ${again.err.trim()}`);
    if (name === '/dev/zero') {
      // Once the shard is mended, the same command runs.
      fs.rmSync(shard);
      fs.copyFileSync(path.join(sound, 'shard-00001.safetensors'), shard);
      const mended = measured(work, args, { timeoutS: 120 });
      if (mended.code !== 0) problems.push(`after mending the shard, the same command exited ${mended.code}: ${mended.err.trim()}`);
    }
    if (problems.length) fig.failures.push(`train, shard → ${name}: ${problems.join('; ')}`);
    else fig.ok++;
  }
  return fig;
}

/** Image files that are devices or over the encoded-size limit: refused before they are read. */
export function oversizedImages(work: string): SimpleFigures & { peakMiB: number | null } {
  const fig: SimpleFigures & { peakMiB: number | null } = { cases: 0, ok: 0, failures: [], peakMiB: null };
  const dir = path.join(work, 'bi-images');
  fs.mkdirSync(dir, { recursive: true });
  const photo = path.join(ROOT, 'test/fixtures/photos/flower/01_jpeg.jpg');
  fs.copyFileSync(photo, path.join(dir, 'real.jpg'));
  const huge = path.join(dir, 'huge.jpg');
  fs.closeSync(fs.openSync(huge, 'w'));
  fs.truncateSync(huge, 1900 * 2 ** 20); // sparse: costs no disk, 1.9 GiB if read
  fs.symlinkSync('/dev/zero', path.join(dir, 'zero.jpg'));
  const teacher = writeTinyTeacher(work, { numClasses: 2, channels: 3, height: 8, width: 8 }, 'bi-rgb.onnx');
  const cases: Array<[string, string, Record<string, string>, RegExp]> = [
    ['a 1.9 GiB sparse .jpg', 'huge.jpg', {}, /huge\.jpg: \d+ bytes exceeds the encoded-image limit of \d+ bytes \(not read\)/],
    ['a .jpg linked to /dev/zero', 'zero.jpg', {}, /zero\.jpg: cannot read image file \(not a regular file: a character device/],
    ['a real photo over TFKD_MAX_IMAGE_BYTES=1K', 'real.jpg', { TFKD_MAX_IMAGE_BYTES: '1K' }, /real\.jpg: \d+ bytes exceeds the encoded-image limit of 1024 bytes/],
  ];
  for (const [name, file, env, want] of cases) {
    fig.cases++;
    const list = path.join(dir, `${file}.txt`);
    fs.writeFileSync(list, `real.jpg 0\n${file} 1\n`);
    const out = path.join(work, `bi-${file}-cache`);
    const r = measured(work, ['precompute', '--teacher', teacher, '--preprocess', '{"size": [8, 8]}', '--data', `list:${list}`, '--out', out, '--device', 'cpu', '--progress', 'off'], { env, timeoutS: 120 });
    if (file === 'huge.jpg' && r.peakKiB !== null) fig.peakMiB = Math.round(r.peakKiB / 1024);
    const problems: string[] = [];
    if (r.code !== 2 || !want.test(r.err) || !oneClearLine(r.err)) problems.push(`exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.err.trim().slice(0, 300)}`);
    // Not read: the process stays far below the file's size.
    if (file === 'huge.jpg' && (r.peakKiB === null || r.peakKiB > 1024 * 1024)) problems.push(`peak RSS ${r.peakKiB} KiB: the file was read`);
    if (problems.length) fig.failures.push(`${name}: ${problems.join('; ')}`);
    else fig.ok++;
  }
  return fig;
}

/**
 * A read-only location: a read-only bind mount (root), else an immutable directory (chattr +i,
 * root on ext4/xfs), else none (skipped). Returns the directory and how to undo it.
 */
export function readOnlyDir(work: string): { dir: string; how: string; undo: () => void } | null {
  const dir = path.join(work, 'ro');
  fs.mkdirSync(dir, { recursive: true });
  const sh = (cmd: string, a: string[]) => spawnSync(cmd, a, { stdio: 'ignore' }).status === 0;
  if (sh('mount', ['--bind', dir, dir])) {
    if (sh('mount', ['-o', 'remount,ro,bind', dir])) return { dir, how: 'read-only bind mount', undo: () => sh('umount', [dir]) };
    sh('umount', [dir]);
  }
  if (sh('chattr', ['+i', dir])) return { dir, how: 'chattr +i directory', undo: () => sh('chattr', ['-i', dir]) };
  return null;
}

/** `--out` below a read-only location: exit 2, one line, nothing written — for every writing command. */
export function readOnlyOut(work: string, teacher: string): SimpleFigures & { skipped?: string; how?: string } {
  const fig: SimpleFigures & { skipped?: string; how?: string } = { cases: 0, ok: 0, failures: [] };
  const ro = readOnlyDir(work);
  if (!ro) return { ...fig, skipped: 'no read-only location can be made here (needs root: mount or chattr)' };
  fig.how = ro.how;
  try {
    const parts = [0, 1].map((i) => path.join(work, `ro-part${i}`));
    for (const [i, p] of parts.entries()) {
      const r = measured(work, ['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--out', p, '--device', 'cpu', '--shard', `${i}/2`, '--progress', 'off']);
      if (r.code !== 0) throw new Error(`part ${i}: ${r.err}`);
    }
    const design = path.join(work, 'ro-design.yaml');
    fs.writeFileSync(design, 'data: synthetic:64:3:8x8x1\nmodel: mlp\nseeds: [1]\ntrain: { epochs: 1 }\nruns:\n  - { name: base, kind: baseline }\n');
    const below = (n: string) => path.join(ro.dir, n, 'deeper');
    const cases: Array<[string, string[]]> = [
      ['precompute', ['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--out', below('pc'), '--device', 'cpu', '--progress', 'off']],
      ['train', ['train', '--data', 'synthetic:64:3:8x8x1', '--model', 'mlp', '--loss', 'ce', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', below('tr')]],
      ['merge', ['merge', ...parts, '--out', below('mg')]],
      ['experiment', ['experiment', design, '--out', below('ex')]],
      ['precompute (--out is the read-only directory)', ['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--out', ro.dir, '--device', 'cpu', '--progress', 'off']],
    ];
    for (const [name, args] of cases) {
      fig.cases++;
      const before = listing(ro.dir);
      const r = measured(work, args, { timeoutS: 60 });
      if (r.code === 2 && oneClearLine(r.err) && /is not writable: (read-only file system \(EROFS\)|operation not permitted \(EPERM\)|permission denied \(EACCES\))/.test(r.err) && listing(ro.dir) === before) fig.ok++;
      else fig.failures.push(`${name}: exit ${r.code}: ${r.err.trim().slice(0, 300)}`);
    }
  } finally {
    ro.undo();
  }
  return fig;
}

/** Odd inputs that must be one short line: NaN model outputs (exit 1), a foreign manifest.json (exit 2). */
export function oddInputs(work: string): SimpleFigures {
  const fig: SimpleFigures = { cases: 0, ok: 0, failures: [] };
  const nan = writeTinyTeacher(work, { numClasses: 3, bias: [Number.NaN, 0, 0] }, 'odd-nan.onnx');
  fig.cases++;
  const e = measured(work, ['eval', nan, '--data', 'synthetic:64:3:4x4x1', '--device', 'cpu']);
  const m = /: (\d+) of (\d+) outputs were not finite/.exec(e.err);
  if (e.code === 1 && m && Number(m[1]) === 64 && Number(m[2]) === 192 && oneClearLine(e.err)) fig.ok++;
  else fig.failures.push(`eval of a NaN model: exit ${e.code}: ${e.err.trim().slice(0, 300)}`);
  const foreign = path.join(work, 'odd-foreign');
  fs.mkdirSync(foreign, { recursive: true });
  fs.writeFileSync(path.join(foreign, 'manifest.json'), JSON.stringify({ name: 'some-package', version: '1.0.0', description: 'x'.repeat(600), files: Array.from({ length: 50 }, (_, i) => `f${i}`) }));
  const cases: Array<[string, string[]]> = [
    ['verify', ['verify', foreign]],
    ['train --cache', ['train', '--data', 'synthetic:64:3:4x4x1', '--loss', 'kd', '--cache', foreign, '--model', 'mlp', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', path.join(work, 'odd-never')]],
    ['merge', ['merge', foreign, foreign, '--out', path.join(work, 'odd-never2')]],
  ];
  for (const [name, args] of cases) {
    fig.cases++;
    const r = measured(work, args);
    const first = r.err.split('\n')[0];
    if (r.code === 2 && oneClearLine(r.err) && first.length < 200 && /not a tfkd cache/.test(first)) fig.ok++;
    else fig.failures.push(`${name} of a foreign manifest.json: exit ${r.code}, ${first.length} characters: ${first.slice(0, 200)}`);
  }
  return fig;
}
