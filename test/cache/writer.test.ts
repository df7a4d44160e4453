import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../../src/errors.js';
import { readManifest } from '../../src/cache/manifest.js';
import { openCache } from '../../src/cache/reader.js';
import { openSafetensors } from '../../src/cache/safetensors.js';
import { f16ToF32, f32ToF16 } from '../../src/util/float16.js';
import { JOURNAL } from '../../src/cache/writer.js';
import { assertFinite, encodeRows } from '../../src/cache/rows.js';
import { expectSameBytes, snapshot, synthLogit, synthLogits, writeSynth } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

describe('cache/writer + reader', () => {
  let root: string;
  beforeEach(() => {
    root = tmpDir('cw');
  });
  afterEach(() => rmDir(root));
  const d = (n: string) => path.join(root, n);

  it('writes shards of fixed size, sample-major rows, and a manifest listing them', () => {
    const { manifest } = writeSynth(d('c'), { N: 20, K: 5, V: 2, shardRows: 16 });
    const st = openSafetensors(path.join(d('c'), 'shard-00001.safetensors'));
    // tfkd-cache/2: the logits alone; a row's (sample, view) is its position (row_start + i).
    expect(Object.keys(st.tensors)).to.deep.equal(['logits']);
    expect(st.tensors.logits).to.deep.include({ dtype: 'F32', shape: [16, 5] });
    expect(st.metadata).to.include({ schema: 'tfkd-cache/2', key: manifest!.key, shard: '1', row_start: '16', rows: '16' });
    expect(fs.statSync(path.join(d('c'), 'shard-00001.safetensors')).size).to.equal(8 + Number(fs.readFileSync(path.join(d('c'), 'shard-00001.safetensors')).readBigUInt64LE(0)) + 16 * 5 * 4);
    st.close();
  });

  it('tfkd-cache/1 (the first row format, still written by merges of its parts): sample and view columns', () => {
    const { manifest } = writeSynth(d('c'), { N: 20, K: 5, V: 2, shardRows: 16, schema: 'tfkd-cache/1' });
    expect(manifest!.rows).to.equal(40);
    expect(manifest!.shards.map((s) => [s.file, s.rows, s.rowStart])).to.deep.equal([
      ['shard-00000.safetensors', 16, 0],
      ['shard-00001.safetensors', 16, 16],
      ['shard-00002.safetensors', 8, 32],
    ]);
    expect(fs.readdirSync(d('c')).sort()).to.deep.equal(['manifest.json', 'shard-00000.safetensors', 'shard-00001.safetensors', 'shard-00002.safetensors']);
    const st = openSafetensors(path.join(d('c'), 'shard-00001.safetensors'));
    expect(Array.from(st.readTensor('sample') as BigInt64Array).map(Number)).to.deep.equal([8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15]);
    expect(Array.from(st.readTensor('view') as Int32Array)).to.deep.equal([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    expect(st.metadata).to.include({ schema: 'tfkd-cache/1', key: manifest!.key, shard: '1', row_start: '16' });
    st.close();
    expect(readManifest(d('c'))).to.deep.equal(manifest);
  });

  it('reader returns the stored logits for any (sample, view), across shards (f32 exact, f16 rounded)', () => {
    for (const dtype of ['f32', 'f16'] as const) {
      writeSynth(d(dtype), { N: 20, K: 5, V: 2, shardRows: 16, dtype });
      const r = openCache(d(dtype));
      const samples = [0, 19, 7, 8, 8, 3];
      const views = [0, 1, 1, 0, 1, 0];
      const got = r.readLogits(samples, views);
      for (let i = 0; i < samples.length; i++) {
        const g = samples[i] * 2 + views[i];
        for (let k = 0; k < 5; k++) {
          const ref = dtype === 'f32' ? Math.fround(synthLogit(g, k)) : f16ToF32(f32ToF16([synthLogit(g, k)]))[0];
          expect(got[i * 5 + k]).to.equal(ref);
        }
      }
      // soft targets: rows sum to 1, equal softmax(z/T)
      const p = r.softTargets([4], [1], 3);
      const z = Array.from(r.readLogits([4], [1]));
      const e = z.map((v) => Math.exp(v / 3));
      const s = e.reduce((a, b) => a + b);
      e.forEach((v, k) => expect(p[k]).to.be.closeTo(v / s, 1e-6));
      expect(() => r.readLogits([20], [0])).to.throw(UsageError, /outside/);
      expect(() => r.readLogits([1], [2])).to.throw(UsageError, /view 2/);
      r.close();
    }
  });

  it('top-k caches: keep k logits (U16 classes) + tail statistics; reconstructed probabilities are exact on kept classes at τ=1', () => {
    const K = 10;
    const k = 3;
    const { manifest } = writeSynth(d('t'), { N: 12, K, topk: k, shardRows: 8 });
    const st = openSafetensors(path.join(d('t'), manifest!.shards[0].file));
    expect(Object.keys(st.tensors)).to.deep.equal(['topk_indices', 'topk_values', 'tail_logsumexp', 'tail_mean']);
    expect(st.tensors.topk_indices).to.deep.include({ dtype: 'U16', shape: [8, 3] });
    st.close();
    const r = openCache(d('t'));
    const p = r.softTargets([5], [0], 1);
    const z = Array.from(synthLogits(5, 1, K));
    const mx = Math.max(...z);
    const den = z.reduce((a, v) => a + Math.exp(v - mx), 0);
    const ref = z.map((v) => Math.exp(v - mx) / den);
    const top = ref.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, k);
    let keptMass = 0;
    for (const [v, i] of top) {
      expect(p[i]).to.be.closeTo(v, 1e-6);
      keptMass += v;
    }
    const others = Array.from(p).filter((_, i) => !top.some((t) => t[1] === i));
    for (const o of others) expect(o).to.be.closeTo((1 - keptMass) / (K - k), 1e-6);
    expect(Array.from(p).reduce((a, b) => a + b)).to.be.closeTo(1, 1e-6);
    r.close();
  });

  it('an existing complete cache with the same key is a no-op; a different key is refused unless --force', () => {
    writeSynth(d('c'), { N: 10, K: 3 });
    const before = snapshot(d('c'));
    expect(writeSynth(d('c'), { N: 10, K: 3 }).state).to.equal('complete');
    expectSameBytes(before, snapshot(d('c')));
    expect(() => writeSynth(d('c'), { N: 10, K: 3, dtype: 'f16' })).to.throw(UsageError, /different cache key/);
    expectSameBytes(before, snapshot(d('c')));
    const { state, manifest } = writeSynth(d('c'), { N: 10, K: 3, dtype: 'f16', force: true });
    expect(state).to.equal('fresh');
    expect(manifest!.dtype).to.equal('f16');
  });

  it('BAD CALL - a partial cache for another key is refused too (journal or stray shards)', () => {
    writeSynth(d('p'), { N: 40, K: 3, stopAfterRows: 20 });
    expect(() => writeSynth(d('p'), { N: 40, K: 4 })).to.throw(UsageError, /partial cache/);
    fs.rmSync(path.join(d('p'), JOURNAL));
    expect(() => writeSynth(d('p'), { N: 40, K: 4 })).to.throw(UsageError, /shard shard-00000/);
  });

  // Shards of another cache whose row count differs from this layout's looked torn and were
  // deleted without --force (and every shard after the first gap was removed unread).
  it('BAD CALL - stray shards of another cache are refused whatever their row count or index, and left in place', () => {
    writeSynth(d('other'), { N: 40, K: 3, shardRows: 8 });
    const copy = (files: string[], to: string) => {
      fs.mkdirSync(d(to));
      for (const f of files) fs.copyFileSync(path.join(d('other'), f), path.join(d(to), f));
      return snapshot(d(to));
    };
    const shards = fs.readdirSync(d('other')).filter((f) => f.startsWith('shard-')).sort();
    for (const [to, files, o] of [
      ['all', shards, { N: 40, K: 3, shardRows: 16 }], // another layout: 8-row shards where 16 are expected
      ['lone', [shards[3]], { N: 40, K: 3, shardRows: 16 }], // after a gap
      ['same-layout-gap', [shards[2]], { N: 40, K: 3, shardRows: 8, dtype: 'f16' as const }],
    ] as const) {
      const before = copy([...files], to);
      expect(() => writeSynth(d(to), o), to).to.throw(UsageError, /already holds shard shard-0000\d\.safetensors for a different cache key/);
      expectSameBytes(before, snapshot(d(to)));
      expect(writeSynth(d(to), { ...o, force: true }).state, to).to.equal('fresh');
    }
  });

  describe('resume after interruption ends byte-identical to a clean run', () => {
    const opts = { N: 50, K: 7, V: 2, shardRows: 16, dtype: 'f16' as const };
    let clean: Map<string, Buffer>;
    beforeEach(() => {
      writeSynth(d('clean'), opts);
      clean = snapshot(d('clean'));
    });

    it('stopped mid-shard, with a stray temp file', () => {
      const r1 = writeSynth(d('r'), { ...opts, stopAfterRows: 37 });
      expect(r1.manifest).to.equal(null);
      fs.writeFileSync(path.join(d('r'), '.tmp-shard-00002.safetensors-99999'), 'partial junk');
      const r2 = writeSynth(d('r'), opts);
      expect(r2.state).to.equal('resumed');
      expect(r2.startRow).to.equal(32);
      expectSameBytes(clean, snapshot(d('r')));
    });

    it('a truncated shard (and everything after it) is redone', () => {
      writeSynth(d('r'), { ...opts, stopAfterRows: 80 });
      const f1 = path.join(d('r'), 'shard-00001.safetensors');
      fs.truncateSync(f1, fs.statSync(f1).size - 3);
      const r2 = writeSynth(d('r'), opts);
      expect(r2.startRow).to.equal(16);
      expectSameBytes(clean, snapshot(d('r')));
    });

    it('a shard whose bytes differ from the journal checksum is redone', () => {
      writeSynth(d('r'), { ...opts, stopAfterRows: 64 });
      const f2 = path.join(d('r'), 'shard-00002.safetensors');
      const b = fs.readFileSync(f2);
      b[b.length - 100] ^= 0x10;
      fs.writeFileSync(f2, b);
      expect(writeSynth(d('r'), opts).startRow).to.equal(32);
      expectSameBytes(clean, snapshot(d('r')));
    });

    it('a torn journal line and a missing journal are tolerated', () => {
      writeSynth(d('r'), { ...opts, stopAfterRows: 40 });
      fs.appendFileSync(path.join(d('r'), JOURNAL), '{"shard":2,"sha');
      expect(writeSynth(d('r'), { ...opts, stopAfterRows: 70 }).startRow).to.equal(32);
      fs.rmSync(path.join(d('r'), JOURNAL));
      expect(writeSynth(d('r'), opts).startRow).to.equal(64);
      expectSameBytes(clean, snapshot(d('r')));
    });

    it('different batch sizes produce the same bytes', () => {
      writeSynth(d('b'), { ...opts, batch: 13 });
      expectSameBytes(clean, snapshot(d('b')));
    });
  });

  it('EXPECTED FAILURE - NaN/Inf rows are named (sample, view); f16 overflow is refused', () => {
    const a = synthLogits(0, 6, 4);
    a[2 * 4 + 1] = NaN;
    a[5 * 4 + 3] = -Infinity;
    expect(() => assertFinite(a, 6, 4, 100, 2)).to.throw(WorkError, /2 row\(s\): row 102 \(sample 51, view 0\), row 105 \(sample 52, view 1\)/);
    const big = Float32Array.from([1, 70000]);
    expect(() => encodeRows(big, 1, 2, 'f16', null, 8, 1)).to.throw(WorkError, /row 8.*overflows float16/);
  });

  it('EXPECTED FAILURE - reader refuses a cache whose key, fingerprint, split or K do not match', () => {
    const { manifest } = writeSynth(d('c'), { N: 10, K: 3, fingerprint: 'fp-1' });
    expect(openCache(d('c'), { key: manifest!.key, fingerprint: 'fp-1', split: 'train', numClasses: 3, N: 10 }).key).to.equal(manifest!.key);
    expect(() => openCache(d('c'), { fingerprint: 'fp-2' })).to.throw(UsageError, /data fingerprint is "fp-1", expected "fp-2"/);
    expect(() => openCache(d('c'), { split: 'test' })).to.throw(UsageError, /split/);
    expect(() => openCache(d('c'), { numClasses: 10 })).to.throw(UsageError, /K \(classes\) is 3, expected 10/);
    expect(() => openCache(d('c'), { key: 'f'.repeat(64) })).to.throw(UsageError, /key/);
    expect(() => openCache(d('nothing'))).to.throw(UsageError, /not a complete tfkd cache/);
    // An expectation it does not know (a typo, Python's K) was accepted and checked against nothing.
    expect(() => openCache(d('c'), { K: 5 } as never)).to.throw(UsageError, /unknown expectation K$/);
    expect(() => openCache(d('c'), { splt: 'test' } as never)).to.throw(UsageError, /unknown expectation splt$/);
  });
});
