import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { MemoryDataset } from './base.js';
import type { Split } from './dataset.js';
import { requireDir, requireFile } from './paths.js';

/**
 * CIFAR binary versions (https://www.cs.toronto.edu/~kriz/cifar.html):
 *   cifar10:  data_batch_1..5.bin (train), test_batch.bin; records of 1 label byte + 3072 pixel bytes
 *   cifar100: train.bin, test.bin; records of 1 coarse + 1 fine label byte + 3072 pixel bytes
 * Pixels are CHW (1024 R, then 1024 G, then 1024 B, each 32×32 row-major); we store HWC, so
 * HWC[(y*32 + x)*3 + c] = CHW[c*1024 + y*32 + x]. CIFAR-100 uses the fine labels (K = 100).
 * DIR may be the folder the tarball extracts to (`cifar-10-batches-bin`, `cifar-100-binary`) or
 * its parent.
 */

const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

/** Converts one CHW 3×32×32 record body to HWC into `dst`. */
function chwToHwc(src: Uint8Array, dst: Uint8Array, planes = 3, plane = PLANE): void {
  for (let c = 0; c < planes; c++) {
    const s = c * plane;
    for (let p = 0; p < plane; p++) dst[p * planes + c] = src[s + p];
  }
}

/** A CIFAR split; CIFAR-100 also keeps its 20 coarse (super-class) labels. */
export class CifarDataset extends MemoryDataset {
  coarseLabels?: Int32Array;
}

function dataDir(dir: string, sub: string, probe: string): string {
  // Accept the tarball's folder or its parent.
  const inner = join(dir, sub);
  if (!existsSync(join(dir, probe)) && existsSync(join(inner, probe)) && statSync(inner).isDirectory()) return inner;
  return dir;
}

async function readLabelNames(path: string, k: number): Promise<string[] | undefined> {
  if (!existsSync(path)) return undefined;
  const names = (await readFile(path, 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  return names.length === k ? names : undefined;
}

export async function openCifar(kind: 'cifar10' | 'cifar100', dir: string, split: Split, spec: string): Promise<CifarDataset> {
  requireDir(dir, kind);
  const ten = kind === 'cifar10';
  const names = ten
    ? split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin']
    : [split === 'train' ? 'train.bin' : 'test.bin'];
  const root = dataDir(dir, ten ? 'cifar-10-batches-bin' : 'cifar-100-binary', names[0]);
  const files = names.map((n) => requireFile(root, [n], kind));
  const labelBytes = ten ? 1 : 2;
  const record = labelBytes + PIXELS;
  const k = ten ? 10 : 100;
  const bufs = await Promise.all(files.map((f) => readFile(f)));
  let n = 0;
  bufs.forEach((b, i) => {
    if (b.length === 0 || b.length % record !== 0) {
      throw new UsageError(`${kind} file ${files[i]} has ${b.length} bytes, not a whole number of ${record}-byte records`);
    }
    n += b.length / record;
  });
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  const coarse = ten ? undefined : new Int32Array(n);
  let j = 0;
  bufs.forEach((b, fi) => {
    const u = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let off = 0; off < u.length; off += record, j++) {
      const label = u[off + labelBytes - 1]; // cifar100: byte 0 coarse, byte 1 fine
      if (label >= k) throw new UsageError(`${kind} label ${label} of record ${off / record} in ${files[fi]} is outside [0, ${k})`);
      labels[j] = label;
      if (coarse) {
        if (u[off] >= 20) throw new UsageError(`${kind} coarse label ${u[off]} of record ${off / record} in ${files[fi]} is outside [0, 20)`);
        coarse[j] = u[off];
      }
      chwToHwc(u.subarray(off + labelBytes, off + record), pixels.subarray(j * PIXELS, (j + 1) * PIXELS));
    }
  });
  const classNames = ten
    ? (await readLabelNames(join(root, 'batches.meta.txt'), 10)) ?? [...CIFAR10_CLASSES]
    : await readLabelNames(join(root, 'fine_label_names.txt'), 100);
  const ds = new CifarDataset(
    { kind, spec, split, numClasses: k, shape: { height: SIDE, width: SIDE, channels: 3 }, labels, classNames },
    pixels,
  );
  if (coarse) ds.coarseLabels = coarse;
  return ds;
}
