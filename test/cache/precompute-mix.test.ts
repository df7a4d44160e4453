/**
 * Caches of mixed views (Mixup / CutMix, docs/MIXING.md) do not depend on how they were computed:
 * 1 or 3 render workers, one run or `--shards 3` + merge, a clean run or one killed with -9 at
 * seeded fault points and resumed — byte-identical every time. Fixed-size (Fashion-MNIST-style)
 * data mixes too, and its rows are the teacher's output on a mixture built here by hand. Bad input
 * (α ≤ 0, an unknown kind, one sample, a cache mixed otherwise than --augment) is one line, exit 2.
 * (A merged cache's shard files are byte-identical to one run's; its manifest adds mergedFrom.)
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mergeCaches } from '../../src/cache/merge.js';
import { openCache } from '../../src/cache/reader.js';
import { runPrecompute, type PrecomputeRunOptions } from '../../src/cache/precompute-run.js';
import { augment, parseAugmentSpec } from '../../src/data/augment.js';
import { openDataset } from '../../src/data/open.js';
import { mixParams } from '../../src/data/mix.js';
import { openTeacher } from '../../src/teacher/session.js';
import { cli } from '../cli/train-helpers.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { readManifest } from '../../src/cache/manifest.js';
import { expectSameBytes, pinned, snapshot } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { killAndResume } from '../helpers/kill-resume.js';
import { makeImageFolder } from '../helpers/seeded-images.js';

const PRE = '{"resize": 10, "crop": 8, "interpolation": "bicubic"}';
const AUG = 'rrc:0.3-1,flip,mixup:0.5,cutmix,switch-prob:0.5';

/** A merged cache vs one run (docs/CACHE.md): shard files byte for byte, the same key and shard list. */
function expectMergedSame(whole: string, merged: string): void {
  const a = snapshot(whole);
  const b = snapshot(merged);
  expect([...b.keys()]).to.deep.equal([...a.keys()]);
  for (const [f, buf] of a) if (f !== 'manifest.json') expect(buf.equals(b.get(f)!), f).to.equal(true);
  const [ma, mb] = [readManifest(whole), readManifest(merged)];
  expect(mb.key).to.equal(ma.key);
  expect(mb.shards).to.deep.equal(ma.shards);
  expect(mb.augment).to.deep.equal(ma.augment);
}

describe('cache/precompute with mixed views (Mixup/CutMix): byte-identical however computed', function () {
  this.timeout(300000);
  let root: string;
  let data: string;
  let teacher: string;
  const opts = (o: Partial<PrecomputeRunOptions> & { out: string }): PrecomputeRunOptions => ({
    teacher, data: `folder:${data}`, split: 'train', device: 'cpu', threads: 1, batch: 5, dtype: 'f32', views: 3, augment: AUG, augmentSeed: 4, shardRows: 8,
    preprocess: PRE, classMap: '[0, 1, 2]', ...o,
  });
  before(async () => {
    root = tmpDir('pmix');
    data = path.join(root, 'imgs');
    await makeImageFolder(data, 30, ['ant', 'bee', 'cat'], 5);
    teacher = writeTinyTeacher(root, { height: 8, width: 8, channels: 3, numClasses: 5 });
  });
  after(() => rmDir(root));

  it('render workers 0, 1 and 3 give byte-identical caches', async () => {
    const snaps = [];
    for (const renderWorkers of [0, 1, 3]) {
      const out = path.join(root, `rw-${renderWorkers}`);
      await runPrecompute(opts({ out, renderWorkers }));
      snaps.push(snapshot(out));
    }
    expectSameBytes(snaps[0], snaps[1]);
    expectSameBytes(snaps[0], snaps[2]);
    // Both kinds really occur in these rows (else the test would prove less than it says).
    const ds = await openDataset(`folder:${data}`);
    const kinds = new Set<string>();
    for (let i = 0; i < ds.size; i++) for (let v = 1; v < 3; v++) kinds.add(mixParams(parseAugmentSpec(AUG).mix, 4, i, v, ds.size)!.kind);
    expect([...kinds].sort()).to.deep.equal(['cutmix', 'mixup']);
  });

  it('--shards 3 (each part reads its rows\' partners from the whole set) + merge = one run', async () => {
    const whole = path.join(root, 'rw-0');
    const parts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const out = path.join(root, `part-${i}`);
      await runPrecompute(opts({ out, shard: `${i}/3`, renderWorkers: i === 1 ? 2 : 0 }));
      parts.push(out);
    }
    const merged = path.join(root, 'merged');
    mergeCaches(parts, merged);
    expectMergedSame(whole, merged);
  });

  it('kill -9 mid-run (seeded fault points), then the same command: byte-identical to a clean run', async () => {
    const args = (out: string) => ['precompute', '--teacher', teacher, '--data', `folder:${data}`, '--out', out, '--device', 'cpu', '--threads', '1',
      '--batch', '4', '--shard-rows', '8', '--progress', 'off', '--preprocess', PRE, '--class-map', '[0, 1, 2]', '--views', '3', '--augment', AUG, '--augment-seed', '4'];
    const clean = path.join(root, 'k-clean');
    const out = path.join(root, 'k-killed');
    await killAndResume(args, clean, out, ['cache-append:6', 'cache-shard-tmp:1', 'cache-append:41', 'cache-shard-journaled:6']);
    expectSameBytes(pinned(clean), pinned(out));
    expectSameBytes(pinned(clean), pinned(path.join(root, 'rw-0')));
  });

  it('fixed-size data (crop:P + flip + mixing): rows = the teacher on mixtures built here; shards 3 + merge = one run', async () => {
    const spec = 'synthetic:24:4:12x12x1:3';
    const tiny = writeTinyTeacher(root, { height: 12, width: 12, channels: 1, numClasses: 4 }, 'fm.onnx');
    const aug = 'crop:2,flip,mixup:0.3,cutmix:1';
    const o = (out: string, shard?: string) => ({ teacher: tiny, data: spec, out, split: 'train' as const, device: 'cpu' as const, threads: 1, batch: 7, dtype: 'f32' as const, views: 4, augment: aug, augmentSeed: 2, shardRows: 16, ...(shard ? { shard } : {}) });
    const whole = path.join(root, 'fm-whole');
    await runPrecompute(o(whole));
    const parts = [0, 1, 2].map((i) => path.join(root, `fm-part-${i}`));
    for (const [i, p] of parts.entries()) await runPrecompute(o(p, `${i}/3`));
    mergeCaches(parts, path.join(root, 'fm-merged'));
    expectMergedSame(whole, path.join(root, 'fm-merged'));

    // By hand: augment both samples (crop + flip), mix in double on [0, 1] as docs/MIXING.md says.
    const ds = await openDataset(spec);
    const s = parseAugmentSpec(aug);
    const t = await openTeacher(tiny, { device: 'cpu', threads: 1, data: { shape: ds.shape } });
    const rd = openCache(whole);
    try {
      const HW = 144;
      const rows: Array<[number, number]> = [];
      for (let i = 0; i < ds.size; i++) for (let v = 0; v < 4; v++) rows.push([i, v]);
      const x = new Float32Array(rows.length * HW);
      let mixedRows = 0;
      for (const [r, [i, v]] of rows.entries()) {
        const a = augment(await ds.get(i), ds.shape, s, 2, i, v);
        const p = mixParams(s.mix, 2, i, v, ds.size);
        const b = p ? augment(await ds.get(p.partner), ds.shape, s, 2, p.partner, v) : null;
        if (p) mixedRows++;
        for (let y = 0; y < 12; y++)
          for (let xx = 0; xx < 12; xx++) {
            const k = y * 12 + xx;
            let val = a[k] / 255;
            if (p?.kind === 'mixup') val = p.lambda * (a[k] / 255) + (1 - p.lambda) * (b![k] / 255);
            if (p?.kind === 'cutmix') {
              const [y0, x0, y1, x1] = p.cut!.map((f) => Math.floor(f * 12 + 0.5));
              if (y >= y0 && y < y1 && xx >= x0 && xx < x1) val = b![k] / 255;
            }
            x[r * HW + k] = val;
          }
      }
      expect(mixedRows).to.equal(ds.size * 3);
      const want = await t.runRendered(x, rows.length);
      const got = rd.readLogits(Int32Array.from(rows, (r) => r[0]), Int32Array.from(rows, (r) => r[1]));
      let maxAbs = 0;
      for (let k = 0; k < want.length; k++) maxAbs = Math.max(maxAbs, Math.abs(want[k] - got[k]));
      console.log(`      ${rows.length} rows of ${spec} (${aug}): cache vs the teacher on hand-built mixtures: max |Δ| ${maxAbs.toExponential(2)}`);
      expect(maxAbs).to.be.at.most(1e-6);
    } finally {
      rd.close();
      await t.close();
    }
  });

  it('BAD CALL - α ≤ 0, an unknown mixing kind, mixing one sample, a cache mixed otherwise than --augment: one line, exit 2, nothing written', async () => {
    const tiny = path.join(root, 'fm.onnx');
    const out = path.join(root, 'bad');
    const cases: Array<[string[], RegExp]> = [
      [['precompute', '--teacher', tiny, '--data', 'synthetic:8:4:12x12x1', '--out', out, '--views', '2', '--augment', 'flip,mixup:0'], /^tfkd: mixup α 0 in "flip,mixup:0" must be > 0/],
      [['precompute', '--teacher', tiny, '--data', 'synthetic:8:4:12x12x1', '--out', out, '--views', '2', '--augment', 'cutmix:-1'], /^tfkd: cutmix α -1 in "cutmix:-1" must be > 0/],
      [['precompute', '--teacher', tiny, '--data', 'synthetic:8:4:12x12x1', '--out', out, '--views', '2', '--augment', 'flip,cutmixup:1'], /^tfkd: unknown augmentation "cutmixup:1"/],
      [['precompute', '--teacher', tiny, '--data', 'synthetic:1:4:12x12x1', '--out', out, '--views', '2', '--augment', 'mixup'], /^tfkd: mixup\/cutmix on synthetic:1:4:12x12x1:0: the data set has 1 sample\(s\)/],
      [['train', '--data', 'synthetic:24:4:12x12x1:3', '--model', 'mlp', '--loss', 'kd', '--cache', path.join(root, 'fm-whole'), '--augment', 'crop:2,flip,mixup:0.3', '--out', out],
        /^tfkd: --augment crop:2,flip,mixup:0\.3 differs from the augmentation the cache's views were made with \(crop:2,flip,mixup:0\.3,cutmix:1,switch-prob:0\.5\)/],
      [['train', '--data', 'synthetic:24:4:12x12x1:3', '--model', 'mlp', '--loss', 'dkd', '--cache', path.join(root, 'fm-whole'), '--out', out], /^tfkd: loss dkd cannot train on mixed views \(mixup\/cutmix\): /],
      [['data', 'views', '--data', 'synthetic:8:4:12x12x1', '--augment', 'mixup:nan', '--views', '2'], /^tfkd: mixup α value "nan" in "mixup:nan" is not a number/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
      expect(r.err, args.join(' ')).to.match(re);
      expect(r.err.split('\n').filter((l) => l && !l.startsWith('hint: ')), args.join(' ')).to.have.length(1);
      expect(fs.existsSync(out), args.join(' ')).to.equal(false);
    }
  });
});
