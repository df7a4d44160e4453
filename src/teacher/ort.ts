/**
 * The only module that imports onnxruntime-node. Everything else (teacher sessions, export parity
 * checks, eval of .onnx files) goes through this re-export, so provider handling lives in one place.
 */
import * as ort from 'onnxruntime-node';

let quieted = false;

/**
 * Creates an inference session — the one place tfkd does. A missing CUDA library or GPU adapter
 * already surfaces as the exception we catch and record in providerNotes; without the 'fatal' log
 * level the native logger also prints multi-line ERROR dumps on every probe. The level is set here,
 * at tfkd's first session, not at import: a program that imports tfkd and uses onnxruntime itself
 * keeps its own logging until it asks tfkd for a teacher.
 */
export function createOrtSession(model: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  if (!quieted) {
    quieted = true;
    ort.env.logLevel = 'fatal';
  }
  return ort.InferenceSession.create(model, options);
}

/** onnxruntime-node's version, recorded in cache manifests. */
export const ORT_VERSION: string = ort.env.versions?.node ?? 'unknown';

/** What `ort.listSupportedBackends()` reports: bundled = shipped in the npm package. */
export function listOrtBackends(): Array<{ name: string; bundled: boolean }> {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

export { ort };
