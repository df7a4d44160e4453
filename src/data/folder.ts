import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { UsageError } from '../errors.js';
import { MemoryDataset } from './base.js';
import type { DatasetInit } from './base.js';
import type { Split } from './dataset.js';
import { requireDir } from './paths.js';

/**
 * `folder:DIR`: one sub-folder per class, like torchvision's ImageFolder.
 *   - Classes: the non-hidden sub-folders of DIR sorted by code unit (locale-independent), index =
 *     position. Images: files with an image extension anywhere below a class folder, sorted by
 *     their path relative to DIR; hidden files and other extensions are ignored.
 *   - Size: `folderSize` [H, W] or, by default, the size of the first readable image. Others are
 *     resized to it with sharp (`fit: 'fill'`, i.e. stretched like torchvision's Resize((H, W)),
 *     sharp's default lanczos3 kernel).
 *   - Channels: 1 when every image is grayscale (with or without alpha), else 3 (sRGB). Alpha is
 *     dropped, not composited (what PIL's convert('RGB') does). EXIF orientation is not applied
 *     (PIL does not either), so pixels are the stored ones.
 *   - Splits: a DIR whose only sub-folders are `train/` and `test/` holds both (DIR/<split> is
 *     read); any other DIR is a single split, read whatever `split` says.
 *   - Decoding is eager, under a p-limit bound, into one HWC buffer: errors surface when the data
 *     set is opened (not mid-training), and readBatch is a memcpy. A corrupt or unreadable image is
 *     a UsageError naming the file; with skipBad it is left out and listed in `skipped`.
 */

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif']);

/** Decoded buffers above this are refused (one contiguous Uint8Array; pass a smaller folderSize). */
const MAX_BYTES = 2 ** 31;

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface FolderOptions {
  skipBad?: boolean;
  /** [height, width] every image is resized to. */
  folderSize?: [number, number];
  /** Images decoded at once (default 4). */
  concurrency?: number;
}

interface Entry {
  file: string;
  label: number;
}

function extOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}

function listFiles(dir: string, out: string[]): void {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    const p = join(dir, d.name);
    if (d.isDirectory()) listFiles(p, out);
    else if (IMAGE_EXTENSIONS.has(extOf(d.name))) out.push(p);
  }
}

/** The class names and the image files of a folder tree, in the documented order. */
export function scanFolder(dir: string): { classNames: string[]; entries: Entry[] } {
  const classNames = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort(byCodeUnit);
  if (classNames.length === 0) throw new UsageError(`folder data set ${dir} has no class sub-folders`, 'expected DIR/<class>/<image files>');
  const entries: Entry[] = [];
  classNames.forEach((name, label) => {
    const files: string[] = [];
    listFiles(join(dir, name), files);
    files.sort((a, b) => byCodeUnit(relative(dir, a), relative(dir, b)));
    for (const file of files) entries.push({ file, label });
  });
  if (entries.length === 0) throw new UsageError(`folder data set ${dir} has no image files (${[...IMAGE_EXTENSIONS].join(' ')})`);
  return { classNames, entries };
}

/**
 * A tree whose only sub-folders are `train/` and `test/` holds both splits: use DIR/<split>.
 * Any other tree is one split, the same whatever `split` says.
 */
export function splitDir(dir: string, split: Split): string {
  const subs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort(byCodeUnit);
  return subs.length === 2 && subs[0] === 'test' && subs[1] === 'train' ? join(dir, split) : dir;
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

export class FolderDataset extends MemoryDataset {
  constructor(
    init: DatasetInit,
    pixels: Uint8Array,
    /** The file of every sample, in index order. */
    readonly files: readonly string[],
    readonly skipped: readonly string[],
  ) {
    super(init, pixels);
  }
}

export async function openFolder(dir: string, split: Split, spec: string, opts: FolderOptions = {}): Promise<FolderDataset> {
  requireDir(dir, 'folder');
  dir = splitDir(dir, split);
  const { classNames, entries } = scanFolder(dir);
  const limit = pLimit(opts.concurrency ?? 4);
  const bad = new Map<number, string>(); // entry index → reason

  // Pass 1: headers only (cheap), to fix the size and the channel count before decoding.
  const meta = await Promise.all(
    entries.map((e, i) =>
      limit(async () => {
        try {
          const m = await sharp(e.file).metadata();
          if (!m.width || !m.height || !m.channels) throw new Error('no image dimensions');
          return m;
        } catch (err) {
          bad.set(i, errText(err));
          return undefined;
        }
      }),
    ),
  );
  const firstGood = meta.find((m) => m !== undefined);
  let height: number;
  let width: number;
  if (opts.folderSize) [height, width] = opts.folderSize;
  else if (firstGood) [height, width] = [firstGood.height, firstGood.width];
  else [height, width] = [1, 1]; // every image is bad: reported below
  const allGray = meta.every((m) => m === undefined || m.channels - (m.hasAlpha ? 1 : 0) === 1);
  const channels = allGray ? 1 : 3;
  const sb = height * width * channels;
  const good = entries.map((_, i) => i).filter((i) => !bad.has(i));
  if (good.length * sb > MAX_BYTES) {
    throw new UsageError(`folder data set ${dir}: ${good.length} images of ${height}x${width}x${channels} exceed ${MAX_BYTES} bytes`, 'pass a smaller size');
  }

  // Pass 2: decode, resize, fix channels, into the slot of each readable image.
  const pixels = new Uint8Array(good.length * sb);
  await Promise.all(
    good.map((i, slot) =>
      limit(async () => {
        const m = meta[i]!;
        try {
          let img = sharp(entries[i].file, { failOn: 'warning' }).removeAlpha();
          if (m.width !== width || m.height !== height) img = img.resize(width, height, { fit: 'fill' });
          img = img.toColourspace(channels === 1 ? 'b-w' : 'srgb');
          const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
          if (info.width !== width || info.height !== height || info.channels !== channels || data.length !== sb) {
            throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x${channels}`);
          }
          pixels.set(data, slot * sb);
        } catch (err) {
          bad.set(i, errText(err));
        }
      }),
    ),
  );

  const badIdx = [...bad.keys()].sort((a, b) => a - b);
  if (badIdx.length > 0 && !opts.skipBad) {
    const more = badIdx.length > 1 ? ` (and ${badIdx.length - 1} more)` : '';
    throw new UsageError(`cannot decode image ${entries[badIdx[0]].file}: ${bad.get(badIdx[0])}${more}`, 'pass --skip-bad to leave unreadable images out');
  }
  const kept = good.filter((i) => !bad.has(i));
  if (kept.length === 0) throw new UsageError(`folder data set ${dir}: no readable images (${badIdx.length} skipped)`);
  // Compact when pass 2 rejected images that pass 1 had accepted.
  let packed = pixels;
  if (kept.length !== good.length) {
    packed = new Uint8Array(kept.length * sb);
    let o = 0;
    good.forEach((i, slot) => {
      if (!bad.has(i)) packed.set(pixels.subarray(slot * sb, (slot + 1) * sb), o++ * sb);
    });
  }
  const labels = Int32Array.from(kept, (i) => entries[i].label);
  return new FolderDataset(
    { kind: 'folder', spec, split, numClasses: classNames.length, shape: { height, width, channels }, labels, classNames },
    packed,
    kept.map((i) => entries[i].file),
    badIdx.map((i) => entries[i].file),
  );
}
