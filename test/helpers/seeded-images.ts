/**
 * Seeded images of random sizes (6–40 px a side) written by sharp, for the tests that need an
 * image data set on disk: precompute over folder: data (test/cache/precompute-*.test.ts) and the
 * tar: shards (test/data/tar-fixture.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';

/** Image `i` drawn from `rng` (size, then pixels), as JPEG (quality 90) when `file` ends in .jpg, else PNG. */
export async function writeSeededImage(rng: Rng, i: number, file: string): Promise<void> {
  const w = 6 + rng.below(35);
  const h = 6 + rng.below(35);
  const px = Buffer.alloc(w * h * 3);
  for (let p = 0; p < px.length; p++) px[p] = (p * 7 + i * 31 + rng.below(60)) & 255;
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  await (file.endsWith('.jpg') ? img.jpeg({ quality: 90 }) : img.png()).toFile(file);
}

/** DIR/<class>/<nnnn>.jpg|png: `n` seeded images, the classes in turn, every third one a JPEG; returns their paths. */
export async function makeImageFolder(dir: string, n: number, classes: string[], seed: number): Promise<string[]> {
  const rng = new Rng(seed);
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const cls = classes[i % classes.length];
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    const f = path.join(dir, cls, `${String(i).padStart(4, '0')}.${i % 3 === 0 ? 'jpg' : 'png'}`);
    await writeSeededImage(rng, i, f);
    files.push(f);
  }
  return files;
}
