import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { openCache } from '../../../src/cache/reader.js';
import { augment, parseAugmentSpec } from '../../../src/data/augment.js';
import { sampleBytes } from '../../../src/data/dataset.js';
import { openDataset } from '../../../src/data/open.js';
import { evaluate, modelForward } from '../../../src/student/evaluate.js';
import { tf } from '../../../src/student/tf.js';
import { loadCheckpointModel, readCheckpoint, resolveCheckpointDir } from '../../../src/student/trainer/checkpoint.js';
import { metricValues, readMetrics } from '../../../src/student/trainer/run-dir.js';
import { applyViews, cacheSoftTargets, planViews, viewsFor } from '../../../src/student/trainer/targets.js';
import { train } from '../../../src/student/trainer/train.js';
import { evaluateTarget } from '../../../src/student/evaluate-target.js';
import { exportRun } from '../../../src/export/export-run.js';
import { type TrainRequest } from '../../../src/student/trainer/request.js';
import type { TrainConfigInput } from '../../../src/student/trainer/config.js';
import { DATA, DATA_K3, dirBytes, imageLogits, OTHER_DATA, tmpDir, writeImageCache } from './trainer-helpers.js';

/** A tiny run: 128 training samples in 2 batches, 64 test samples, a 1/16-width mlp on wasm. */
const BASE: TrainConfigInput = {
  data: DATA,
  model: 'mlp',
  widthMultiplier: 1 / 16,
  loss: 'ce',
  epochs: 1,
  batch: 64,
  limit: 128,
  testLimit: 64,
  seed: 3,
  backend: 'wasm',
};

describe('student trainer', function () {
  this.timeout(120000);
  let root: string;
  let cacheA: string;
  let cacheB: string;
  let cacheViews: string;
  let n = 0;
  const out = () => path.join(root, `run-${n++}`);
  const run = (config: Partial<TrainConfigInput>, extra: Partial<TrainRequest> = {}) =>
    train({ config: { ...BASE, ...config } as TrainConfigInput, out: out(), ...extra });

  before(async () => {
    root = tmpDir('trainer');
    cacheA = path.join(root, 'cache-a');
    cacheB = path.join(root, 'cache-b');
    cacheViews = path.join(root, 'cache-views');
    await writeImageCache(cacheA);
    await writeImageCache(cacheB, { augmentSeed: 9 });
    await writeImageCache(cacheViews, { views: 3, augment: 'crop:2,flip', augmentSeed: 11 });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  describe('every loss trains one epoch, both fidelities', () => {
    for (const fidelity of ['paper', 'official'] as const) {
      for (const [loss, caches] of [
        ['ce', []],
        ['lsr', []],
        ['tfkd-reg', []],
        ['kd', ['A']],
        ['kd', ['A', 'B']],
        ['tfkd-self', ['A']],
      ] as Array<[string, string[]]>) {
        // ce computes the same in both modes: official is refused for it (unused-options.test.ts).
        if (loss === 'ce' && fidelity === 'official') continue;
        it(`${loss}${caches.length > 1 ? ' (two caches)' : ''} · ${fidelity}`, async () => {
          const cache = caches.map((c) => (c === 'A' ? cacheA : cacheB));
          const r = await run({ loss, fidelity, cache });
          expect(r.complete).to.equal(true);
          expect(r.metrics).to.have.length(1);
          const m = r.metrics[0];
          expect(m.train_loss).to.be.a('number').and.satisfy(Number.isFinite);
          expect(m.test_acc).to.be.within(0, 1);
          expect(r.config.fidelity).to.equal(fidelity);
          expect(fs.existsSync(path.join(r.out, 'checkpoints', 'last', 'weights.safetensors'))).to.equal(true);
          const manifest = JSON.parse(fs.readFileSync(path.join(r.out, 'manifest.json'), 'utf8'));
          expect(manifest.caches.map((c: { dir: string }) => c.dir)).to.deep.equal(cache);
          for (const c of manifest.caches) expect(c.shards[0].sha256).to.match(/^[0-9a-f]{64}$/);
        });
      }
    }
  });

  it('learns: 4 epochs of ce on the synthetic set beat chance by far', async () => {
    const r = await run({ epochs: 4, widthMultiplier: 0.25, limit: 256, batch: 32 });
    expect(r.summary.best_test_acc).to.be.greaterThan(0.8);
    expect(r.summary.best_epoch).to.be.within(1, 5);
  });

  it('keeps the number of live tensors constant across steps and epochs', async () => {
    const counts: number[] = [];
    await run({ epochs: 2, loss: 'kd', cache: [cacheA, cacheB] }, { hooks: { onStep: () => counts.push(tf.memory().numTensors) } });
    expect(counts).to.have.length(4);
    // The first step creates the optimizer's momentum buffers; from then on nothing may accumulate.
    expect(new Set(counts.slice(1)).size, `numTensors per step: ${counts.join(', ')}`).to.equal(1);
  });

  it('is deterministic: the same seed gives identical metric values, another seed does not', async () => {
    const cfg = { epochs: 2, loss: 'kd', cache: [cacheViews] };
    const a = await run(cfg);
    const b = await run(cfg);
    const c = await run({ ...cfg, seed: 4 });
    expect(readMetrics(path.join(a.out, 'metrics.jsonl')).map(metricValues)).to.deep.equal(readMetrics(path.join(b.out, 'metrics.jsonl')).map(metricValues));
    expect(fs.readFileSync(path.join(a.out, 'summary.json'), 'utf8')).to.equal(fs.readFileSync(path.join(b.out, 'summary.json'), 'utf8'));
    expect(c.metrics.map(metricValues)).to.not.deep.equal(a.metrics.map(metricValues));
  });

  it('resumes exactly: stopped after 2 of 3 epochs and resumed == an uninterrupted run', async () => {
    const cfg = { epochs: 3, loss: 'kd', cache: [cacheViews], optimizer: 'sgd' as const, nesterov: true };
    const straight = await run(cfg);
    const dir = out();
    const first = await train({ config: { ...BASE, ...cfg } as TrainConfigInput, out: dir, stopAfter: 2 });
    expect(first.complete).to.equal(false);
    expect(first.metrics).to.have.length(2);
    // summary.json is the commit record: absent until every epoch is done.
    expect(fs.existsSync(path.join(dir, 'summary.json'))).to.equal(false);
    const resumed = await train({ config: {} as TrainConfigInput, explicit: new Set(), out: dir, resume: true });
    expect(resumed.complete).to.equal(true);
    expect(readMetrics(path.join(dir, 'metrics.jsonl')).map(metricValues)).to.deep.equal(straight.metrics.map(metricValues));
    expect(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')).to.equal(fs.readFileSync(path.join(straight.out, 'summary.json'), 'utf8'));
  });

  it('resumes with more epochs (step schedule, Adam): 2 epochs then --epochs 3 == 3 epochs', async () => {
    const cfg = { schedule: 'step' as const, milestones: [2], optimizer: 'adam' as const, loss: 'tfkd-reg' };
    const straight = await run({ ...cfg, epochs: 3 });
    const dir = out();
    await train({ config: { ...BASE, ...cfg, epochs: 2 } as TrainConfigInput, out: dir });
    const resumed = await train({ config: { epochs: 3 } as TrainConfigInput, explicit: new Set(['epochs']), out: dir, resume: true });
    expect(resumed.metrics.map(metricValues)).to.deep.equal(straight.metrics.map(metricValues));
    expect(resumed.summary).to.deep.equal(straight.summary);
  });

  it('BAD CALL - --resume --epochs below the epochs a run has completed (stopped or finished) is refused, the run untouched; as many still ends a finished run', async () => {
    const fewer = (dir: string) => train({ config: { epochs: 2 } as TrainConfigInput, explicit: new Set(['epochs']), out: dir, resume: true }).catch((e: Error) => e);
    const stopped = out();
    await train({ config: { ...BASE, epochs: 4 }, out: stopped, stopAfter: 3 });
    const finished = out();
    await train({ config: { ...BASE, epochs: 3 }, out: finished });
    for (const dir of [stopped, finished]) {
      const before = dirBytes(dir);
      const err = await fewer(dir);
      expect(err).to.be.instanceOf(UsageError);
      expect((err as UsageError).message).to.equal(`--epochs 2: ${dir} is already past epoch 2 (its last checkpoint is after epoch 3)`);
      expect((err as UsageError).hint).to.equal('resume with --epochs 3 or more');
      expect(dirBytes(dir), dir).to.deep.equal(before);
    }
    const summary = fs.readFileSync(path.join(finished, 'summary.json'), 'utf8');
    const again = await train({ config: { epochs: 3 } as TrainConfigInput, explicit: new Set(['epochs']), out: finished, resume: true });
    expect(again.complete).to.equal(true);
    expect(again.metrics).to.have.length(3);
    expect(fs.readFileSync(path.join(finished, 'summary.json'), 'utf8')).to.equal(summary);
  });

  // --resume --save-at 1,3 after epoch 2 was accepted: config.json recorded [1, 3] and epoch-1/
  // was never written.
  it('BAD CALL - --resume --save-at a point the run has passed without a checkpoint there is refused, the run untouched; one it holds, or a later one, is kept', async () => {
    const dir = out();
    await train({ config: { ...BASE, epochs: 3, saveAt: { unit: 'epoch', at: [2] } }, out: dir, stopAfter: 2 });
    const before = dirBytes(dir);
    const resume = (...at: number[]) => train({ config: { epochs: 3, saveAt: { unit: 'epoch', at } } as TrainConfigInput, explicit: new Set(['epochs', 'saveAt']), out: dir, resume: true }).catch((e: Error) => e);
    const err = await resume(1, 3);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as UsageError).message).to.equal(`--save-at: ${dir} is already past epoch 1 (its last checkpoint is after epoch 2) and holds no checkpoint there`);
    expect(dirBytes(dir)).to.deep.equal(before);
    const ok = await resume(2, 3);
    expect(ok).to.not.be.instanceOf(Error);
    for (const c of ['epoch-2', 'epoch-3']) expect(fs.existsSync(path.join(dir, 'checkpoints', c)), c).to.equal(true);
  });

  describe("timm's recipe: --optimizer adamw, --skip-decay, --clip-grad", () => {
    const recipe = { optimizer: 'adamw' as const, skipDecay: ['1d'], clipGrad: 0.5, loss: 'lsr', epochs: 3 };

    it('resolves AdamW\'s defaults (lr 1e-3, weight decay 0.01) into config.json; runs without the options keep config.json as before', async () => {
      const r = await run(recipe);
      const c = JSON.parse(fs.readFileSync(path.join(r.out, 'config.json'), 'utf8'));
      expect({ optimizer: c.optimizer, lr: c.lr, weightDecay: c.weightDecay, skipDecay: c.skipDecay, clipGrad: c.clipGrad }).to.deep.equal({ optimizer: 'adamw', lr: 0.001, weightDecay: 0.01, skipDecay: ['1d'], clipGrad: 0.5 });
      const plain = JSON.parse(fs.readFileSync(path.join((await run({})).out, 'config.json'), 'utf8'));
      expect(plain.weightDecay).to.equal(5e-4);
      expect(plain).to.not.have.any.keys('skipDecay', 'clipGrad');
    });

    it('resumes exactly: stopped after 2 of 3 epochs and resumed == an uninterrupted run', async () => {
      const straight = await run(recipe);
      const dir = out();
      await train({ config: { ...BASE, ...recipe } as TrainConfigInput, out: dir, stopAfter: 2 });
      await train({ config: {} as TrainConfigInput, explicit: new Set(), out: dir, resume: true });
      expect(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')).to.equal(fs.readFileSync(path.join(straight.out, 'summary.json'), 'utf8'));
      expect(readMetrics(path.join(dir, 'metrics.jsonl')).map(metricValues)).to.deep.equal(straight.metrics.map(metricValues));
    });

    it('each option changes the numbers: the clip (tight), the weights exempted from a large decay', async () => {
      const losses = async (c: Partial<TrainConfigInput>) => (await run({ ...recipe, epochs: 1, weightDecay: 1, ...c })).metrics.map(metricValues);
      const base = await losses({});
      // Under SGD: Adam's update hardly depends on the gradients' scale, which is all a clip changes.
      expect(await losses({ optimizer: 'sgd', clipGrad: 0.05 })).to.not.deep.equal(await losses({ optimizer: 'sgd', clipGrad: undefined }));
      expect(await losses({ skipDecay: undefined })).to.not.deep.equal(base);
      expect(await losses({ skipDecay: ['fc1/*'] })).to.not.deep.equal(base);
    });

    it('BAD CALL - a --skip-decay pattern that matches no weight is refused before the run directory exists', async () => {
      const dir = out();
      const err = await train({ config: { ...BASE, ...recipe, skipDecay: ['1d', 'pos_embed'] } as TrainConfigInput, out: dir }).catch((e) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect(err.message).to.match(/--skip-decay pos_embed: matches no trainable weight/);
      expect(fs.existsSync(dir)).to.equal(false);
    });
  });

  describe("--ema: timm's average of the weights", () => {
    const withEma = { ema: 0.9, loss: 'ce', epochs: 3, model: 'resnet8', widthMultiplier: 0.25, testLimit: null };

    it('the first update copies the weights; the second is torch.lerp(ema, w, 1 − d) in float32, BatchNorm statistics included', async () => {
      const r = await run({ ...withEma, epochs: 1, saveAt: { unit: 'step', at: [1, 2] } });
      const s1 = readCheckpoint(path.join(r.out, 'checkpoints', 'step-1'));
      const s2 = readCheckpoint(path.join(r.out, 'checkpoints', 'step-2'));
      expect(s1.ema).to.deep.equal(s1.weights);
      const lambda = Math.fround(1 - 0.9);
      let moved = 0;
      for (const [k, e] of Object.entries(s1.ema!)) {
        const w = s2.weights[k].data;
        const want = e.data.map((v, i) => Math.fround(v + Math.fround(lambda * Math.fround(w[i] - v))));
        expect(Array.from(s2.ema![k].data), k).to.deep.equal(Array.from(want));
        if (w.some((v, i) => v !== e.data[i])) moved++;
      }
      expect(Object.keys(s1.ema!).some((k) => k.includes('moving_mean')), 'BN statistics are averaged').to.equal(true);
      expect(moved, 'weights that moved in step 2').to.be.greaterThan(10);
    });

    it('is evaluated every epoch (metrics, summary); eval --ema and export --ema read the average', async () => {
      const r = await run(withEma);
      const last = r.metrics[r.metrics.length - 1];
      expect(last.ema_test_acc).to.be.a('number');
      expect(r.summary.ema_final_test_acc).to.equal(last.ema_test_acc);
      const ev = await evaluateTarget(r.out, { data: DATA, checkpoint: 'last', ema: true });
      expect(ev.accuracy).to.equal(last.ema_test_acc);
      expect(ev.loss).to.be.closeTo(last.ema_test_loss!, 1e-6);
      const plain = await evaluateTarget(r.out, { data: DATA, checkpoint: 'last' });
      expect(plain.loss).to.be.closeTo(last.test_loss, 1e-6);
      expect(plain.loss).to.not.equal(ev.loss);
      const m = path.join(root, 'ema.onnx');
      const ex = await exportRun(r.out, { out: m, checkpoint: 'last', ema: true });
      expect(ex.test_acc).to.equal(last.ema_test_acc);
      const onnx = await evaluateTarget(m, { data: DATA, device: 'cpu' });
      expect(onnx.accuracy).to.equal(last.ema_test_acc);
      expect(onnx.loss).to.be.closeTo(last.ema_test_loss!, 1e-4);
    });

    it('best-ema/ holds the epoch whose average tested best (timm\'s choice); eval --ema and export --ema default to it', async () => {
      const r = await run({ ...withEma, epochs: 4, saveAt: { unit: 'epoch', at: [1, 2, 3, 4] } });
      const accs = r.metrics.map((m) => m.ema_test_acc!);
      const bestEpoch = accs.indexOf(Math.max(...accs)) + 1; // the first epoch wins a tie
      // Here the average's best epoch is not the trained weights' (best/), so the two can be told apart.
      expect(bestEpoch, 'best-ema epoch vs best epoch').to.not.equal(r.summary.best_epoch);
      expect(r.summary.ema_best_epoch).to.equal(bestEpoch);
      const ck = path.join(r.out, 'checkpoints');
      const be = readCheckpoint(path.join(ck, 'best-ema'));
      expect(be.state.epoch).to.equal(bestEpoch);
      for (const f of ['weights.safetensors', 'ema.safetensors']) {
        expect(fs.readFileSync(path.join(ck, 'best-ema', f)).equals(fs.readFileSync(path.join(ck, `epoch-${bestEpoch}`, f))), f).to.equal(true);
      }
      const ev = await evaluateTarget(r.out, { data: DATA, ema: true });
      expect(path.basename(ev.checkpoint!)).to.equal('best-ema');
      expect(ev.accuracy).to.equal(r.summary.ema_best_test_acc);
      expect(path.basename((await evaluateTarget(r.out, { data: DATA })).checkpoint!)).to.equal('best');
      const ex = await exportRun(r.out, { out: path.join(root, 'best-ema.onnx'), ema: true });
      expect(ex.test_acc).to.equal(r.summary.ema_best_test_acc);
      // A run from before best-ema/ existed: --ema falls back to best/, as it read before.
      fs.rmSync(path.join(ck, 'best-ema'), { recursive: true });
      expect(path.basename((await evaluateTarget(r.out, { data: DATA, ema: true })).checkpoint!)).to.equal('best');
    });

    it('resumes exactly: stopped after 2 of 3 epochs and resumed == an uninterrupted run, the average included', async () => {
      const cfg = { ...withEma, emaWarmup: true };
      const straight = await run(cfg);
      const dir = out();
      await train({ config: { ...BASE, ...cfg } as TrainConfigInput, out: dir, stopAfter: 2 });
      await train({ config: {} as TrainConfigInput, explicit: new Set(), out: dir, resume: true });
      expect(readMetrics(path.join(dir, 'metrics.jsonl')).map(metricValues)).to.deep.equal(straight.metrics.map(metricValues));
      for (const c of ['last', 'best-ema']) {
        for (const f of ['weights.safetensors', 'ema.safetensors']) {
          expect(fs.readFileSync(path.join(dir, 'checkpoints', c, f)).equals(fs.readFileSync(path.join(straight.out, 'checkpoints', c, f))), `${c}/${f}`).to.equal(true);
        }
      }
    });

    it('BAD CALL - eval --ema of a run without an average, --ema-warmup without --ema', async () => {
      const r = await run({});
      const err = await evaluateTarget(r.out, { data: DATA, checkpoint: 'last', ema: true }).catch((e) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect(err.message).to.match(/holds no average of the weights/);
      const dir = out();
      const err2 = await train({ config: { ...BASE, emaWarmup: true } as TrainConfigInput, out: dir }).catch((e) => e);
      expect(err2).to.be.instanceOf(UsageError);
      expect(err2.message).to.match(/--ema-warmup needs --ema/);
      expect(fs.existsSync(dir)).to.equal(false);
    });
  });

  it('BAD CALL - --resume with a changed option that changes the numbers is refused', async () => {
    const dir = out();
    await train({ config: BASE, out: dir });
    const err = await train({ config: { lr: 0.3 } as TrainConfigInput, explicit: new Set(['lr']), out: dir, resume: true }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.message).to.match(/lr: run has 0\.05, given 0\.3/);
  });

  it('BAD CALL - an existing run directory without --resume is refused', async () => {
    const dir = out();
    await train({ config: BASE, out: dir });
    const err = await train({ config: BASE, out: dir }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.message).to.match(/already exists/);
  });

  it('writes config, manifest, metrics, summary and loadable best/last checkpoints', async () => {
    const r = await run({ epochs: 2 });
    const config = JSON.parse(fs.readFileSync(path.join(r.out, 'config.json'), 'utf8'));
    expect(config).to.include({ loss: 'ce', model: 'mlp', seed: 3, lr: 0.05, schedule: 'cosine', momentum: 0.9 });
    const manifest = JSON.parse(fs.readFileSync(path.join(r.out, 'manifest.json'), 'utf8'));
    expect(manifest.backend.name).to.equal('wasm');
    expect(manifest.versions.tfjs).to.equal(tf.version_core);
    expect(manifest.data.fingerprint).to.match(/^[0-9a-f]{64}$/);
    expect(manifest.preprocess).to.deep.equal({
      layout: 'NHWC', size: [8, 8], resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear', channels: 'L', scale: 1 / 255, mean: [0], std: [1],
    });
    const lines = readMetrics(path.join(r.out, 'metrics.jsonl'));
    expect(lines.map((l) => l.epoch)).to.deep.equal([1, 2]);
    for (const l of lines) expect(Object.keys(l).sort()).to.deep.equal(['epoch', 'lr', 'seconds', 'step', 'test_acc', 'test_ece', 'test_loss', 'train_acc', 'train_loss']);
    const summary = JSON.parse(fs.readFileSync(path.join(r.out, 'summary.json'), 'utf8'));
    expect(summary).to.include({ final_test_acc: lines[1].test_acc, final_test_ece: lines[1].test_ece, epochs: 2, backend: 'wasm', seed: 3, params: r.params });
    expect(summary.best_test_acc).to.equal(Math.max(...lines.map((l) => l.test_acc)));

    // The last checkpoint's weights reproduce the last epoch's test figures exactly.
    const ck = readCheckpoint(resolveCheckpointDir(r.out, 'last'));
    expect(ck.state.epoch).to.equal(2);
    const model = loadCheckpointModel(ck);
    const test = await openDataset(DATA, { split: 'test' });
    const { subset, hashU32 } = await import('../../../src/data/rng.js');
    const ev = await evaluate(modelForward(model, test.shape), test, { indices: subset(test.size, 64, hashU32(3, 0x7e57)) });
    model.dispose();
    expect(ev.accuracy).to.equal(lines[1].test_acc);
    expect(ev.loss).to.be.closeTo(lines[1].test_loss, 1e-12);
  });

  it('--save-at keeps epoch and step checkpoints, each with its test accuracy beside it', async () => {
    const a = await run({ epochs: 3, saveAt: { unit: 'epoch', at: [1, 3] } });
    const ck = path.join(a.out, 'checkpoints');
    expect(fs.readdirSync(ck).filter((f) => !f.startsWith('.')).sort()).to.deep.equal(['best', 'epoch-1', 'epoch-1.json', 'epoch-3', 'epoch-3.json', 'last']);
    const e1 = JSON.parse(fs.readFileSync(path.join(ck, 'epoch-1.json'), 'utf8'));
    expect(e1.test_acc).to.equal(a.metrics[0].test_acc);
    const b = await run({ epochs: 2, saveAt: { unit: 'step', at: [1, 3] } });
    const s3 = JSON.parse(fs.readFileSync(path.join(b.out, 'checkpoints', 'step-3.json'), 'utf8'));
    expect(s3.step).to.equal(3);
    expect(readCheckpoint(path.join(b.out, 'checkpoints', 'step-1')).state.step).to.equal(1);
    const err = (() => {
      try {
        resolveCheckpointDir(b.out, 'epoch-9');
      } catch (e) {
        return e as UsageError;
      }
      return null;
    })();
    expect(err).to.be.instanceOf(UsageError);
    expect(err!.message).to.match(/no checkpoint 'epoch-9'/);
    expect(err!.hint).to.equal('available: best, epoch-*, last, step-1, step-3'.replace('epoch-*, ', ''));
  });

  describe('soft targets and views', () => {
    for (const spec of ['crop:2,flip', 'crop:2,flip,randaugment:2:12']) it(`multi-view cache (${spec}): the student trains on exactly the view whose teacher row it reads`, async () => {
      const ds = await openDataset(DATA, { split: 'train' });
      const dir = spec === 'crop:2,flip' ? cacheViews : path.join(root, 'cache-views-policy');
      if (dir !== cacheViews) await writeImageCache(dir, { views: 3, augment: spec, augmentSeed: 11 });
      const caches = [openCache(dir)];
      try {
        const plan = planViews(null, caches, 3, false);
        expect(plan).to.deep.include({ mode: 'cache', cacheViews: 3, augmentSeed: 11 });
        const samples = Int32Array.from([0, 5, 17, 99, 255, 128]);
        const sb = sampleBytes(ds.shape);
        const seenViews = new Set<number>();
        for (const epoch of [0, 1, 2, 7]) {
          const views = viewsFor(plan, 3, epoch, samples);
          expect([...views.cache]).to.deep.equal([...views.student]);
          views.student.forEach((v) => seenViews.add(v));
          const raw = await ds.readBatch(samples);
          const pixels = applyViews(plan, raw, ds.shape, samples, views.student, new Uint8Array(raw.length));
          const soft = cacheSoftTargets(caches, samples, views.cache, 1, new Float32Array(samples.length * 4), new Float32Array(samples.length * 4));
          for (let k = 0; k < samples.length; k++) {
            // The teacher's row must be the function of *these* student pixels.
            const z = imageLogits(pixels.subarray(k * sb, (k + 1) * sb), 4);
            const m = Math.max(...z);
            const e = Array.from(z, (x) => Math.exp(x - m));
            const s = e.reduce((a, b) => a + b, 0);
            for (let c = 0; c < 4; c++) expect(soft[k * 4 + c]).to.be.closeTo(e[c] / s, 1e-6);
            // …and the pixels exactly the augment() of that view.
            const want = augment(raw.subarray(k * sb, (k + 1) * sb), ds.shape, parseAugmentSpec(spec), 11, samples[k], views.student[k]);
            expect(Buffer.from(pixels.subarray(k * sb, (k + 1) * sb)).equals(Buffer.from(want))).to.equal(true);
          }
        }
        expect(seenViews.size).to.equal(3);
      } finally {
        caches.forEach((c) => c.close());
      }
    });

    it('an ensemble is the mean of the caches\' tempered probabilities', () => {
      const caches = [openCache(cacheA), openCache(cacheViews)];
      try {
        const samples = [3, 4];
        const views = [0, 0];
        const mean = cacheSoftTargets(caches, samples, views, 2, new Float32Array(8), new Float32Array(8));
        const a = caches[0].softTargets(samples, views, 2);
        const b = caches[1].softTargets(samples, views, 2);
        for (let j = 0; j < 8; j++) expect(mean[j]).to.be.closeTo((a[j] + b[j]) / 2, 1e-7);
      } finally {
        caches.forEach((c) => c.close());
      }
    });

    it('BAD CALL - --augment with a single-view cache is refused unless --allow-inconsistent-views', async () => {
      const err = await run({ loss: 'kd', cache: [cacheA], augment: 'flip' }).catch((e) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect(err.message).to.match(/single-view cache/);
      expect(err.hint).to.match(/--allow-inconsistent-views/);
      const ok = await run({ loss: 'kd', cache: [cacheA], augment: 'flip', allowInconsistentViews: true });
      expect(ok.complete).to.equal(true);
    });

    it('BAD CALL - --augment different from the multi-view cache\'s augmentation is refused', async () => {
      const err = await run({ loss: 'kd', cache: [cacheViews], augment: 'flip' }).catch((e) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect(err.message).to.match(/differs from the augmentation the cache's views were made with \(crop:2,flip\)/);
    });

    it('BAD CALL - an ensemble of caches with different views is refused', async () => {
      const err = await run({ loss: 'kd', cache: [cacheA, cacheViews] }).catch((e) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect(err.message).to.match(/hold different views/);
    });

    it('BAD CALL - a cache for another data set or another K is refused with the reason', async () => {
      const other = path.join(root, 'cache-other');
      await writeImageCache(other, { data: OTHER_DATA });
      const e1 = await run({ loss: 'kd', cache: [other] }).catch((e) => e);
      expect(e1).to.be.instanceOf(UsageError);
      expect(e1.message).to.match(/data fingerprint/);
      const e2 = await run({ loss: 'kd', cache: [cacheA], data: DATA_K3 }).catch((e) => e);
      expect(e2).to.be.instanceOf(UsageError);
      expect(e2.message).to.match(/data fingerprint|K \(classes\)/);
      const k5 = path.join(root, 'cache-k5');
      await writeImageCache(k5, { fakeK: 5 });
      const e3 = await run({ loss: 'kd', cache: [k5] }).catch((e) => e);
      expect(e3).to.be.instanceOf(UsageError);
      expect(e3.message).to.match(/K \(classes\) is 5, expected 4/);
    });

    it('BAD CALL - kd without --cache, ce with --cache', async () => {
      const e1 = await run({ loss: 'kd' }).catch((e) => e);
      expect(e1).to.be.instanceOf(UsageError);
      expect(e1.message).to.match(/loss kd needs a teacher's soft targets: pass --cache/);
      const e2 = await run({ loss: 'ce', cache: [cacheA] }).catch((e) => e);
      expect(e2).to.be.instanceOf(UsageError);
    });
  });
});
