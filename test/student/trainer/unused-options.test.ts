/**
 * Train options that would be recorded in config.json and not read (unused-options.ts): momentum
 * and Nesterov under Adam, milestones and γ without a step schedule's milestones, a fidelity mode
 * for a loss whose two modes agree, graph options for a module student, a width for a student
 * that is not built by the zoo. Each is refused when given (exit 2, one line, no run directory);
 * a value equal to the default, or an option left unset, is not; `repro` of a run whose
 * config.json holds them at their defaults still trains.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unusedOptions, type ConditionalInputs } from '../../../src/student/trainer/unused-options.js';
import { repro } from '../../../src/repro/repro.js';
import { train as trainApi } from '../../../src/student/trainer/train.js';
import { cli } from '../../cli/train-helpers.js';
import { DATA, rmDir, tmpDir, writeImageCache } from './trainer-helpers.js';

const BASE: ConditionalInputs = { optimizer: 'sgd', schedule: 'cosine', epochs: 10, momentum: 0.9, nesterov: false, gamma: 0.2, fidelity: 'paper', fidelityActs: true, defaultMilestones: [3, 6, 8] };
const all = () => true;

describe('student/trainer/unused-options: options the run would not read', function () {
  this.timeout(120000);

  describe('unusedOptions (pure)', () => {
    it('names each option another one makes unread, with why', () => {
      const keys = (c: Partial<ConditionalInputs>) => unusedOptions({ ...BASE, ...c }, all).map((u) => u.key);
      expect(keys({ optimizer: 'adam', momentum: 0.5 })).to.deep.equal(['momentum']);
      expect(keys({ optimizer: 'adamw', nesterov: true })).to.deep.equal(['nesterov']);
      expect(keys({ schedule: 'cosine', milestones: [3] })).to.deep.equal(['milestones']);
      expect(keys({ schedule: 'constant', gamma: 0.1 })).to.deep.equal(['gamma']);
      expect(keys({ schedule: 'step', epochs: 1, gamma: 0.1, defaultMilestones: [] })).to.deep.equal(['gamma']);
      expect(keys({ fidelity: 'official', fidelityActs: false })).to.deep.equal(['fidelity']);
      expect(unusedOptions({ ...BASE, optimizer: 'adam', momentum: 0.5 }, all)[0]!.why).to.equal("optimizer adam has no momentum (only sgd reads it; Adam's is its β1, 0.9)");
    });

    it('lets through what acts, what is at its default, and what was not given', () => {
      const none = (c: Partial<ConditionalInputs>, given = all as (k: string) => boolean) => expect(unusedOptions({ ...BASE, ...c }, given), JSON.stringify(c)).to.deep.equal([]);
      none({ optimizer: 'sgd', momentum: 0.5, nesterov: true });
      none({ schedule: 'step', milestones: [3], gamma: 0.1 });
      none({ schedule: 'step', epochs: 2, milestones: [5] }); // past the end: --resume --epochs may reach it
      none({ fidelity: 'official', fidelityActs: true });
      none({ optimizer: 'adam', momentum: 0.9, schedule: 'cosine', gamma: 0.2, fidelity: 'paper', fidelityActs: false }); // the defaults
      none({ optimizer: 'adam', momentum: 0.5, schedule: 'cosine', milestones: [3], gamma: 0.1, fidelity: 'official', fidelityActs: false }, () => false);
    });
  });

  describe('tfkd train', () => {
    let tmp: string;
    let cache: string;
    before(async () => {
      tmp = tmpDir('unused-options');
      cache = path.join(tmp, 'cache');
      await writeImageCache(cache);
      fs.writeFileSync(path.join(tmp, 'm.mjs'), 'export default (shape, classes, tf) => { const x = tf.input({ shape }); return tf.model({ inputs: x, outputs: tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(tf.layers.flatten().apply(x)) }); };\n');
    });
    after(() => rmDir(tmp));

    const common = ['--data', DATA, '--epochs', '1', '--batch', '64', '--limit', '128', '--test-limit', '64', '--backend', 'wasm', '--progress', 'off'];
    const base = [...common, '--model', 'mlp', '--width-multiplier', '0.0625'];
    const refused: Array<[string, string[], string, string]> = [
      ['--momentum under Adam', ['--loss', 'ce', '--optimizer', 'adam', '--momentum', '0.5'], "--momentum 0.5: optimizer adam has no momentum (only sgd reads it; Adam's is its β1, 0.9); it would be recorded in config.json and not act", 'drop --momentum'],
      ['--nesterov under AdamW', ['--loss', 'ce', '--optimizer', 'adamw', '--nesterov'], '--nesterov true: optimizer adamw has no Nesterov momentum (only sgd reads it); it would be recorded in config.json and not act', 'drop --nesterov'],
      ['--milestones under cosine', ['--loss', 'ce', '--milestones', '2,3'], '--milestones 2,3: schedule cosine has no milestones (only step reads them); it would be recorded in config.json and not act', 'drop --milestones'],
      ['--gamma and --milestones under constant', ['--loss', 'ce', '--schedule', 'constant', '--milestones', '1', '--gamma', '0.1'], '--milestones 1: schedule constant has no milestones (only step reads them); it would be recorded in config.json and not act', 'drop --milestones (and --gamma)'],
      ['--gamma of a step schedule without milestones', ['--loss', 'ce', '--schedule', 'step', '--gamma', '0.1'], '--gamma 0.1: the step schedule of 1 epoch has no milestone to decay the lr at; it would be recorded in config.json and not act', 'drop --gamma'],
      ['--fidelity official for ce', ['--loss', 'ce', '--fidelity', 'official'], '--fidelity official: the loss computes the same in both fidelity modes; it would be recorded in config.json and not act', 'drop --fidelity'],
      ['--fidelity official for kd --logit-standardization', ['--loss', 'kd', '--logit-standardization', '--fidelity', 'official', '--cache', '@cache'], '--fidelity official: the loss computes the same in both fidelity modes; it would be recorded in config.json and not act', 'drop --fidelity'],
      ['--eval-crop-pct at the data\'s own size', ['--loss', 'ce', '--eval-crop-pct', '0.5'], `--eval-crop-pct 0.5: the student takes ${DATA} at its own size (8x8), with no resize or crop to evaluate through`, "it applies when the student's input is rendered: folder:/list: data, or an --input-size other than 8x8"],
    ];
    for (const [what, args, message, hint] of refused) {
      it(`BAD CALL - ${what}: exit 2, one line and a hint, no run directory`, async () => {
        const out = path.join(tmp, what.replace(/\W+/g, '-'));
        const r = await cli('train', ...base, ...args.map((a) => (a === '@cache' ? cache : a)), '--out', out);
        expect(r.code, r.err).to.equal(2);
        expect(r.out).to.equal('');
        expect(r.err).to.equal(`tfkd: ${message}\nhint: ${hint}\n`);
        expect(fs.existsSync(out)).to.equal(false);
      });
    }

    it('BAD CALL - graph options and a width for a module student (built by its own code): exit 2, no run directory', async () => {
      const model = path.join(tmp, 'm.mjs');
      const cases: Array<[string[], string]> = [
        [['--freeze', 'dense*', '--drop-path', '0.1'], `tfkd: --freeze, --drop-path: only for --model onnx:FILE students (${model} is built by its own code)\n`],
        [['--width-multiplier', '0.5'], `tfkd: --width-multiplier 0.5: only for the built-in models (${model} has the widths it was made with)\nhint: built-in models: `],
      ];
      for (const [args, err] of cases) {
        const out = path.join(tmp, `module-${args[0]!.slice(2)}`);
        const r = await cli('train', ...common, '--model', model, '--loss', 'ce', ...args, '--out', out);
        expect(r.code, r.err).to.equal(2);
        expect(r.err.startsWith(err), r.err).to.equal(true);
        expect(fs.existsSync(out)).to.equal(false);
      }
    });

    it('BAD CALL - --allow-inconsistent-views with nothing to allow (no cache; a cache without --augment): exit 2, no run directory', async () => {
      const cases: Array<[string[], string]> = [
        [['--loss', 'ce', '--augment', 'flip'], 'no cache'],
        [['--loss', 'kd', '--cache', cache], 'no --augment'],
      ];
      for (const [args, has] of cases) {
        const out = path.join(tmp, `aiv-${args[1]}`);
        const r = await cli('train', ...base, ...args, '--allow-inconsistent-views', '--out', out);
        expect(r.code, r.err).to.equal(2);
        expect(r.err).to.equal(`tfkd: --allow-inconsistent-views has nothing to allow: it accepts --augment over a single-view cache, and this run has ${has}\nhint: drop --allow-inconsistent-views\n`);
        expect(fs.existsSync(out)).to.equal(false);
      }
      const ok = await cli('train', ...base, '--loss', 'kd', '--cache', cache, '--augment', 'flip', '--allow-inconsistent-views', '--out', path.join(tmp, 'aiv-ok'));
      expect(ok.code, ok.err).to.equal(0);
    });

    // A user's loss may read the mode (defaults per mode, or ctx.options.fidelity): not judged.
    it('--fidelity official for a loss module is accepted (its defaults per mode act)', async () => {
      const file = path.join(tmp, 'fid-loss.mjs');
      fs.writeFileSync(
        file,
        [
          'export default {',
          "  name: 'fid-ls', summary: 'label smoothing, ε per mode', formula: '(1 − ε)·CE + ε·uniform', source: 'test', teacher: 'none',",
          "  options: { epsilon: { help: 'ε', default: { paper: 0.1, official: 0.3 }, min: 0, max: 1 } },",
          '  fn: ({ logits, labels, options, tf }) => tf.tidy(() => {',
          '    const k = logits.shape[1];',
          '    const q = tf.add(tf.mul(tf.oneHot(labels, k), 1 - options.epsilon), options.epsilon / k);',
          '    return tf.neg(tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(logits)), 1)));',
          '  }),',
          '};',
          '',
        ].join('\n'),
      );
      const losses: number[] = [];
      for (const f of ['paper', 'official']) {
        const out = path.join(tmp, `fid-${f}`);
        const r = await cli('train', ...base, '--loss', file, '--fidelity', f, '--out', out);
        expect(r.code, r.err).to.equal(0);
        losses.push(JSON.parse(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]!).train_loss);
      }
      expect(losses[0]).to.not.equal(losses[1]);
    });

    // Recorded by an older tfkd (which let them through), not typed now: --resume and repro go on.
    it('runs whose config.json holds such values (an eval crop at the data\'s own size, a module student\'s width) resume and reproduce', async () => {
      const cases: Array<[string, { model: string } & Record<string, unknown>]> = [
        ['old-crop', { model: 'mlp', widthMultiplier: 0.0625, evalCropPct: 0.9 }],
        ['old-width', { model: path.join(tmp, 'm.mjs'), widthMultiplier: 2 }],
      ];
      for (const [name, extra] of cases) {
        const out = path.join(tmp, name);
        const config = { data: DATA, loss: 'ce', epochs: 2, batch: 64, limit: 128, testLimit: 64, backend: 'wasm' as const, ...extra };
        // What an older tfkd did: the options given, none of them judged (as if not typed).
        await trainApi({ config, explicit: new Set(['data', 'loss', 'epochs']), out, stopAfter: 1 });
        expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).to.deep.include(extra);
        const resumed = await cli('train', '--data', DATA, '--epochs', '2', '--resume', '--progress', 'off', '--out', out);
        expect(resumed.code, resumed.err).to.equal(0);
        const rep = await repro(out, { out: path.join(tmp, `${name}-repro`) });
        expect(rep.verdict, name).to.equal('identical');
      }
    });

    it('the same options where they act, or at their defaults, train; repro of such a run reproduces', async () => {
      const ok: string[][] = [
        ['--loss', 'ce', '--optimizer', 'sgd', '--momentum', '0.5', '--nesterov'],
        ['--loss', 'ce', '--optimizer', 'adam', '--momentum', '0.9', '--schedule', 'cosine', '--gamma', '0.2', '--fidelity', 'paper'],
        ['--loss', 'lsr', '--fidelity', 'official', '--schedule', 'step', '--milestones', '3', '--gamma', '0.1'],
      ];
      for (const [i, args] of ok.entries()) {
        const out = path.join(tmp, `ok-${i}`);
        const r = await cli('train', ...base, ...args, '--out', out);
        expect(r.code, r.err).to.equal(0);
      }
      // An Adam run's config.json holds momentum 0.9, nesterov false, gamma 0.2, milestones [], fidelity paper.
      const adam = JSON.parse(fs.readFileSync(path.join(tmp, 'ok-1', 'config.json'), 'utf8'));
      expect({ optimizer: adam.optimizer, momentum: adam.momentum, milestones: adam.milestones }).to.deep.equal({ optimizer: 'adam', momentum: 0.9, milestones: [] });
      const rep = await repro(path.join(tmp, 'ok-1'), { out: path.join(tmp, 'ok-1-repro') });
      expect(rep.verdict, JSON.stringify(rep.metricDiffs)).to.equal('identical');
    });
  });
});
