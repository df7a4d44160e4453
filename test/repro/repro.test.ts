/**
 * `tfkd repro RUN` (src/repro/repro.ts, src/cli/commands/repro.ts) on small real runs (synthetic
 * data, mlp, cpu backend): a finished run reproduces bit for bit; a changed recorded value is
 * reported as not reproduced (exit 1) or accepted within --tolerance; a modified checkpoint is
 * reported as that before anything re-runs; unfinished runs and bad options exit 2.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../src/errors.js';
import { replayStretches, repro } from '../../src/repro/repro.js';
import { train } from '../../src/student/trainer/train.js';
import { cli } from '../cli/train-helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { DATA, writeImageCache } from '../student/trainer/trainer-helpers.js';

const CONFIG = { data: 'synthetic:64:3:8x8x1:5', model: 'mlp', loss: 'ce' as const, epochs: 2, batch: 16, seed: 4, backend: 'cpu' as const, testLimit: 32 };

describe('repro: re-run a finished run and compare (tfkd repro)', function () {
  this.timeout(120000);
  let tmp = '';
  let run = '';
  before(async () => {
    tmp = tmpDir('repro-test');
    run = path.join(tmp, 'run');
    await train({ config: CONFIG, out: run });
  });
  after(() => rmDir(tmp));

  /** A copy of the finished run to modify. */
  const copy = (name: string): string => {
    const dst = path.join(tmp, name);
    fs.cpSync(run, dst, { recursive: true });
    return dst;
  };

  it('records the sha256 of every checkpoint and the native thread count in the manifest', () => {
    const m = JSON.parse(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8'));
    expect(Object.keys(m.outputs).sort()).to.deep.equal(['checkpoints/best/weights.safetensors', 'checkpoints/last/weights.safetensors']);
    for (const sha of Object.values(m.outputs)) expect(sha).to.match(/^[0-9a-f]{64}$/);
    expect(m.backend).to.have.property('nativeThreads', null); // cpu backend: no native kernels
  });

  it('a finished run reproduces bit for bit: every metric value, both checkpoints, same environment', async () => {
    const r = await repro(run);
    expect(r.verdict).to.equal('identical');
    expect(r.epochsCompared).to.equal(2);
    expect(r.valuesCompared).to.equal(2 * 8); // 9 fields a line, `seconds` excluded
    expect(r.metricDiffs).to.deep.equal([]);
    expect(r.checkpoints.map((c) => [c.file, c.identical])).to.deep.equal([
      ['checkpoints/best/weights.safetensors', true],
      ['checkpoints/last/weights.safetensors', true],
    ]);
    expect(r.environment).to.deep.equal([]);
    expect(fs.existsSync(r.out), 'the temporary re-run is removed').to.equal(false);
  });

  it('CLI: exit 0 and the report; --out keeps the re-run; --stop-after compares the first epochs only', async () => {
    const keep = path.join(tmp, 'again');
    const ok = await cli('repro', run, '--out', keep);
    expect(ok.code, ok.err).to.equal(0);
    expect(ok.out).to.match(/metrics {6}16 values over 2 epochs: identical/);
    expect(ok.out).to.match(/result {7}reproduced bit for bit/);
    expect(fs.existsSync(path.join(keep, 'summary.json'))).to.equal(true);
    const part = await cli('repro', run, '--stop-after', '1');
    expect(part.code, part.err).to.equal(0);
    expect(part.out).to.match(/8 values over 1 epoch: identical/);
    expect(part.out).to.match(/weights {6}not compared/);
  });

  it('a recorded value that differs: NOT reproduced, exit 1 naming it; accepted within --tolerance', async () => {
    const dir = copy('edited-metrics');
    const file = path.join(dir, 'metrics.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    lines[1].train_loss *= 1 + 1e-6;
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const bad = await cli('repro', dir);
    expect(bad.code).to.equal(1);
    expect(bad.out).to.match(/1 of 16 values differ; largest: epoch 2 train_loss/);
    expect(bad.out).to.match(/NOT reproduced/);
    expect(bad.err).to.match(/not reproduced: epoch 2 train_loss/);
    const tol = await cli('repro', dir, '--tolerance', '1e-5');
    expect(tol.code, tol.err).to.equal(0);
    expect(tol.out).to.match(/reproduced within relative tolerance 0\.00001/);
  });

  it('a checkpoint modified after the run: reported as changed (exit 1) before anything re-runs', async () => {
    const dir = copy('edited-weights');
    const w = path.join(dir, 'checkpoints', 'last', 'weights.safetensors');
    const bytes = fs.readFileSync(w);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(w, bytes);
    const r = await cli('repro', dir);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/weights\.safetensors changed since the run wrote it/);
    expect(r.err).to.not.match(/re-running/);
  });

  it('a run whose manifest.json or config.json is not JSON: exit 1, one line naming the file (repro and train --resume)', async () => {
    for (const file of ['manifest.json', 'config.json']) {
      const dir = copy(`corrupt-${file}`);
      fs.writeFileSync(path.join(dir, file), '{"schema": "tfkd-ru');
      const r = await cli('repro', dir);
      expect(r.code, r.err).to.equal(1);
      expect(r.err.trim().split('\n')).to.have.length(1);
      expect(r.err).to.include(`${path.join(dir, file)}: corrupt — not valid JSON`);
    }
    const r = await cli('train', '--out', path.join(tmp, 'corrupt-config.json'), '--resume');
    expect(r.code, r.err).to.equal(1);
    expect(r.err).to.include(`${path.join(tmp, 'corrupt-config.json', 'config.json')}: corrupt — not valid JSON`);
  });

  it('from another directory: a run trained with a relative --cache reproduces (it records the cache absolute); one that recorded it relative (an older tfkd) reproduces from its own directory and elsewhere names the path (exit 2)', async () => {
    const root = fs.realpathSync(tmp);
    const elsewhere = path.join(root, 'elsewhere');
    fs.mkdirSync(elsewhere);
    await writeImageCache(path.join(root, 'cache'));
    const cwd = process.cwd();
    const inDir = async <T>(dir: string, fn: () => Promise<T>): Promise<T> => {
      process.chdir(dir);
      try {
        return await fn();
      } finally {
        process.chdir(cwd);
      }
    };
    const kd = path.join(root, 'kd');
    await inDir(root, () => train({ config: { ...CONFIG, data: DATA, loss: 'kd', cache: ['cache'], limit: 64 }, out: 'kd' }));
    const ok = await inDir(elsewhere, () => cli('repro', kd));
    expect(ok.code, ok.err).to.equal(0);
    expect(ok.out).to.match(/result {7}reproduced bit for bit/);
    // The record of an older tfkd: the cache as it was given.
    const old = path.join(root, 'kd-old');
    fs.cpSync(kd, old, { recursive: true });
    for (const file of ['config.json', 'manifest.json']) {
      const f = path.join(old, file);
      const j = JSON.parse(fs.readFileSync(f, 'utf8'));
      if (file === 'config.json') j.cache = ['cache'];
      else j.caches[0].dir = 'cache';
      fs.writeFileSync(f, JSON.stringify(j, null, 2));
    }
    const here = await inDir(root, () => cli('repro', old));
    expect(here.code, here.err).to.equal(0);
    expect(here.out).to.match(/result {7}reproduced bit for bit/);
    const there = await inDir(elsewhere, () => cli('repro', old));
    expect(there.code).to.equal(2);
    expect(there.out).to.equal('');
    expect(there.err).to.equal(`tfkd: ${old} records the cache cache relative to the directory it was trained in, and ${elsewhere} has none\nhint: run tfkd repro from that directory\n`);
  });

  // A resume may change --epochs, --backend and --eval-batch; repro used to re-run every epoch
  // with the last session's options and report the run NOT reproduced (a cosine schedule of the
  // other length, another backend's arithmetic, the test loss summed in other batches).
  for (const [what, first, second] of [
    ['--epochs 2 then --resume --epochs 3 (cosine)', { epochs: 2, schedule: 'cosine' }, { epochs: 3, schedule: 'cosine' }],
    ['--stop-after 1, then --resume on another backend with another --eval-batch', { epochs: 2, stopAfter: 1 }, { epochs: 2, backend: 'wasm', evalBatch: 7 }],
  ] as const) {
    it(`a run resumed with other options is replayed session by session and reproduces bit for bit: ${what}`, async () => {
      const dir = path.join(tmp, `sessions-${what.length}`);
      const { stopAfter, ...c1 } = { stopAfter: undefined, ...first } as Record<string, unknown>;
      await train({ config: { ...CONFIG, ...c1 } as never, out: dir, stopAfter: stopAfter as number | undefined });
      await train({ config: { ...CONFIG, ...second } as never, out: dir, resume: true });
      const sessions = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).sessions;
      expect(sessions).to.have.length(2);
      expect(sessions[1].after_epoch).to.equal(stopAfter ?? first.epochs);
      const lines: string[] = [];
      const r = await repro(dir, { info: (l) => lines.push(l) });
      expect(r.verdict, JSON.stringify(r.metricDiffs.slice(0, 2))).to.equal('identical');
      expect(r.epochsCompared).to.equal(second.epochs);
      expect(lines.filter((l) => /^ {2}session [12] of 2: /.test(l))).to.have.length(2);
    });
  }

  it('BAD CALL - a run resumed inside an epoch with other options cannot be replayed: exit 2 before anything runs', () => {
    const s = (after_epoch: number, epochs: number, after_batch?: number) => ({ after_epoch, ...(after_batch ? { after_batch } : {}), epochs, backend: 'cpu', eval_batch: 256 });
    expect(replayStretches('R', [s(0, 2), s(1, 2, 3)])).to.have.length(1); // same options: one stretch
    expect(replayStretches('R', [s(0, 2), s(2, 3), s(2, 3)])).to.have.length(2);
    expect(() => replayStretches('R', [s(0, 2), s(1, 3, 3)])).to.throw(UsageError, /^R was resumed inside epoch 2 \(after batch 3\) with other options/);
  });

  // The trainer's refusal was passed on with its hint, `pass --backend wasm or cpu` — an option
  // repro does not have.
  it('BAD CALL - a run of a backend this machine lacks (webgpu without a Vulkan driver): exit 2, saying repro needs that backend', async () => {
    const dir = copy('webgpu-run');
    const mf = path.join(dir, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
    m.backend.name = 'webgpu';
    fs.writeFileSync(mf, JSON.stringify(m));
    const saved = process.env.VK_DRIVER_FILES;
    process.env.VK_DRIVER_FILES = path.join(tmp, 'no-icd-here');
    try {
      const r = await cli('repro', dir);
      expect(r.code, r.err).to.equal(2);
      const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('re-running '));
      expect(lines).to.have.length(2);
      expect(lines[0]).to.match(new RegExp(`^tfkd: ${dir} trained on webgpu, which is not available: webgpu: not available \\(`));
      expect(lines[1]).to.equal('hint: repro re-runs a run on the backend it trained on: run it on a machine that has it');
    } finally {
      if (saved === undefined) delete process.env.VK_DRIVER_FILES;
      else process.env.VK_DRIVER_FILES = saved;
    }
  });

  it('BAD CALL - an unfinished run, a directory that is no run, bad options → exit 2', async () => {
    const partial = path.join(tmp, 'partial');
    await train({ config: CONFIG, out: partial, stopAfter: 1 });
    for (const [args, re] of [
      [[partial], /is not finished \(no summary\.json\)/],
      [[tmp], /is not a tfkd run/],
      [[run, '--tolerance', '-1'], /--tolerance/],
      [[run, '--stop-after', '3'], /--stop-after must be an integer in \[1, 2\]/],
    ] as Array<[string[], RegExp]>) {
      const r = await cli('repro', ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
      expect(r.err).to.match(re);
    }
  });
});
