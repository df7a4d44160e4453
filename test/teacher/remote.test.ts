import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import { createSession } from '../../src/teacher/providers.js';
import { workerSessionFactory } from '../../src/teacher/remote.js';
import { openTeacher } from '../../src/teacher/session.js';
import { pixels, writeTinyTeacher, type TinyTeacherOptions } from './fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';


describe('teacher/remote (onnxruntime in a worker thread)', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('remote');
  });
  after(() => rmDir(dir));

  for (const o of [
    { name: 'float32 NHWC, fixed batch', opts: { layout: 'NHWC', channels: 3, fixedBatch: 4, numClasses: 5 } },
    { name: 'float16 in/out', opts: { inputDtype: 'float16', outputDtype: 'float16', numClasses: 3 } },
  ] as Array<{ name: string; opts: TinyTeacherOptions }>) {
    it(`${o.name}: bit-identical logits to the in-process session, concurrent runs in order`, async () => {
      const p = writeTinyTeacher(dir, o.opts, `${o.name.replace(/\W+/g, '_')}.onnx`);
      const data = { shape: { height: 4, width: 4, channels: o.opts.channels ?? 1 } };
      const local = await openTeacher(p, { device: 'cpu', threads: 1, data });
      const remote = await openTeacher(p, { device: 'cpu', threads: 1, data, worker: true });
      try {
        expect(remote.info).to.deep.equal(local.info);
        const batches = [3, 9, 1].map((n, i) => ({ n, px: pixels(n * 16 * (o.opts.channels ?? 1), i + 1) }));
        const want = await Promise.all(batches.map((b) => local.run(b.px, b.n)));
        const got = await Promise.all(batches.map((b) => remote.run(b.px, b.n)));
        got.forEach((g, i) => expect(Array.from(g)).to.deep.equal(Array.from(want[i])));
        // prepare/infer used directly (the precompute pipeline path)
        const prepared = await Promise.all(batches.filter((b) => b.n <= 4 || remote.info.fixedBatch === null).map((b) => remote.prepare(b.px, b.n)));
        const inferred = await Promise.all(prepared.map((b) => remote.infer(b)));
        expect(inferred.length).to.be.greaterThan(0);
        expect(Array.from(inferred[0])).to.deep.equal(Array.from(want[0]));
      } finally {
        await local.close();
        await remote.close();
      }
    });
  }

  it('EXPECTED FAILURE - a provider that cannot load in the worker fails like in-process (auto falls back to cpu)', async () => {
    const p = writeTinyTeacher(dir, {}, 'fb.onnx');
    const bytes = new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(p)));
    const s = await createSession(bytes, { device: 'auto', threads: 1, factory: workerSessionFactory });
    try {
      expect(s.provider).to.equal('cpu');
      expect(s.notes.length).to.equal(2);
    } finally {
      await s.session.release();
    }
    const err = await createSession(bytes, { device: 'cuda', factory: workerSessionFactory }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.hint).to.match(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });
});
