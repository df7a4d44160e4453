/**
 * The cache's row formats. `tfkd-cache/2` (written today) stores only what the losses read;
 * caches of the first format, `tfkd-cache/1` (sample and view columns in every shard, I32 top-k
 * classes, a logsumexp column), keep reading identically: test/fixtures/cache-v1 holds caches
 * written by that version and what its reader returned for every row.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/errors.js';
import { mergeCaches } from '../../src/cache/merge.js';
import { cacheKey, readManifest, SCHEMA, SCHEMA_V1, type CacheSchema } from '../../src/cache/manifest.js';
import { openCache } from '../../src/cache/reader.js';
import { openSafetensors } from '../../src/cache/safetensors.js';
import { rowBytes } from '../../src/cache/shard-check.js';
import { verifyStructure } from '../../src/cache/verify.js';
import { CacheWriter } from '../../src/cache/writer.js';
import { encodeRows } from '../../src/cache/rows.js';
import { expectSameBytes, snapshot, synthSetup, writeSynth } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { KINDS, sizeTable } from '../../scripts/cache-size.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/cache-v1/', import.meta.url));
const CACHES = ['f32', 'f16-top3', 'f16', 'f16.parts/part-0', 'f16.parts/part-1'];
/** How each fixture was written (test/fixtures/cache-v1/README.md). */
const SYNTH = {
  f32: { N: 12, K: 5, V: 2, shardRows: 8, dtype: 'f32' as const },
  'f16-top3': { N: 12, K: 10, V: 2, shardRows: 8, dtype: 'f16' as const, topk: 3 },
  f16: { N: 12, K: 5, V: 2, shardRows: 8, dtype: 'f16' as const },
};
type Expected = Record<string, Record<string, number[]>>;
const expected = (): Expected => JSON.parse(fs.readFileSync(path.join(FIXTURE, 'read-by-v1-reader.json'), 'utf8'));
/** Shard files only: manifests name the tfkd version and git commit that wrote them. */
const shardsOf = (dir: string) => new Map([...snapshot(dir)].filter(([f]) => f.endsWith('.safetensors')));

describe('cache/formats: tfkd-cache/2, and tfkd-cache/1 still read, verified and merged', () => {
  let root: string;
  beforeEach(() => {
    root = tmpDir('fmt');
  });
  afterEach(() => rmDir(root));
  const d = (n: string) => path.join(root, n);

  for (const name of CACHES) {
    it(`${name} (tfkd-cache/1): the reader returns what the tfkd-cache/1 reader returned, bit for bit; verify passes`, () => {
      const want = expected()[name];
      const r = openCache(path.join(FIXTURE, name));
      try {
        expect(r.manifest.schema).to.equal(SCHEMA_V1);
        const { samples, views } = want;
        expect(Array.from(r.readLogits(samples, views))).to.deep.equal(want.logits);
        for (const T of [1, 3]) expect(Array.from(r.softTargets(samples, views, T))).to.deep.equal(want[`soft_${T}`]);
        const block = r.readBlock(r.sampleStart * r.views, samples.length);
        expect(Object.keys(block).filter((k) => k !== 'n').sort()).to.deep.equal(Object.keys(want).filter((k) => k.startsWith('block_')).map((k) => k.slice(6)).sort());
        for (const [k, v] of Object.entries(block)) if (k !== 'n') expect(Array.from(v as ArrayLike<number>), k).to.deep.equal(want[`block_${k}`]);
      } finally {
        r.close();
      }
      const rep = verifyStructure(path.join(FIXTURE, name));
      expect(rep.problems).to.deep.equal([]);
      expect(rep.ok).to.equal(true);
    });
  }

  for (const [name, o] of Object.entries(SYNTH)) {
    it(`${name}: the same rows in tfkd-cache/2 read identically (logits, soft targets) and take fewer bytes; tfkd-cache/1 is still written byte for byte`, () => {
      const want = expected()[name];
      writeSynth(d('v2'), o);
      const r = openCache(d('v2'));
      const { samples, views } = want;
      expect(r.manifest.schema).to.equal(SCHEMA);
      expect(Array.from(r.readLogits(samples, views))).to.deep.equal(want.logits);
      for (const T of [1, 3]) expect(Array.from(r.softTargets(samples, views, T))).to.deep.equal(want[`soft_${T}`]);
      r.close();
      const m2 = readManifest(d('v2'));
      const m1 = readManifest(path.join(FIXTURE, name));
      expect(m2.key).to.not.equal(m1.key); // the format is part of the key: a resume never mixes them
      const bytes = (dir: string) => [...shardsOf(dir).values()].reduce((a, b) => a + b.length, 0);
      const saved = (rowBytes(m1) - rowBytes(m2)) * m1.rows;
      console.log(`      ${name}: ${rowBytes(m1)} → ${rowBytes(m2)} bytes a row; shards ${bytes(path.join(FIXTURE, name))} → ${bytes(d('v2'))} bytes`);
      expect(rowBytes(m2)).to.be.below(rowBytes(m1));
      expect(bytes(path.join(FIXTURE, name)) - bytes(d('v2'))).to.be.at.least(saved);
      // The first format's writer (merges of its parts use it) still writes that version's bytes.
      expect(writeSynth(d('v1'), { ...o, schema: SCHEMA_V1 }).manifest!.key).to.equal(m1.key);
      expectSameBytes(shardsOf(d('v1')), shardsOf(path.join(FIXTURE, name)));
    });
  }

  it('tfkd-cache/1 parts merge (copied or linked) into a tfkd-cache/1 cache: the single run\'s shard files, verified', () => {
    const parts = [0, 1].map((i) => path.join(FIXTURE, `f16.parts/part-${i}`));
    const copy = mergeCaches(parts, d('merged'));
    expect(copy.manifest.schema).to.equal(SCHEMA_V1);
    expect(copy.manifest.key).to.equal(readManifest(path.join(FIXTURE, 'f16')).key);
    expectSameBytes(shardsOf(d('merged')), shardsOf(path.join(FIXTURE, 'f16')));
    expect(verifyStructure(d('merged')).ok).to.equal(true);
    // Linked: the parts are referenced in place, by relative paths from the merged cache.
    for (const p of [0, 1]) fs.cpSync(parts[p], d(`parts/part-${p}`), { recursive: true });
    const link = mergeCaches([0, 1].map((p) => d(`parts/part-${p}`)), d('linked'), { link: true });
    expect(link.manifest.schema).to.equal(SCHEMA_V1);
    expect(verifyStructure(d('linked')).problems).to.deep.equal([]);
    const want = expected().f16;
    const r = openCache(d('linked'));
    expect(Array.from(r.readLogits(want.samples, want.views))).to.deep.equal(want.logits);
    r.close();
  });

  it('a cache begun in tfkd-cache/1 is resumed in it (and a complete one found complete); anything else is today\'s format', () => {
    const o = { ...SYNTH['f16-top3'], shardRows: 4 };
    const keyOf = (f: CacheSchema) => synthSetup({ ...o, schema: f }).layout.key;
    expect(CacheWriter.formatAt(d('none'), keyOf)).to.equal(SCHEMA);
    writeSynth(d('v1'), { ...o, schema: SCHEMA_V1, stopAfterRows: 9 });
    expect(CacheWriter.formatAt(d('v1'), keyOf)).to.equal(SCHEMA_V1);
    const resumed = writeSynth(d('v1'), { ...o, schema: CacheWriter.formatAt(d('v1'), keyOf) });
    expect(resumed.state).to.equal('resumed');
    expect(resumed.startRow).to.equal(8);
    expectSameBytes(shardsOf(d('v1')), shardsOf(writeSynthTo(d('v1-clean'), { ...o, schema: SCHEMA_V1 })));
    expect(CacheWriter.formatAt(d('v1'), keyOf)).to.equal(SCHEMA_V1); // complete
    writeSynth(d('v2'), { ...o, stopAfterRows: 9 });
    expect(CacheWriter.formatAt(d('v2'), keyOf)).to.equal(SCHEMA);
    // Another cache's tfkd-cache/1 journal (another key): today's format, and the writer refuses it.
    expect(CacheWriter.formatAt(d('v1'), (f) => cacheKey({ ...synthSetup(o).layout, teacher: { sha256: 'b'.repeat(64), outputName: 'x' } } as never, null, { schema: f }))).to.equal(SCHEMA);
  });

  it('docs/CACHE.md shows the size table scripts/cache-size.ts computes from the shard layout; its formulas are the layout\'s bytes a row', () => {
    const doc = fs.readFileSync(fileURLToPath(new URL('../../docs/CACHE.md', import.meta.url)), 'utf8');
    for (const line of sizeTable()) expect(doc, line).to.include(line);
    // "aK + b" / "ak + b": checked against rowBytes at other sizes (the U16 range; k < K).
    const evaluate = (f: string, K: number, k: number) => {
      const [, a, v, b] = /^(\d+)([Kk])(?: \+ (\d+))?$/.exec(f)!;
      return Number(a) * (v === 'K' ? K : k) + Number(b ?? 0);
    };
    for (const kind of KINDS) {
      for (const [K, k] of [[10, 3], [1000, 7], [65536, 100]]) {
        const topk = kind.topk === null ? null : k;
        expect(rowBytes({ schema: SCHEMA, K, dtype: kind.dtype, topk }), `${kind.label} v2 K=${K}`).to.equal(evaluate(kind.v2, K, k));
        expect(rowBytes({ schema: SCHEMA_V1, K, dtype: kind.dtype, topk }), `${kind.label} v1 K=${K}`).to.equal(evaluate(kind.v1, K, k));
      }
    }
    // Past 65 536 classes the top-k classes take I32: 2k more a row.
    expect(rowBytes({ schema: SCHEMA, K: 65537, dtype: 'f16', topk: 5 })).to.equal(evaluate('4k + 28', 65537, 5) + 10);
  });

  it('BAD CALL - a cache of a format this version does not know (a newer tfkd\'s): one line, exit 2', () => {
    writeSynth(d('c'), SYNTH.f32);
    const f = path.join(d('c'), 'manifest.json');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('"schema": "tfkd-cache/2"', '"schema": "tfkd-cache/3"'));
    expect(() => openCache(d('c'))).to.throw(UsageError, /is a "tfkd-cache\/3" cache: this tfkd reads tfkd-cache\/1 and tfkd-cache\/2$/);
    expect(() => verifyStructure(d('c'))).to.throw(UsageError, /tfkd-cache\/3/);
  });

  for (const K of [65536, 65537]) {
    it(`K = ${K}: top-k classes are stored as ${K <= 65536 ? 'U16' : 'I32'} and read back, the last class included`, () => {
      const { layout, base } = synthSetup({ N: 2, K, topk: 2, shardRows: 2 });
      const z = new Float32Array(2 * K);
      for (let i = 0; i < z.length; i++) z[i] = Math.sin(i * 0.37);
      z[K - 1] = 9; // row 0: the last class first
      z[K + 12345] = 9; // row 1
      z[K + 40000] = 8.5;
      const w = CacheWriter.open(d('c'), layout);
      w.append(encodeRows(z, 2, K, 'f32', 2));
      w.finish(base);
      const st = openSafetensors(path.join(d('c'), 'shard-00000.safetensors'));
      expect(st.tensors.topk_indices.dtype).to.equal(K <= 65536 ? 'U16' : 'I32');
      expect(Array.from(st.readTensor('topk_indices') as ArrayLike<number>).slice(0, 1)).to.deep.equal([K - 1]);
      st.close();
      expect(verifyStructure(d('c')).ok).to.equal(true);
      const r = openCache(d('c'));
      const got = r.readLogits([0, 1], [0, 0]);
      expect([got[K - 1], got[K + 12345], got[K + 40000]]).to.deep.equal([9, 9, 8.5]);
      const block = r.readBlock(0, 2);
      expect(Array.from(block.topkIndices!)).to.deep.equal([K - 1, z.subarray(0, K - 1).indexOf(Math.max(...z.subarray(0, K - 1))), 12345, 40000]);
      r.close();
    });
  }
});

function writeSynthTo(dir: string, o: Parameters<typeof writeSynth>[1]): string {
  writeSynth(dir, o);
  return dir;
}
