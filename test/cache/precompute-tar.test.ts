/**
 * A sequential source end to end: tar:DIR (WebDataset shards) precomputes — streamed, with or
 * without render workers, in parts, resumed after kill -9 at seeded fault points — to the same rows
 * as the list: of the same images, and trains to the same weights.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openCache } from '../../src/cache/reader.js';
import { runPrecompute, type PrecomputeRunOptions } from '../../src/cache/precompute-run.js';
import { train } from '../../src/student/trainer/train.js';
import type { TrainConfigInput } from '../../src/student/trainer/config.js';
import { makeTarShards } from '../data/tar-fixture.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { expectSameBytes, pinned, snapshot } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { killAndResume } from '../helpers/kill-resume.js';

const PRE = '{"resize": 10, "crop": 8, "interpolation": "bicubic"}';
const N = 40;
const V = 3;

describe('cache/precompute over tar: shards (a sequential source)', function () {
  this.timeout(180000);
  let root: string;
  let fx: Awaited<ReturnType<typeof makeTarShards>>;
  let teacher: string;
  const opts = (o: Partial<PrecomputeRunOptions> & { data: string; out: string }): PrecomputeRunOptions => ({
    teacher, split: 'train', device: 'cpu', threads: 1, batch: 5, dtype: 'f32', views: V, augment: 'rrc:0.3-1,flip', augmentSeed: 9, shardRows: 8, preprocess: PRE, ...o,
  });
  const rows = (dir: string): Float32Array => {
    const c = openCache(dir);
    try {
      const samples = Int32Array.from({ length: N * V }, (_, g) => Math.floor(g / V));
      return c.readLogits(samples, Int32Array.from({ length: N * V }, (_, g) => g % V));
    } finally {
      c.close();
    }
  };
  before(async () => {
    root = tmpDir('ptar');
    fx = await makeTarShards(root, N, 3, 7);
    teacher = writeTinyTeacher(root, { height: 8, width: 8, channels: 3, numClasses: 3 });
  });
  after(() => rmDir(root));

  it('streams to the rows of the list: of the same images, with 0 or 2 render workers (views across batch edges)', async () => {
    for (const w of [0, 2]) await runPrecompute(opts({ data: `tar:${fx.tarDir}`, out: path.join(root, `tar-${w}`), renderWorkers: w }));
    await runPrecompute(opts({ data: `list:${fx.list}`, out: path.join(root, 'list'), renderWorkers: 2 }));
    expectSameBytes(pinned(path.join(root, 'tar-0')), pinned(path.join(root, 'tar-2')));
    const want = rows(path.join(root, 'list'));
    expect(Buffer.from(rows(path.join(root, 'tar-0')).buffer).equals(Buffer.from(want.buffer))).to.equal(true);
    expect(want.some((x) => x !== 0)).to.equal(true);
  });

  it('in parts (each starting inside a shard), each part\'s rows are the whole run\'s', async () => {
    const parts = [0, 1, 2].map((i) => path.join(root, `part-${i}`));
    for (const [i, out] of parts.entries()) await runPrecompute(opts({ data: `tar:${fx.tarDir}`, out, shard: `${i}/3`, renderWorkers: i === 1 ? 0 : 2 }));
    const whole = rows(path.join(root, 'tar-0'));
    const K = 3;
    for (const dir of parts) {
      const c = openCache(dir);
      try {
        const s = Int32Array.from({ length: (c.sampleEnd - c.sampleStart) * V }, (_, g) => c.sampleStart + Math.floor(g / V));
        const got = c.readLogits(s, Int32Array.from(s, (_, g) => g % V));
        expect(Buffer.from(got.buffer).equals(Buffer.from(whole.buffer, c.sampleStart * V * K * 4, got.byteLength)), dir).to.equal(true);
      } finally {
        c.close();
      }
    }
  });

  it('kill -9 of a part at seeded fault points, then the same command: byte-identical to a clean run', async () => {
    const args = (out: string) => ['precompute', '--teacher', teacher, '--data', `tar:${fx.tarDir}`, '--out', out, '--device', 'cpu', '--threads', '1',
      '--batch', '5', '--shard-rows', '8', '--views', String(V), '--augment', 'rrc:0.3-1,flip', '--augment-seed', '9', '--shard', '1/2', '--progress', 'off', '--preprocess', PRE];
    const clean = path.join(root, 'k-clean');
    const out = path.join(root, 'k-killed');
    // Part 1/2 holds samples 20…39 = global rows 60…119 (shards of 8 rows: 0…7).
    await killAndResume(args, clean, out, ['cache-append:64', 'cache-shard-tmp:1', 'cache-append:85', 'cache-shard-journaled:4']);
    expectSameBytes(snapshot(clean), snapshot(out));
  });

  it('trains from tar: shards and their cache to the same weights as from the list: and its cache', async () => {
    const cfg = (data: string, cache: string) =>
      ({ data, model: 'mlp', widthMultiplier: 1 / 16, loss: 'kd', cache: [cache], epochs: 2, batch: 8, seed: 4, backend: 'wasm', inputSize: [12, 12] }) as unknown as TrainConfigInput;
    const a = await train({ config: cfg(`tar:${fx.tarDir}`, path.join(root, 'tar-2')), out: path.join(root, 'train-tar'), renderWorkers: 2 });
    const b = await train({ config: cfg(`list:${fx.list}`, path.join(root, 'list')), out: path.join(root, 'train-list'), renderWorkers: 0 });
    expect(a.complete).to.equal(true);
    const w = (d: string) => fs.readFileSync(path.join(root, d, 'checkpoints', 'last', 'weights.safetensors'));
    expect(w('train-tar').equals(w('train-list'))).to.equal(true);
    expect(a.metrics.map((m) => m.train_loss)).to.deep.equal(b.metrics.map((m) => m.train_loss));
  });
});
