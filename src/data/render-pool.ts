/**
 * Decoding and rendering off the main thread, for throughput where decoding has cores of its own
 * (a GPU machine; `--threads` below the core count here). JS rendering (PIL's resampler, views.ts)
 * on the main thread caps precompute at one core's worth of images, and `session.run` blocks that
 * thread while it runs; a pool of worker threads decodes (sharp) and renders in parallel with
 * inference and with each other. Each job is one image file and the views of it a batch needs;
 * results come back in job order, whatever order the workers finish in, and they are the bytes the
 * main thread would compute (the same pure functions), so a cache does not depend on the pool.
 * In flight per worker: bounded by the batch the caller asks for.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UsageError, WorkError } from '../errors.js';
import type { AugmentSpec } from './augment.js';
import { decodeImage } from './pil/decode.js';
import type { Image } from './image.js';
import { renderMixedView, renderView, type SideRendering } from './views.js';

export interface RenderJob {
  id: number;
  /** The image file, or the name of `bytes` in messages. */
  file: string;
  /** The encoded image itself (a tar member), when there is no file of its own to read. */
  bytes?: Uint8Array;
  maxPixels?: number;
  side: SideRendering;
  aug: { spec: AugmentSpec; seed: number } | null;
  sample: number;
  views: number[];
  /**
   * Mixing specs (docs/MIXING.md): the data set's size and, per view, the partner's file (null when
   * that view is not mixed). The reply's views are then float32 mixtures on [0, 1].
   */
  mix?: { N: number; partners: Array<string | null> };
}

export type RenderReply = { id: number; views: Array<Uint8Array | Float32Array>; error?: undefined } | { id: number; views?: undefined; error: { message: string; usage: boolean; hint?: string } };

/** Render workers when none are asked for: the cores but one (the step's), at most 4. */
export const defaultRenderWorkers = (): number => Math.max(0, Math.min(4, availableParallelism() - 1));

// From the sources (a checkout, run through tsx) the worker starts from a boot file that registers
// tsx in the thread; from the built package (dist/) it loads the compiled worker directly.
const ENTRY = import.meta.url.endsWith('.ts') ? new URL('./render-worker-boot.mjs', import.meta.url) : new URL('./render-worker.js', import.meta.url);

/**
 * What a worker does with a job, here on the calling thread: decode the image as PIL does and
 * render the asked views of it (one buffer each, each its own copy).
 */
export async function renderHere(job: Omit<RenderJob, 'id'>): Promise<Array<Uint8Array | Float32Array>> {
  const img = await decodeImage(job.bytes ?? job.file, job.side.eval.mode, { file: job.file, maxPixels: job.maxPixels });
  if (job.mix && job.aug) {
    // Mixed views: each partner decoded once per job, whatever views share it.
    const partners = new Map<string, Image>();
    const mixed: Float32Array[] = [];
    for (const [k, v] of job.views.entries()) {
      const file = job.mix.partners[k];
      let partner: Image | null = null;
      if (file !== null) {
        partner = partners.get(file) ?? (await decodeImage(file, job.side.eval.mode, { file, maxPixels: job.maxPixels }));
        partners.set(file, partner);
      }
      mixed.push(renderMixedView(img, partner, job.side, job.aug, job.sample, v, job.mix.N).data);
    }
    return mixed;
  }
  return job.views.map((v) => {
    const r = renderView(img, job.side, job.aug, job.sample, v);
    // A view may share the decoded image's buffer (identity renders): copy so each can move.
    return r.data === img.data ? r.data.slice() : r.data;
  });
}

export class RenderPool {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly pending = new Map<number, { worker: number; resolve: (v: Array<Uint8Array | Float32Array>) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private dead: Error | null = null;

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1 && size <= 256)) throw new UsageError(`render workers must be an integer in [1, 256], got ${size}`);
    for (let w = 0; w < size; w++) {
      const worker = new Worker(ENTRY);
      worker.on('message', (r: RenderReply) => this.settle(w, r));
      worker.on('error', (e) => this.fail(new WorkError(`render worker failed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new WorkError(`render worker exited with code ${code}`));
      });
      this.workers.push(worker);
      this.load.push(0);
    }
  }

  private settle(w: number, r: RenderReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.load[w]--;
    if (r.error) p.reject(r.error.usage ? new UsageError(r.error.message, r.error.hint) : new WorkError(r.error.message));
    else p.resolve(r.views);
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const [, p] of this.pending) p.reject(e);
    this.pending.clear();
  }

  /** Decodes `file` and renders `views` of it (one buffer per view), on the least busy worker. */
  render(job: Omit<RenderJob, 'id' | 'mix'>): Promise<Uint8Array[]>;
  /** …and mixes each view with its partner's (float32 on [0, 1]). */
  render(job: Omit<RenderJob, 'id'>): Promise<Array<Uint8Array | Float32Array>>;
  render(job: Omit<RenderJob, 'id'>): Promise<Array<Uint8Array | Float32Array>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    let w = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i] < this.load[w]) w = i;
    this.load[w]++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { worker: w, resolve, reject });
      this.workers[w].postMessage({ ...job, id } satisfies RenderJob);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
