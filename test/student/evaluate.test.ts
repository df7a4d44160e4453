/**
 * The figures of `tfkd eval` (src/student/evaluate.ts) against PyTorch on the same logits
 * (scripts/eval_metrics_ref.py): top-1, top-5, mean cross-entropy, mean confidence, the
 * reliability bins and the expected calibration error — the last also against Guo et al.'s own
 * `_ECELoss` (float32). Real logits: the shipped teacher models/fmnist-good.onnx over the 10 000
 * Fashion-MNIST test images; synthetic ones at K = 100 with ties on purpose (the tie rule).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from '../../src/data/open.js';
import type { Dataset } from '../../src/data/dataset.js';
import { confidenceBin, ECE_BINS, evaluate, formatConfusionSummary, type EvalResult, type EvaluateOptions, type Forward } from '../../src/student/evaluate.js';
import { openTeacher } from '../../src/teacher/session.js';
import { needs } from '../helpers/needs.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { writeNpy, writeNpyInts } from '../helpers/npy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PY = '/usr/bin/python3';

interface Ref {
  n: number;
  K: number;
  top1: number;
  top5: number | null;
  nll: number;
  confidence: number;
  ece_guo: number;
  ece64: number;
  reliability: Array<{ n: number; confidence: number | null; accuracy: number | null }>;
  near_boundary: number;
  temperature_fit: { temperature: number; bound: 'low' | 'high' | null; gpleiss: number };
}

/**
 * Evaluates `forward` over `ds` (with `opts`), keeping every logit it returned, then scores the same
 * logits in PyTorch (divided by `opts.temperature` when given).
 */
async function bothWays(forward: Forward, ds: Dataset, tmp: string, batch: number, opts: EvaluateOptions = {}): Promise<{ r: EvalResult; ref: Ref }> {
  const kept: Float32Array[] = [];
  const r = await evaluate(
    async (p, n) => {
      const z = await forward(p, n);
      kept.push(Float32Array.from(z));
      return z;
    },
    ds,
    { batch, ...opts },
  );
  const all = new Float32Array(kept.reduce((a, z) => a + z.length, 0));
  let o = 0;
  for (const z of kept) {
    all.set(z, o);
    o += z.length;
  }
  const lf = path.join(tmp, 'logits.npy');
  const yf = path.join(tmp, 'labels.npy');
  writeNpy(lf, all, [ds.size, ds.numClasses]);
  writeNpyInts(yf, ds.labels);
  const t = opts.temperature === undefined ? [] : [String(opts.temperature)];
  const p = spawnSync(PY, ['scripts/eval_metrics_ref.py', lf, yf, ...t], { cwd: ROOT, encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`eval_metrics_ref.py failed (${p.status}): ${p.stderr}`);
  return { r, ref: JSON.parse(p.stdout) as Ref };
}

function compare(r: EvalResult, ref: Ref, what: string): void {
  const d = {
    top1: Math.abs(r.accuracy - ref.top1),
    top5: ref.top5 === null ? 0 : Math.abs(r.top5! - ref.top5),
    nll: Math.abs(r.loss - ref.nll),
    confidence: Math.abs(r.confidence - ref.confidence),
    ece64: Math.abs(r.ece - ref.ece64),
    eceGuo: Math.abs(r.ece - ref.ece_guo),
  };
  let bins = 0;
  r.reliability.forEach((b, i) => {
    const q = ref.reliability[i];
    expect(b.n, `${what}: samples in bin ${i}`).to.equal(q.n);
    if (q.n) bins = Math.max(bins, Math.abs(b.confidence! - q.confidence!), Math.abs(b.accuracy! - q.accuracy!));
    else expect(b.confidence).to.equal(null);
  });
  console.log(
    `      ${what}: top-1 ${(100 * r.accuracy).toFixed(2)} %, top-5 ${r.top5 === null ? '–' : (100 * r.top5).toFixed(2) + ' %'}, ECE ${(100 * r.ece).toFixed(3)} % (Guo's code ${(100 * ref.ece_guo).toFixed(3)} %); ` +
      `max |Δ| top-1 ${d.top1}, top-5 ${d.top5}, NLL ${d.nll.toExponential(1)}, confidence ${d.confidence.toExponential(1)}, ECE ${d.ece64.toExponential(1)} (Guo's float32 ${d.eceGuo.toExponential(1)}), bins ${bins.toExponential(1)}; ${ref.near_boundary} near a bin boundary`,
  );
  expect(r.top5 === null, `${what}: top-5 reported iff K > 5`).to.equal(ref.top5 === null);
  expect(d.top1).to.equal(0);
  expect(d.top5).to.equal(0);
  expect(d.nll, 'mean cross-entropy').to.be.below(1e-9);
  expect(d.confidence, 'mean confidence').to.be.below(1e-12);
  expect(d.ece64, 'ECE against the float64 reference').to.be.below(1e-12);
  expect(bins, 'reliability bins').to.be.below(1e-12);
  // Guo's code works in float32: confidences differ by ~1e-7, so the ECE by about that much
  // (a sample within 1e-6 of a bin boundary could change bin; none does in these data).
  expect(ref.near_boundary).to.equal(0);
  expect(d.eceGuo, "ECE against Guo et al.'s _ECELoss").to.be.below(1e-6);
}

/** Runs fn with the shipped teacher models/fmnist-good.onnx as a Forward over the Fashion-MNIST test split. */
async function withShippedTeacher(fn: (fwd: Forward, ds: Dataset) => Promise<void>): Promise<void> {
  const ds = await openDataset('fashion-mnist', { split: 'test' });
  const t = await openTeacher(path.join(ROOT, 'models/fmnist-good.onnx'), {
    device: 'cpu',
    data: { shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames, variableSize: false },
  });
  try {
    await fn((p, n) => t.run(p, n), ds);
  } finally {
    await t.close();
  }
}

describe('student/evaluate: top-5, calibration, against PyTorch', function () {
  this.timeout(300000);
  let tmp: string;
  before(function () {
    needs(this, 'python3-torch', 'dataset-fashion-mnist');
    tmp = tmpDir('evalref');
  });
  after(() => tmp && rmDir(tmp));

  it('the shipped teacher over the 10 000 Fashion-MNIST test images', () =>
    withShippedTeacher(async (fwd, ds) => {
      const { r, ref } = await bothWays(fwd, ds, tmp, 256);
      compare(r, ref, 'fmnist-good.onnx');
      expect(r.n).to.equal(10000);
      expect(r.accuracy).to.be.above(0.85); // a real classifier: the figures are not degenerate
      expect(r.ece).to.be.above(0).and.below(0.1);
      expect(r.reliability.reduce((a, b) => a + b.n, 0)).to.equal(10000);
    }));

  it('temperature scaling of the shipped teacher: the fitted T is the reference\'s root, the figures at T are PyTorch\'s at T', () =>
    withShippedTeacher(async (fwd, ds) => {
      const { r, ref } = await bothWays(fwd, ds, tmp, 256, { fitTemperature: true });
      compare(r, ref, 'fitting leaves the figures at T = 1 as they were');
      const fit = r.temperatureFit!;
      const want = ref.temperature_fit;
      const rel = Math.abs(fit.temperature - want.temperature) / want.temperature;
      console.log(`      fitted T ${fit.temperature} in ${fit.passes} passes; reference ${want.temperature} (relative ${rel.toExponential(1)}); Guo et al.'s L-BFGS ${want.gpleiss.toFixed(6)}`);
      expect(fit.bound).to.equal(null);
      expect(want.bound).to.equal(null);
      expect(rel, 'T against the reference root').to.be.below(1e-9);
      expect(fit.passes).to.be.at.most(12);
      // At the fitted T: the same figures as PyTorch's at that T, and as tfkd's own --temperature path.
      const at = await bothWays(fwd, ds, tmp, 256, { temperature: fit.temperature });
      compare(at.r, at.ref, `at T = ${fit.temperature.toFixed(4)}`);
      expect(at.r.temperature).to.equal(fit.temperature);
      expect(Math.abs(at.r.loss - fit.loss), 'loss: --temperature vs the fit').to.be.below(1e-12);
      expect(Math.abs(at.r.ece - fit.ece), 'ECE: --temperature vs the fit').to.be.below(1e-12);
      expect(at.r.accuracy).to.equal(r.accuracy);
      expect(at.r.confusion).to.deep.equal(r.confusion);
      // A minimum: 1 % either side the loss is higher, and the calibration is better than at T = 1 here.
      for (const f of [0.99, 1.01]) {
        const near = await evaluate(fwd, ds, { temperature: fit.temperature * f });
        expect(near.loss, `loss at ${f} T`).to.be.above(fit.loss);
      }
      expect(fit.loss).to.be.below(r.loss);
      expect(fit.ece).to.be.below(r.ece);
    }));

  it('temperature fit at the bounds: separated samples (T → 0.01) and labels always ranked last (T → 100), as the reference', async () => {
    const ds = await openDataset('synthetic:500:10:2x2x1:5', { split: 'test' });
    const K = 10;
    // Logits in [0, 1) from the pixels, the label's set to `label`: 1.2 (above every other: the NLL
    // falls for ever as T → 0) or −0.2 (below every other: it falls as T → ∞). Margins of 0.2, so
    // that the derivative at the far bound (β = 100: terms of e^−20) is still above rounding.
    for (const [label, bound, T] of [[1.2, 'low', 0.01], [-0.2, 'high', 100]] as const) {
      let next = 0; // evaluate reads the samples in order, in batches
      const fwd: Forward = (pixels, n) => {
        const z = new Float32Array(n * K);
        for (let r = 0; r < n; r++) {
          for (let k = 0; k < K; k++) z[r * K + k] = ((pixels[r * 4 + (k % 4)] + k) % 7) / 7;
          z[r * K + ds.labels[next + r]] = label;
        }
        next += n;
        return z;
      };
      const { r, ref } = await bothWays(fwd, ds, tmp, 128, { fitTemperature: true });
      expect(r.temperatureFit!.bound, `label logit ${label}`).to.equal(bound);
      expect(ref.temperature_fit.bound, `reference, label logit ${label}`).to.equal(bound);
      expect(r.temperatureFit!.temperature).to.equal(T);
    }
  });

  it('K = 100 with tied logits: ties go to the lower class index, as a stable sort', async () => {
    const ds = await openDataset('synthetic:600:100:4x4x1:3', { split: 'test' });
    const K = 100;
    // Logits on a coarse grid (many ties), one row per sample from its own pixels; the label is
    // tied with others now and then (z = 0.25 · ((pixel sum · (k + 7)) mod 9)).
    const sb = 16;
    const fwd: Forward = (pixels, n) => {
      const z = new Float32Array(n * K);
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let j = 0; j < sb; j++) s += pixels[r * sb + j] * (j + 1);
        for (let k = 0; k < K; k++) z[r * K + k] = 0.25 * ((s * (k + 7)) % 9);
      }
      return z;
    };
    const { r, ref } = await bothWays(fwd, ds, tmp, 64);
    compare(r, ref, 'K = 100, ties');
    expect(r.top5).to.be.above(0).and.below(1);
  });

  it('confidence bins are (lo, hi] with exact boundaries', () => {
    expect(confidenceBin(1)).to.equal(ECE_BINS - 1);
    expect(confidenceBin(1 / 15)).to.equal(0);
    expect(confidenceBin(1 / 15 + 1e-16)).to.equal(1);
    expect(confidenceBin(2 / 15)).to.equal(1);
    expect(confidenceBin(0.1)).to.equal(1);
    expect(confidenceBin(Number.MIN_VALUE)).to.equal(0);
    for (let b = 1; b < ECE_BINS; b++) {
      expect(confidenceBin(b / ECE_BINS), `${b}/15`).to.equal(b - 1);
      expect(confidenceBin(b / ECE_BINS + 2 ** -52), `just above ${b}/15`).to.equal(b);
    }
  });

  it('above 20 classes the text names the worst classes and the most frequent confusions, not a K×K matrix', () => {
    const K = 1000;
    const confusion = Array.from({ length: K }, (_, y) => {
      const row = new Array<number>(K).fill(0);
      row[y] = 10;
      return row;
    });
    confusion[7][3] = 6; // class 7: 10 of 16 right; 6 taken for 3
    confusion[500][2] = 9; // class 500: 10 of 19
    confusion[999][999] = 0; // class 999: never right
    confusion[999][0] = 4;
    const names = Array.from({ length: K }, (_, k) => (k === 999 ? 'toilet tissue' : String(k)));
    const r = { n: 0, numClasses: K, accuracy: 0, top5: 0, loss: 0, confidence: 0, ece: 0, reliability: [], confusion, classNames: names };
    const text = formatConfusionSummary(r);
    expect(text.split('\n')).to.deep.equal([
      'confusion matrix: 1000 × 1000, not printed (--json has it); 1000 classes have samples',
      'lowest accuracy (10 of 1000 classes):',
      '    0.0 % of 4      999 toilet tissue',
      '   52.6 % of 19     500',
      '   62.5 % of 16     7',
      ...[0, 1, 2, 3, 4, 5, 6].map((k) => `  100.0 % of 10     ${k}`),
      'most frequent confusions (3 of 3 pairs), count  true → predicted:',
      '      9  500 → 2',
      '      6  7 → 3',
      '      4  999 toilet tissue → 0',
    ]);
  });
});
