/**
 * The public entry (src/index.ts) in-process: what it exports, configure()'s validation and its
 * effect on the environment the kernels and experiment steps read, and messages in the API's terms.
 * The entry is imported inside before() and the CLI's message style restored after(): importing it
 * switches tfkd's messages to API names, and the other test files expect the CLI's flags.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setOptionStyle } from '../src/errors.js';
import { settingsEnv } from '../src/settings.js';

type Api = typeof import('../src/index.js');

describe('index: the public API', function () {
  this.timeout(120000);
  let api: Api;
  before(async () => {
    api = await import('../src/index.js');
    // Importing the entry switches to API names — but only the first import in a process runs it, and
    // another test file may have imported the entry already (then the CLI's tests switched back).
    setOptionStyle('api');
  });
  after(() => {
    api.configure({ threads: undefined, nativeKernels: undefined, dnnl: undefined, backend: undefined });
    setOptionStyle('flag');
  });

  it('exports the functions of the pipeline and the error classes', () => {
    for (const name of ['openDataset', 'openTeacher', 'precompute', 'openCache', 'verifyCache', 'mergeCaches', 'train', 'evaluate', 'exportOnnx', 'runExperiment', 'report', 'repro', 'configure', 'settings']) {
      expect(typeof (api as unknown as Record<string, unknown>)[name], name).to.equal('function');
    }
    expect(new api.UsageError('x')).to.be.instanceOf(api.TfkdError);
    expect(new api.WorkError('x').exitCode).to.equal(1);
    expect(fs.existsSync(api.embedded.teachers.good) && fs.existsSync(api.embedded.teachers.poor)).to.equal(true);
    expect(api.embedded.data).to.match(/^fashion-mnist:.*fashion-mnist-subset$/);
  });

  // sharp's libvips sets VIPSHOME as it loads; the entry imported it (through the image decoder), so
  // importing tfkd changed the environment every child process inherits.
  it('importing the entry leaves the process environment as it was (sharp loads at the first image)', () => {
    const script = "const before = JSON.stringify(process.env); await import('./src/index.ts'); console.log(JSON.stringify(process.env) === before ? 'same' : Object.keys(process.env).filter((k) => !(k in JSON.parse(before))).join(','));";
    // Without the VIPSHOME this process may have from sharp already (other test files load it).
    const { VIPSHOME: _loaded, ...env } = process.env;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.join(import.meta.dirname, '..'), encoding: 'utf8', env });
    expect(out.trim()).to.equal('same');
  });

  it('configure(): validated, written over the environment the kernels and child steps read, and undone by undefined', () => {
    expect(() => api.configure({ threads: 0 })).to.throw(api.UsageError, /threads/);
    expect(() => api.configure({ backend: 'gpu' as never })).to.throw(api.UsageError, /backend/);
    expect(api.configure({ threads: 3, dnnl: false })).to.deep.equal({ threads: 3, dnnl: false });
    const env = settingsEnv({ TFKD_THREADS: '1', HOME: '/x' });
    expect(env.TFKD_THREADS).to.equal('3');
    expect(env.TFKD_DNNL).to.equal('0');
    expect(env.HOME).to.equal('/x');
    expect(api.configure({ threads: undefined, dnnl: undefined })).to.deep.equal({});
    expect(settingsEnv({ TFKD_THREADS: '1' }).TFKD_THREADS).to.equal('1');
  });

  it('BAD CALL - a bad option is a UsageError naming the API option (not a CLI flag), nothing written', async () => {
    const out = path.join(os.tmpdir(), `tfkd-index-never-${process.pid}`);
    let err: unknown = null;
    try {
      await api.precompute({ teacher: api.embedded.teachers.good, data: api.embedded.data, out, views: 2 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(api.UsageError);
    expect((err as Error).message).to.equal('views 2 needs augment SPEC (views ≥ 1 are augmented copies)');
    expect(fs.existsSync(out)).to.equal(false);
    err = null;
    try {
      await api.exportOnnx(out, { out: 'model.bin' });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('out model.bin: must end in .onnx');
    err = null;
    try {
      await api.train({ out, config: { data: api.embedded.data, model: 'mlp', loss: 'ce', nesterov: true, momentum: 0 } });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('nesterov needs momentum > 0');
    expect(fs.existsSync(out)).to.equal(false);
  });

  // The library skipped the checks the CLI's schemas make: evaluate({ batch: 0 }) never returned
  // (its loop did not advance), precompute({ shardRows: 0 }) failed with a plain Error after
  // writing its journal, augmentSeed -1 was recorded, jobs 0 ran an experiment.
  it('BAD CALL - integer options the CLI refuses are UsageErrors at the library edge too, before anything is written', async () => {
    const out = path.join(os.tmpdir(), `tfkd-index-ints-${process.pid}`);
    const refused = async (f: () => Promise<unknown>): Promise<string> => {
      try {
        await f();
      } catch (e) {
        expect(e).to.be.instanceOf(api.UsageError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    const pre = { teacher: api.embedded.teachers.good, data: api.embedded.data, out };
    expect(await refused(() => api.precompute({ ...pre, shardRows: 0 }))).to.equal('shardRows 0: must be an integer ≥ 1');
    expect(await refused(() => api.precompute({ ...pre, shardRows: 1.5 }))).to.equal('shardRows 1.5: must be an integer ≥ 1');
    expect(await refused(() => api.precompute({ ...pre, views: 2, augment: 'flip', augmentSeed: -1 }))).to.equal('augmentSeed -1: must be an integer ≥ 0');
    expect(await refused(() => api.precompute({ ...pre, dtype: 'f64' as never }))).to.equal('dtype f64: must be one of f16, f32');
    expect(fs.existsSync(out)).to.equal(false);
    // Any directory will do: the options are checked before the target is opened.
    expect(await refused(() => api.evaluate(os.tmpdir(), { data: api.embedded.data, batch: 0 }))).to.equal('batch 0: must be an integer ≥ 1');
    expect(await refused(() => api.evaluate(os.tmpdir(), { data: api.embedded.data, limit: 1.5 }))).to.equal('limit 1.5: must be an integer ≥ 1');
    expect(await refused(() => api.verifyCache(os.tmpdir(), { sample: -1 }))).to.equal('sample -1: must be an integer ≥ 1');
    expect(await refused(() => api.runExperiment('never.yaml', { out, jobs: 0 }))).to.equal('jobs 0: must be an integer ≥ 1');
  });
});
