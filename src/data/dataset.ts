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
  /** Streams samples in index order, `batchSize` at a time. */
  iterate(batchSize?: number): AsyncIterable<{ start: number; indices: Int32Array; pixels: Uint8Array; labels: Int32Array }>;
}

export function sampleBytes(shape: SampleShape): number {
  return shape.height * shape.width * shape.channels;
}
