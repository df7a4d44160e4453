import { UsageError } from '../errors.js';
import { openCifar } from './cifar.js';
import type { Dataset, Split } from './dataset.js';
import { openFolder } from './folder.js';
import type { PilMode } from './image.js';
import { openIdx } from './idx.js';
import { openList } from './list.js';
import type { DataSpec } from './spec.js';
import { formatDataSpec, parseDataSpec } from './spec.js';
import { openSynthetic } from './synthetic.js';
import { TarShardsDataset } from './tar-shards.js';

export interface OpenOptions {
  /** Which split to read (default 'train'). */
  split?: Split;
  /** folder/list/tar: `readBatch` reads undecodable images as zeros (listed in `dataset.skipped`) instead of failing. */
  skipBad?: boolean;
  /** folder/list/tar: [height, width] of the fixed-shape face, `readBatch` (default: the first image's size). */
  folderSize?: [number, number];
  /** folder/list/tar: mode of the fixed-shape face (default RGB, as torchvision's ImageFolder loads). */
  mode?: PilMode;
  /** folder/list/tar: images decoded at once (default 8). */
  concurrency?: number;
  /** folder/list/tar: images with more pixels are refused (default: PIL's decompression-bomb limit). */
  maxPixels?: number;
}

const filesOptions = (o: OpenOptions) => ({ size: o.folderSize, mode: o.mode, concurrency: o.concurrency, maxPixels: o.maxPixels, skipBad: o.skipBad });

/** Opens a data SPEC (docs/ARCHITECTURE.md §2) as a Dataset. Bad specs, missing files and bad data → UsageError. */
export async function openDataset(spec: string | DataSpec, opts: OpenOptions = {}): Promise<Dataset> {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new UsageError(`unknown split "${String(split)}"`, 'use train or test');
  if (opts.folderSize) {
    const [h, w] = opts.folderSize;
    if (![h, w].every((v) => Number.isInteger(v) && v >= 1 && v <= 8192)) {
      throw new UsageError(`bad folder image size ${h}x${w}`, 'height and width must be integers in [1, 8192]');
    }
  }
  if (opts.concurrency !== undefined && !(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) {
    throw new UsageError(`bad decode concurrency ${opts.concurrency}`, 'use a positive integer');
  }
  const canonical = formatDataSpec(parsed);
  switch (parsed.kind) {
    case 'fashion-mnist':
    case 'mnist':
      return openIdx(parsed.kind, parsed.dir, split, canonical);
    case 'cifar10':
    case 'cifar100':
      return openCifar(parsed.kind, parsed.dir, split, canonical);
    case 'folder':
      return openFolder(parsed.dir, split, canonical, filesOptions(opts));
    case 'list':
      return openList(parsed.file, split, canonical, filesOptions(opts));
    case 'tar':
      return TarShardsDataset.open(parsed.dir, split, canonical, filesOptions(opts));
    case 'synthetic':
      return openSynthetic(parsed, split, canonical);
  }
}
