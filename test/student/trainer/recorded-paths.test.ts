/**
 * The paths a run records (resolve.ts absolutePaths): `cache`, `testCache`, a data spec's directory
 * or list file and a `preprocess` file are made absolute once, where the config comes in, so
 * `--resume` (and `tfkd repro`, test/repro) work from any directory. A run recorded by an older tfkd,
 * with the paths as they were given, still resumes from the directory it was made in — a relative
 * and an absolute form of the same cache are the same option — and from another one is told so.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { absolutePaths, mergeResume } from '../../../src/student/trainer/resolve.js';
import { train } from '../../../src/student/trainer/train.js';
import type { TrainConfig, TrainConfigInput } from '../../../src/student/trainer/config.js';
import { DATA, dirBytes, rmDir, tmpDir, writeImageCache } from './trainer-helpers.js';

const BASE = { data: DATA, model: 'mlp', widthMultiplier: 1 / 16, loss: 'kd', epochs: 2, batch: 64, limit: 128, testLimit: 64, seed: 3, backend: 'wasm' } as const;

/** Runs `fn` with `dir` as the working directory. */
async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(cwd);
  }
}

const readConfig = (run: string) => JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as TrainConfig;

describe('student/trainer: the paths a run records are absolute', function () {
  this.timeout(120000);
  let root = '';
  let elsewhere = '';
  before(async () => {
    root = fs.realpathSync(tmpDir('recorded-paths'));
    elsewhere = path.join(root, 'elsewhere');
    fs.mkdirSync(elsewhere);
    await writeImageCache(path.join(root, 'cache'));
  });
  after(() => rmDir(root));

  it('absolutePaths: caches, the test cache, a data directory or list file, a preprocess file; nothing else, no key added', () => {
    const at = (p: string) => path.resolve(p);
    expect(absolutePaths({ data: 'folder:photos', cache: ['c1', '/abs/c2'], testCache: 'tc', preprocess: 'timm:cfg.json', model: 'onnx:m.onnx', loss: './l.mjs' })).to.deep.equal({
      data: `folder:${at('photos')}`,
      cache: [at('c1'), '/abs/c2'],
      testCache: at('tc'),
      preprocess: `timm:${at('cfg.json')}`,
      model: 'onnx:m.onnx',
      loss: './l.mjs',
    });
    expect(absolutePaths({ data: 'list:sub/val.txt', preprocess: 'hf:p.json' })).to.deep.equal({ data: `list:${at('sub/val.txt')}`, preprocess: `hf:${at('p.json')}` });
    for (const data of ['fashion-mnist', 'fashion-mnist:/usr/share/datasets/fashion-mnist', DATA, 'nonsense:x']) expect(absolutePaths({ data })).to.deep.equal({ data });
    for (const preprocess of ['imagenet', '{"channels": "L"}', 'no-such-file.json']) expect(absolutePaths({ preprocess })).to.deep.equal({ preprocess });
    expect(absolutePaths({ loss: 'ce' })).to.deep.equal({ loss: 'ce' });
  });

  it('mergeResume: a cache given relative or absolute is the run\'s cache either way (the saved form is kept); another cache is refused', () => {
    const saved = { ...BASE, cache: ['cache'], testCache: '/t/tc' } as unknown as TrainConfig;
    const given = { cache: [path.resolve('cache')], testCache: '/t/tc' } as TrainConfigInput;
    expect(mergeResume(saved, given, new Set(['cache', 'testCache']))).to.deep.include({ cache: ['cache'], testCache: '/t/tc' });
    const abs = { ...BASE, cache: [path.resolve('cache')] } as unknown as TrainConfig;
    expect(mergeResume(abs, { cache: ['cache'] } as TrainConfigInput, new Set(['cache']))).to.deep.include({ cache: [path.resolve('cache')] });
    expect(() => mergeResume(abs, { cache: ['other'] } as TrainConfigInput, new Set(['cache']))).to.throw(UsageError, /cache: run has .*, given \[".*other"\]/);
  });

  it('a run started with a relative --cache records it absolute and resumes from another directory', async () => {
    const run = path.join(root, 'relative');
    const first = await inDir(root, () => train({ config: { ...BASE, cache: ['cache'] }, out: 'relative', stopAfter: 1 }));
    expect(first.complete).to.equal(false);
    expect(readConfig(run).cache).to.deep.equal([path.join(root, 'cache')]);
    const manifest = JSON.parse(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8')) as { caches: Array<{ dir: string }> };
    expect(manifest.caches.map((c) => c.dir)).to.deep.equal([path.join(root, 'cache')]);
    // From elsewhere, with the cache named relative to there: the same cache, accepted.
    const resumed = await inDir(elsewhere, () => train({ config: { cache: ['../cache'] } as TrainConfigInput, explicit: new Set(['cache']), out: run, resume: true }));
    expect(resumed.complete).to.equal(true);
    expect(readConfig(run).cache).to.deep.equal([path.join(root, 'cache')]);
  });

  it('a run that recorded a relative cache (an older tfkd) resumes from its own directory; from another one it is named, and nothing changes', async () => {
    const run = path.join(root, 'old');
    await train({ config: { ...BASE, cache: [path.join(root, 'cache')] }, out: run, stopAfter: 1 });
    // What tfkd wrote before paths were made absolute: the path as given.
    for (const [file, edit] of [
      ['config.json', (j: Record<string, unknown>) => (j.cache = ['cache'])],
      ['manifest.json', (j: Record<string, unknown>) => ((j.caches as Array<{ dir: string }>)[0].dir = 'cache')],
    ] as const) {
      const f = path.join(run, file);
      const j = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
      edit(j);
      fs.writeFileSync(f, JSON.stringify(j, null, 2));
    }
    const before = dirBytes(run);
    const err = await inDir(elsewhere, () => train({ config: {} as TrainConfigInput, explicit: new Set(), out: run, resume: true })).catch((e: Error) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as UsageError).message).to.equal(`${run} records the cache cache relative to the directory it was trained in, and ${elsewhere} has none`);
    expect((err as UsageError).hint).to.equal('resume the run from that directory');
    expect(dirBytes(run)).to.deep.equal(before);
    // From its own directory, with the cache's absolute form given: the same cache; config.json keeps its form.
    const resumed = await inDir(root, () => train({ config: { cache: [path.join(root, 'cache')] } as TrainConfigInput, explicit: new Set(['cache']), out: run, resume: true }));
    expect(resumed.complete).to.equal(true);
    expect(readConfig(run).cache).to.deep.equal(['cache']);
  });
});
