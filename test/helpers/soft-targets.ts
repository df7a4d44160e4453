/**
 * Soft targets for tests, two ways:
 *  - `readerSoftTargets`: through the trainer's own path — each teacher's logits written as a cache
 *    (CacheWriter, f32, one view) and read back by `cacheSoftTargets` (student/trainer/targets.ts)
 *    over `CacheReader.softTargets` (one teacher: its softmax(z/τ); several: the mean);
 *  - `referenceTemperedProbs`: an independent float64 reference (numpy's formula), for checking it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openCache } from '../../src/cache/reader.js';
import { encodeRows } from '../../src/cache/rows.js';
import { CacheWriter } from '../../src/cache/writer.js';
import { cacheSoftTargets } from '../../src/student/trainer/targets.js';
import { synthSetup } from '../cache/helpers.js';

export function readerSoftTargets(teachers: ReadonlyArray<ArrayLike<number>>, K: number, temperature: number): Float32Array {
  const n = teachers[0].length / K;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-soft-'));
  try {
    const caches = teachers.map((logits, t) => {
      const dir = path.join(root, `t${t}`);
      const { layout, base } = synthSetup({ N: n, K, shardRows: Math.max(1, n) });
      const w = CacheWriter.open(dir, layout);
      w.append(encodeRows(Float32Array.from(logits), n, K, 'f32', null, 0, 1));
      w.finish(base);
      return openCache(dir);
    });
    try {
      const samples = Int32Array.from({ length: n }, (_, i) => i);
      return cacheSoftTargets(caches, samples, new Int32Array(n), temperature, new Float32Array(n * K), new Float32Array(n * K)).slice();
    } finally {
      for (const c of caches) c.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** softmax(z/τ) per row in float64, rounded to float32 once: the reference the reader is checked against. */
export function referenceTemperedProbs(logits: ArrayLike<number>, K: number, temperature: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / K; r++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logits[r * K + k] / temperature);
    const e = Array.from({ length: K }, (_, k) => Math.exp(logits[r * K + k] / temperature - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let k = 0; k < K; k++) out[r * K + k] = e[k] / z;
  }
  return out;
}
