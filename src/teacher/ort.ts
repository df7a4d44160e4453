/**
 * The only module that imports onnxruntime-node. Everything else (teacher sessions, the worker
 * session, export parity checks, eval of .onnx files) goes through the few wrappers below, so that
 * session creation (and its logging), tensor construction and the device → provider map live in
 * one place, and a module cannot reach past them into the rest of the runtime.
 */
import * as ort from 'onnxruntime-node';
import type { TeacherDevice } from '../catalog.js';

/** A tensor fed to or returned by a session. */
export type OrtTensor = ort.Tensor;
/** A tensor's element type ('float32', 'float16', …). */
export type OrtTensorType = ort.Tensor.Type;
/** A tensor's data: a typed array (float16 as raw bits in a Uint16Array: Node < 24 has no Float16Array). */
export type OrtTensorData = ort.Tensor.DataType;
export type OrtFeeds = Record<string, OrtTensor>;
export type OrtOutputs = ort.InferenceSession.ReturnType;
/** What a session says about one of its inputs or outputs (name, tensor or not, type, shape). */
export type OrtValueMetadata = ort.InferenceSession.ValueMetadata;
export type OrtSessionOptions = ort.InferenceSession.SessionOptions;

/** The part of an onnxruntime InferenceSession tfkd uses. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly OrtValueMetadata[];
  readonly outputMetadata: readonly OrtValueMetadata[];
  /** Runs the graph on `feeds`, computing every output or only those `fetches` names. */
  run(feeds: OrtFeeds): Promise<OrtOutputs>;
  run(feeds: OrtFeeds, fetches: readonly string[]): Promise<OrtOutputs>;
  release(): Promise<void>;
}

let quieted = false;

/**
 * Creates an inference session — the one place tfkd does. A missing CUDA library or GPU adapter
 * already surfaces as the exception we catch and record in providerNotes; without the 'fatal' log
 * level the native logger also prints multi-line ERROR dumps on every probe. The level is set here,
 * at tfkd's first session, not at import: a program that imports tfkd and uses onnxruntime itself
 * keeps its own logging until it asks tfkd for a teacher.
 */
export function createOrtSession(model: Uint8Array, options: OrtSessionOptions = {}): Promise<OrtSession> {
  if (!quieted) {
    quieted = true;
    ort.env.logLevel = 'fatal';
  }
  return ort.InferenceSession.create(model, options);
}

/** A tensor over `data` (not copied) with shape `dims`. */
export function ortTensor(type: OrtTensorType, data: OrtTensorData, dims: readonly number[]): OrtTensor {
  return new ort.Tensor(type, data, dims);
}

/** onnxruntime-node's version, recorded in cache manifests. */
export const ORT_VERSION: string = ort.env.versions?.node ?? 'unknown';

/** What `ort.listSupportedBackends()` reports: bundled = shipped in the npm package. */
export function listOrtBackends(): Array<{ name: string; bundled: boolean }> {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

/** The execution providers a `--device` can name. */
export type Provider = 'cuda' | 'webgpu' | 'cpu';

/*
 * What onnxruntime-node 1.30.0 ships, per platform (its bin/napi-v6/<platform>/<arch>/ binaries and
 * script/install-metadata.js; `listOrtBackends()` on linux-x64 reports cpu and webgpu bundled, cuda
 * and tensorrt not):
 *
 *   platform      cpu   webgpu   cuda                      also compiled in (no tfkd device)
 *   linux-x64     yes   yes      not bundled (below)       tensorrt (not bundled)
 *   linux-arm64   yes   no       no                        —
 *   darwin-arm64  yes   yes      no                        coreml
 *   darwin-x64    no binary in the 1.30 package
 *   win32-x64     yes   yes      no                        dml (DirectML.dll shipped)
 *   win32-arm64   yes   yes      no                        dml (DirectML.dll shipped)
 *
 * A provider the platform lacks throws at session creation, like a missing library or adapter does
 * (onnxruntime-node never falls back by itself), so one table serves every platform: `auto` tries
 * its row in order and keeps the first session that opens (providers.ts), and an explicit device
 * fails with the install hint (providers.ts: `ONNXRUNTIME_NODE_INSTALL=cuda12 node
 * node_modules/onnxruntime-node/script/install.js` fetches the CUDA 12 provider libraries, which
 * also need CUDA 12 and cuDNN 9 on the machine). WebGPU is experimental in onnxruntime-node and
 * needs a GPU adapter.
 */
/** device → providers to try, in order (cf. transformers.js `backends/onnx.js`). */
export const DEVICE_PROVIDERS: Readonly<Record<TeacherDevice, readonly Provider[]>> = Object.freeze({
  auto: Object.freeze(['cuda', 'webgpu', 'cpu'] as const),
  cuda: Object.freeze(['cuda'] as const),
  webgpu: Object.freeze(['webgpu'] as const),
  cpu: Object.freeze(['cpu'] as const),
});
