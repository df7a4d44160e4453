/**
 * The one shape every data source takes. Samples are decoded images as HWC `Uint8` pixels;
 * everything downstream (teacher preprocessing, augmentation, the student) starts from these bytes,
 * so two sides that read the same spec see bit-identical inputs.
 */
import type { Image, PilMode } from './image.js';

export type Split = 'train' | 'test';

export interface SampleShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * What a source can do — the one thing precompute and train ask of it (never its class). Each
 * kind declares its capabilities once, in the data-source registry (DATA_SOURCES, spec.ts).
 *  - `access`: `random` — any sample costs the same to read (`readImages`, `readBatch`);
 *    `sequential` — the source is meant to be read in sample order: precompute streams it through
 *    `streamEncoded`, each shard once from its first needed member to its end.
 *  - `size`: `variable` — images differ in size (rendered from `readImages` at their own size);
 *    `fixed` — every sample has `shape`.
 *  - `renderPool`: its samples are encoded image files a render-pool worker can decode itself
 *    (`encodedImages`), so decoding and rendering can run in worker threads.
 */
export interface SourceCapabilities {
  readonly access: 'random' | 'sequential';
  readonly size: 'fixed' | 'variable';
  readonly renderPool: boolean;
}

/** One sample's encoded image: a file a worker reads, or the bytes themselves (`name` for messages). */
export interface EncodedImage {
  index: number;
  name: string;
  file?: string;
  bytes?: Uint8Array;
}

export interface Dataset {
  /** Spec kind: 'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'folder' | 'synthetic'. */
  readonly kind: string;
  /** Canonical spec string this data set was opened from (e.g. `fashion-mnist:/usr/share/…`). */
  readonly spec: string;
  readonly split: Split;
  /** Number of samples. */
  readonly size: number;
  readonly numClasses: number;
  readonly shape: SampleShape;
  /** Class index of every sample, length `size`. */
  readonly labels: Int32Array;
  /** Human names of the classes where the source has them (folder names, …). */
  readonly classNames?: readonly string[];
  /** Files left out because they could not be decoded (`folder:` with skipBad); absent otherwise. */
  readonly skipped?: readonly string[];
  /** Decoded sample `i` (HWC, `height*width*channels` bytes). */
  get(i: number): Promise<Uint8Array>;
  /**
   * Decoded samples `indices` packed contiguously (`indices.length * sampleBytes`), written into
   * `out` when given. The batch path the teacher and the trainer use.
   */
  readBatch(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array>;
  /**
   * True for sources whose images differ in size (`folder:`, `list:`): `shape` / `readBatch` are
   * then a stretched rendering for consumers that need one size, and the teacher renders from
   * `readImages`. Absent or false: every sample has `shape`.
   */
  readonly variableSize?: boolean;
  /**
   * Samples at their own size as PIL images of `mode` (converted as PIL's `convert` does). With
   * `skipBad`, an image that cannot be decoded is null (and reported to `onBad`) instead of an error.
   */
  readImages(indices: ArrayLike<number>, mode: PilMode, o?: { skipBad?: boolean; onBad?: (b: { index: number; file: string; reason: string }) => void }): Promise<Array<Image | null>>;
  /** The source's own fingerprint where it has a cheaper one than hashing every pixel (files). */
  fingerprint?(): Promise<string>;
  /** What the source can do (absent: random access, no render pool; size from `variableSize`). */
  readonly capabilities?: SourceCapabilities;
  /** Images with more pixels are refused (sources of encoded images; undefined: PIL's limit). */
  readonly maxPixels?: number;
  /** Sources whose samples are image files of their own (folder:, list:): sample `index`'s file, which a render worker can open by itself (a mixed view's partner). */
  path?(index: number): string;
  /** `renderPool` sources: the encoded image of each of `indices`, in order. */
  encodedImages?(indices: ArrayLike<number>): Promise<EncodedImage[]>;
  /** `sequential` sources: samples [start, end) in order, each member read once. */
  streamEncoded?(start: number, end: number): AsyncIterable<EncodedImage>;
  /** The first `n` samples as a data set of their own, where the source has a cheaper one than a generic slice (benchmarks). */
  head?(n: number): Dataset;
  /** Streams samples in index order, `batchSize` at a time. */
  iterate(batchSize?: number): AsyncIterable<{ start: number; indices: Int32Array; pixels: Uint8Array; labels: Int32Array }>;
}

export function sampleBytes(shape: SampleShape): number {
  return shape.height * shape.width * shape.channels;
}

/** A source's capabilities (module comment of SourceCapabilities); the defaults for sources that declare none. */
export function capabilitiesOf(ds: Dataset): SourceCapabilities {
  return ds.capabilities ?? { access: 'random', size: ds.variableSize ? 'variable' : 'fixed', renderPool: false };
}

/** Sample index → its image file, for sources a render worker can read by path (a mixed view opens its partner there); else null. */
export function workerFiles(ds: Dataset): ((index: number) => string) | null {
  return capabilitiesOf(ds).renderPool && ds.path ? ds.path.bind(ds) : null;
}

/**
 * Where two class lists disagree — `class 1 is dog in A, eel in B` — or null when they agree or
 * either has no names of its own (integer labels name their classes by index): equal K alone does
 * not make the indices mean the same classes (a test split with other folders than the training
 * split, a checkpoint evaluated on another data set).
 */
export function classNamesDiffer(a: readonly string[] | undefined, aName: string, b: readonly string[] | undefined, bName: string): string | null {
  const named = (n: readonly string[] | undefined) => n !== undefined && n.some((x, i) => x !== String(i));
  if (!named(a) || !named(b)) return null;
  const k = a!.findIndex((x, i) => x !== b![i]);
  if (k < 0 && a!.length === b!.length) return null;
  const at = k < 0 ? Math.min(a!.length, b!.length) : k;
  return `class ${at} is ${a![at] ?? '(none)'} in ${aName}, ${b![at] ?? '(none)'} in ${bName}`;
}
