/**
 * `tfkd merge --link` against the copying merge on a multi-GB cache of N parts (docs/PERFORMANCE.md,
 * "Merging parts"). The parts are written by the cache writer itself with synthetic rows (finite f16
 * bit patterns: no teacher needed), then merged both ways and verified. Timings are wall-clock on
 * this machine; the figure that matters is the ratio, and that --link does not grow with the size.
 *
 *   npx tsx scripts/bench-merge-link.ts [--rows 1000000] [--K 1000] [--parts 8] [--dir /tmp]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { cacheKey, partRange, SCHEMA, type KeyInput } from '../src/cache/manifest.js';
import { mergeCaches } from '../src/cache/merge.js';
import { verifyStructure } from '../src/cache/verify.js';
import { CacheWriter, type ManifestBase } from '../src/cache/writer.js';
import { type CacheLayout } from '../src/cache/rows.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, K: { type: 'string', default: '1000' }, parts: { type: 'string', default: '8' }, dir: { type: 'string', default: os.tmpdir() } } });
const N = Number(values.rows);
const K = Number(values.K);
const P = Number(values.parts);
const root = fs.mkdtempSync(path.join(values.dir!, 'tfkd-bench-link-'));
const ROOT = new URL('../', import.meta.url).pathname;
const shardRows = 8192;

const keyIn: KeyInput = {
  teacher: { sha256: 'b'.repeat(64), outputName: 'logits' },
  K,
  preprocess: { layout: 'NCHW', size: [224, 224], resize: 256, crop: [224, 224], cropRounding: 'round', interpolation: 'bilinear', channels: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  data: { fingerprint: 'bench-merge-link', split: 'train', N },
  views: 1,
  augment: null,
  dtype: 'f16',
  topk: null,
  shardRows,
};

function writePart(index: number): string {
  const part = { index, count: P, ...partRange(index, P, N) };
  const dir = path.join(root, 'c.parts', `part-${index}`);
  const layout: CacheLayout = { key: cacheKey(keyIn, part), K, dtype: 'f16', topk: null, views: 1, rowStart: part.sampleStart, rows: part.sampleEnd - part.sampleStart, shardRows };
  const base: ManifestBase = {
    schema: SCHEMA,
    key: layout.key,
    baseKey: cacheKey(keyIn, null),
    N,
    K,
    rows: layout.rows,
    dtype: 'f16',
    topk: null,
    views: 1,
    augment: null,
    teacher: { file: 'bench.onnx', sha256: keyIn.teacher.sha256, inputName: 'x', outputName: 'logits', inputDtype: 'float32', layout: 'NCHW', opset: 17 },
    preprocess: keyIn.preprocess,
    data: { kind: 'synthetic', spec: 'bench', split: 'train', fingerprint: keyIn.data.fingerprint, N },
    runtime: { onnxruntime: 'bench', provider: 'cpu', providerNotes: [], threads: 1 },
    part,
    shardRows,
    created_by: { tfkd: '0.0.0', git: null },
  };
  const w = CacheWriter.open(dir, layout);
  const block = new Uint16Array(4096 * K);
  for (let g = 0; g < layout.rows; g += 4096) {
    const n = Math.min(4096, layout.rows - g);
    // Finite f16 values (exponent < 31) that change with the row: 1.0 … 2.0 in steps.
    for (let i = 0; i < n * K; i++) block[i] = 0x3c00 + ((part.sampleStart + g + i) & 0x3ff);
    w.append({ n, logits: block.subarray(0, n * K) });
  }
  w.finish(base);
  return dir;
}

const t = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
};
const du = (dir: string): number => fs.readdirSync(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);

try {
  let parts: string[] = [];
  const tWrite = t(() => (parts = Array.from({ length: P }, (_, i) => writePart(i))));
  const bytes = parts.reduce((a, d) => a + du(d), 0);
  console.log(`${P} parts, ${N} rows × K=${K} f16: ${(bytes / 2 ** 30).toFixed(2)} GiB (${((bytes / N) | 0)} bytes a row incl. headers), written in ${tWrite.toFixed(1)} s`);
  // The CLI's own start-up (node, tsx, every command's modules): `tfkd merge --help`, timed the same way.
  const start = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), 'merge', '--help']);
  const cliT0 = performance.now();
  spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), 'merge', '--help']);
  const tStart = (performance.now() - cliT0) / 1000;
  if (start.status !== 0) throw new Error('tfkd merge --help failed');
  const cliT1 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), 'merge', ...parts, '--out', path.join(root, 'linked'), '--link'], { encoding: 'utf8' });
  const tLinkCli = (performance.now() - cliT1) / 1000;
  if (r.status !== 0) throw new Error(r.stderr);
  const tLink = t(() => mergeCaches(parts, path.join(root, 'linked2'), { link: true }));
  console.log(`tfkd merge --link (CLI): ${tLinkCli.toFixed(2)} s wall, against ${tStart.toFixed(2)} s for tfkd merge --help (start-up); in-process mergeCaches({ link }): ${tLink.toFixed(3)} s; writes ${du(path.join(root, 'linked'))} bytes`);
  let ok = false;
  const tVerify = t(() => (ok = verifyStructure(path.join(root, 'linked')).ok));
  console.log(`verify of the linked cache: ${tVerify.toFixed(1)} s (${ok ? 'OK' : 'FAILED'}, ${(bytes / 2 ** 20 / tVerify).toFixed(0)} MiB/s)`);
  const tCopy = t(() => mergeCaches(parts, path.join(root, 'copied')));
  console.log(`copying merge (verifies every part, then copies): ${tCopy.toFixed(1)} s — ${(tCopy / tLink).toFixed(0)}× the in-process link`);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
