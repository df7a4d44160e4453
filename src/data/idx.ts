import { readFile, stat } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';
import { MemoryDataset } from './base.js';
import type { Split } from './dataset.js';
import { requireDir, requireFile } from './paths.js';

/**
 * IDX reader (LeCun's MNIST format, also Fashion-MNIST): big-endian header
 *   images: magic 0x00000803 (ubyte, 3 dims), n, rows, cols, then n*rows*cols bytes
 *   labels: magic 0x00000801 (ubyte, 1 dim),  n, then n bytes
 * Files `train-…` / `t10k-…`, gzipped (`.gz`) or not. Pixels are already HWC with C = 1.
 */

const gunzipAsync = promisify(gunzip);

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;
const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
}

async function readMaybeGz(path: string): Promise<Uint8Array> {
  const raw = await readFile(path);
  // Detect gzip by its magic bytes (1f 8b), not by the name, so a mislabelled file still reads.
  const buf = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b ? await gunzipAsync(raw, { chunkSize: 1 << 20 }).catch((e: Error) => {
    throw new UsageError(`corrupt gzip file ${path}: ${e.message}`);
  }) : raw;
  // Buffers may view a shared pool: hand back a view with the exact offset and length.
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function be32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

/** Parses an IDX3 ubyte image file (already gunzipped). `path` is for messages only. */
function parseIdxImages(b: Uint8Array, path: string): IdxImages {
  if (b.length < 16) throw new UsageError(`not an IDX image file (too short, ${b.length} bytes): ${path}`);
  const magic = be32(b, 0);
  if (magic !== IMAGES_MAGIC) throw new UsageError(`bad IDX magic ${hex(magic)} in ${path} (expected ${hex(IMAGES_MAGIC)} for ubyte images)`);
  const n = be32(b, 4);
  const rows = be32(b, 8);
  const cols = be32(b, 12);
  const want = 16 + n * rows * cols;
  if (b.length !== want) throw new UsageError(`IDX image file ${path} has ${b.length} bytes, header says ${want} (${n}×${rows}×${cols})`);
  return { n, rows, cols, pixels: b.subarray(16) };
}

/** Parses an IDX1 ubyte label file (already gunzipped). */
function parseIdxLabels(b: Uint8Array, path: string): Uint8Array {
  if (b.length < 8) throw new UsageError(`not an IDX label file (too short, ${b.length} bytes): ${path}`);
  const magic = be32(b, 0);
  if (magic !== LABELS_MAGIC) throw new UsageError(`bad IDX magic ${hex(magic)} in ${path} (expected ${hex(LABELS_MAGIC)} for ubyte labels)`);
  const n = be32(b, 4);
  if (b.length !== 8 + n) throw new UsageError(`IDX label file ${path} has ${b.length} bytes, header says ${8 + n} (${n} labels)`);
  return b.subarray(8);
}

interface Parsed {
  images: IdxImages;
  labels: Int32Array;
}

/**
 * Parsed arrays per (file paths, sizes, mtimes) for the life of the process: the teacher, the
 * trainer and the fingerprint all open the same split, and gunzip + parse is the slow part.
 */
const cache = new Map<string, Promise<Parsed>>();

async function load(imagesPath: string, labelsPath: string, numClasses: number): Promise<Parsed> {
  const [si, sl] = await Promise.all([stat(imagesPath), stat(labelsPath)]);
  const key = `${imagesPath}\0${si.size}\0${si.mtimeMs}\0${labelsPath}\0${sl.size}\0${sl.mtimeMs}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const [ib, lb] = await Promise.all([readMaybeGz(imagesPath), readMaybeGz(labelsPath)]);
      const images = parseIdxImages(ib, imagesPath);
      const raw = parseIdxLabels(lb, labelsPath);
      if (raw.length !== images.n) {
        throw new UsageError(`IDX count mismatch: ${images.n} images in ${imagesPath} but ${raw.length} labels in ${labelsPath}`);
      }
      const labels = new Int32Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        if (raw[i] >= numClasses) throw new UsageError(`label ${raw[i]} of sample ${i} in ${labelsPath} is outside [0, ${numClasses})`);
        labels[i] = raw[i];
      }
      return { images, labels };
    })();
    cache.set(key, p);
    // A failed parse must not stay cached (the user may fix the file and retry in-process).
    p.catch(() => cache.delete(key));
  }
  return p;
}

export async function openIdx(kind: 'fashion-mnist' | 'mnist', dir: string, split: Split, spec: string): Promise<MemoryDataset> {
  requireDir(dir, kind);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesPath = requireFile(dir, [`${prefix}-images-idx3-ubyte.gz`, `${prefix}-images-idx3-ubyte`], kind);
  const labelsPath = requireFile(dir, [`${prefix}-labels-idx1-ubyte.gz`, `${prefix}-labels-idx1-ubyte`], kind);
  const { images, labels } = await load(imagesPath, labelsPath, 10);
  return new MemoryDataset(
    {
      kind,
      spec,
      split,
      numClasses: 10,
      shape: { height: images.rows, width: images.cols, channels: 1 },
      labels,
      classNames: kind === 'fashion-mnist' ? FASHION_MNIST_CLASSES : MNIST_CLASSES,
    },
    images.pixels,
  );
}
