/**
 * `--model onnx:FILE` through the trainer (issue 19): a torchvision mobilenet_v3_small exported by
 * scripts/torchvision_student.py trains with --freeze on its stem (frozen weights and their
 * BatchNorm running statistics stay the ONNX values, the others move), checkpoints record the
 * graph's sha256, --resume continues; bad input (an op tfkd cannot train, a --freeze pattern that
 * matches nothing, a graph without one [N, K] output or whose logits do not fit K, an input size the
 * graph cannot take) is exit 2 with one line through the CLI, before anything is written. Export
 * writes the trained weights back into the graph: `tfkd eval` of the file = `tfkd eval` of the
 * run, and it precomputes as a teacher with no flags.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPrecompute } from '../../../src/cache/precompute-run.js';
import { exportRun } from '../../../src/export/export-run.js';
import { evaluateTarget } from '../../../src/student/evaluate-target.js';
import { readCheckpoint } from '../../../src/student/trainer/checkpoint.js';
import { train } from '../../../src/student/trainer/train.js';
import { readOnnxGraph } from '../../../src/student/zoo/onnx-graph.js';
import { cli } from '../../cli/train-helpers.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { PY, requireTorch, studentOnnx } from '../zoo/torchvision-students.js';

const DATA = 'synthetic:16:10:64x64x3:3';

/**
 * A tiny graph Conv(3→4, 3×3) → OP → Flatten → Gemm(256 → 10) at 8×8, OP = Relu or Round (an op tfkd cannot train: it has no gradient). `out`
 * picks the graph's outputs: the logits (as a classifier), logits and the feature map (two
 * outputs), the feature map declared [N, 4, 8, 8], or the feature map with no declared shape (only
 * the probe forward pass finds it is not [N, K]).
 */
function tinyGraph(dir: string, op: string, out: 'logits' | 'two' | 'rank4' | 'undeclared' = 'logits'): string {
  const file = path.join(dir, `tiny-${op}-${out}.onnx`);
  const outputs = {
    logits: "[helper.make_tensor_value_info('logits', T.FLOAT, ['N', 10])]",
    two: "[helper.make_tensor_value_info('logits', T.FLOAT, ['N', 10]), helper.make_tensor_value_info('e', T.FLOAT, ['N', 4, 8, 8])]",
    rank4: "[helper.make_tensor_value_info('e', T.FLOAT, ['N', 4, 8, 8])]",
    undeclared: "[helper.make_tensor_value_info('e', T.FLOAT, None)]",
  }[out];
  const code = `
import numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto as T
r = np.random.RandomState(0)
inits = [numpy_helper.from_array(r.randn(4, 3, 3, 3).astype('f4'), 'conv.weight'), numpy_helper.from_array(np.zeros(4, 'f4'), 'conv.bias'),
         numpy_helper.from_array((r.randn(10, 256) * 0.1).astype('f4'), 'fc.weight')]
nodes = [helper.make_node('Conv', ['input', 'conv.weight', 'conv.bias'], ['c'], pads=[1, 1, 1, 1], name='conv'),
         helper.make_node('${op}', ['c'], ['e'], name='act'), helper.make_node('Flatten', ['e'], ['f'], name='flat'),
         helper.make_node('Gemm', ['f', 'fc.weight'], ['logits'], transB=1, name='fc')]
g = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('input', T.FLOAT, ['N', 3, 8, 8])], ${outputs}, inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]), '${file}')`;
  const r = spawnSync(PY, ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return file;
}

describe('student/trainer: ONNX students (--model onnx:FILE)', function () {
  this.timeout(600000);
  let tmp: string;
  before(function () {
    requireTorch(this);
    tmp = tmpDir('onnx-train');
  });
  after(() => rmDir(tmp));

  it('trains with --freeze, records the sha256, resumes', async function () {
    const file = studentOnnx('mobilenet_v3_small');
    const out = path.join(tmp, 'run');
    const config = { data: DATA, model: `onnx:${file}`, loss: 'ce', epochs: 2, batch: 8, lr: 0.01, freeze: ['features.0'], backend: 'wasm' as const };
    const first = await train({ config, out, stopAfter: 1 });
    expect(first.complete).to.equal(false);
    const ck = readCheckpoint(path.join(out, 'checkpoints', 'last'));
    expect(ck.spec.onnx?.sha256).to.equal(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    const g = readOnnxGraph(file);
    let frozen = 0;
    let moved = 0;
    for (const w of g.weights) {
      const e = ck.weights[`onnx/${w.name}`];
      expect(e, w.name).to.not.equal(undefined);
      const same = e.data.every((v, i) => v === w.data[i]);
      if (w.name.startsWith('features.0.')) {
        expect(same, `${w.name} is frozen`).to.equal(true);
        frozen++;
      } else if (!same) moved++;
    }
    expect(frozen).to.equal(5); // conv weight, BN γ β and its running mean / var
    expect(moved).to.be.greaterThan(g.weights.length / 2);
    const second = await train({ config, out, resume: true });
    expect(second.complete).to.equal(true);
    expect(readCheckpoint(path.join(out, 'checkpoints', 'last')).state.epoch).to.equal(2);

    // Export into the user's graph: same nodes (less the Identity copies that became weights), same
    // initializer names with the trained values; eval of the file = eval of the run; it precomputes
    // with no flags, and that cache distils the next student.
    const m = path.join(tmp, 'student.onnx');
    const ex = await exportRun(out, { out: m, checkpoint: 'last' });
    expect(ex.layout).to.equal('NCHW');
    // --layout / --opset were printed as given and not applied: refused unless they are the graph's own.
    const asked = async (o: { layout?: 'NHWC' | 'NCHW'; opset?: number }) => exportRun(out, { out: path.join(tmp, 'asked.onnx'), checkpoint: 'last', ...o }).catch((e: Error) => e);
    const lastDir = path.join(out, 'checkpoints', 'last');
    expect(((await asked({ layout: 'NHWC' })) as Error).message).to.equal(`--layout NHWC: ${lastDir} is an ONNX student, exported into its own graph (NCHW, opset ${ex.opset})`);
    expect(((await asked({ opset: ex.opset === 13 ? 14 : 13 })) as Error).message).to.match(/^--opset 1[34]: .* is an ONNX student, exported into its own graph \(NCHW, opset \d+\)$/);
    expect(fs.existsSync(path.join(tmp, 'asked.onnx'))).to.equal(false);
    expect(((await asked({ layout: 'NCHW', opset: ex.opset })) as { sha256: string }).sha256).to.equal(ex.sha256);
    const back = readOnnxGraph(m);
    expect(back.identityWeights.size).to.equal(0);
    expect(back.nodes.map((n) => n.name)).to.deep.equal(g.nodes.map((n) => n.name));
    const ckLast = readCheckpoint(path.join(out, 'checkpoints', 'last'));
    for (const w of g.weights) {
      const b = back.weights.find((x) => x.name === w.name);
      expect(b, w.name).to.not.equal(undefined);
      expect(Array.from(b!.data)).to.deep.equal(Array.from(ckLast.weights[`onnx/${w.name}`].data));
    }
    const runEval = await evaluateTarget(out, { data: DATA, checkpoint: 'last', backend: 'wasm' });
    const onnxEval = await evaluateTarget(m, { data: DATA, device: 'cpu' });
    console.log(`      eval RUN: acc ${runEval.accuracy}, loss ${runEval.loss.toFixed(6)} · eval M.onnx: acc ${onnxEval.accuracy}, loss ${onnxEval.loss.toFixed(6)}`);
    expect(onnxEval.confusion).to.deep.equal(runEval.confusion);
    expect(Math.abs(onnxEval.loss - runEval.loss)).to.be.at.most(1e-5 * Math.max(1, runEval.loss));
    const cache = path.join(tmp, 'cache');
    await runPrecompute({ teacher: m, data: DATA, out: cache, device: 'cpu' });
    const kd = await train({ config: { ...config, loss: 'kd', cache: [cache], epochs: 1 }, out: path.join(tmp, 'kd') });
    expect(kd.complete).to.equal(true);
  });

  // The transformer path end to end (its ops: test/student/zoo/onnx-import.test.ts): timm's ViT
  // layout and torchvision's ConvNeXt train, export into their own graphs (class token, position
  // embedding and layer scales included), evaluate as the run did, and teach the next student.
  for (const arch of ['timm_vit', 'convnext_atto', 'swin']) {
    it(`a transformer-era student (${arch}): trains, exports into its graph, eval of the file = eval of the run, teaches`, async function () {
      const file = studentOnnx(arch);
      const out = path.join(tmp, `${arch}-run`);
      const config = { data: DATA, model: `onnx:${file}`, loss: 'lsr', epochs: 1, batch: 8, lr: 0.01, backend: 'wasm' as const };
      expect((await train({ config, out })).complete).to.equal(true);
      const g = readOnnxGraph(file);
      const m = path.join(tmp, `${arch}.onnx`);
      await exportRun(out, { out: m, checkpoint: 'last' });
      const back = readOnnxGraph(m);
      const ck = readCheckpoint(path.join(out, 'checkpoints', 'last'));
      let moved = 0;
      for (const w of g.weights) {
        const b = back.weights.find((x) => x.name === w.name);
        expect(b, w.name).to.not.equal(undefined);
        expect(Array.from(b!.data)).to.deep.equal(Array.from(ck.weights[`onnx/${w.name}`].data));
        if (b!.data.some((v, i) => v !== w.data[i])) moved++;
      }
      expect(moved, 'trained weights').to.equal(g.weights.length);
      const runEval = await evaluateTarget(out, { data: DATA, checkpoint: 'last', backend: 'wasm' });
      const onnxEval = await evaluateTarget(m, { data: DATA, device: 'cpu' });
      console.log(`      ${arch}: eval RUN loss ${runEval.loss.toFixed(6)} · eval M.onnx loss ${onnxEval.loss.toFixed(6)}`);
      expect(onnxEval.confusion).to.deep.equal(runEval.confusion);
      expect(Math.abs(onnxEval.loss - runEval.loss)).to.be.at.most(1e-5 * Math.max(1, runEval.loss));
      const cache = path.join(tmp, `${arch}-cache`);
      await runPrecompute({ teacher: m, data: DATA, out: cache, device: 'cpu' });
      const kd = await train({ config: { ...config, loss: 'tfkd-self', cache: [cache] }, out: path.join(tmp, `${arch}-self`) });
      expect(kd.complete).to.equal(true);
    });
  }

  it('--drop-path: changes training, not evaluation; deterministic; a resumed run draws the masks it would have (stopped after 1 of 2 epochs + resume = 2 straight)', async function () {
    const file = studentOnnx('swin');
    const config = { data: DATA, model: `onnx:${file}`, loss: 'ce', epochs: 2, batch: 8, lr: 0.01, backend: 'wasm' as const, dropPath: 0.5 };
    const straight = await train({ config, out: path.join(tmp, 'dp-a') });
    const again = await train({ config, out: path.join(tmp, 'dp-b') });
    const plain = await train({ config: { ...config, dropPath: undefined }, out: path.join(tmp, 'dp-off') });
    const values = (ms: typeof straight.metrics) => ms.map(({ seconds: _s, ...m }) => m);
    expect(values(again.metrics)).to.deep.equal(values(straight.metrics));
    expect(straight.metrics[0].train_loss).to.not.equal(plain.metrics[0].train_loss);
    const dir = path.join(tmp, 'dp-resumed');
    await train({ config, out: dir, stopAfter: 1 });
    const resumed = await train({ config: {} as Parameters<typeof train>[0]['config'], explicit: new Set(), out: dir, resume: true });
    expect(values(resumed.metrics)).to.deep.equal(values(straight.metrics));
    const w = (run: string) => fs.readFileSync(path.join(run, 'checkpoints', 'last', 'weights.safetensors'));
    expect(w(dir).equals(w(path.join(tmp, 'dp-a'))), 'last weights byte-equal').to.equal(true);
    // Evaluation runs without it: the run's own eval = an eval of its weights in a model built without drop path.
    const m = path.join(tmp, 'dp.onnx');
    await exportRun(path.join(tmp, 'dp-a'), { out: m, checkpoint: 'last' });
    const onnxEval = await evaluateTarget(m, { data: DATA, device: 'cpu' });
    expect(Math.abs(onnxEval.loss - straight.metrics[1].test_loss)).to.be.at.most(1e-5 * Math.max(1, onnxEval.loss));
  });

  it("--distill-token: a DeiT-distilled student trains its two heads on labels and teacher (hard-kd), evaluates and exports their average", async function () {
    const file = studentOnnx('timm_deit');
    const teacher = path.join(tmp, 'deit-teacher-cache');
    // Any ONNX classifier teaches; here the ViT copy, so the decisions are not the labels.
    await runPrecompute({ teacher: studentOnnx('timm_vit'), data: DATA, out: teacher, device: 'cpu' });
    const config = { data: DATA, model: `onnx:${file}`, loss: 'hard-kd', cache: [teacher], epochs: 1, batch: 8, lr: 0.01, backend: 'wasm' as const, distillToken: true };
    const info: string[] = [];
    const out = path.join(tmp, 'deit-run');
    const r = await train({ config, out, hooks: { info: (l) => info.push(l) } });
    expect(r.complete).to.equal(true);
    expect(info).to.include("distillation token: labels on /head/Gemm, the teacher on /head_dist/Gemm; evaluation and export use their average (--distill-token)");
    expect(readCheckpoint(path.join(out, 'checkpoints', 'last')).spec.onnx!.distillToken).to.equal(true);
    // The two heads are trained apart: without the option the same run is another run.
    const plain = await train({ config: { ...config, distillToken: undefined }, out: path.join(tmp, 'deit-plain') });
    expect(plain.metrics[0].train_loss).to.not.equal(r.metrics[0].train_loss);
    // The exported graph is the one it came from (the average at its end), with the trained weights.
    const m = path.join(tmp, 'deit.onnx');
    await exportRun(out, { out: m, checkpoint: 'last' });
    const runEval = await evaluateTarget(out, { data: DATA, checkpoint: 'last', backend: 'wasm' });
    const onnxEval = await evaluateTarget(m, { data: DATA, device: 'cpu' });
    expect(runEval.loss).to.be.closeTo(r.metrics[0].test_loss, 1e-6);
    expect(onnxEval.confusion).to.deep.equal(runEval.confusion);
    expect(Math.abs(onnxEval.loss - runEval.loss)).to.be.at.most(1e-5 * Math.max(1, runEval.loss));
  });

  // Through the CLI as a user meets them: exit 2, one line (and a hint line at most), no run directory.
  const bad: Array<[string, () => string[], RegExp]> = [
    ['an op it cannot train', () => ['--model', `onnx:${tinyGraph(tmp, 'Round')}`, '--allow-folded'], /cannot train op Round at node act/],
    ['a --freeze pattern that matches nothing', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu')}`, '--allow-folded', '--freeze', 'backbone'], /freeze backbone: matches no weight/],
    ['a folded graph without --allow-folded', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu')}`], /no BatchNormalization/],
    ['logits that do not fit K', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu')}`, '--allow-folded', '--data', 'synthetic:16:5:8x8x3:1'], /gives 10 logits, the data has K = 5/],
    ['a graph with two outputs', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu', 'two')}`, '--allow-folded'], /the graph has 2 outputs; a student needs one \[N, K\] logits output/],
    ['a graph whose output is declared [N, 4, 8, 8]', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu', 'rank4')}`, '--allow-folded'], /output e has rank 4; a student needs one \[N, K\] logits output/],
    ['--drop-path for a zoo model', () => ['--model', 'mlp', '--drop-path', '0.1'], /--drop-path: only for --model onnx:FILE students/],
    ['--distill-token for a zoo model', () => ['--model', 'mlp', '--distill-token'], /--distill-token: only for --model onnx:FILE students/],
    ['--distill-token on a graph without two heads', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu')}`, '--allow-folded', '--distill-token'], /--distill-token: the output of .* is not the average of two heads/],
    ['--distill-token with a loss that has no distillation head', () => ['--model', `onnx:${studentOnnx('timm_deit')}`, '--distill-token'], /loss ce has no distillation-token form \(--distill-token\)/],
    ['--drop-path 1', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu')}`, '--allow-folded', '--drop-path', '1'], /--drop-path: must be < 1/],
    ['a graph whose undeclared output computes [N, 4, 8, 8]', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu', 'undeclared')}`, '--allow-folded'], /output e has shape \[1,4,8,8\]; a student needs \[N, K\] logits with K = 10/],
    ['an input size the graph cannot take', () => ['--model', `onnx:${tinyGraph(tmp, 'Relu')}`, '--allow-folded', '--input-size', '16'], /cannot take 16x16 inputs/],
  ];
  for (const [what, args, re] of bad) {
    it(`refuses ${what}: exit 2, one line, nothing written`, async function () {
      const out = path.join(tmp, `bad-${what.replace(/\W+/g, '-')}`);
      const r = await cli('train', '--data', 'synthetic:16:10:8x8x3:1', '--loss', 'ce', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', ...args(), '--out', out);
      expect(r.code, r.err).to.equal(2);
      expect(r.out).to.equal('');
      const lines = r.err.trimEnd().split('\n');
      expect(lines[0]).to.match(/^tfkd: /);
      expect(lines[0]).to.match(re);
      expect(lines.length, r.err).to.be.at.most(2);
      if (lines.length === 2) expect(lines[1]).to.match(/^hint: /);
      expect(fs.existsSync(out), 'no run directory').to.equal(false);
    });
  }
});
