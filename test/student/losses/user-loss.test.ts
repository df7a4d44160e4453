/**
 * User losses (issue 18): the README's symmetric-KL example (examples/sym-kd.mjs) trains through the
 * API (as an entry and as a bare function) and as a module (`--loss FILE.mjs`); the run records the
 * module's sha256, `repro` re-runs it bit for bit and refuses a changed module; a module with no
 * entry, an option the loss does not read and an unknown loss are one line, exit 2, nothing written.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { repro } from '../../../src/repro/repro.js';
import { train } from '../../../src/student/trainer/train.js';
import { UsageError, WorkError } from '../../../src/errors.js';
import type { LossContext, LossEntry } from '../../../src/student/losses/index.js';
import { sha256File } from '../../../src/util/hash.js';
import { DATA, rmDir, tmpDir, writeImageCache } from '../trainer/trainer-helpers.js';
import { tfkdProcess } from '../../cli/train-helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/sym-kd.mjs', import.meta.url));

describe('student/losses user losses (API, --loss FILE.mjs, repro)', function () {
  this.timeout(120_000);
  let root: string;
  let cache: string;
  let entry: LossEntry;
  before(async () => {
    root = tmpDir('user-loss');
    cache = path.join(root, 'cache');
    await writeImageCache(cache);
    entry = ((await import(pathToFileURL(EXAMPLE).href)) as { default: LossEntry }).default;
  });
  after(() => rmDir(root));
  const base = (loss: unknown, extra: Record<string, unknown> = {}) => ({ data: DATA, model: 'mlp', loss, cache: [cache], epochs: 2, batch: 64, seed: 1, ...extra }) as never;

  it('trains with the entry through the API, recorded as api:NAME; repro needs the function again', async () => {
    const out = path.join(root, 'api');
    const r = await train({ config: base(entry, { alpha: 0.7 }), out });
    expect(r.complete).to.equal(true);
    expect(Number.isFinite(r.summary.final_test_acc)).to.equal(true);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(m.loss).to.deep.include({ name: 'api:sym-kd', entry: 'sym-kd', source: { kind: 'api' } });
    expect(m.loss.options).to.include({ alpha: 0.7, temperature: 4 });
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg).to.include({ loss: 'api:sym-kd', alpha: 0.7, temperature: 4 });
    let err: unknown;
    await repro(out).catch((e) => (err = e));
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(/trained with a loss function given through the API/);
    const again = await repro(out, { loss: entry });
    expect(again.verdict).to.equal('identical');
  });

  it('trains with a bare function (reads no options; sees the teacher because a cache is given)', async () => {
    const out = path.join(root, 'fn');
    const plain = (ctx: LossContext) => entry.fn({ ...ctx, options: { ...ctx.options, alpha: 0.5, temperature: 4 } });
    const r = await train({ config: base(plain), out });
    expect(r.complete).to.equal(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).loss).to.equal('api:plain');
  });

  it('trains with --loss FILE.mjs; the manifest records its sha256; repro is bit-identical, and refuses a changed module', async () => {
    const mod = path.join(root, 'my-loss.mjs');
    fs.copyFileSync(EXAMPLE, mod);
    const out = path.join(root, 'module');
    const r = await train({ config: base(mod), out });
    expect(r.complete).to.equal(true);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(m.loss.source).to.deep.equal({ kind: 'module', spec: mod, file: mod, sha256: sha256File(mod) });
    const rep = await repro(out);
    expect(rep.verdict).to.equal('identical');
    expect(rep.checkpoints.every((c) => c.identical)).to.equal(true);
    fs.appendFileSync(mod, '\n// edited\n');
    let err: unknown;
    await repro(out).catch((e) => (err = e));
    expect(err).to.be.instanceOf(WorkError);
    expect((err as Error).message).to.match(/the loss module .*my-loss\.mjs changed since/);
  });

  it('BAD CALL - a module that exports no entry, an option it does not read, a bad entry: UsageError, nothing written', async () => {
    const none = path.join(root, 'none.mjs');
    fs.writeFileSync(none, 'export const x = 1;\n');
    const bad = path.join(root, 'bad.mjs');
    fs.writeFileSync(bad, "export default { name: 'bad', teacher: 'sometimes', fn: () => 0 };\n");
    const cases: Array<[unknown, Record<string, unknown>, RegExp]> = [
      [none, {}, /none\.mjs exports no loss entry/],
      [bad, {}, /bad\.mjs: not a loss entry \(teacher:/],
      [EXAMPLE, { beta: 2 }, /loss sym-kd does not read (--)?beta/],
      [{ ...entry, name: 'kd' }, {}, /the name "kd" is a built-in loss's/],
    ];
    for (const [loss, extra, re] of cases) {
      const out = path.join(root, 'bad-run');
      let err: unknown;
      await train({ config: base(loss, extra), out }).catch((e) => (err = e));
      expect(err, String(re)).to.be.instanceOf(UsageError);
      expect((err as Error).message).to.match(re);
      expect(fs.existsSync(out)).to.equal(false);
    }
  });

  it('BAD CALL - the real executable: a module with no entry → exit 2, one line (+ hint), nothing written', () => {
    const none = path.join(root, 'none2.mjs');
    fs.writeFileSync(none, 'export const x = 1;\n');
    const out = path.join(root, 'proc');
    const r = tfkdProcess('train', '--data', DATA, '--model', 'mlp', '--loss', none, '--cache', cache, '--out', out);
    expect(r.code).to.equal(2);
    expect(r.out).to.equal('');
    expect(r.err).to.match(/^tfkd: --loss .*none2\.mjs exports no loss entry\nhint: /);
    expect(fs.existsSync(out)).to.equal(false);
  });
});
