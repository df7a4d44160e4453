/**
 * The ImageNet-scale list (issue 26, finding 1): a `list:` file of `lines` lines (default 1.3 M,
 * ImageNet's training list has 1.28 M) over a few real photographs (test/fixtures/photos), once
 * with integer labels (K = 1000) and once with class names. Each is opened (`tfkd data info`: exit
 * 0, the count printed), one shard of it precomputed (`--shard 0/N`, ~500 samples) and one
 * training step taken, with the peak RSS of every command reported. Before the fix, integer labels
 * past ~120 000 lines ended in "Maximum call stack size exceeded".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTinyTeacher } from '../../test/teacher/fixtures.js';
import { measured } from './bounds.js';
import { ROOT } from './suite.js';

export interface ScaleStep {
  what: string;
  code: number | null;
  seconds: number;
  peakMiB: number | null;
}

export interface ScaleFigures {
  lines: number;
  steps: ScaleStep[];
  failures: string[];
}

/** The photos the lists cycle through (JPEGs of test/fixtures/photos, relative to `root`). */
function photos(): string[] {
  const root = path.join(ROOT, 'test/fixtures/photos');
  const out: string[] = [];
  for (const c of fs.readdirSync(root).sort()) {
    const d = path.join(root, c);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort()) if (/\.jpe?g$/i.test(f)) out.push(path.join(d, f));
  }
  return out;
}

/** Writes the list in pieces (a 1.3 M-line string is built once per piece, not as one array). */
function writeList(file: string, lines: number, label: (i: number, photo: string) => string, sep: string): void {
  const ps = photos();
  const fd = fs.openSync(file, 'w');
  try {
    for (let s = 0; s < lines; s += 100000) {
      let chunk = '';
      for (let i = s; i < Math.min(lines, s + 100000); i++) {
        const p = ps[i % ps.length];
        chunk += `${p}${sep}${label(i, p)}\n`;
      }
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function scaleList(work: string, lines = 1_300_000): ScaleFigures {
  const fig: ScaleFigures = { lines, steps: [], failures: [] };
  const lists: Array<[string, number, (i: number, p: string) => string, string]> = [
    ['integer labels', 1000, (i) => String(i % 1000), ' '],
    ['class names', 0, (_i, p) => path.basename(path.dirname(p)), '\t'],
  ];
  const shards = Math.ceil(lines / 500);
  for (const [name, K0, label, sep] of lists) {
    const file = path.join(work, `scale-${name.replace(/\W+/g, '-')}.txt`);
    writeList(file, lines, label, sep);
    const spec = `list:${file}`;
    const step = (what: string, args: string[], check: (out: string) => string | null): void => {
      const r = measured(work, args, { timeoutS: 600 });
      fig.steps.push({ what: `${name}: ${what}`, code: r.code, seconds: Math.round(r.seconds), peakMiB: r.peakKiB === null ? null : Math.round(r.peakKiB / 1024) });
      const why = r.code !== 0 ? `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.err.trim().slice(0, 300)}` : check(r.out);
      if (why) fig.failures.push(`${name}: ${what}: ${why}`);
    };
    let K = K0;
    // The text a user reads: `count  N` and `classes  K` lines.
    step('data info', ['data', 'info', spec], (out) => {
      const count = Number(/^count\s+(\d+)$/m.exec(out)?.[1]);
      K = Number(/^classes\s+(\d+)$/m.exec(out)?.[1]) || K;
      return count === lines ? null : `count ${count}, expected ${lines}`;
    });
    const teacher = writeTinyTeacher(work, { numClasses: K, channels: 3, height: 8, width: 8 }, `scale-${K}.onnx`);
    const cache = path.join(work, `scale-cache-${K}`);
    step(`precompute --shard 0/${shards}`, ['precompute', '--teacher', teacher, '--preprocess', '{"size": [8, 8]}', '--data', spec, '--shard', `0/${shards}`, '--out', cache, '--device', 'cpu', '--progress', 'off'], () => null);
    step('train one step', ['train', '--data', spec, '--model', 'mlp', '--width-multiplier', '0.0625', '--input-size', '8', '--loss', 'ce', '--batch', '16', '--limit', '16', '--test-limit', '16', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', path.join(work, `scale-run-${K}`)], () => null);
    fs.rmSync(file, { force: true });
  }
  return fig;
}
