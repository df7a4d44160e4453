/**
 * A data set over image files (`folder:DIR`, `list:FILE`), streaming: opening it lists names (and
 * reads the first image's header); pixels are decoded on demand, per batch, in parallel on sharp's
 * libuv pool under a bound (`concurrency`), and nothing decoded is kept. Memory is the file list
 * plus the batches in flight, whatever the number of images, and a shard of a job array decodes
 * only its own rows.
 *
 * Two ways to read:
 *   - `readImages(indices, mode)`: each image at its own size, as PIL's
 *     `Image.open(f).convert(mode)` gives it (`pil/decode.ts`) — what the teacher's preprocessing
 *     renders from (`render.ts`).
 *   - `readBatch` / `get` (the fixed-shape `Dataset` face, for consumers that need one size):
 *     every image stretched to `shape` with PIL's bilinear filter (torchvision
 *     `Resize((H, W))`). `shape` is `size` when given, else the first image's own size; channels
 *     3 (mode RGB, like torchvision's ImageFolder loader) unless mode 'L' is asked for.
 *
 * Sample indices are fixed by the file list, so they are stable across processes and shards. A file
 * that cannot be decoded is a UsageError naming it; with `skipBad` it is reported per batch instead
 * (`readImages` gives null for it) and the caller lists it.
 */
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { UsageError } from '../errors.js';
import type { Dataset, EncodedImage, SampleShape, Split } from './dataset.js';
import { sampleBytes } from './dataset.js';
import { FINGERPRINT_VERSION } from './fingerprint.js';
import type { Image, PilMode } from './image.js';
import { channelsOf } from './image.js';
import { decodeImage, probeImage } from './pil/decode.js';
import { render, type RenderSpec } from './render.js';
import { DATA_SOURCES } from './spec.js';

export interface FilesInit {
  kind: 'folder' | 'list';
  spec: string;
  split: Split;
  /** Directory the relative paths are relative to. */
  root: string;
  /** Image paths relative to `root`, in sample order. */
  files: string[];
  labels: Int32Array;
  classNames: string[];
  /** Extra bytes the fingerprint covers (the list file's sha256 for `list:`). */
  fingerprintExtra?: string;
}

export interface FilesOptions {
  /** [height, width] of the fixed-shape face (default: the first image's size). */
  size?: [number, number];
  /** Mode of the fixed-shape face (default RGB). */
  mode?: PilMode;
  /** Images decoded at once (default 8). */
  concurrency?: number;
  /** Images with more pixels are refused before decoding (default: PIL's bomb limit). */
  maxPixels?: number;
  /** Leave undecodable files out of `readBatch`'s result instead of failing (they read as zeros). */
  skipBad?: boolean;
}

/** A file that could not be decoded, as `readImages` reports it with `skipBad`. */
export interface BadImage {
  index: number;
  file: string;
  reason: string;
}

export class ImageFilesDataset implements Dataset {
  readonly kind: string;
  readonly spec: string;
  readonly split: Split;
  readonly size: number;
  readonly numClasses: number;
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
  readonly shape: SampleShape;
  readonly variableSize = true;
  readonly capabilities: Dataset['capabilities'];
  readonly root: string;
  /** Paths relative to `root`, in sample order. */
  readonly files: readonly string[];
  /** Files `readBatch` could not decode so far (skipBad). */
  readonly skipped: string[] = [];
  private readonly limit: ReturnType<typeof pLimit>;
  /** Images with more pixels are refused (undefined: PIL's limit). */
  readonly maxPixels: number | undefined;
  private readonly skipBad: boolean;
  private readonly faceSpec: RenderSpec;
  private readonly fingerprintExtra: string;

  private constructor(init: FilesInit, shape: SampleShape, private readonly opts: FilesOptions) {
    this.kind = init.kind;
    this.capabilities = DATA_SOURCES[init.kind].capabilities;
    this.spec = init.spec;
    this.split = init.split;
    this.root = init.root;
    this.files = init.files;
    this.labels = init.labels;
    this.size = init.labels.length;
    this.classNames = Object.freeze([...init.classNames]);
    this.numClasses = init.classNames.length;
    this.shape = Object.freeze({ ...shape });
    this.limit = pLimit(opts.concurrency ?? 8);
    this.maxPixels = opts.maxPixels;
    this.skipBad = opts.skipBad ?? false;
    this.faceSpec = { mode: shape.channels === 1 ? 'L' : 'RGB', resize: [shape.height, shape.width], crop: null, cropRounding: 'round', interpolation: 'bilinear' };
    this.fingerprintExtra = init.fingerprintExtra ?? '';
  }

  /** Opens the list; reads the first image's header only when the face's size is not given. */
  static async open(init: FilesInit, opts: FilesOptions = {}): Promise<ImageFilesDataset> {
    if (init.files.length === 0) throw new UsageError(`${init.kind} data set ${init.spec} has no image files`);
    const channels = channelsOf(opts.mode ?? 'RGB');
    let size = opts.size;
    // The face's default size: the first image whose header reads (a bad file is reported when
    // it is read, not here; 64 unreadable headers in a row is an error now).
    for (let i = 0; !size; i++) {
      const file = `${init.root}/${init.files[i]}`;
      try {
        const { width, height } = await probeImage(file, { file });
        size = [height, width];
      } catch (e) {
        if (!(e instanceof UsageError) || i + 1 >= Math.min(64, init.files.length)) throw e;
      }
    }
    return new ImageFilesDataset(init, { height: size[0], width: size[1], channels }, opts);
  }

  /** The first `n` samples as a data set of their own (benchmarks over part of a folder). */
  head(n: number): ImageFilesDataset {
    const init: FilesInit = { kind: this.kind as FilesInit['kind'], spec: this.spec, split: this.split, root: this.root, files: this.files.slice(0, n), labels: this.labels.slice(0, n), classNames: [...this.classNames], fingerprintExtra: this.fingerprintExtra };
    return new ImageFilesDataset(init, this.shape, this.opts);
  }

  /** Absolute path of sample `i`. */
  path(i: number): string {
    return `${this.root}/${this.files[i]}`;
  }

  /** The files of `indices` (render-pool workers decode them themselves). */
  async encodedImages(indices: ArrayLike<number>): Promise<EncodedImage[]> {
    return Array.from(indices, (i) => {
      this.checkIndex(i);
      return { index: i, name: this.path(i), file: this.path(i) };
    });
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`sample index ${i} out of range [0, ${this.size}) for ${this.spec}`);
  }

  /**
   * Samples `indices` at their own size in PIL mode `mode`, decoded in parallel (bounded). A file
   * that cannot be decoded throws a UsageError naming it; with `skipBad` its slot is null and it is
   * reported through `onBad`.
   */
  async readImages(indices: ArrayLike<number>, mode: PilMode, o: { skipBad?: boolean; onBad?: (b: BadImage) => void } = {}): Promise<Array<Image | null>> {
    const jobs: Array<Promise<Image | null>> = [];
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      this.checkIndex(i);
      const file = this.path(i);
      jobs.push(
        this.limit(async () => {
          try {
            return await decodeImage(file, mode, { file, maxPixels: this.maxPixels });
          } catch (e) {
            if (!o.skipBad || !(e instanceof UsageError)) throw e;
            o.onBad?.({ index: i, file, reason: e.message });
            return null;
          }
        }),
      );
    }
    // Every job settles before an error is raised, and the error is the lowest index's: the same
    // file is named whatever order the decodes finish in.
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return settled.map((r) => (r as PromiseFulfilledResult<Image | null>).value);
  }

  async readBatch(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array> {
    const sb = sampleBytes(this.shape);
    const need = indices.length * sb;
    if (out && out.length < need) throw new RangeError(`readBatch: out has ${out.length} bytes, need ${need}`);
    const dst = out ?? new Uint8Array(need);
    const imgs = await this.readImages(indices, this.faceSpec.mode, { skipBad: this.skipBad, onBad: (b) => this.skipped.push(b.file) });
    imgs.forEach((img, k) => {
      const slot = dst.subarray(k * sb, (k + 1) * sb);
      if (img) slot.set(render(img, this.faceSpec).data);
      else slot.fill(0);
    });
    return dst;
  }

  async get(i: number): Promise<Uint8Array> {
    return this.readBatch([i]);
  }

  async *iterate(batchSize = 256): AsyncIterable<{ start: number; indices: Int32Array; pixels: Uint8Array; labels: Int32Array }> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`iterate: batchSize must be a positive integer, got ${batchSize}`);
    for (let start = 0; start < this.size; start += batchSize) {
      const end = Math.min(this.size, start + batchSize);
      const indices = Int32Array.from({ length: end - start }, (_, k) => start + k);
      yield { start, indices, pixels: await this.readBatch(indices), labels: this.labels.slice(start, end) };
    }
  }

  /**
   * The cheap fingerprint (docs/CACHE.md "Data fingerprint"): sha256 over the kind, split, count,
   * class names, and per sample its relative path, label and byte size (one stat per file, no
   * decoding). It does not cover contents: a file rewritten in place with the same size keeps the
   * fingerprint; `tfkd verify --teacher … --data …` recomputes sampled rows to catch that.
   */
  async fingerprint(): Promise<string> {
    const h = createHash('sha256');
    h.update(`${FINGERPRINT_VERSION}\n${this.kind}\n${this.split}\n${this.size}\n${this.numClasses}\nfiles\n`);
    for (const c of this.classNames) h.update(`${c}\0`);
    h.update(`\n${this.fingerprintExtra}\n`);
    // 32 stats in flight (a network file system answers in parallel), by workers that each take
    // the next index: no promise or closure per file, so 1.3 M files cost seconds, not a minute.
    const CHUNK = 4096;
    const sizes = new Float64Array(CHUNK);
    for (let s = 0; s < this.size; s += CHUNK) {
      const n = Math.min(CHUNK, this.size - s);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let k = next++; k < n; k = next++) {
          const file = this.path(s + k);
          try {
            sizes[k] = (await stat(file)).size;
          } catch (e) {
            throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(32, n) }, worker));
      for (let k = 0; k < n; k++) h.update(`${this.files[s + k]}\0${this.labels[s + k]}\0${sizes[k]}\n`);
    }
    return h.digest('hex');
  }
}
