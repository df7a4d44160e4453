/**
 * A seeded folder of many small images for the streaming/memory benchmarks (docs/PERFORMANCE.md):
 *
 *   npx tsx scripts/make-image-folder.ts --count 100000 --classes 10 --out /tmp/folder-100k [--seed 1]
 *
 * Image i goes to class (i mod classes), is W×H with W, H ∈ [24, 96] (seeded), a smooth gradient
 * plus seeded noise, written as JPEG (2 of 3) or PNG (1 of 3). Deterministic for a seed; files that
 * already exist are kept, so an interrupted run continues.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { arg } from './cli-args.js';
import { Rng } from '../src/data/rng.js';

const count = Number(arg('count'));
const classes = Number(arg('classes', '10'));
const out = arg('out');
const seed = Number(arg('seed', '1'));
const limit = pLimit(8);
for (let c = 0; c < classes; c++) mkdirSync(join(out, `class-${String(c).padStart(3, '0')}`), { recursive: true });
const t0 = performance.now();
const jobs: Promise<void>[] = [];
for (let i = 0; i < count; i++) {
  const file = join(out, `class-${String(i % classes).padStart(3, '0')}`, `${String(i).padStart(7, '0')}.${i % 3 === 2 ? 'png' : 'jpg'}`);
  if (existsSync(file)) continue;
  jobs.push(
    limit(async () => {
      const rng = new Rng(seed, i);
      const w = 24 + rng.below(73);
      const h = 24 + rng.below(73);
      const px = Buffer.alloc(w * h * 3);
      for (let y = 0, p = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 3; k++, p++) px[p] = ((x * 3 + y * 2 + k * 50 + i) & 255) ^ rng.below(24);
      const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
      await (i % 3 === 2 ? img.png() : img.jpeg({ quality: 85 })).toFile(file);
    }),
  );
  if (jobs.length >= 4096) await Promise.all(jobs.splice(0));
}
await Promise.all(jobs);
console.log(`${out}: ${count} images in ${classes} classes (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
