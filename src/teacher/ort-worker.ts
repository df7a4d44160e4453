/**
 * The onnxruntime side of a worker-thread teacher session (see remote.ts): owns one
 * InferenceSession, runs feeds posted by the main thread, posts back outputs. Keeping
 * `session.run` (a blocking native call) here frees the main thread to read, preprocess and write
 * other batches meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createOrtSession, ortTensor, type OrtFeeds, type OrtSession, type OrtSessionOptions, type OrtTensorData, type OrtTensorType } from './ort.js';
import type { WireTensor, WorkerReply, WorkerRequest } from './remote.js';

const port = parentPort!;
const { model, options } = workerData as { model: Uint8Array; options: OrtSessionOptions };

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

let session: OrtSession;
try {
  session = await createOrtSession(model, options);
  port.postMessage({ type: 'ready', inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata } satisfies WorkerReply);
} catch (e) {
  port.postMessage({ type: 'failed', message: message(e) } satisfies WorkerReply);
  process.exit(0);
}

port.on('message', async (m: WorkerRequest) => {
  if (m.type === 'release') {
    await session.release();
    port.postMessage({ type: 'released' } satisfies WorkerReply);
    return;
  }
  try {
    const feeds: OrtFeeds = {};
    for (const [k, t] of Object.entries(m.feeds)) feeds[k] = ortTensor(t.type as OrtTensorType, t.data as OrtTensorData, t.dims);
    const res = await session.run(feeds, m.fetches);
    const outputs: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [k, v] of Object.entries(res)) {
      // A copy we own: the native output buffer may not be transferable.
      const data = (v.data as Float32Array).slice();
      outputs[k] = { type: v.type, dims: [...v.dims], data };
      transfer.push(data.buffer as ArrayBuffer);
    }
    port.postMessage({ type: 'result', id: m.id, outputs } satisfies WorkerReply, transfer);
  } catch (e) {
    port.postMessage({ type: 'result', id: m.id, error: message(e) } satisfies WorkerReply);
  }
});
