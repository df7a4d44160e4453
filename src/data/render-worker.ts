/**
 * A render worker (render-pool.ts): decodes one image file as PIL does and renders the requested
 * views of it for one side (views.ts) — the same pure functions the main thread would run, so the
 * bytes are the same wherever they are computed. Replies transfer the rendered buffers.
 */
import { parentPort } from 'node:worker_threads';
import { UsageError } from '../errors.js';
import { renderHere, type RenderJob, type RenderReply } from './render-pool.js';

if (!parentPort) throw new Error('render-worker.ts runs as a worker thread');
const port = parentPort;

port.on('message', async (job: RenderJob) => {
  try {
    const out = await renderHere(job);
    const reply: RenderReply = { id: job.id, views: out };
    port.postMessage(reply, out.map((d) => d.buffer as ArrayBuffer));
  } catch (e) {
    const reply: RenderReply = { id: job.id, error: { message: e instanceof Error ? e.message : String(e), usage: e instanceof UsageError, hint: e instanceof UsageError ? e.hint : undefined } };
    port.postMessage(reply);
  }
});
