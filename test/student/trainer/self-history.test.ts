/**
 * trainer/self-history.ts: the run's own predictions of the last epoch, as a tfkd cache in
 * RUN/history. A run resumed by this version on a history written in the first row format
 * (tfkd-cache/1, before rows became implicit) reads it instead of refusing its own cache.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheKey, SCHEMA, SCHEMA_V1, type KeyInput } from '../../../src/cache/manifest.js';
import { readManifest } from '../../../src/cache/manifest.js';
import { CacheWriter, type ManifestBase } from '../../../src/cache/writer.js';
import { encodeRows } from '../../../src/cache/rows.js';
import { SelfHistory, type SelfHistoryInit } from '../../../src/student/trainer/self-history.js';
import { withTmpDir } from '../../helpers/tmp-dir.js';

const N = 5;
const K = 3;
const init = (run: string): SelfHistoryInit => ({ run, config: { loss: 'ps-kd', seed: 1 }, N, K, fingerprint: 'f'.repeat(64), dataSpec: 'synthetic:5:3:2x2x1', dataKind: 'synthetic', shape: { height: 2, width: 2, channels: 1 } });
const logits = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i + 1) * 3);
const softmax = (row: Float32Array): number[] => {
  const m = Math.max(...row);
  const e = [...row].map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};
const samples = Int32Array.from({ length: N }, (_, i) => i);

function expectPrevious(h: SelfHistory): void {
  const p = h.previous(samples)!;
  let max = 0;
  for (let i = 0; i < N; i++) softmax(logits.subarray(i * K, (i + 1) * K)).forEach((v, k) => (max = Math.max(max, Math.abs(v - p[i * K + k]))));
  expect(max).to.be.below(1e-6);
}

describe('trainer/self-history', () => {
  it('epoch 2 reads the softmax of epoch 1\'s recorded logits from RUN/history/epoch-1 (today\'s format)', async () => {
    await withTmpDir('hist', async (run) => {
      const h = new SelfHistory(init(run));
      h.beginEpoch(1);
      expect(h.previous(samples)).to.equal(null);
      h.record(samples, logits);
      h.commitEpoch(1);
      expect(readManifest(path.join(run, 'history', 'epoch-1')).schema).to.equal(SCHEMA);
      const resumed = new SelfHistory(init(run));
      resumed.beginEpoch(2);
      expectPrevious(resumed);
    });
  });

  it('a history written in tfkd-cache/1 (a run begun by the previous version) is read on resume, not refused', async () => {
    await withTmpDir('hist1', async (run) => {
      // Today's epoch-1 cache gives the manifest fields; rewrite the same rows in the first format.
      const h = new SelfHistory(init(run));
      h.beginEpoch(1);
      h.record(samples, logits);
      h.commitEpoch(1);
      const dir = path.join(run, 'history', 'epoch-1');
      const m = readManifest(dir);
      const keyIn = (h as unknown as { keyed(e: number): { keyIn: KeyInput } }).keyed(1).keyIn;
      const key = cacheKey(keyIn, null, { schema: SCHEMA_V1 });
      fs.rmSync(dir, { recursive: true });
      const w = CacheWriter.open(dir, { key, K, dtype: 'f32', topk: null, views: 1, rowStart: 0, rows: N, shardRows: m.shardRows, schema: SCHEMA_V1 }, { force: true });
      w.append(encodeRows(logits, N, K, 'f32', null, 0, 1));
      const { shards: _s, schema: _v, key: _k, baseKey: _b, ...rest } = m as unknown as ManifestBase & { shards: unknown };
      w.finish({ ...(rest as ManifestBase), schema: SCHEMA_V1, key, baseKey: key } as ManifestBase);
      expect(readManifest(dir).schema).to.equal(SCHEMA_V1);
      const resumed = new SelfHistory(init(run));
      resumed.beginEpoch(2);
      expectPrevious(resumed);
    });
  });
});
