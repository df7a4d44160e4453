/**
 * Caches of the first row format, `tfkd-cache/1` (sample and view columns in every shard, I32 top-k
 * classes, a logsumexp column), keep reading identically: test/fixtures/cache-v1 holds caches written
 * by that version and what its reader returned for every row.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/reader.js';
import { verifyStructure } from '../../src/cache/verify.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/cache-v1/', import.meta.url));
const CACHES = ['f32', 'f16-top3', 'f16', 'f16.parts/part-0', 'f16.parts/part-1'];
type Expected = Record<string, Record<string, number[]>>;
const expected = (): Expected => JSON.parse(fs.readFileSync(path.join(FIXTURE, 'read-by-v1-reader.json'), 'utf8'));

describe('cache/format v1 (old caches still read)', () => {
  for (const name of CACHES) {
    it(`${name}: the reader returns what the tfkd-cache/1 reader returned, bit for bit; verify passes`, () => {
      const want = expected()[name];
      const r = openCache(path.join(FIXTURE, name));
      try {
        expect(r.manifest.schema).to.equal('tfkd-cache/1');
        const { samples, views } = want;
        expect(Array.from(r.readLogits(samples, views))).to.deep.equal(want.logits);
        for (const T of [1, 3]) expect(Array.from(r.softTargets(samples, views, T))).to.deep.equal(want[`soft_${T}`]);
        const block = r.readBlock(r.sampleStart * r.views, samples.length);
        for (const [k, v] of Object.entries(block)) if (k !== 'n') expect(Array.from(v as ArrayLike<number>), k).to.deep.equal(want[`block_${k}`]);
      } finally {
        r.close();
      }
      const rep = verifyStructure(path.join(FIXTURE, name));
      expect(rep.problems).to.deep.equal([]);
      expect(rep.ok).to.equal(true);
    });
  }
});
