/**
 * A teacher session in a worker thread. onnxruntime-node's `session.run` is a synchronous native
 * call (wrapped in setImmediate): while it runs, the JS thread can do nothing else. With the
 * session in a worker, the main thread reads, preprocesses and writes other batches while
 * inference runs. Inputs are copied to the worker (structured clone; the caller may reuse its
 * buffer), outputs are transferred back.
 *
 * `workerSessionFactory` is a `SessionFactory`, so provider fallback (providers.ts), introspection
 * and the Teacher wrapper work unchanged on top of it.
 */
import { Worker } from 'node:worker_threads';
import { ortTensor, type OrtFeeds, type OrtOutputs, type OrtTensorData, type OrtTensorType, type OrtValueMetadata } from './ort.js';
import type { SessionFactory, TeacherSession } from './providers.js';

export interface WireTensor {
  type: string;
  dims: number[];
  data: Float32Array | Uint16Array | ArrayLike<number>;
}
export type WorkerRequest =
  | { type: 'run'; id: number; feeds: Record<string, WireTensor>; fetches: string[] }
  | { type: 'release' };
export type WorkerReply =
  | { type: 'ready'; inputMetadata: readonly OrtValueMetadata[]; outputMetadata: readonly OrtValueMetadata[] }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; outputs?: Record<string, WireTensor>; error?: string }
  | { type: 'released' };

// From the sources (a checkout, run through tsx) the worker starts from a boot file that registers
// tsx in the thread; from the built package (dist/) it loads the compiled worker directly.
const ENTRY = import.meta.url.endsWith('.ts') ? new URL('./ort-worker-boot.mjs', import.meta.url) : new URL('./ort-worker.js', import.meta.url);

class RemoteSession implements TeacherSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: OrtOutputs) => void; reject: (e: Error) => void }>();
  private released: Promise<void> | null = null;
  private dead: Error | null = null;

  constructor(
    private readonly worker: Worker,
    readonly inputMetadata: readonly OrtValueMetadata[],
    readonly outputMetadata: readonly OrtValueMetadata[],
  ) {
    worker.on('message', (m: WorkerReply) => {
      if (m.type !== 'result') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.idle();
      if (m.error !== undefined || !m.outputs) return p.reject(new Error(m.error ?? 'no outputs'));
      const out: OrtFeeds = {};
      for (const [k, t] of Object.entries(m.outputs)) out[k] = ortTensor(t.type as OrtTensorType, t.data as OrtTensorData, t.dims);
      p.resolve(out);
    });
    const fail = (e: Error): void => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`onnxruntime worker exited (code ${code})`)));
    // An idle worker must not keep the process alive; a busy one must (a pending run is awaited).
    worker.unref();
  }

  private idle(): void {
    if (this.pending.size === 0) this.worker.unref();
  }

  run(feeds: OrtFeeds, fetches: readonly string[]): Promise<OrtOutputs> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.released) return Promise.reject(new Error('session released'));
    const id = this.nextId++;
    const wire: Record<string, WireTensor> = {};
    for (const [k, t] of Object.entries(feeds)) wire[k] = { type: t.type, dims: [...t.dims], data: t.data as Float32Array };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ type: 'run', id, feeds: wire, fetches: [...fetches] } satisfies WorkerRequest);
    });
  }

  release(): Promise<void> {
    if (!this.released) {
      this.released = this.dead
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.worker.ref();
            this.worker.on('message', (m: WorkerReply) => {
              if (m.type === 'released') resolve();
            });
            this.worker.once('exit', () => resolve());
            this.worker.postMessage({ type: 'release' } satisfies WorkerRequest);
          }).then(() => this.worker.terminate().then(() => undefined));
    }
    return this.released;
  }
}

/** Opens the session in a fresh worker thread; rejects (and ends the worker) if it cannot open. */
export const workerSessionFactory: SessionFactory = (model, options) =>
  new Promise<TeacherSession>((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: { model, options } });
    const onError = (e: Error): void => reject(e);
    worker.once('error', onError);
    worker.once('message', (m: WorkerReply) => {
      worker.off('error', onError);
      if (m.type === 'ready') resolve(new RemoteSession(worker, m.inputMetadata, m.outputMetadata));
      else {
        void worker.terminate();
        reject(new Error(m.type === 'failed' ? m.message : `unexpected worker reply ${m.type}`));
      }
    });
  });
