/**
 * Precompute over streaming image folders: shards decode only their rows, kill -9 + resume is
 * byte-identical, verify recomputes rows, class maps select the teacher's outputs, --skip-bad lists
 * what it skipped, and bad input is one line with exit 2.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openCache } from '../../src/cache/reader.js';
import { readManifest } from '../../src/cache/manifest.js';
import { runPrecompute, type PrecomputeRunOptions } from '../../src/cache/precompute-run.js';
import { runVerify } from '../../src/cache/verify-run.js';
import type { ImageFilesDataset } from '../../src/data/files.js';
import { openDataset } from '../../src/data/open.js';
import { render } from '../../src/data/render.js';
import { UsageError } from '../../src/errors.js';
import { openTeacher } from '../../src/teacher/session.js';
import { renderSpecOf } from '../../src/teacher/preprocess.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { expectSameBytes, snapshot } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { killAndResume } from '../helpers/kill-resume.js';
import { makeImageFolder } from '../helpers/seeded-images.js';

const PRE = '{"resize": 10, "crop": 8, "interpolation": "bicubic"}';

const opts = (o: Partial<PrecomputeRunOptions> & { teacher: string; data: string; out: string }): PrecomputeRunOptions => ({
  split: 'train', device: 'cpu', threads: 1, batch: 16, dtype: 'f32', views: 1, augmentSeed: 0, shardRows: 8, preprocess: PRE, ...o,
});

describe('cache/precompute over image folders (streaming, sharded, resumable)', function () {
  this.timeout(120000);
  let root: string;
  let data: string;
  let teacher: string;
  before(async () => {
    root = tmpDir('pf');
    data = path.join(root, 'photos');
    await makeImageFolder(data, 40, ['ant', 'bee', 'cat'], 1);
    teacher = writeTinyTeacher(root, { height: 8, width: 8, channels: 3, numClasses: 5 });
  });
  after(() => rmDir(root));

  it('EXPECTED FAILURE - a teacher with more classes than the data: the error names --class-map', async () => {
    const out = path.join(root, 'no-map');
    try {
      await runPrecompute(opts({ teacher, data: `folder:${data}`, out }));
      expect.fail('should refuse');
    } catch (e) {
      expect(e).to.be.instanceOf(UsageError);
      expect((e as UsageError).message).to.match(/outputs 5 classes, the data set has 3/);
      expect((e as UsageError).hint).to.match(/--class-map/);
    }
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('--class-map selects the teacher outputs; rows equal the teacher on each rendered image; verify recomputes them', async () => {
    const out = path.join(root, 'mapped');
    const s = await runPrecompute(opts({ teacher, data: `folder:${data}`, out, classMap: '{"ant": 4, "bee": 0, "cat": 2}' }));
    expect(s).to.include({ rows: 40, K: 3 });
    const m = readManifest(out);
    expect(m.classMap).to.deep.equal({ teacherK: 5, indices: [4, 0, 2] });
    expect(m.preprocess).to.include({ resize: 10, cropRounding: 'round', interpolation: 'bicubic', channels: 'RGB' });
    expect(m.preprocess.crop).to.deep.equal([8, 8]);
    // Independent path: the full 5-class teacher on images rendered one by one, then the map.
    const ds = await openDataset(`folder:${data}`);
    const t = await openTeacher(teacher, { device: 'cpu', threads: 1, preprocess: PRE, data: { shape: ds.shape, variableSize: true } });
    // The same model fed 8×8×3 pixels as they are (no rendering, all 5 outputs).
    const bare = await openTeacher(teacher, { device: 'cpu', threads: 1, data: { shape: { height: 8, width: 8, channels: 3 } } });
    const rd = openCache(out);
    try {
      const spec = renderSpecOf(t.preprocess);
      let maxDiff = 0;
      for (let i = 0; i < ds.size; i += 7) {
        const [img] = await ds.readImages([i], 'RGB');
        const r = render(img!, spec);
        expect([r.width, r.height]).to.deep.equal([8, 8]);
        const full = await bare.run(r.data, 1);
        const got = rd.readLogits([i], [0]);
        [4, 0, 2].forEach((k, j) => (maxDiff = Math.max(maxDiff, Math.abs(full[k] - got[j]))));
      }
      console.log(`      cache vs per-image teacher: max |Δ| ${maxDiff.toExponential(2)}`);
      expect(maxDiff).to.equal(0);
    } finally {
      rd.close();
      await t.close();
      await bare.close();
    }
    const v = await runVerify(out, { teacher, data: `folder:${data}`, sample: 40, seed: 0, device: 'cpu' });
    expect(v.ok, JSON.stringify(v.recompute)).to.equal(true);
    expect(v.recompute!.rowsChecked).to.equal(40);
  });

  it('render workers (0 = main thread, 1, 3) give byte-identical caches', async () => {
    const snaps = [];
    for (const renderWorkers of [0, 1, 3]) {
      const out = path.join(root, `rw-${renderWorkers}`);
      await runPrecompute(opts({ teacher, data: `folder:${data}`, out, classMap: '[0, 1, 2]', views: 3, augment: 'rrc:0.3-1,flip', augmentSeed: 9, renderWorkers }));
      snaps.push(snapshot(out));
    }
    expectSameBytes(snaps[0], snaps[1]);
    expectSameBytes(snaps[0], snaps[2]);
  });

  it('onnxruntime sessions side by side (--sessions 2 on 2 threads) give the cache of one session, byte for byte', async () => {
    const snaps = [];
    for (const sessions of [1, 2]) {
      const out = path.join(root, `sessions-${sessions}`);
      const s = await runPrecompute(opts({ teacher, data: `folder:${data}`, out, classMap: '[0, 1, 2]', batch: 6, threads: 2, sessions, renderWorkers: 1 }));
      expect(s).to.include({ sessions, threads: 2, rows: 40 });
      snaps.push(snapshot(out));
    }
    expectSameBytes(snaps[0], snaps[1]);
  });

  it('--shard 0/10 decodes only its tenth: every other image corrupt, and it still succeeds', async () => {
    const dir = path.join(root, 'shardable');
    const files = await makeImageFolder(dir, 40, ['ant', 'bee', 'cat'], 2);
    const ds = await openDataset(`folder:${dir}`);
    // Part 0/10 covers samples [0, 4): corrupt every file of the other parts.
    const inPart = new Set([0, 1, 2, 3].map((i) => path.join(dir, (ds as ImageFilesDataset).files[i])));
    let corrupted = 0;
    for (const f of files) {
      if (!inPart.has(f)) {
        fs.writeFileSync(f, 'not an image any more');
        corrupted++;
      }
    }
    expect(corrupted).to.equal(36);
    const map = '[0, 1, 2]';
    const s = await runPrecompute(opts({ teacher, data: `folder:${dir}`, out: path.join(root, 'part0'), classMap: map, shard: '0/10' }));
    expect(s).to.include({ rows: 4 });
    try {
      await runPrecompute(opts({ teacher, data: `folder:${dir}`, out: path.join(root, 'part1'), classMap: map, shard: '1/10' }));
      expect.fail('part 1 reads corrupt files');
    } catch (e) {
      expect(e).to.be.instanceOf(UsageError);
      expect((e as Error).message).to.match(/not a readable image|cannot|corrupt|truncated/i);
      expect((e as Error).message).to.include(dir);
    }
  });

  it('--skip-bad: undecodable images get zero logits and are listed in the manifest; without it, one line naming the file', async () => {
    const dir = path.join(root, 'with-bad');
    const files = await makeImageFolder(dir, 12, ['ant', 'bee', 'cat'], 3);
    fs.writeFileSync(files[5], ''); // zero bytes
    fs.writeFileSync(files[7], fs.readFileSync(files[7]).subarray(0, 40)); // truncated
    const out = path.join(root, 'bad-out');
    try {
      await runPrecompute(opts({ teacher, data: `folder:${dir}`, out, classMap: '[0, 1, 2]' }));
      expect.fail('should refuse');
    } catch (e) {
      expect(e).to.be.instanceOf(UsageError);
      expect((e as Error).message.split('\n')).to.have.length(1);
      // The first bad file in sample order (bee/0007 comes before cat/0005).
      expect((e as Error).message).to.include(files[7]);
    }
    expect(fs.existsSync(path.join(out, 'manifest.json'))).to.equal(false);
    const s = await runPrecompute(opts({ teacher, data: `folder:${dir}`, out: path.join(root, 'bad-skip'), classMap: '[0, 1, 2]', skipBad: true }));
    const m = readManifest(path.join(root, 'bad-skip'));
    const ds = await openDataset(`folder:${dir}`);
    const idx = (f: string) => (ds as ImageFilesDataset).files.indexOf(path.relative(dir, f));
    expect(m.skipped!.map((e) => e.sample)).to.deep.equal([idx(files[5]), idx(files[7])].sort((a, b) => a - b));
    expect(m.skipped!.map((e) => e.file)).to.include(files[5]);
    expect((s.skipped as unknown[]).length).to.equal(2);
    const rd = openCache(path.join(root, 'bad-skip'));
    try {
      expect(Array.from(rd.readLogits([idx(files[5])], [0]))).to.deep.equal([0, 0, 0]);
      expect(Array.from(rd.readLogits([0], [0])).some((v) => v !== 0)).to.equal(true);
    } finally {
      rd.close();
    }
  });

  it('BAD CALL - unknown interpolation, no rendering for a folder, a class map naming a missing class, a decompression bomb', async () => {
    const out = path.join(root, 'never');
    const bad = async (o: Partial<PrecomputeRunOptions>, re: RegExp) => {
      try {
        await runPrecompute(opts({ teacher, data: `folder:${data}`, out, classMap: '[0, 1, 2]', ...o }));
        expect.fail(`should refuse: ${JSON.stringify(o)}`);
      } catch (e) {
        expect(e, String(e)).to.be.instanceOf(UsageError);
        expect((e as Error).message).to.match(re);
      }
      expect(fs.existsSync(out)).to.equal(false);
    };
    await bad({ preprocess: '{"resize": 10, "crop": 8, "interpolation": "cubic"}' }, /interpolation: must be one of nearest, bilinear, bicubic, lanczos, box, hamming/);
    await bad({ preprocess: '{"scale": 0.5}' }, /images may differ in size .*not scanned/);
    await bad({ classMap: '{"ant": 0, "bee": 1, "cow": 2}' }, /names "cow", which is not a class of the data set/);
    await bad({ classMap: '[0, 1, 9]' }, /maps to output 9, but tiny\.onnx has outputs 0…4/);
    await bad({ maxPixels: 100 }, /pixels|limit|bomb/i);
  });

  it('kill -9 mid-run (seeded fault points), then the same command: byte-identical to a clean run', async () => {
    const args = (out: string) => ['precompute', '--teacher', teacher, '--data', `folder:${data}`, '--out', out, '--device', 'cpu', '--threads', '1',
      '--batch', '6', '--shard-rows', '8', '--progress', 'off', '--preprocess', PRE, '--class-map', '[1, 2, 3]'];
    const clean = path.join(root, 'k-clean');
    const out = path.join(root, 'k-killed');
    await killAndResume(args, clean, out, ['cache-append:5', 'cache-shard-tmp:1', 'cache-append:27', 'cache-shard-journaled:4']);
    expectSameBytes(snapshot(clean), snapshot(out));
  });
});
