import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../../src/errors.js';
import { readManifest, writeManifest } from '../../src/cache/manifest.js';
import { mergeCaches } from '../../src/cache/merge.js';
import { forgetScannedShards, openCache } from '../../src/cache/reader.js';
import { verifyStructure } from '../../src/cache/verify.js';
import { writeSynth } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { cli } from '../cli/train-helpers.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';

describe('cache/merge --link (the parts\' shard files in place)', () => {
  let root: string;
  beforeEach(() => {
    root = tmpDir('ml');
    forgetScannedShards();
  });
  afterEach(() => rmDir(root));
  const d = (...n: string[]) => path.join(root, ...n);

  /** Every row of a cache through readBlock (the stored form) and readLogits (what the trainer reads). */
  function allRows(dir: string): { block: number[]; logits: number[] } {
    const r = openCache(dir);
    try {
      const n = r.N * r.views;
      const b = r.readBlock(0, n);
      const block = Array.from((b.logits ?? b.topkValues)!);
      const samples = Array.from({ length: n }, (_, g) => Math.floor(g / r.views));
      const views = Array.from({ length: n }, (_, g) => g % r.views);
      return { block, logits: Array.from(r.readLogits(samples, views)) };
    } finally {
      r.close();
    }
  }

  for (const variant of [
    { name: 'f32, 3 views', o: { N: 31, K: 5, V: 3, shardRows: 16, dtype: 'f32' as const } },
    { name: 'f16 top-2', o: { N: 40, K: 6, V: 1, shardRows: 7, dtype: 'f16' as const, topk: 2 } },
  ]) {
    it(`links 3 parts without copying; reads, verifies and survives a move like the copied merge (${variant.name})`, () => {
      writeSynth(d('single'), variant.o);
      const parts = [0, 1, 2].map((i) => {
        writeSynth(d('c.parts', `part-${i}`), { ...variant.o, part: { index: i, count: 3 } });
        return d('c.parts', `part-${i}`);
      });
      const r = mergeCaches(parts, d('c'), { link: true });
      expect(r.state).to.equal('fresh');
      // Only the manifest is written; it names the parts' files relative to the merged cache, with
      // the parts' own checksums.
      expect(fs.readdirSync(d('c')).filter((f) => !f.startsWith('.'))).to.deep.equal(['manifest.json']);
      const m = readManifest(d('c'));
      const partShards = parts.flatMap((p, i) => readManifest(p).shards.map((s) => ({ ...s, file: `../c.parts/part-${i}/${s.file}`, fromPart: i })));
      expect(m.shards).to.deep.equal(partShards);
      expect(m.key).to.equal(readManifest(d('single')).key);
      expect(m.part).to.equal(null);
      expect(verifyStructure(d('c')).problems).to.deep.equal([]);
      const want = allRows(d('single'));
      expect(allRows(d('c'))).to.deep.equal(want);
      // The key a trainer asks for (the single run's) is the linked cache's.
      openCache(d('c'), { key: readManifest(d('single')).key }).close();
      // Merging again (linked or copied) finds it complete / says what it is.
      expect(mergeCaches(parts, d('c'), { link: true }).state).to.equal('complete');
      expect(() => mergeCaches(parts, d('c'))).to.throw(UsageError, /linked merge/);
      // Moving the whole tree keeps it valid (relative paths).
      fs.renameSync(root, `${root}-moved`);
      try {
        forgetScannedShards();
        expect(verifyStructure(path.join(`${root}-moved`, 'c')).problems).to.deep.equal([]);
        expect(allRows(path.join(`${root}-moved`, 'c'))).to.deep.equal(want);
      } finally {
        fs.renameSync(`${root}-moved`, root);
      }
      // --force replaces it with a copy whose shard files are the single run's.
      expect(mergeCaches(parts, d('c'), { force: true }).state).to.equal('fresh');
      expect(readManifest(d('c')).shards).to.deep.equal(readManifest(d('single')).shards);
    });
  }

  it('--skip-bad: the merged manifest (copied or linked) lists every part\'s skipped samples, in order', () => {
    const o = { N: 12, K: 3, shardRows: 4 };
    const parts = [0, 1, 2].map((i) => {
      const dir = d('c.parts', `part-${i}`);
      const m = writeSynth(dir, { ...o, part: { index: i, count: 3 } }).manifest!;
      // As precompute --skip-bad records them (the rows hold zero logits; the list is what is tested).
      if (i !== 1) writeManifest(dir, { ...m, skipped: [{ sample: m.part!.sampleStart + 1, file: `img${i}.jpg`, reason: 'bad' }] });
      return dir;
    });
    const want = [{ sample: 1, file: 'img0.jpg', reason: 'bad' }, { sample: 9, file: 'img2.jpg', reason: 'bad' }];
    expect(mergeCaches(parts, d('copied')).manifest.skipped).to.deep.equal(want);
    expect(mergeCaches(parts, d('linked'), { link: true }).manifest.skipped).to.deep.equal(want);
    expect(readManifest(d('linked')).skipped).to.deep.equal(want);
  });

  it('EXPECTED FAILURE - a part\'s shard changed after the link is caught by verify and the reader', () => {
    const o = { N: 24, K: 4, shardRows: 5 };
    const parts = [0, 1].map((i) => {
      writeSynth(d('c.parts', `part-${i}`), { ...o, part: { index: i, count: 2 } });
      return d('c.parts', `part-${i}`);
    });
    mergeCaches(parts, d('c'), { link: true });
    const f = d('c.parts', 'part-1', 'shard-00001.safetensors');
    const b = fs.readFileSync(f);
    b[b.length - 20] ^= 1;
    fs.writeFileSync(f, b);
    const rep = verifyStructure(d('c'));
    expect(rep.ok).to.equal(false);
    expect(rep.problems.join('\n')).to.match(/\.\.\/c\.parts\/part-1\/shard-00001\.safetensors \(rows 17–21\): sha256 .* ≠ manifest/);
    const r = openCache(d('c'));
    try {
      expect(() => r.readLogits([0], [0])).to.not.throw();
      expect(() => r.readLogits([18], [0])).to.throw(WorkError, /part-1\/shard-00001\.safetensors .*sha256/);
    } finally {
      r.close();
    }
    // A part removed: named as missing.
    fs.rmSync(d('c.parts', 'part-0'), { recursive: true });
    expect(verifyStructure(d('c')).problems.join('\n')).to.match(/part-0\/shard-00000\.safetensors .*missing/);
  });

  it('EXPECTED FAILURE - a linked manifest whose paths or parts were edited is refused', () => {
    const o = { N: 12, K: 3, shardRows: 4 };
    const parts = [0, 1].map((i) => {
      writeSynth(d('c.parts', `part-${i}`), { ...o, part: { index: i, count: 2 } });
      return d('c.parts', `part-${i}`);
    });
    mergeCaches(parts, d('c'), { link: true });
    const m = readManifest(d('c'));
    const edits: Array<[string, (x: typeof m) => typeof m, RegExp]> = [
      ['an absolute path', (x) => ({ ...x, shards: x.shards.map((s, i) => (i === 0 ? { ...s, file: path.resolve(d('c'), s.file) } : s)) }), /must be relative/],
      ['a shard of the wrong part', (x) => ({ ...x, shards: x.shards.map((s, i) => (i === 0 ? { ...s, fromPart: 1 } : s)) }), /from part 1, expected 0/],
      ['parts out of order', (x) => ({ ...x, mergedFrom: [...x.mergedFrom!].reverse() }), /mergedFrom\[0\] is part 1\/2/],
    ];
    for (const [what, edit, re] of edits) {
      // Rewritten with a fresh checksum: the layout checks themselves must catch it.
      writeManifest(d('c'), edit(m));
      expect(() => openCache(d('c')), what).to.throw(WorkError, re);
      expect(verifyStructure(d('c')).problems.join('\n'), what).to.match(re);
    }
  });

  it('CLI: precompute --shard parts, merge --link; verify (with recompute) and train take it; a part\'s shard changed afterwards fails both (exit 1, naming the file)', async function () {
    this.timeout(120_000);
    const data = 'synthetic:96:4:8x8x1:5';
    const t = writeTinyTeacher(root, { numClasses: 4, height: 8, width: 8 });
    const common = ['--teacher', t, '--data', data, '--device', 'cpu', '--threads', '1', '--shard-rows', '20', '--progress', 'off'];
    for (const i of [0, 1, 2]) expect((await cli('precompute', ...common, '--shard', `${i}/3`, '--out', d('c.parts', `part-${i}`))).code).to.equal(0);
    const merged = await cli('merge', d('c.parts', 'part-0'), d('c.parts', 'part-1'), d('c.parts', 'part-2'), '--out', d('c'), '--link');
    expect(merged.code, merged.err).to.equal(0);
    expect(merged.out).to.match(/linked 3 parts; 96 rows in 6 shard\(s\)/);
    const ok = await cli('verify', d('c'), '--teacher', t, '--data', data, '--sample', '96');
    expect(ok.code, ok.out + ok.err).to.equal(0);
    const train = ['train', '--data', data, '--cache', d('c'), '--model', 'mlp', '--width-multiplier', '0.0625', '--loss', 'kd', '--epochs', '1', '--batch', '32', '--backend', 'wasm', '--progress', 'off'];
    const trained = await cli(...train, '--out', d('run1'));
    expect(trained.code, trained.err).to.equal(0);

    const f = d('c.parts', 'part-2', 'shard-00000.safetensors');
    const b = fs.readFileSync(f);
    b[b.length - 40] ^= 1;
    fs.writeFileSync(f, b);
    forgetScannedShards();
    const bad = await cli('verify', d('c'));
    expect(bad.code).to.equal(1);
    expect(bad.out + bad.err).to.match(/\.\.\/c\.parts\/part-2\/shard-00000\.safetensors .*sha256/);
    const refused = await cli(...train, '--out', d('run2'));
    expect(refused.code).to.equal(1);
    expect(refused.err).to.match(/part-2\/shard-00000\.safetensors .*sha256 .* ≠ manifest/);
  });
});
