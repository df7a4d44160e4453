/**
 * A Runner that trains nothing: it writes the files the real commands write (summary.json,
 * metrics.jsonl, checkpoints with their test accuracy, an ONNX placeholder, a cache manifest),
 * with accuracies derived deterministically from the request, and counts its calls. `failOn`
 * simulates a crash: the call leaves partial output behind and throws.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExportRequest, PrecomputeRequest, Runner, TrainRequest } from '../../src/experiment/runner.js';

export class FakeRunner implements Runner {
  calls = { train: 0, export: 0, precompute: 0 };
  trained: TrainRequest[] = [];
  precomputed: PrecomputeRequest[] = [];
  constructor(private readonly failOn?: { type: 'train' | 'export' | 'precompute'; call: number }) {}

  private maybeFail(type: 'train' | 'export' | 'precompute', partial: () => void): void {
    if (this.failOn && this.failOn.type === type && this.calls[type] === this.failOn.call) {
      partial();
      throw new Error(`simulated crash in ${type} #${this.calls[type]}`);
    }
  }

  async train(req: TrainRequest): Promise<void> {
    this.calls.train += 1;
    this.trained.push(req);
    fs.mkdirSync(req.out, { recursive: true });
    this.maybeFail('train', () => fs.writeFileSync(path.join(req.out, 'metrics.jsonl'), '{"epoch":1,"test_acc":0.5}\n'));
    const { out: _o, log: _l, ...what } = req;
    const h = createHash('sha256').update(JSON.stringify({ ...what, cache: req.cache ? path.basename(req.cache) : null, testCache: req.testCache ? path.basename(req.testCache) : null })).digest();
    const epochs = req.train.epochs ?? 2;
    const accs = Array.from({ length: epochs }, (_, e) => 0.6 + 0.1 * (e / epochs) + h[e] / 2550);
    // with --test-cache, the fidelity figures each epoch (agreement rising with accuracy, KL falling)
    const agreement = (e: number) => Math.min(1, accs[e] + 0.1 + h[10] / 2550);
    const kl = (e: number) => 0.5 / (e + 1) + h[11] / 2550;
    const perEpoch = (e: number) => (req.testCache ? { test_agreement: agreement(e), test_kl: kl(e) } : {});
    fs.writeFileSync(path.join(req.out, 'metrics.jsonl'), accs.map((a, e) => JSON.stringify({ epoch: e + 1, train_loss: 1, test_loss: 1, test_acc: a, ...perEpoch(e), lr: 0.1 })).join('\n') + '\n');
    for (const c of req.saveAt) {
      fs.mkdirSync(path.join(req.out, 'checkpoints', c), { recursive: true });
      fs.writeFileSync(path.join(req.out, 'checkpoints', `${c}.json`), JSON.stringify({ test_acc: 0.1 * Number(c.split('-')[1]) }));
    }
    // What the real trainer records about its data (the select step checks it) and, with
    // --test-cache, the cache it measured fidelity against (the report names the teacher by it).
    const testCache = req.testCache ? { testCache: { dir: req.testCache, key: createHash('sha256').update(req.testCache).digest('hex'), teacher: { file: `teacher-of-${path.basename(req.testCache)}.onnx` } } } : {};
    fs.writeFileSync(path.join(req.out, 'manifest.json'), JSON.stringify({ schema: 'tfkd-run/1', data: { spec: req.data }, ...testCache }));
    const fidelity = req.testCache ? { final_test_agreement: agreement(epochs - 1), final_test_kl: kl(epochs - 1) } : {};
    // config.json as the trainer writes it (camelCase keys), with the loss options it was given
    const lo = req.lossOptions;
    fs.writeFileSync(
      path.join(req.out, 'config.json'),
      JSON.stringify({ data: req.data, model: req.model, loss: req.loss, seed: req.seed, fidelity: lo.fidelity ?? 'paper', alpha: lo.alpha, temperature: lo.temperature, multiplier: lo.multiplier, correctProb: lo.correct_prob, epsilon: lo.epsilon }),
    );
    const best = Math.max(...accs);
    fs.writeFileSync(
      path.join(req.out, 'summary.json'),
      JSON.stringify({ final_test_acc: accs[epochs - 1], best_test_acc: best, best_epoch: accs.indexOf(best) + 1, epochs, backend: 'fake', seed: req.seed, model: req.model, loss: req.loss, ...fidelity }),
    );
  }

  async exportRun(req: ExportRequest): Promise<void> {
    this.calls.export += 1;
    this.maybeFail('export', () => fs.writeFileSync(req.out, 'partial'));
    fs.writeFileSync(req.out, `onnx of ${req.run} ${req.checkpoint ?? 'final'}`);
  }

  async precompute(req: PrecomputeRequest): Promise<void> {
    this.calls.precompute += 1;
    this.precomputed.push(req);
    fs.mkdirSync(req.out, { recursive: true });
    this.maybeFail('precompute', () => fs.writeFileSync(path.join(req.out, 'shard-00000.safetensors'), 'x'));
    fs.writeFileSync(path.join(req.out, 'manifest.json'), JSON.stringify({ teacher: req.teacher }));
  }
}
