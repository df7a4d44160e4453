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
