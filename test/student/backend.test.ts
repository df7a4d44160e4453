/**
 * Backend choice logic with injected side effects (the native tfjs packages are not installed here),
 * plus one real selection of wasm and cpu.
 */
import { expect } from 'chai';
import { UsageError, WorkError } from '../../src/errors.js';
import { selectBackend, type BackendDeps, type BackendName } from '../../src/student/backend.js';
import type { NodeBackendPackage } from '../../src/student/tf.js';
import { tf } from '../../src/student/tf.js';

/** Fake deps: which packages import, which backends initialise; records every call. */
function fake(opts: { installed?: NodeBackendPackage[]; working?: BackendName[]; wasmKernelsThrow?: boolean }) {
  const calls: string[] = [];
  const installed = new Set(opts.installed ?? []);
  const working = new Set(opts.working ?? ['wasm', 'cpu']);
  let tensorflowRegistered = false;
  const deps: BackendDeps = {
    async importNode(pkg) {
      calls.push(`import ${pkg}`);
      if (!installed.has(pkg)) throw new Error(`Cannot find package '${pkg}' imported from tf.ts`);
      tensorflowRegistered = true;
    },
    async setBackend(name) {
      calls.push(`set ${name}`);
      if (name === 'tensorflow' && !tensorflowRegistered) return false;
      return working.has(name);
    },
    registerWasmKernels() {
      calls.push('register');
      if (opts.wasmKernelsThrow) throw new Error('boom');
      return ['Conv2DBackpropFilter'];
    },
    wasmDetail: () => 'fake wasm',
  };
  return { deps, calls };
}

describe('student/backend: selectBackend', () => {
  it('auto without native packages: tries tfjs-node-gpu, tfjs-node, then takes wasm with tfkd kernels, and says why', async () => {
    const { deps, calls } = fake({});
    const info = await selectBackend('auto', deps);
    expect(info).to.include({ name: 'wasm', kernels: 'wasm+tfkd-kernels', requested: 'auto', detail: 'fake wasm' });
    expect(calls).to.deep.equal(['import @tensorflow/tfjs-node-gpu', 'import @tensorflow/tfjs-node', 'register', 'set wasm']);
    expect(info.why[0]).to.match(/tfjs-node-gpu: not loadable/);
    expect(info.why[1]).to.match(/tfjs-node: not loadable/);
    expect(info.why.at(-1)).to.match(/^wasm: using it/);
  });

  it('auto prefers tfjs-node-gpu when it loads', async () => {
    const { deps, calls } = fake({ installed: ['@tensorflow/tfjs-node-gpu'], working: ['tensorflow', 'wasm', 'cpu'] });
    const info = await selectBackend('auto', deps);
    expect(info).to.include({ name: 'tensorflow', detail: '@tensorflow/tfjs-node-gpu', kernels: 'tensorflow' });
    expect(calls).to.deep.equal(['import @tensorflow/tfjs-node-gpu', 'set tensorflow']);
  });

  it('auto falls back to tfjs-node when the GPU package is absent', async () => {
    const { deps } = fake({ installed: ['@tensorflow/tfjs-node'], working: ['tensorflow', 'wasm', 'cpu'] });
    const info = await selectBackend('auto', deps);
    expect(info).to.include({ name: 'tensorflow', detail: '@tensorflow/tfjs-node' });
  });

  it('auto falls back to cpu when wasm does not initialise, and records both failures', async () => {
    const { deps } = fake({ working: ['cpu'] });
    const info = await selectBackend('auto', deps);
    expect(info).to.include({ name: 'cpu', kernels: 'cpu', requested: 'auto' });
    expect(info.why.join('\n')).to.match(/wasm: backend did not initialise/).and.match(/cpu: using it \(nothing faster initialised\)/);
  });

  it('auto skips wasm when registering the kernels throws', async () => {
    const { deps } = fake({ wasmKernelsThrow: true });
    const info = await selectBackend('auto', deps);
    expect(info.name).to.equal('cpu');
    expect(info.why.join('\n')).to.match(/registering tfkd kernels failed \(boom\)/);
  });

  it('BAD CALL - --backend tensorflow without the packages: UsageError with the install line and CUDA/cuDNN requirement', async () => {
    const { deps } = fake({});
    let err: unknown;
    try {
      await selectBackend('tensorflow', deps);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UsageError);
    const e = err as UsageError;
    expect(e.exitCode).to.equal(2);
    expect(e.message).to.match(/--backend tensorflow is not available/).and.match(/Cannot find package/);
    expect(e.hint).to.contain('npm i @tensorflow/tfjs-node-gpu@4.22.0').and.contain('CUDA 11.2').and.contain('cuDNN 8.1');
  });

  it('EXPECTED FAILURE - a package that imports but whose backend does not initialise is reported too', async () => {
    const { deps } = fake({ installed: ['@tensorflow/tfjs-node-gpu'], working: ['wasm'] });
    try {
      await selectBackend('tensorflow', deps);
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(UsageError);
      expect((e as Error).message).to.match(/tensorflow: backend did not initialise/);
    }
  });

  it('EXPECTED FAILURE - --backend wasm that cannot initialise is a WorkError (exit 1), not a silent cpu run', async () => {
    const { deps } = fake({ working: ['cpu'] });
    try {
      await selectBackend('wasm', deps);
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(WorkError);
    }
  });

  it('really selects wasm (with the kernels registered) and cpu in this process; tensorflow is refused here', async () => {
    const w = await selectBackend('wasm');
    expect(w.name).to.equal('wasm');
    expect(tf.getBackend()).to.equal('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).to.not.equal(undefined);
    expect(w.detail).to.match(/SIMD on/);
    const c = await selectBackend('cpu');
    expect(c.name).to.equal('cpu');
    expect(tf.getBackend()).to.equal('cpu');
    const a = await selectBackend('auto');
    expect(a.name).to.equal('wasm');
    let err: unknown;
    try {
      await selectBackend('tensorflow');
    } catch (e) {
      err = e;
    }
    expect(err, 'no tfjs-node here').to.be.instanceOf(UsageError);
    await tf.setBackend('cpu');
  });
});

describe('student/backend: webgpu choice (injected adapter)', () => {
  const hw = { vendor: 'nvidia', architecture: 'hopper', device: 'H100', description: 'NVIDIA H100 80GB HBM3', fallback: false };
  const sw = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7', fallback: true };
  const withGpu = (adapter: typeof hw | null, probeSoftware: boolean | null) => {
    const f = fake({ working: ['webgpu', 'wasm', 'cpu'] });
    f.deps.importWebgpu = async () => (f.calls.push('import webgpu'), adapter);
    f.deps.probeAdapter = () => (f.calls.push('probe'), probeSoftware === null ? { adapter: null, reason: 'no Vulkan driver' } : { adapter: { vendor: 'x', architecture: probeSoftware ? 'software' : 'hopper', device: 'd', description: 'desc', software: probeSoftware, source: 'dawn' } });
    return f;
  };

  it('auto takes webgpu on a hardware adapter and records it', async () => {
    const { deps, calls } = withGpu(hw, false);
    const info = await selectBackend('auto', deps);
    expect(info).to.include({ name: 'webgpu', kernels: 'webgpu', requested: 'auto' });
    expect(info.adapter).to.include({ vendor: 'nvidia', software: false, description: 'NVIDIA H100 80GB HBM3' });
    expect(calls).to.include.members(['probe', 'import webgpu', 'set webgpu']);
    expect(info.why.at(-1)).to.match(/^webgpu: using nvidia hopper/);
  });

  it('auto never loads Dawn for a software adapter: wasm, and the reason in one line', async () => {
    const { deps, calls } = withGpu(sw, true);
    const info = await selectBackend('auto', deps);
    expect(info.name).to.equal('wasm');
    expect(calls).to.not.include('import webgpu');
    expect(info.why.filter((w) => w.startsWith('webgpu:'))).to.have.length(1);
    expect(info.why.find((w) => w.startsWith('webgpu:'))).to.match(/not used \(software adapter only/);
  });

  it('auto with no adapter at all: one line, wasm', async () => {
    const { deps, calls } = withGpu(null, null);
    const info = await selectBackend('auto', deps);
    expect(info.name).to.equal('wasm');
    expect(calls).to.not.include('import webgpu');
    expect(info.why).to.include('webgpu: not available (no Vulkan driver)');
  });

  it('explicit webgpu on a software adapter runs there and says so', async () => {
    const { deps } = withGpu(sw, true);
    const info = await selectBackend('webgpu', deps);
    expect(info).to.include({ name: 'webgpu', requested: 'webgpu' });
    expect(info.adapter!.software).to.equal(true);
    expect(info.why.at(-1)).to.match(/software adapter/);
  });

  // Dawn was loaded in-process to find out, and its Vulkan warnings reached the terminal before
  // the one tfkd: line; the probe (a child process) answers first now, as for auto.
  it('BAD CALL - explicit webgpu without an adapter: UsageError naming the reason, Dawn never loaded', async () => {
    const { deps, calls } = withGpu(null, null);
    const err = await selectBackend('webgpu', deps).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(/--backend webgpu is not available: webgpu: not available \(no Vulkan driver\)/);
    expect(calls).to.include('probe');
    expect(calls).to.not.include('import webgpu');
  });
});
