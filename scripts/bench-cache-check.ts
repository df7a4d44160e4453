/**
 * What the reader's integrity pass costs (docs/PERFORMANCE.md, "Cache integrity checks"): writes a
 * large synthetic cache (ROWS × K, f16 by default), then times, over all its shards,
 *   - sha256 alone (src/util/hash.ts, 1 MiB reads),
 *   - scanShard (sha256 + header/tensor layout + finite values + (sample, view) order), the pass
 *     the reader makes once per shard and process before first use,
 *   - reading every row once in a random order (what one training epoch reads), with the pass
 *     done before it (a fresh process's first epoch), against the same reads with it already done.
 *
 *   npx tsx scripts/bench-cache-check.ts [ROWS=200000] [K=1000] [f16|f32] [DIR]
 *
 * The page cache is warm (the cache was just written): these are CPU costs, not disk reads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKey, manifestKeys, SCHEMA, type KeyInput } from '../src/cache/manifest.js';
import { forgetScannedShards, openCache } from '../src/cache/reader.js';
import { scanShard } from '../src/cache/shard-check.js';
import { CacheWriter, type ManifestBase } from '../src/cache/writer.js';
import { encodeRows, type CacheLayout } from '../src/cache/rows.js';
import { permutation } from '../src/data/rng.js';
import { sha256File } from '../src/util/hash.js';

const ROWS = Number(process.argv[2] ?? 200000);
const K = Number(process.argv[3] ?? 1000);
const dtype = (process.argv[4] ?? 'f16') as 'f16' | 'f32';
const dir = process.argv[5] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-bench-check-'));
const shardRows = 8192;

const keyIn: KeyInput = {
  teacher: { sha256: 'a'.repeat(64), outputName: 'logits' },
  K,
  preprocess: { layout: 'NCHW', size: [224, 224], resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  data: { fingerprint: 'bench', split: 'train', N: ROWS },
  views: 1,
  augment: null,
  dtype,
  topk: null,
  shardRows,
};
const key = cacheKey(keyIn, null);
const layout: CacheLayout = { key, K, dtype, topk: null, views: 1, rowStart: 0, rows: ROWS, shardRows };
const base: ManifestBase = {
  schema: SCHEMA, key, baseKey: key, N: ROWS, K, rows: ROWS, dtype, topk: null, views: 1, augment: null,
  teacher: { file: 'bench.onnx', sha256: keyIn.teacher.sha256, inputName: 'x', outputName: 'logits', inputDtype: 'float32', layout: 'NCHW', opset: 17 },
  preprocess: keyIn.preprocess, data: { kind: 'synthetic', spec: 'bench', split: 'train', fingerprint: 'bench', N: ROWS },
  runtime: { onnxruntime: 'bench', provider: 'cpu', providerNotes: [], threads: 1 }, part: null, shardRows, created_by: { tfkd: 'bench', git: null },
};
if (manifestKeys(base).key !== key) throw new Error('bench: key derivation mismatch');

const t0 = performance.now();
if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
  const w = CacheWriter.open(dir, layout);
  const chunk = 4096;
  const z = new Float32Array(chunk * K);
  for (let g = 0; g < ROWS; g += chunk) {
    const n = Math.min(chunk, ROWS - g);
    for (let i = 0; i < n * K; i++) z[i] = Math.sin((g * K + i) * 0.001) * 8;
    w.append(encodeRows(z, n, K, dtype, null, g, 1));
  }
  w.finish(base);
}
const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const bytes = m.shards.reduce((a: number, s: { file: string }) => a + fs.statSync(path.join(dir, s.file)).size, 0);
console.log(`cache ${dir}: ${ROWS} rows × K=${K} ${dtype}, ${m.shards.length} shards, ${(bytes / 2 ** 20).toFixed(0)} MiB (written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

const time = (f: () => void): number => {
  const t = performance.now();
  f();
  return (performance.now() - t) / 1000;
};
const mibs = (s: number) => `${(bytes / 2 ** 20 / s).toFixed(0)} MiB/s`;
for (let rep = 0; rep < 2; rep++) {
  const tSha = time(() => m.shards.forEach((s: { file: string }) => sha256File(path.join(dir, s.file))));
  const tScan = time(() => m.shards.forEach((s: { file: string; rowStart: number; rows: number }, i: number) => scanShard(path.join(dir, s.file), m, i, s.rowStart, s.rows)));
  console.log(`sha256 alone ${tSha.toFixed(2)} s (${mibs(tSha)}) · scanShard ${tScan.toFixed(2)} s (${mibs(tScan)})`);
}

// One epoch of reads in random order, batches of 256, with and without the first-use pass.
const epoch = (): number => {
  const r = openCache(dir);
  const order = permutation(ROWS, 7);
  const out = new Float32Array(256 * K);
  const views = new Int32Array(256);
  const t = performance.now();
  for (let b = 0; b < ROWS; b += 256) {
    const s = order.subarray(b, Math.min(ROWS, b + 256));
    r.softTargets(s, views.subarray(0, s.length), 4, out);
  }
  r.close();
  return (performance.now() - t) / 1000;
};
forgetScannedShards();
const cold = epoch();
const warm = epoch();
console.log(`one epoch of soft targets (τ = 4, batches of 256, random order): ${cold.toFixed(2)} s with the integrity pass, ${warm.toFixed(2)} s without (pass already done): +${(((cold - warm) / warm) * 100).toFixed(1)} %`);
if (process.argv[5] === undefined) fs.rmSync(dir, { recursive: true, force: true });
