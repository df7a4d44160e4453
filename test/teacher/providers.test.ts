import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import { DEVICE_PROVIDERS, listOrtBackends, type OrtSessionOptions } from '../../src/teacher/ort.js';
import { createSession, ortSessionFactory, providerHint, type SessionFactory, type TeacherSession } from '../../src/teacher/providers.js';
import { buildTinyTeacher } from './fixtures.js';

/** A factory that fails like onnxruntime-node does for providers this machine lacks. */
function fakeFactory(missing: string[], calls: OrtSessionOptions[]): SessionFactory {
  return async (model, options) => {
    calls.push(options);
    const ep = String(options.executionProviders?.[0]);
    if (missing.includes(ep)) {
      if (ep === 'cuda') throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
      throw new Error(`/onnxruntime_src/x.cc:1 Failed to get a WebGPU adapter: No supported adapters\nmore native log`);
    }
    return ortSessionFactory(model, { ...options, executionProviders: ['cpu'] });
  };
}

describe('teacher/providers', () => {
  const model = buildTinyTeacher();

  it('the device → provider table is frozen and auto tries cuda, webgpu, cpu in that order', () => {
    expect(DEVICE_PROVIDERS.auto).to.deep.equal(['cuda', 'webgpu', 'cpu']);
    expect(Object.isFrozen(DEVICE_PROVIDERS)).to.equal(true);
    expect(Object.isFrozen(DEVICE_PROVIDERS.auto)).to.equal(true);
  });

  it('auto falls back one provider at a time and records why each failed', async () => {
    const calls: OrtSessionOptions[] = [];
    const s = await createSession(model, { device: 'auto', threads: 2, probe: false, factory: fakeFactory(['cuda', 'webgpu'], calls) });
    try {
      expect(calls.map((c) => c.executionProviders)).to.deep.equal([['cuda'], ['webgpu'], ['cpu']]);
      expect(calls.every((c) => c.intraOpNumThreads === 2)).to.equal(true);
      expect(s.provider).to.equal('cpu');
      expect(s.threads).to.equal(2);
      expect(s.notes).to.have.length(2);
      expect(s.notes[0]).to.match(/^cuda: not available \(.*Failed to load shared library\)$/);
      expect(s.notes[1]).to.match(/^webgpu: not available \(Failed to get a WebGPU adapter: No supported adapters\)$/);
    } finally {
      await s.session.release();
    }
  });

  it('auto keeps the first provider that opens (cuda present → no further tries)', async () => {
    const calls: OrtSessionOptions[] = [];
    const s = await createSession(model, { device: 'auto', threads: 1, probe: false, factory: fakeFactory([], calls) });
    await s.session.release();
    expect(s.provider).to.equal('cuda');
    expect(s.notes).to.deep.equal([]);
    expect(calls).to.have.length(1);
  });

  it('auto: webgpu ran when only cuda is missing', async () => {
    const s = await createSession(model, { device: 'auto', threads: 1, probe: false, factory: fakeFactory(['cuda'], []) });
    await s.session.release();
    expect(s.provider).to.equal('webgpu');
    expect(s.notes).to.have.length(1);
  });

  it('BAD CALL - explicit cuda when absent: UsageError with the install hint, no fallback', async () => {
    const calls: OrtSessionOptions[] = [];
    const err = await createSession(model, { device: 'cuda', probe: false, factory: fakeFactory(['cuda', 'webgpu'], calls) }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.message).to.match(/--device cuda: the cuda execution provider is not available/);
    expect(err.hint).to.equal(providerHint('cuda'));
    expect(err.hint).to.contain('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js');
    expect(calls).to.have.length(1);
  });

  it('BAD CALL - explicit webgpu when absent: UsageError with a hint', async () => {
    const err = await createSession(model, { device: 'webgpu', probe: false, factory: fakeFactory(['webgpu'], []) }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.hint).to.equal(providerHint('webgpu'));
  });

  it('BAD CALL - threads must be a positive integer', async () => {
    const err = await createSession(model, { device: 'cpu', threads: 0 }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.message).to.match(/threads/);
  });

  it('on this machine: the real onnxruntime-node, auto lands on a provider that runs and says why the others did not', async () => {
    const backends = listOrtBackends();
    expect(backends.map((b) => b.name)).to.include('cpu');
    const s = await createSession(model, { device: 'auto', threads: 1 });
    await s.session.release();
    console.log(`      ort backends: ${JSON.stringify(backends)}; auto → ${s.provider}; notes: ${JSON.stringify(s.notes)}`);
    const tried = DEVICE_PROVIDERS.auto.indexOf(s.provider);
    expect(tried).to.be.greaterThanOrEqual(0);
    expect(s.notes).to.have.length(tried);
  });
});

describe('teacher/providers precheck', () => {
  it('auto skips a provider the precheck rules out, with its reason, and never calls the factory for it', async () => {
    const tried: string[] = [];
    const factory: SessionFactory = async (_m, o) => {
      const p = String((o.executionProviders ?? [])[0]);
      tried.push(p);
      if (p !== 'cpu') throw new Error(`${p} missing`);
      return { run: async () => ({}), release: async () => {}, inputMetadata: [], outputMetadata: [] } as unknown as TeacherSession;
    };
    const r = await createSession(new Uint8Array(), {
      device: 'auto',
      factory,
      precheck: (p) => (p === 'webgpu' ? 'libvulkan.so.1 not found' : null),
    });
    expect(r.provider).to.equal('cpu');
    expect(tried).to.deep.equal(['cuda', 'cpu']);
    expect(r.notes[1]).to.equal('webgpu: not available (libvulkan.so.1 not found)');
  });
  it('an explicit device is always tried, whatever the precheck says', async () => {
    const tried: string[] = [];
    const factory: SessionFactory = async (_m, o) => {
      tried.push(String((o.executionProviders ?? [])[0]));
      return { run: async () => ({}), release: async () => {}, inputMetadata: [], outputMetadata: [] } as unknown as TeacherSession;
    };
    const r = await createSession(new Uint8Array(), { device: 'webgpu', factory, precheck: () => 'nope', probe: false });
    expect(r.provider).to.equal('webgpu');
    expect(tried).to.deep.equal(['webgpu']);
  });
});

describe('teacher/providers: the WebGPU adapter (injected probe)', () => {
  const ok: SessionFactory = async () => ({ run: async () => ({}), release: async () => {}, inputMetadata: [], outputMetadata: [] }) as unknown as TeacherSession;
  const soft = () => ({ adapter: { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7', software: true, source: 'dawn' as const } });

  it('auto never tries a software adapter: cpu, with the reason in the one webgpu line', async () => {
    const tried: string[] = [];
    const factory: SessionFactory = async (m, o) => {
      const p = String((o.executionProviders ?? [])[0]);
      tried.push(p);
      if (p === 'cuda') throw new Error('cuda missing');
      return ok(m, o);
    };
    const r = await createSession(new Uint8Array(), { device: 'auto', factory, adapterProbe: soft });
    expect(r.provider).to.equal('cpu');
    expect(tried).to.deep.equal(['cuda', 'cpu']);
    expect(r.notes.filter((n) => n.startsWith('webgpu:'))).to.deep.equal([
      'webgpu: not used (software adapter only: mesa software (llvmpipe: Mesa 25.0.7), software — slower than the CPU provider; --device webgpu uses it anyway)',
    ]);
  });

  it('explicit webgpu on a software adapter runs there, says so and records the adapter', async () => {
    const r = await createSession(new Uint8Array(), { device: 'webgpu', factory: ok, adapterProbe: soft });
    expect(r.provider).to.equal('webgpu');
    expect(r.adapter).to.include({ software: true, vendor: 'mesa' });
    expect(r.notes).to.deep.equal(['webgpu: running on a software adapter (mesa software (llvmpipe: Mesa 25.0.7), software): correct but slower than --device cpu']);
  });

  it('BAD CALL - explicit webgpu with no adapter: UsageError with the reason, the session never tried', async () => {
    let called = false;
    const factory: SessionFactory = async (m, o) => ((called = true), ok(m, o));
    const err = await createSession(new Uint8Array(), { device: 'webgpu', factory, adapterProbe: () => ({ adapter: null, reason: 'no Vulkan driver' }) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.equal('--device webgpu: the webgpu execution provider is not available: no Vulkan driver');
    expect(called).to.equal(false);
  });
});
