import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../../src/errors.js';
import { readManifest, writeManifest } from '../../src/cache/manifest.js';
import { mergeCaches } from '../../src/cache/merge.js';
import { openCache } from '../../src/cache/reader.js';
import { verifyStructure } from '../../src/cache/verify.js';
import { snapshot, writeSynth } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

describe('cache/merge + verify (structure)', () => {
  let root: string;
  beforeEach(() => {
    root = tmpDir('mv');
  });
  afterEach(() => rmDir(root));
  const d = (n: string) => path.join(root, n);

  for (const variant of [
    { name: 'f32, 3 views', o: { N: 31, K: 5, V: 3, shardRows: 16, dtype: 'f32' as const } },
    { name: 'f16 top-2', o: { N: 40, K: 6, V: 1, shardRows: 7, dtype: 'f16' as const, topk: 2 } },
  ]) {
    it(`parts 0/3, 1/3, 2/3 + merge give the single run's shard files byte for byte (${variant.name})`, () => {
      const single = writeSynth(d('single'), variant.o).manifest!;
      const parts = [2, 0, 1].map((i) => {
        const m = writeSynth(d(`p${i}`), { ...variant.o, part: { index: i, count: 3 } }).manifest!;
        expect(m.part!.index).to.equal(i);
        expect(m.baseKey).to.equal(single.key);
        expect(m.key).to.not.equal(single.key);
        return d(`p${i}`);
      });
      const r = mergeCaches(parts, d('merged'));
      expect(r.state).to.equal('fresh');
      const a = snapshot(d('single'));
      const b = snapshot(d('merged'));
      expect([...b.keys()]).to.deep.equal([...a.keys()]);
      for (const [f, buf] of a) if (f !== 'manifest.json') expect(buf.equals(b.get(f)!), f).to.equal(true);
      const ms = readManifest(d('single'));
      const mm = readManifest(d('merged'));
      expect(mm.shards).to.deep.equal(ms.shards);
      expect(mm.key).to.equal(ms.key);
      // Equal but for mergedFrom (and so the checksum over all fields).
      const { mergedFrom, checksum: _cm, ...rest } = mm;
      const { checksum: _cs, ...single0 } = ms;
      expect(rest).to.deep.equal(single0);
      expect(mergedFrom!.map((p) => p.part.index)).to.deep.equal([0, 1, 2]);
      expect(verifyStructure(d('merged')).ok).to.equal(true);
      // merged cache reads like the single one
      const r1 = openCache(d('single'));
      const r2 = openCache(d('merged'));
      const s = [0, 10, 30];
      const v = [0, 0, 0];
      expect(Array.from(r2.readLogits(s, v))).to.deep.equal(Array.from(r1.readLogits(s, v)));
      r1.close();
      r2.close();
      // merging again is a no-op
      expect(mergeCaches(parts, d('merged')).state).to.equal('complete');
    });
  }

  it('BAD CALL - merge refuses missing, duplicate, whole or foreign parts (nothing written)', () => {
    const o = { N: 20, K: 3, shardRows: 8 };
    for (const i of [0, 1, 2]) writeSynth(d(`p${i}`), { ...o, part: { index: i, count: 3 } });
    writeSynth(d('whole'), o);
    writeSynth(d('foreign'), { ...o, K: 4, part: { index: 2, count: 3 } });
    expect(() => mergeCaches([d('p0'), d('p2')], d('m'))).to.throw(UsageError, /parts 1\/3 missing/);
    expect(() => mergeCaches([d('p0'), d('p1'), d('p1'), d('p2')], d('m'))).to.throw(UsageError, /given twice/);
    expect(() => mergeCaches([d('p0'), d('whole')], d('m'))).to.throw(UsageError, /whole cache/);
    expect(() => mergeCaches([d('p0'), d('p1'), d('foreign')], d('m'))).to.throw(UsageError, /another cache/);
    expect(fs.existsSync(d('m'))).to.equal(false);
  });

  // --force clears --out before the parts are read: with --out one of the parts, part 0 was lost
  // (and with --link the manifest listed the files it had just removed, exit 0).
  it('BAD CALL - merge refuses --out that is one of the parts, with or without --force / --link (the part untouched)', () => {
    const o = { N: 20, K: 3, shardRows: 8 };
    for (const i of [0, 1]) writeSynth(d(`p${i}`), { ...o, part: { index: i, count: 2 } });
    fs.symlinkSync(d('p1'), d('alias'));
    const before = snapshot(d('p0'));
    const before1 = snapshot(d('p1'));
    for (const opts of [{}, { force: true }, { link: true }, { link: true, force: true }]) {
      expect(() => mergeCaches([d('p0'), d('p1')], d('p0'), opts), JSON.stringify(opts)).to.throw(UsageError, /--out .*p0 is one of the parts being merged/);
      expect(() => mergeCaches([d('p0'), d('p1')], d('alias'), opts), JSON.stringify(opts)).to.throw(UsageError, /is one of the parts being merged \(.*p1\)/);
      expect(() => mergeCaches([d('p0'), d('p1')], `${d('p0')}/`, opts), JSON.stringify(opts)).to.throw(UsageError, /is one of the parts being merged/);
    }
    expect(snapshot(d('p0'))).to.deep.equal(before);
    expect(snapshot(d('p1'))).to.deep.equal(before1);
    expect(mergeCaches([d('p0'), d('p1')], d('m')).state).to.equal('fresh');
  });

  it('EXPECTED FAILURE - merge refuses a corrupt part', () => {
    const o = { N: 20, K: 3, shardRows: 8 };
    for (const i of [0, 1]) writeSynth(d(`p${i}`), { ...o, part: { index: i, count: 2 } });
    const f = path.join(d('p1'), 'shard-00000.safetensors');
    const b = fs.readFileSync(f);
    b[b.length - 30] ^= 1;
    fs.writeFileSync(f, b);
    expect(() => mergeCaches([d('p0'), d('p1')], d('m'))).to.throw(WorkError, /p1 failed verification: shard-00000\.safetensors \(rows 10–17\): sha256/);
    // A complete part is "already complete" to a plain re-run: rebuilding it takes --force.
    try {
      mergeCaches([d('p0'), d('p1')], d('m'));
    } catch (e) {
      expect((e as WorkError).hint).to.equal('run tfkd verify on it; re-run the precompute (--force) to rebuild it');
    }
  });

  describe('EXPECTED FAILURE - verify names the problem', () => {
    const o = { N: 30, K: 4, V: 2, shardRows: 16 };
    it('one flipped byte in a shard: its file and rows', () => {
      writeSynth(d('c'), o);
      expect(verifyStructure(d('c'))).to.include({ ok: true, shards: 4, rows: 60 });
      const f = path.join(d('c'), 'shard-00002.safetensors');
      const b = fs.readFileSync(f);
      b[b.length - 200] ^= 0x01;
      fs.writeFileSync(f, b);
      const r = verifyStructure(d('c'));
      expect(r.ok).to.equal(false);
      expect(r.problems).to.have.length(1);
      expect(r.problems[0]).to.match(/^shard-00002\.safetensors \(rows 32–47\): sha256 .* ≠ manifest/);
      expect(() => verifyStructure(d('c'), { throwOnFailure: true })).to.throw(WorkError, /shard-00002/);
    });
    it('a deleted shard: its file and the samples without rows', () => {
      writeSynth(d('c'), o);
      fs.rmSync(path.join(d('c'), 'shard-00001.safetensors'));
      const r = verifyStructure(d('c'));
      expect(r.ok).to.equal(false);
      expect(r.problems).to.deep.equal(['shard-00001.safetensors (rows 16–31): missing — samples 8–15 have no rows']);
    });
    it('a tfkd-cache/1 cache with a byte flipped in a sample index (checksum fixed up): the row holding the wrong (sample, view)', () => {
      // Only the first row format stores each row's sample and view (tfkd-cache/2 rows are placed by position).
      writeSynth(d('c'), { ...o, schema: 'tfkd-cache/1' });
      const m = readManifest(d('c'));
      const f = path.join(d('c'), 'shard-00001.safetensors');
      const b = fs.readFileSync(f);
      // sample tensor: I64 [16] after logits F32 [16,4]; row 3 of this shard = global row 19
      const n = Number(b.readBigUInt64LE(0));
      const off = 8 + n + 16 * 4 * 4 + 3 * 8;
      b[off] ^= 0x04;
      fs.writeFileSync(f, b);
      m.shards[1].sha256 = createHash('sha256').update(fs.readFileSync(f)).digest('hex');
      writeManifest(d('c'), m); // manifest checksum fixed up too: only the content check can see it
      const r = verifyStructure(d('c'));
      expect(r.problems).to.deep.equal(['shard-00001.safetensors (rows 16–31): row 19 holds (sample 13, view 1), expected (sample 9, view 1)']);
    });
    it('stray files are warnings, not failures', () => {
      writeSynth(d('c'), o);
      fs.writeFileSync(path.join(d('c'), '.tmp-shard-00009.safetensors-1'), 'x');
      const r = verifyStructure(d('c'));
      expect(r.ok).to.equal(true);
      expect(r.warnings[0]).to.match(/leftover/);
    });
  });
});
