/**
 * A render worker (render-pool.ts): decodes one image file as PIL does and renders the requested
 * views of it for one side (views.ts) — the same pure functions the main thread would run, so the
 * bytes are the same wherever they are computed. Replies transfer the rendered buffers.
 */
import { parentPort } from 'node:worker_threads';
import { UsageError } from '../errors.js';
import { decodeImage } from './pil/decode.js';
import type { RenderJob, RenderReply } from './render-pool.js';
import type { Image } from './image.js';
import { renderMixedView, renderView } from './views.js';

if (!parentPort) throw new Error('render-worker.ts runs as a worker thread');
const port = parentPort;

port.on('message', async (job: RenderJob) => {
  try {
    const img = await decodeImage(job.file, job.side.eval.mode, { file: job.file, maxPixels: job.maxPixels });
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
      const reply: RenderReply = { id: job.id, views: mixed };
      port.postMessage(reply, mixed.map((d) => d.buffer as ArrayBuffer));
      return;
    }
    const out = job.views.map((v) => {
      const r = renderView(img, job.side, job.aug, job.sample, v);
      // A view may share the decoded image's buffer (identity renders): copy so each can move.
      return r.data === img.data ? r.data.slice() : r.data;
    });
    const reply: RenderReply = { id: job.id, views: out };
    port.postMessage(reply, out.map((d) => d.buffer as ArrayBuffer));
  } catch (e) {
    const reply: RenderReply = { id: job.id, error: { message: e instanceof Error ? e.message : String(e), usage: e instanceof UsageError, hint: e instanceof UsageError ? e.hint : undefined } };
    port.postMessage(reply);
  }
});
