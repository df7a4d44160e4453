import { expect } from 'chai';
import { defaultLanes, laneSessionFactory, laneThreads, SessionLanes } from '../../src/teacher/lanes.js';
import type { SessionFactory, TeacherSession } from '../../src/teacher/providers.js';
import { openTeacher } from '../../src/teacher/session.js';
import type { OrtOutputs } from '../../src/teacher/ort.js';
import { pixels, writeTinyTeacher } from './fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

/** A session whose runs wait until the test settles them; records what it was opened with. */
class FakeSession implements TeacherSession {
  readonly inputMetadata = [];
  readonly outputMetadata = [];
  readonly runs: Array<() => void> = [];
  released = false;
  constructor(readonly threads: number) {}
  run(): Promise<OrtOutputs> {
    return new Promise((resolve) => this.runs.push(() => resolve({})));
  }
  async release(): Promise<void> {
    this.released = true;
  }
}

describe('teacher/lanes (onnxruntime sessions side by side)', function () {
  this.timeout(60000);
  let dir: string;
  before(() => {
    dir = tmpDir('lanes');
  });
  after(() => rmDir(dir));

  it('threads are shared out, the first lanes taking the remainder; never more lanes than threads', () => {
    expect(laneThreads(2, 2)).to.deep.equal([1, 1]);
    expect(laneThreads(5, 2)).to.deep.equal([3, 2]);
    expect(laneThreads(16, 4)).to.deep.equal([4, 4, 4, 4]);
    expect(laneThreads(3, 4)).to.deep.equal([1, 1, 1]);
    expect(laneThreads(1, 4)).to.deep.equal([1]);
  });

  it("'auto': one lane per thread, at most 4, at most 1 GiB of model copies", () => {
    const MB = 2 ** 20;
    expect(defaultLanes(1, 47 * MB)).to.equal(1);
    expect(defaultLanes(2, 47 * MB)).to.equal(2);
    expect(defaultLanes(16, 47 * MB)).to.equal(4);
    expect(defaultLanes(16, 400 * MB)).to.equal(2);
    expect(defaultLanes(16, 1200 * MB)).to.equal(1);
  });

  it('the factory opens one member per lane with its share of threads on the CPU, one session elsewhere', async () => {
    const members: FakeSession[] = [];
    const member: SessionFactory = async (_m, o) => {
      const s = new FakeSession(o.intraOpNumThreads!);
      members.push(s);
      return s;
    };
    const single: SessionFactory = async (_m, o) => new FakeSession(o.intraOpNumThreads!);
    const f = laneSessionFactory(2, single, member);
    const cpu = await f(new Uint8Array(0), { executionProviders: ['cpu'], intraOpNumThreads: 5 });
    expect(cpu).to.be.instanceOf(SessionLanes);
    expect(cpu.lanes).to.equal(2);
    expect(members.map((m) => m.threads)).to.deep.equal([3, 2]);
    const gpu = await f(new Uint8Array(0), { executionProviders: ['cuda'], intraOpNumThreads: 5 });
    expect(gpu).to.be.instanceOf(FakeSession);
    expect((gpu as FakeSession).threads).to.equal(5);
    const oneThread = await f(new Uint8Array(0), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    expect(oneThread).to.be.instanceOf(FakeSession);
    await cpu.release();
    expect(members.every((m) => m.released)).to.equal(true);
  });

  it('EXPECTED FAILURE - a lane that cannot open: the error is its, the lanes that opened are released', async () => {
    const opened: FakeSession[] = [];
    let n = 0;
    const member: SessionFactory = async (_m, o) => {
      if (n++ === 1) throw new Error('no memory for lane 2');
      const s = new FakeSession(o.intraOpNumThreads!);
      opened.push(s);
      return s;
    };
    const err = await laneSessionFactory(3, undefined, member)(new Uint8Array(0), { executionProviders: ['cpu'], intraOpNumThreads: 3 }).catch((e: Error) => e);
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.equal('no memory for lane 2');
    expect(opened.length).to.equal(2);
    expect(opened.every((s) => s.released)).to.equal(true);
  });

  it('runs go to the least busy lane (ties: the first)', async () => {
    const m = [new FakeSession(1), new FakeSession(1)];
    const lanes = new SessionLanes(m);
    const a = lanes.run({}, []);
    const b = lanes.run({}, []);
    expect([m[0].runs.length, m[1].runs.length]).to.deep.equal([1, 1]);
    m[1].runs[0]();
    await b;
    const c = lanes.run({}, []);
    expect([m[0].runs.length, m[1].runs.length]).to.deep.equal([1, 2]);
    m[0].runs[0]();
    m[1].runs[1]();
    await Promise.all([a, c]);
    void lanes.run({}, []);
    expect([m[0].runs.length, m[1].runs.length]).to.deep.equal([2, 2]);
  });

  it('a real teacher on 2 sessions × 1 thread: concurrent batches give the logits of one in-process session, bit for bit', async () => {
    const p = writeTinyTeacher(dir, { channels: 3, numClasses: 5, height: 8, width: 8 }, 'tiny.onnx');
    const data = { shape: { height: 8, width: 8, channels: 3 } };
    const one = await openTeacher(p, { device: 'cpu', threads: 2, data });
    const two = await openTeacher(p, { device: 'cpu', threads: 2, sessions: 2, data });
    const auto = await openTeacher(p, { device: 'cpu', threads: 2, sessions: 'auto', data });
    try {
      expect(one.info.sessions).to.equal(1);
      expect(one.concurrency).to.equal(1);
      expect(two.info).to.deep.include({ sessions: 2, threads: 2, provider: 'cpu' });
      expect(two.concurrency).to.equal(2);
      expect(auto.info.sessions).to.equal(2); // a tiny model on 2 threads
      const batches = [7, 32, 1, 16].map((n, i) => ({ n, px: pixels(n * 8 * 8 * 3, i + 11) }));
      const want: Float32Array[] = [];
      for (const b of batches) want.push(await one.infer(await one.prepare(b.px, b.n)));
      // All four in flight at once on two lanes (the precompute pipeline's path).
      const prepared = await Promise.all(batches.map((b) => two.prepare(b.px, b.n)));
      const got = await Promise.all(prepared.map((b) => two.infer(b)));
      got.forEach((g, i) => expect(Array.from(g)).to.deep.equal(Array.from(want[i])));
    } finally {
      await Promise.all([one.close(), two.close(), auto.close()]);
    }
  });
});
