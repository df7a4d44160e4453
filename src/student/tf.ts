/**
 * The only module that imports tfjs. Everything in tfkd that needs tensors imports `tf` from here,
 * so backend choice (and the kernels we register for it) happen in exactly one place.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

let quieted = false;

/**
 * PROD silences tfjs's console banners (e.g. the cpu backend's "install our node backend" notice
 * on first use): tfkd reports the backend it chose, and why, itself (backend.ts). Set when tfkd
 * first picks a backend (selectBackend), not at import: a program that imports tfkd and uses tfjs
 * itself keeps its flags until it asks tfkd to train, evaluate or export.
 */
export function quietTf(): void {
  if (quieted) return;
  quieted = true;
  tf.env().set('PROD', true);
}

export { tf };

/** The optional native tfjs packages, in order of preference (GPU first). */
export const NODE_BACKEND_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
export type NodeBackendPackage = (typeof NODE_BACKEND_PACKAGES)[number];

/**
 * Dynamically imports one of the native tfjs packages. They are not dependencies of tfkd (they
 * download TensorFlow's C library at install, and the GPU one needs CUDA 11.2 + cuDNN 8.1), so
 * the import is resolved at run time; importing one registers the 'tensorflow' backend with the
 * tfjs engine above. Rejects when the package is not installed or its native library fails to load.
 */
export async function importNodeBackend(pkg: NodeBackendPackage): Promise<void> {
  // A variable specifier keeps TypeScript from resolving a package that is normally absent.
  const specifier: string = pkg;
  await import(specifier);
}

let webgpuLoaded: Promise<void> | null = null;

/**
 * tfjs's WebGPU backend on Dawn for Node (`webgpu`, which carries a prebuilt dawn.node) — both
 * optional dependencies, pinned: the backend to the tfjs version above. tfjs-backend-webgpu
 * registers 'webgpu' only if `navigator.gpu` exists *when it is imported* (a static import leaves
 * "Backend name 'webgpu' not found in registry"), so Dawn's GPU object and its constants
 * (GPUBufferUsage, GPUMapMode, …) go onto globalThis first, then the backend is imported.
 * Returns the adapter the backend gets (the same request it makes: high-performance).
 */
export async function importWebgpuBackend(): Promise<{ vendor: string; architecture: string; device: string; description: string; fallback: boolean } | null> {
  webgpuLoaded ??= (async () => {
    const dawnPkg: string = 'webgpu';
    const backendPkg: string = '@tensorflow/tfjs-backend-webgpu';
    const dawn = (await import(dawnPkg)) as { create(flags: string[]): unknown; globals: Record<string, unknown> };
    const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    // Node 20 has no navigator; Node 21+ has one without `gpu`.
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    if (!g.navigator!.gpu) Object.defineProperty(g.navigator!, 'gpu', { value: dawn.create([]), configurable: true });
    await import(backendPkg);
  })();
  await webgpuLoaded;
  const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(o: object): Promise<{ info: Record<string, unknown> } | null> } } }).navigator.gpu;
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) return null;
  const i = a.info;
  return { vendor: String(i.vendor ?? ''), architecture: String(i.architecture ?? ''), device: String(i.device ?? ''), description: String(i.description ?? ''), fallback: Boolean(i.isFallbackAdapter) };
}

/**
 * On the webgpu backend a synchronous read (`dataSync`, which checkpoints and optimizer state use)
 * needs OffscreenCanvas, which Node lacks; an asynchronous read caches the values on the CPU, where
 * the synchronous read then finds them. So before a checkpoint, every live variable (weights,
 * optimizer slots) is downloaded. Nothing to do on the CPU backends.
 */
export async function downloadVariables(): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await Promise.all(Object.values(tf.engine().state.registeredVariables).map((v) => v.data()));
}
