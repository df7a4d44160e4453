/**
 * `tar:DIR` — WebDataset-style shards: the `*.tar` files of DIR (or of DIR/train and DIR/test when
 * those are its only sub-folders, as `folder:`), in name order. Each sample is a run of consecutive
 * members sharing a key (the member path up to the first `.` of its base name, WebDataset's
 * `__key__`): a `.cls` member (the class index as decimal text) and an image (`.jpg`, `.jpeg`,
 * `.png` or `.webp`, the first of these). Other members (`.json`, `.txt`, …) are passed over.
 * Sample i is the i-th sample of the shards in order; the number of classes is the largest label
 * plus one.
 *
 * A sequential source (SourceCapabilities, dataset.ts): opening walks every shard's headers once,
 * reading the `.cls` bodies and skipping the images by offset, to learn the count, the labels and
 * where each sample starts; precompute then streams the shards (`streamEncoded`: each shard read
 * front to back in 1 MiB blocks, from the first sample it needs). The trainer's seeded order reads
 * single members at the offsets the walk recorded (`readImages`, `encodedImages`). Images are
 * decoded as PIL does (pil/decode.ts), in render-pool workers where there are some — the bytes
 * are handed over, so a worker never opens a shard.
 *
 * Memory: per sample its key, label and three offsets; no image is kept.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../errors.js';
import type { Dataset, EncodedImage, SampleShape, Split } from './dataset.js';
import { sampleBytes } from './dataset.js';
import { FINGERPRINT_VERSION } from './fingerprint.js';
import { splitDir } from './folder.js';
import type { Image, PilMode } from './image.js';
import { channelsOf } from './image.js';
import { requireDir } from './paths.js';
import { decodeImage, probeImage } from './pil/decode.js';
import { render, type RenderSpec } from './render.js';
import { DATA_SOURCES } from './spec.js';
import { Reader, walkTar, type TarMember } from './tar.js';

/** The image members a sample may carry, in the order one is picked. */
const TAR_IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'] as const;

/** WebDataset's split of a member path into the sample key and the extension (after the base name's first dot). */
export function splitMemberName(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot < 0 ? { key: name, ext: '' } : { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

interface Group {
  key: string;
  header: number;
  members: Array<TarMember & { data?: Buffer; ext: string }>;
}

/** Consecutive members with the same key, as samples. */
async function* samplesOf(r: Reader, start: number, body: (ext: string) => boolean): AsyncGenerator<Group> {
  let cur: Group | null = null;
  for await (const m of walkTar(r, start, (name) => body(splitMemberName(name).ext))) {
    const { key, ext } = splitMemberName(m.name);
    if (cur && cur.key !== key) {
      yield cur;
      cur = null;
    }
    cur ??= { key, header: m.header, members: [] };
    cur.members.push({ ...m, ext });
  }
  if (cur) yield cur;
}

const imageOf = (g: Group) => TAR_IMAGE_EXTENSIONS.map((e) => g.members.find((m) => m.ext === e)).find((m) => m !== undefined);

function labelOf(g: Group, shard: string): number {
  const cls = g.members.find((m) => m.ext === 'cls');
  if (!cls?.data) throw new UsageError(`${shard}: sample "${g.key}" has no .cls member`, 'every sample of a tar: shard needs KEY.cls (its class index) and KEY.jpg');
  const t = cls.data.toString('utf8').trim();
  if (!/^\d+$/.test(t) || Number(t) > 1_000_000) throw new UsageError(`${shard}: sample "${g.key}": .cls must be a class index (a non-negative integer), got "${t.slice(0, 40)}"`);
  return Number(t);
}

export interface TarOptions {
  size?: [number, number];
  mode?: PilMode;
  concurrency?: number;
  maxPixels?: number;
  skipBad?: boolean;
}

export class TarShardsDataset implements Dataset {
  readonly kind = 'tar';
  readonly capabilities = DATA_SOURCES.tar.capabilities;
  readonly variableSize = true;
  readonly size: number;
  readonly numClasses: number;
  readonly shape: SampleShape;
  readonly skipped: string[] = [];
  readonly maxPixels: number | undefined;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly faceSpec: RenderSpec;

  private constructor(
    readonly spec: string,
    readonly split: Split,
    /** Shard files in sample order, with their sizes. */
    readonly shards: ReadonlyArray<{ file: string; bytes: number; first: number }>,
    readonly labels: Int32Array,
    private readonly index: { keys: string[]; header: Float64Array; offset: Float64Array; length: Float64Array; ext: string[] },
    size: [number, number],
    private readonly opts: TarOptions,
  ) {
    this.size = labels.length;
    this.numClasses = labels.reduce((m, l) => Math.max(m, l), 0) + 1;
    this.shape = Object.freeze({ height: size[0], width: size[1], channels: channelsOf(opts.mode ?? 'RGB') });
    this.maxPixels = opts.maxPixels;
    this.limit = pLimit(opts.concurrency ?? 8);
    this.faceSpec = { mode: this.shape.channels === 1 ? 'L' : 'RGB', resize: [size[0], size[1]], crop: null, cropRounding: 'round', interpolation: 'bilinear' };
  }

  /** Lists the shards and walks their headers (module comment). */
  static async open(dir: string, split: Split, spec: string, opts: TarOptions = {}): Promise<TarShardsDataset> {
    requireDir(dir, 'tar');
    const root = splitDir(dir, split);
    const names = readdirSync(root).filter((n) => n.endsWith('.tar') && !n.startsWith('.')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (!names.length) throw new UsageError(`tar data set ${root} has no .tar shards`, 'expected DIR/*.tar (WebDataset shards of KEY.cls + KEY.jpg members)');
    const shards: Array<{ file: string; bytes: number; first: number }> = [];
    const keys: string[] = [];
    const labels: number[] = [];
    const header: number[] = [];
    const offset: number[] = [];
    const length: number[] = [];
    const ext: string[] = [];
    for (const n of names) {
      const file = join(root, n);
      const bytes = statSync(file).size;
      shards.push({ file, bytes, first: keys.length });
      const fh = await open(file, 'r');
      try {
        for await (const g of samplesOf(new Reader(fh, file, bytes, 16384), 0, (e) => e === 'cls')) {
          const img = imageOf(g);
          if (!img) throw new UsageError(`${file}: sample "${g.key}" has no image member (${TAR_IMAGE_EXTENSIONS.map((e) => `.${e}`).join(', ')})`);
          labels.push(labelOf(g, file));
          keys.push(g.key);
          header.push(g.header);
          offset.push(img.offset);
          length.push(img.size);
          ext.push(img.ext);
        }
      } finally {
        await fh.close();
      }
    }
    if (!keys.length) throw new UsageError(`tar data set ${root} has no samples`);
    const index = { keys, header: Float64Array.from(header), offset: Float64Array.from(offset), length: Float64Array.from(length), ext };
    const ds0 = new TarShardsDataset(spec, split, shards, Int32Array.from(labels), index, opts.size ?? [1, 1], opts);
    if (opts.size) return ds0;
    const [first] = await ds0.encodedImages([0]);
    const { width, height } = await probeImage(first.bytes!, { file: first.name });
    return new TarShardsDataset(spec, split, shards, Int32Array.from(labels), index, [height, width], opts);
  }

  private shardOf(i: number): number {
    let lo = 0;
    let hi = this.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.shards[mid].first <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** `SHARD.tar:KEY.EXT`, how messages name a sample. */
  name(i: number): string {
    return `${this.shards[this.shardOf(i)].file}:${this.index.keys[i]}.${this.index.ext[i]}`;
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`sample index ${i} out of range [0, ${this.size}) for ${this.spec}`);
  }

  /** The image members of `indices`, read at the offsets the opening walk recorded. */
  async encodedImages(indices: ArrayLike<number>): Promise<EncodedImage[]> {
    const out: EncodedImage[] = [];
    const handles = new Map<number, Awaited<ReturnType<typeof open>>>();
    try {
      for (let k = 0; k < indices.length; k++) {
        const i = indices[k];
        this.checkIndex(i);
        const s = this.shardOf(i);
        let fh = handles.get(s);
        if (!fh) handles.set(s, (fh = await open(this.shards[s].file, 'r')));
        const bytes = new Uint8Array(this.index.length[i]);
        const { bytesRead } = await fh.read(bytes, 0, bytes.length, this.index.offset[i]);
        if (bytesRead !== bytes.length) throw new UsageError(`${this.name(i)}: shard shorter than when it was opened (changed meanwhile?)`);
        out.push({ index: i, name: this.name(i), bytes });
      }
    } finally {
      await Promise.all([...handles.values()].map((h) => h.close()));
    }
    return out;
  }

  /** Samples [start, end) in order, streaming each shard from the first sample needed. */
  async *streamEncoded(start: number, end: number): AsyncIterable<EncodedImage> {
    if (start >= end) return;
    this.checkIndex(start);
    this.checkIndex(end - 1);
    const images = new Set<string>(TAR_IMAGE_EXTENSIONS);
    let i = start;
    for (let s = this.shardOf(start); i < end; s++) {
      const { file, bytes } = this.shards[s];
      const fh = await open(file, 'r');
      try {
        for await (const g of samplesOf(new Reader(fh, file, bytes), i === start ? this.index.header[i] : 0, (e) => images.has(e))) {
          // The shard must still be the one the walk indexed: a changed shard is bad input, not a shifted cache.
          if (g.key !== this.index.keys[i]) throw new UsageError(`${file}: sample ${i} is "${g.key}", expected "${this.index.keys[i]}" (shard changed since it was opened?)`);
          yield { index: i, name: this.name(i), bytes: imageOf(g)!.data! };
          if (++i >= end) return;
        }
      } finally {
        await fh.close();
      }
      if (i < this.shards[s].first + this.countIn(s)) throw new UsageError(`${file}: ended before sample ${i} (shard changed since it was opened?)`);
    }
  }

  private countIn(s: number): number {
    return (s + 1 < this.shards.length ? this.shards[s + 1].first : this.size) - this.shards[s].first;
  }

  async readImages(indices: ArrayLike<number>, mode: PilMode, o: { skipBad?: boolean; onBad?: (b: { index: number; file: string; reason: string }) => void } = {}): Promise<Array<Image | null>> {
    const enc = await this.encodedImages(indices);
    const settled = await Promise.allSettled(
      enc.map((e) =>
        this.limit(async () => {
          try {
            return await decodeImage(e.bytes!, mode, { file: e.name, maxPixels: this.maxPixels });
          } catch (err) {
            if (!o.skipBad || !(err instanceof UsageError)) throw err;
            o.onBad?.({ index: e.index, file: e.name, reason: err.message });
            return null;
          }
        }),
      ),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return settled.map((r) => (r as PromiseFulfilledResult<Image | null>).value);
  }

  /** The fixed-shape face: every image stretched to `shape` (as files.ts). */
  async readBatch(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array> {
    const sb = sampleBytes(this.shape);
    const dst = out ?? new Uint8Array(indices.length * sb);
    if (dst.length < indices.length * sb) throw new RangeError(`readBatch: out has ${dst.length} bytes, need ${indices.length * sb}`);
    const imgs = await this.readImages(indices, this.faceSpec.mode, { skipBad: this.opts.skipBad, onBad: (b) => this.skipped.push(b.file) });
    imgs.forEach((img, k) => {
      const slot = dst.subarray(k * sb, (k + 1) * sb);
      if (img) slot.set(render(img, this.faceSpec).data);
      else slot.fill(0);
    });
    return dst;
  }

  get(i: number): Promise<Uint8Array> {
    return this.readBatch([i]);
  }

  async *iterate(batchSize = 256): AsyncIterable<{ start: number; indices: Int32Array; pixels: Uint8Array; labels: Int32Array }> {
    for (let start = 0; start < this.size; start += batchSize) {
      const indices = Int32Array.from({ length: Math.min(batchSize, this.size - start) }, (_, k) => start + k);
      yield { start, indices, pixels: await this.readBatch(indices), labels: this.labels.slice(start, start + indices.length) };
    }
  }

  /**
   * The cheap fingerprint (docs/CACHE.md "Data fingerprint"): sha256 over the kind, split, count
   * and number of classes, each shard's base name and byte size, and per sample its key, label,
   * image extension and image byte size — all from the opening walk, no image read. Like the files
   * fingerprint it does not cover pixel contents (`tfkd verify --data` recomputes sampled rows).
   */
  async fingerprint(): Promise<string> {
    const h = createHash('sha256');
    h.update(`${FINGERPRINT_VERSION}\ntar\n${this.split}\n${this.size}\n${this.numClasses}\nshards\n`);
    for (const s of this.shards) h.update(`${basename(s.file)}\0${s.bytes}\n`);
    h.update('samples\n');
    for (let i = 0; i < this.size; i++) h.update(`${this.index.keys[i]}\0${this.labels[i]}\0${this.index.ext[i]}\0${this.index.length[i]}\n`);
    return h.digest('hex');
  }
}
