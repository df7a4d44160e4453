/**
 * The only module that imports onnxruntime-node. Everything else (teacher sessions, export parity
 * checks, eval of .onnx files) goes through this re-export, so provider handling lives in one place.
 */
import * as ort from 'onnxruntime-node';

// A missing CUDA library or GPU adapter already surfaces as the exception we catch and record in
// providerNotes; without this the native logger also prints multi-line ERROR dumps on every probe.
ort.env.logLevel = 'fatal';

/** onnxruntime-node's version, recorded in cache manifests. */
export const ORT_VERSION: string = ort.env.versions?.node ?? 'unknown';

/** What `ort.listSupportedBackends()` reports: bundled = shipped in the npm package. */
export function listOrtBackends(): Array<{ name: string; bundled: boolean }> {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

export { ort };
