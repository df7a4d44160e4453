import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATA, dirBytes, tmpDir, writeImageCache } from '../student/trainer/trainer-helpers.js';
import { cli, tfkdProcess } from './train-helpers.js';

const TINY = ['--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '64', '--backend', 'wasm', '--progress', 'off'];

describe('cli/train', function () {
  this.timeout(120000);
  let root: string;
  let cache: string;
  let otherK: string;
  let topk: string;
  before(async () => {
    root = tmpDir('cli-train');
    cache = path.join(root, 'cache');
    otherK = path.join(root, 'cache-k5');
    await writeImageCache(cache);
    await writeImageCache(otherK, { fakeK: 5 });
    topk = path.join(root, 'cache-top2');
    await writeImageCache(topk, { topk: 2 });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('trains, prints the parameter count and one line per epoch, and writes the run directory', async () => {
    const out = path.join(root, 'ok');
    const r = await cli('train', ...TINY, '--loss', 'ce', '--epochs', '2', '--seed', '1', '--out', out);
    expect(r.err).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^model mlp: 3,268 trainable parameters/m);
    expect(r.out.match(/^epoch +\d+ +train loss/gm)).to.have.length(2);
    expect(r.out).to.match(/^done: final test acc/m);
    for (const f of ['config.json', 'manifest.json', 'metrics.jsonl', 'summary.json', 'checkpoints/best/weights.safetensors', 'checkpoints/last/optimizer.safetensors']) {
      expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    }
  });

  it('--json prints the summary; --config FILE supplies options that flags override', async () => {
    const cfg = path.join(root, 'cfg.json');
    fs.writeFileSync(cfg, JSON.stringify({ loss: 'lsr', epsilon: 0.2, epochs: 1, seed: 9 }));
    const out = path.join(root, 'cfg-run');
    const r = await cli('train', ...TINY, '--config', cfg, '--seed', '4', '--out', out, '--json');
    expect(r.code, r.err).to.equal(0);
    const j = JSON.parse(r.out);
    expect(j).to.include({ loss: 'lsr', seed: 4, epochs: 1, complete: true, out });
    const resolved = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(resolved).to.include({ epsilon: 0.2, seed: 4, loss: 'lsr' });
  });

  it('--stop-after then --resume finishes the run with the same summary as a straight run', async () => {
    const a = path.join(root, 'straight');
    const b = path.join(root, 'staged');
    expect((await cli('train', ...TINY, '--loss', 'tfkd-reg', '--epochs', '3', '--out', a)).code).to.equal(0);
    const first = await cli('train', ...TINY, '--loss', 'tfkd-reg', '--epochs', '3', '--out', b, '--stop-after', '1');
    expect(first.code).to.equal(0);
    expect(first.out).to.match(/^stopped:/m);
    const second = await cli('train', '--out', b, '--resume', '--progress', 'off');
    expect(second.code, second.err).to.equal(0);
    expect(second.out).to.match(/resuming .* after epoch 1/);
    expect(fs.readFileSync(path.join(b, 'summary.json'), 'utf8')).to.equal(fs.readFileSync(path.join(a, 'summary.json'), 'utf8'));
  });

  it('refuses a loss option the loss does not read (exit 2, nothing written), not a run\'s own config.json', async () => {
    const a = path.join(root, 'warn');
    expect((await cli('train', ...TINY, '--loss', 'ce', '--epochs', '1', '--out', a)).code).to.equal(0);
    const again = await cli('train', '--config', path.join(a, 'config.json'), '--progress', 'off', '--out', path.join(root, 'warn-again'));
    expect(again.code, again.err).to.equal(0);
    expect(again.err).to.equal('');
    const r = await cli('train', ...TINY, '--loss', 'ce', '--alpha', '0.5', '--epochs', '1', '--out', path.join(root, 'warn-alpha'));
    expect(r.code).to.equal(2);
    expect(r.err).to.equal('tfkd: loss ce does not read --alpha\nhint: loss ce reads no options\n');
    expect(fs.existsSync(path.join(root, 'warn-alpha'))).to.equal(false);
  });

  it('--help documents the defaults and the losses', async () => {
    const r = await cli('train', '--help');
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/SGD momentum 0\.9, lr 0\.05, batch 128/);
    expect(r.out).to.match(/kd .*\[needs --cache\]/);
    expect(r.out).to.match(/--fidelity <mode>/);
  });

  describe('BAD CALL - bad input exits 2 with one line (plus a hint line at most)', () => {
    const cases: Array<[string, () => string[], RegExp]> = [
      ['unknown model', () => [...TINY, '--model', 'resnet99', '--loss', 'ce'], /unknown model 'resnet99'/],
      ['unknown loss', () => [...TINY, '--loss', 'kdd'], /unknown loss "kdd"/],
      ['an option the loss does not read', () => [...TINY, '--loss', 'kd', '--cache', cache, '--multiplier', '2'], /loss kd does not read --multiplier/],
      ['a top-k cache for a loss that needs whole distributions', () => [...TINY, '--loss', 'dist', '--cache', topk], /loss dist needs whole teacher distributions; cache .* keeps only the top 2 logits of 4/],
      ['a top-k cache with --logit-standardization', () => [...TINY, '--loss', 'kd', '--logit-standardization', '--cache', topk], /--logit-standardization needs each row's mean and std/],
      ['an ensemble with --logit-standardization', () => [...TINY, '--loss', 'dkd', '--logit-standardization', '--cache', cache, '--cache', cache], /reads one teacher's raw logits; 2 caches/],
      ['--logit-standardization on a loss without that form', () => [...TINY, '--loss', 'nkd', '--logit-standardization', '--cache', cache], /loss nkd has no --logit-standardization form/],
      ['a teacher-free loss with --cache', () => [...TINY, '--loss', 'zipf-ls', '--cache', cache], /loss zipf-ls does not use a teacher; drop --cache/],
      ['a loss module that does not exist', () => [...TINY, '--loss', './nowhere/my-loss.mjs'], /--loss \.\/nowhere\/my-loss\.mjs: no such file/],
      ['kd without --cache', () => [...TINY, '--loss', 'kd'], /loss kd needs a teacher's soft targets: pass --cache/],
      ['a cache for another K', () => [...TINY, '--loss', 'kd', '--cache', otherK], /does not match: K \(classes\) is 5, expected 4/],
      ['a cache for another data set', () => [...TINY, '--data', 'synthetic:256:4:8x8x1:6', '--loss', 'kd', '--cache', cache], /does not match: the data fingerprint/],
      ['α outside [0, 1]', () => [...TINY, '--loss', 'kd', '--cache', cache, '--alpha', '1.5'], /--alpha 1.5: must be ≥ 0 and ≤ 1/],
      ['τ ≤ 0', () => [...TINY, '--loss', 'kd', '--cache', cache, '--temperature', '0'], /--temperature 0: must be > 0/],
      ['a number that is not one', () => [...TINY, '--loss', 'ce', '--epochs', 'three'], /--epochs: epochs must be a number/],
      ['missing --data', () => ['--model', 'mlp', '--loss', 'ce'], /missing --data/],
      ['unknown fidelity', () => [...TINY, '--loss', 'ce', '--fidelity', 'exact'], /--fidelity/],
      ['--clip-grad 0', () => [...TINY, '--loss', 'ce', '--clip-grad', '0'], /--clip-grad.*must be > 0/],
      ['a --skip-decay name the model does not have', () => [...TINY, '--loss', 'ce', '--skip-decay', '1d,pos_embed'], /--skip-decay pos_embed: matches no trainable weight/],
      ['--grad-accum-steps 0', () => [...TINY, '--loss', 'ce', '--grad-accum-steps', '0'], /--grad-accum-steps: must be ≥ 1 \(batches per update\)/],
      ['--grad-accum-steps 1.5', () => [...TINY, '--loss', 'ce', '--grad-accum-steps', '1.5'], /--grad-accum-steps: grad accum steps must be an integer/],
      ['--ema 1', () => [...TINY, '--loss', 'ce', '--ema', '1'], /--ema: must be in \(0, 1\)/],
      ['--layer-decay 0', () => [...TINY, '--loss', 'ce', '--layer-decay', '0'], /--layer-decay: must be in \(0, 1\]/],
      ['--layer-decay on a model no preset fits', () => [...TINY, '--loss', 'ce', '--layer-decay', '0.7'], /--layer-decay: no layer grouping of vit, swin, convnext, torchvision-vit, torchvision-convnext, torchvision-swin fits the model's weights/],
      ['--layer-groups without --layer-decay', () => [...TINY, '--loss', 'ce', '--layer-groups', 'vit'], /--layer-groups needs --layer-decay/],
      ['a --layer-groups regex that matches nothing', () => [...TINY, '--loss', 'ce', '--layer-decay', '0.7', '--layer-groups', '{"stem": "^stem"}'], /--layer-groups .*: a regex matches no weight/],
      ['--nesterov without momentum', () => [...TINY, '--loss', 'ce', '--nesterov', '--momentum', '0'], /--nesterov needs --momentum > 0/],
    ];
    for (const [what, args, re] of cases) {
      it(`BAD CALL - ${what}`, async () => {
        const r = await cli('train', ...args(), '--out', path.join(root, `bad-${what.replace(/\W+/g, '-')}`));
        expect(r.code, r.err).to.equal(2);
        expect(r.out).to.equal('');
        const lines = r.err.trimEnd().split('\n');
        expect(lines[0]).to.match(/^tfkd: /);
        expect(lines[0]).to.match(re);
        expect(lines.length).to.be.at.most(2);
        if (lines.length === 2) expect(lines[1]).to.match(/^hint: /);
      });
    }

    it('BAD CALL - --resume --epochs below the epochs the run has completed: exit 2, nothing on stdout, the run untouched', async () => {
      const run = path.join(root, 'fewer');
      expect((await cli('train', ...TINY, '--loss', 'ce', '--epochs', '4', '--stop-after', '3', '--out', run)).code).to.equal(0);
      const before = dirBytes(run);
      const r = await cli('train', ...TINY, '--loss', 'ce', '--epochs', '2', '--resume', '--out', run);
      expect(r.code, r.err).to.equal(2);
      expect(r.out).to.equal('');
      expect(r.err).to.equal(`tfkd: --epochs 2: ${run} is already past epoch 2 (its last checkpoint is after epoch 3)\nhint: resume with --epochs 3 or more\n`);
      expect(dirBytes(run)).to.deep.equal(before);
    });

    // The --save-at check ran inside the loop, after the model line was on stdout.
    it('BAD CALL - --resume --save-at a point the run has passed: exit 2, nothing on stdout, the run untouched', async () => {
      const run = path.join(root, 'passed');
      expect((await cli('train', ...TINY, '--loss', 'ce', '--epochs', '3', '--stop-after', '2', '--out', run)).code).to.equal(0);
      const before = dirBytes(run);
      const r = await cli('train', ...TINY, '--loss', 'ce', '--epochs', '3', '--save-at', '1,3', '--resume', '--out', run);
      expect(r.code, r.err).to.equal(2);
      expect(r.out).to.equal('');
      expect(r.err).to.equal(`tfkd: --save-at: ${run} is already past epoch 1 (its last checkpoint is after epoch 2) and holds no checkpoint there\nhint: save at epochs after 2, or train a new run to keep that one\n`);
      expect(dirBytes(run)).to.deep.equal(before);
    });

    // commander's own parse errors, in tfkd's format: one line, a hint naming the command's --help, exit 2.
    const parseErrors: Array<[string, string[], string]> = [
      ['an unknown option', ['train', '--bogus'], "tfkd: unknown option '--bogus'\nhint: tfkd train --help lists the options\n"],
      ['a misspelt option (commander\'s suggestion in the hint)', ['train', '--epoch', '2'], "tfkd: unknown option '--epoch'\nhint: did you mean --epochs? (tfkd train --help lists the options)\n"],
      ['an option without its value', ['train', '--data'], "tfkd: option '--data <spec>' argument missing\nhint: tfkd train --help lists the options\n"],
      ['an unknown command', ['frobnicate'], "tfkd: unknown command 'frobnicate'\nhint: tfkd --help lists the commands\n"],
      ['a missing argument', ['repro'], "tfkd: missing required argument 'run'\nhint: tfkd repro --help shows its usage\n"],
    ];
    for (const [what, args, err] of parseErrors) {
      it(`BAD CALL - ${what}: exit 2, commander's message as tfkd's, nothing written`, async () => {
        const out = path.join(root, `parse-${what.replace(/\W+/g, '-')}`);
        const r = await cli(...(args[0] === 'train' ? ['train', '--out', out, ...args.slice(1)] : args));
        expect(r.code, r.err).to.equal(2);
        expect(r.out).to.equal('');
        expect(r.err).to.equal(err);
        expect(fs.existsSync(out)).to.equal(false);
      });
    }

    it('BAD CALL - the real executable: an unknown option → exit 2, tfkd\'s two lines on stderr, nothing on stdout', () => {
      const r = tfkdProcess('train', '--bogus', '--out', path.join(root, 'proc-bogus'));
      expect(r.code).to.equal(2);
      expect(r.out).to.equal('');
      expect(r.err).to.equal("tfkd: unknown option '--bogus'\nhint: tfkd train --help lists the options\n");
    });

    it('BAD CALL - unknown keys in --config are refused, naming them', async () => {
      const cfg = path.join(root, 'bad.json');
      fs.writeFileSync(cfg, JSON.stringify({ loss: 'ce', learningRate: 0.1 }));
      const r = await cli('train', ...TINY, '--config', cfg, '--out', path.join(root, 'bad-config'));
      expect(r.code).to.equal(2);
      expect(r.err).to.match(/^tfkd: --config .*bad\.json: .*learningRate/);
    });

    it('BAD CALL - the real executable: unknown loss → exit 2, one line on stderr, nothing on stdout', () => {
      const r = tfkdProcess('train', '--data', DATA, '--model', 'mlp', '--loss', 'nope', '--out', path.join(root, 'proc'));
      expect(r.code).to.equal(2);
      expect(r.out).to.equal('');
      expect(r.err).to.equal('tfkd: unknown loss "nope"\nhint: choose one of: ce, lsr, kd, tfkd-self, tfkd-reg, dkd, dist, nkd, wsld, ps-kd, zipf-ls, hard-kd — or a module: --loss ./my-loss.mjs\n');
      expect(fs.existsSync(path.join(root, 'proc'))).to.equal(false);
    });
  });
});
