/**
 * Issue 14, finding 1: every corrupted cache is refused by `tfkd verify` *and* by the consuming
 * command (`tfkd train`), with the file named — the slice of `npm run faults` that runs in
 * `npm test` (scripts/faults/corruptions.ts makes the corruptions, seeded).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { verifyStructure } from '../../src/cache/verify.js';
import { cacheCorruptions } from '../../scripts/faults/corruptions.js';
import { cli } from '../cli/train-helpers.js';
import { DATA, tmpDir, writeImageCache } from '../student/trainer/trainer-helpers.js';

const TRAIN = ['train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--epochs', '1', '--test-limit', '16', '--loss', 'kd', '--backend', 'wasm', '--progress', 'off'];

describe('reliability: corrupted caches are refused by verify and by train, naming the file', function () {
  this.timeout(600000);
  let root: string;
  before(() => {
    root = tmpDir('corrupt');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const variant of [
    { name: 'f32', o: {}, count: 0 },
    { name: 'f16 top-2', o: { dtype: 'f16' as const, topk: 2 }, count: 0 },
  ]) {
    it(`${variant.name} cache: every kind of corruption (manifest fields, shards, resealed contents, byte damage)`, async () => {
      const sound = path.join(root, `sound-${variant.name.replace(/\W/g, '')}`);
      const foreign = path.join(root, `foreign-${variant.name.replace(/\W/g, '')}`);
      await writeImageCache(sound, variant.o);
      await writeImageCache(foreign, { ...variant.o, teacherSha: 'b'.repeat(64), logitScale: 2 });
      expect(verifyStructure(sound).ok).to.equal(true);
      const ok = await cli(...TRAIN, '--cache', sound, '--out', path.join(root, `ok-${variant.name.replace(/\W/g, '')}`));
      expect(ok.code, ok.err).to.equal(0);
      const cases = cacheCorruptions(sound, 70, 14);
      const accepted: string[] = [];
      const unnamed: string[] = [];
      for (const [n, c] of cases.entries()) {
        const dir = path.join(root, `c${variant.name.replace(/\W/g, '')}-${n}`);
        fs.cpSync(sound, dir, { recursive: true });
        c.apply(dir, foreign);
        let verifyMsg: string;
        try {
          const r = verifyStructure(dir);
          verifyMsg = r.ok ? '' : r.problems.join('; ');
        } catch (e) {
          verifyMsg = (e as Error).message;
        }
        if (!verifyMsg) accepted.push(`verify: ${c.name}`);
        else if (!verifyMsg.includes(c.file)) unnamed.push(`verify: ${c.name}: ${verifyMsg}`);
        const r = await cli(...TRAIN, '--cache', dir, '--out', path.join(dir, 'run'));
        if (r.code === 0) accepted.push(`train: ${c.name}`);
        else if (!r.err.includes(c.file)) unnamed.push(`train: ${c.name}: ${r.err.trim()}`);
        else if (r.err.trim().split('\n').length > 2 || /\n\s+at |Cannot read properties|outside data|undefined/.test(r.err)) unnamed.push(`train (not one clear line): ${c.name}: ${r.err}`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      console.log(`      ${cases.length} corruptions: ${accepted.length} accepted, ${unnamed.length} refused without naming the file`);
      expect(accepted, accepted.join('\n')).to.deep.equal([]);
      expect(unnamed, unnamed.join('\n')).to.deep.equal([]);
    });
  }
});
