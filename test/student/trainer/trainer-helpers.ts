/** Fixtures for the trainer tests: tiny synthetic data sets and teacher caches written for them. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { manifestKeys } from '../../../src/cache/manifest.js';
import { TAIL_TEMPERATURES } from '../../../src/cache/topk.js';
import { CacheWriter } from '../../../src/cache/writer.js';
import { encodeRows } from '../../../src/cache/rows.js';
import { augment, parseAugmentSpec } from '../../../src/data/augment.js';
import { sampleBytes } from '../../../src/data/dataset.js';
import { fingerprint } from '../../../src/data/fingerprint.js';
import { openDataset } from '../../../src/data/open.js';
import { synthSetup } from '../../cache/helpers.js';

/** 256 training / 256 test images, 4 classes, 8×8×1: trains in well under a second on wasm. */
export const DATA = 'synthetic:256:4:8x8x1:5';
export const OTHER_DATA = 'synthetic:256:4:8x8x1:6';
export const DATA_K3 = 'synthetic:256:3:8x8x1:5';

export { rmDir, tmpDir } from '../../helpers/tmp-dir.js';

/** A train config as `tfkd train` flags (`gradAccumSteps: 2` → `--grad-accum-steps 2`), for tests that run the CLI. */
export function configFlags(c: Record<string, unknown>): string[] {
  return Object.entries(c).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (x) => `-${x.toLowerCase()}`)}`, String(v)]);
}

/**
 * A deterministic "teacher" whose logits are a function of the exact image bytes it saw, so a
 * test can tell which view a cached row belongs to: z_k = ((Σ_j (j+1)·b_j) · (k+3)) mod 101 / 10.
 */
export function imageLogits(pixels: Uint8Array, K: number): Float32Array {
  let s = 0;
  for (let j = 0; j < pixels.length; j++) s = (s + (j + 1) * pixels[j]) % 1000003;
  const z = new Float32Array(K);
  for (let k = 0; k < K; k++) z[k] = ((s * (k + 3)) % 101) / 10;
  return z;
}

export interface CacheFixture {
  views?: number;
  augment?: string;
  augmentSeed?: number;
  /** Write logits for this data SPEC (default DATA). */
  data?: string;
  /** Record another fingerprint / K than the data has (to test refusals). */
  fakeFingerprint?: string;
  fakeK?: number;
  /** Stored form (default f32, all logits). */
  dtype?: 'f16' | 'f32';
  topk?: number | null;
  /** Record another teacher (sha256 of 64 hex digits) and scale its logits (a "foreign" cache). */
  teacherSha?: string;
  logitScale?: number;
}

/** Writes a complete cache whose row (i, v) holds imageLogits(view v of training sample i). */
export async function writeImageCache(dir: string, o: CacheFixture = {}): Promise<void> {
  const ds = await openDataset(o.data ?? DATA, { split: 'train' });
  const V = o.views ?? 1;
  const K = o.fakeK ?? ds.numClasses;
  const fp = o.fakeFingerprint ?? (await fingerprint(ds));
  const { layout, base } = synthSetup({ N: ds.size, K, V, fingerprint: fp, shardRows: 100, dtype: o.dtype, topk: o.topk ?? null });
  if (o.teacherSha) base.teacher = { ...base.teacher, sha256: o.teacherSha };
  if (layout.topk !== null) base.tail = { temperatures: [...TAIL_TEMPERATURES] };
  const spec = parseAugmentSpec(o.augment ?? 'none');
  const seed = o.augmentSeed ?? 7;
  base.augment = V > 1 ? { spec: o.augment ?? 'flip', seed } : null;
  base.data = { ...base.data, spec: ds.spec };
  // The key covers the augmentation: recompute it from the edited fields (readers check it).
  const keys = manifestKeys(base);
  base.key = layout.key = keys.key;
  base.baseKey = keys.baseKey;
  const w = CacheWriter.open(dir, layout);
  const sb = sampleBytes(ds.shape);
  const all = await ds.readBatch(Int32Array.from({ length: ds.size }, (_, i) => i));
  const logits = new Float32Array(ds.size * V * K);
  for (let i = 0; i < ds.size; i++) {
    for (let v = 0; v < V; v++) {
      const img = augment(all.subarray(i * sb, (i + 1) * sb), ds.shape, spec, seed, i, v);
      const z = imageLogits(img, ds.numClasses);
      for (let k = 0; k < K; k++) logits[(i * V + v) * K + k] = z[k % ds.numClasses] * (o.logitScale ?? 1);
    }
  }
  w.append(encodeRows(logits, ds.size * V, K, layout.dtype, layout.topk, 0, V));
  w.finish(base);
}

/** Every file under `dir`, by relative path, with its bytes (base64): what a refused command must leave as it was. */
export function dirBytes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = fs.readFileSync(full).toString('base64');
    }
  };
  walk(dir);
  return out;
}
