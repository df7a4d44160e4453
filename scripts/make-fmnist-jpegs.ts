/**
 * Fashion-MNIST written out as a folder of JPEGs of mixed sizes — the "students on real images"
 * exercise (docs/TRAINING.md): each 28×28 image is upscaled (PIL-exact bicubic, src/data/pil) to a
 * seeded W×H with W, H ∈ [40, 112] independently (mixed aspect ratios), converted to RGB and
 * written as JPEG quality 90 into DIR/{train,test}/<class name>/<index>.jpg.
 *
 *   npx tsx scripts/make-fmnist-jpegs.ts --out /tmp/fmnist-jpeg [--train 10000] [--test 2000] [--seed 1]
 *
 * The first --train / --test images of each split (all classes), deterministic for a seed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { arg } from './cli-args.js';
import { openDataset } from '../src/data/open.js';
import { convertImage } from '../src/data/render.js';
import { resize } from '../src/data/pil/resample.js';
import { Rng } from '../src/data/rng.js';

const out = arg('out');
const seed = Number(arg('seed', '1'));
const counts = { train: Number(arg('train', '10000')), test: Number(arg('test', '2000')) };
const limit = pLimit(4);
const t0 = performance.now();
for (const split of ['train', 'test'] as const) {
  const ds = await openDataset(arg('data', 'fashion-mnist'), { split });
  const names = ds.classNames ?? Array.from({ length: ds.numClasses }, (_, c) => String(c));
  const dirName = (c: number) => names[c].replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();
  for (let c = 0; c < ds.numClasses; c++) mkdirSync(join(out, split, dirName(c)), { recursive: true });
  const n = Math.min(counts[split], ds.size);
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    jobs.push(
      limit(async () => {
        const rng = new Rng(seed, split === 'train' ? 1 : 2, i);
        const w = 40 + rng.below(73);
        const h = 40 + rng.below(73);
        const [img] = await ds.readImages([i], 'L');
        const big = convertImage(resize(img!, w, h, 'bicubic'), 'RGB');
        await sharp(Buffer.from(big.data.buffer, big.data.byteOffset, big.data.byteLength), { raw: { width: w, height: h, channels: 3 } })
          .jpeg({ quality: 90 })
          .toFile(join(out, split, dirName(ds.labels[i]), `${String(i).padStart(5, '0')}.jpg`));
      }),
    );
  }
  await Promise.all(jobs);
}
console.log(`${out}: ${counts.train} train + ${counts.test} test JPEGs, 40–112 px (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
