/**
 * Backend choice for the student: `--backend auto|tensorflow|webgpu|wasm|cpu`.
 *
 * - `tensorflow`: the native TensorFlow backend from `@tensorflow/tfjs-node-gpu`, else
 *   `@tensorflow/tfjs-node` — optional packages the user installs (imported dynamically by tf.ts).
 * - `wasm`: tfjs-backend-wasm (XNNPACK, SIMD, one thread in Node) plus the gradient kernels tfkd
 *   registers for it (see ./kernels): without them conv nets cannot train on wasm 4.22. When the
 *   optional native addon is built, its OpenBLAS kernels back the hot ops (./kernels/native.ts).
 * - `webgpu`: tfjs-backend-webgpu on Dawn for Node (the `webgpu` package; both optional
 *   dependencies, loaded by tf.ts). On a GPU through its Vulkan driver; on a software adapter
 *   (lavapipe) it works, far slower than the CPU, and says so.
 * - `cpu`: plain-JS reference backend; always there, ~20× slower than wasm for conv nets.
 * - `auto`: the first of tensorflow → webgpu (on a hardware adapter only, probed quietly in a child
 *   process: util/gpu-adapter.ts) → wasm → cpu that initialises. Every attempt and why it was
 *   passed over is kept in `why`, so the run manifest says what ran and for what reason.
 */
import { BACKEND_CHOICES, type BackendChoice } from '../catalog.js';
import { UsageError, WorkError, optionName } from '../errors.js';
import { registerWasmKernels } from './kernels/index.js';
import { registerNativeKernels } from './kernels/native.js';
import { registerReluGrad } from './kernels/relu-grad.js';
import { registerReduceGrads } from './kernels/reduce-grad.js';
import { importNodeBackend, importWebgpuBackend, NODE_BACKEND_PACKAGES, quietTf, tf, type NodeBackendPackage } from './tf.js';
import { deterministicWebgpuMatMul } from './webgpu-matmul.js';
import { safeWebgpuPad } from './webgpu-pad.js';
import { describeAdapter, probeGpuAdapter, type GpuAdapter, type GpuProbe } from '../util/gpu-adapter.js';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The tfjs backend now active. */
  name: BackendName;
  /** What exactly runs: the package for tensorflow, SIMD/threads for wasm. */
  detail: string;
  /** Which kernel set backs the hot ops, e.g. 'wasm+tfkd-kernels' (recorded in run manifests). */
  kernels: string;
  /** The choice asked for. */
  requested: BackendChoice;
  /** One line per attempt, in order, saying what was tried and the outcome. */
  why: string[];
  /** The GPU adapter (webgpu only): vendor, architecture, description, software or not. */
  adapter?: GpuAdapter;
}

/** The side effects selectBackend needs; injectable so the choice logic is testable without tfjs-node. */
export interface BackendDeps {
  importNode(pkg: NodeBackendPackage): Promise<void>;
  /** Activates a registered tfjs backend; false (or a throw) when it cannot initialise. */
  setBackend(name: BackendName): Promise<boolean>;
  /** Registers tfkd's wasm kernels (idempotent); returns their names. */
  registerWasmKernels(): string[];
  /**
   * Registers the native BLAS kernels over them when tfkd's addon is built and enabled (idempotent);
   * `names` is empty otherwise, and `why` says which. Optional: without it wasm runs its own kernels.
   */
  registerNativeKernels?(): { names: string[]; why: string };
  /** Free-text description of the active wasm runtime. */
  wasmDetail(): string;
  /** Loads tfjs's WebGPU backend (registering 'webgpu'); resolves to the adapter it gets, null when none. */
  importWebgpu?(): Promise<Omit<GpuAdapter, 'software' | 'source'> & { fallback: boolean } | null>;
  /** Asks, without a sound, what adapter this machine has (auto consults it before loading Dawn in-process). */
  probeAdapter?(): GpuProbe;
}

/** What to install for the tensorflow backend (a function: option names follow the message style). */
export const installHint = (): string =>
  'install one of: npm i @tensorflow/tfjs-node-gpu@4.22.0 (NVIDIA GPU; needs CUDA 11.2 and cuDNN 8.1 on the library path) ' +
  `or npm i @tensorflow/tfjs-node@4.22.0 (CPU); or pass ${optionName('backend')} wasm`;

const defaultBackendDeps: BackendDeps = {
  importNode: importNodeBackend,
  async setBackend(name) {
    const ok = await tf.setBackend(name);
    if (ok) await tf.ready();
    if (ok && name === 'webgpu') {
      // tfkd reads one scalar loss per step synchronously; the backend's one-time console advice
      // (meant for a browser's main thread) would be the only line on stderr of a webgpu run.
      (tf.backend() as unknown as { hasReadSyncWarned?: boolean }).hasReadSyncWarned = true;
      // No float atomics in matrix products: the same run twice on one adapter is bit-identical (webgpu-matmul.ts).
      deterministicWebgpuMatMul();
      // tfjs's webgpu PadV2 returns zeros above rank 4 (webgpu-pad.ts): collapse, or fail loudly.
      safeWebgpuPad();
    }
    return ok && tf.getBackend() === name;
  },
  registerWasmKernels,
  registerNativeKernels: () => registerNativeKernels(),
  importWebgpu: importWebgpuBackend,
  probeAdapter: () => probeGpuAdapter(),
  wasmDetail() {
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    return `tfjs-backend-wasm ${tf.version_core}, SIMD ${simd ? 'on' : 'off'}, ${threads ? 'multi-threaded' : '1 thread'}`;
  },
};

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  // Native load errors can be long (dlopen paths); keep the first line.
  return m.split('\n')[0];
}

async function trySet(deps: BackendDeps, name: BackendName, why: string[]): Promise<boolean> {
  try {
    if (await deps.setBackend(name)) return true;
    why.push(`${name}: backend did not initialise`);
  } catch (err) {
    why.push(`${name}: ${message(err)}`);
  }
  return false;
}

async function tryTensorflow(deps: BackendDeps, why: string[]): Promise<BackendInfo | null> {
  for (const pkg of NODE_BACKEND_PACKAGES) {
    try {
      await deps.importNode(pkg);
    } catch (err) {
      why.push(`${pkg}: not loadable (${message(err)})`);
      continue;
    }
    if (await trySet(deps, 'tensorflow', why)) {
      why.push(`tensorflow: using ${pkg}`);
      return { name: 'tensorflow', detail: pkg, kernels: 'tensorflow', requested: 'auto', why };
    }
  }
  return null;
}

async function tryWasm(deps: BackendDeps, why: string[]): Promise<BackendInfo | null> {
  let names: string[];
  try {
    names = deps.registerWasmKernels();
  } catch (err) {
    why.push(`wasm: registering tfkd kernels failed (${message(err)})`);
    return null;
  }
  // The native kernels (optional addon) replace some wasm ones; a failure here keeps plain wasm.
  let native: string[] = [];
  try {
    const n = deps.registerNativeKernels?.();
    if (n) {
      native = n.names;
      why.push(`wasm: ${n.names.length ? `native BLAS kernels (${n.names.join(', ')}) — ${n.why}` : n.why}`);
    }
  } catch (err) {
    why.push(`wasm: native kernels not used (${message(err)})`);
  }
  if (!(await trySet(deps, 'wasm', why))) return null;
  why.push(`wasm: using it with ${names.length} tfkd kernels (${names.join(', ')})`);
  const kernels = native.length ? 'wasm+native-blas' : 'wasm+tfkd-kernels';
  return { name: 'wasm', detail: deps.wasmDetail(), kernels, requested: 'auto', why };
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe/i;

async function tryWebgpu(deps: BackendDeps, why: string[], auto: boolean): Promise<BackendInfo | null> {
  if (!deps.importWebgpu) {
    why.push('webgpu: not available in this build');
    return null;
  }
  // Before Dawn is loaded here (asked for or not): it prints its Vulkan warnings to our stderr, the
  // probe's (a child process) go nowhere — so a machine without a driver gets one clean line.
  const p = deps.probeAdapter?.() ?? (auto ? { adapter: null, reason: 'not probed' } : null);
  if (p && !p.adapter) {
    why.push(`webgpu: not available (${p.reason ?? 'no adapter'})`);
    return null;
  }
  if (auto && p?.adapter?.software) {
    why.push(`webgpu: not used (software adapter only: ${describeAdapter(p.adapter)} — slower than the CPU; ${optionName('backend')} webgpu uses it anyway)`);
    return null;
  }
  let info: Awaited<ReturnType<NonNullable<BackendDeps['importWebgpu']>>>;
  try {
    info = await deps.importWebgpu();
  } catch (err) {
    why.push(`webgpu: not loadable (${message(err)}; npm install webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@${tf.version_core})`);
    return null;
  }
  if (!info) {
    why.push('webgpu: no WebGPU adapter (on Linux: libvulkan1 and a Vulkan driver, e.g. the NVIDIA driver with its ICD)');
    return null;
  }
  const adapter: GpuAdapter = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: info.fallback || info.architecture === 'software' || SOFTWARE.test(`${info.device} ${info.description}`),
    source: 'dawn',
  };
  if (!(await trySet(deps, 'webgpu', why))) return null;
  why.push(adapter.software ? `webgpu: using it on a software adapter (${describeAdapter(adapter)}): correct but slower than the CPU` : `webgpu: using ${describeAdapter(adapter)}`);
  return { name: 'webgpu', detail: `tfjs-backend-webgpu ${tf.version_core} on Dawn (webgpu npm package), ${describeAdapter(adapter)}`, kernels: 'webgpu', requested: 'auto', why, adapter };
}

/** Activates the backend for `choice`; throws UsageError / WorkError with the reason when it cannot. */
export async function selectBackend(choice: BackendChoice, deps: BackendDeps = defaultBackendDeps): Promise<BackendInfo> {
  quietTf();
  registerReluGrad(); // one-kernel ReLU gradient, bit-identical to tfjs' (kernels/relu-grad.ts)
  registerReduceGrads(); // Sum / Mean gradients without a tensor of ones, bit-identical (kernels/reduce-grad.ts)
  const why: string[] = [];
  let info: BackendInfo | null = null;
  switch (choice) {
    case 'tensorflow':
      info = await tryTensorflow(deps, why);
      if (!info) throw new UsageError(`${optionName('backend')} tensorflow is not available: ${why.join('; ')}`, installHint());
      break;
    case 'webgpu':
      info = await tryWebgpu(deps, why, false);
      if (!info) throw new UsageError(`${optionName('backend')} webgpu is not available: ${why.join('; ')}`, `pass ${optionName('backend')} wasm or cpu`);
      break;
    case 'wasm':
      info = await tryWasm(deps, why);
      if (!info) throw new WorkError(`${optionName('backend')} wasm failed to initialise: ${why.join('; ')}`, `try ${optionName('backend')} cpu`);
      break;
    case 'cpu':
      if (await trySet(deps, 'cpu', why)) info = { name: 'cpu', detail: 'tfjs cpu (plain JavaScript)', kernels: 'cpu', requested: choice, why };
      if (!info) throw new WorkError(`${optionName('backend')} cpu failed to initialise: ${why.join('; ')}`);
      why.push('cpu: using it (asked for)');
      break;
    case 'auto':
      info = (await tryTensorflow(deps, why)) ?? (await tryWebgpu(deps, why, true)) ?? (await tryWasm(deps, why));
      if (!info && (await trySet(deps, 'cpu', why))) {
        why.push('cpu: using it (nothing faster initialised)');
        info = { name: 'cpu', detail: 'tfjs cpu (plain JavaScript)', kernels: 'cpu', requested: choice, why };
      }
      if (!info) throw new WorkError(`no tfjs backend could be initialised: ${why.join('; ')}`);
      break;
    default: {
      const never: never = choice;
      throw new UsageError(`unknown backend '${String(never)}' (choose ${BACKEND_CHOICES.join('|')})`);
    }
  }
  info.requested = choice;
  return info;
}
