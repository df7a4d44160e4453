import { createHash } from 'node:crypto';
import type { Dataset } from './dataset.js';

/**
 * Data-set fingerprint: sha256 (hex) streamed over
 *   "tfkd-data/1\n" kind "\n" split "\n" count "\n" numClasses "\n" H "x" W "x" C "\n"
 *   labels as int32 little-endian (count × 4 bytes)
 *   every sample's HWC bytes in index order
 * Sources of image files (`folder:`, `list:`) have their own cheaper fingerprint (names, labels
 * and byte sizes, no decoding: `files.ts`), used instead.
 * The directory is deliberately left out: the same data in another folder has the same
 * fingerprint, and any changed pixel or label changes it. Computed once per Dataset object.
 */
export const FINGERPRINT_VERSION = 'tfkd-data/1';

const memo = new WeakMap<Dataset, Promise<string>>();

export function fingerprint(ds: Dataset, batchSize = 1024): Promise<string> {
  let p = memo.get(ds);
  if (!p) {
    p = ds.fingerprint ? ds.fingerprint() : compute(ds, batchSize);
    memo.set(ds, p);
    p.catch(() => memo.delete(ds));
  }
  return p;
}

async function compute(ds: Dataset, batchSize: number): Promise<string> {
  const h = createHash('sha256');
  const { height, width, channels } = ds.shape;
  h.update(`${FINGERPRINT_VERSION}\n${ds.kind}\n${ds.split}\n${ds.size}\n${ds.numClasses}\n${height}x${width}x${channels}\n`);
  const labels = new Uint8Array(ds.size * 4);
  const dv = new DataView(labels.buffer);
  for (let i = 0; i < ds.size; i++) dv.setInt32(i * 4, ds.labels[i], true);
  h.update(labels);
  for await (const b of ds.iterate(batchSize)) h.update(b.pixels);
  return h.digest('hex');
}
