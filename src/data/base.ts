import type { Dataset, SampleShape, SourceCapabilities, Split } from './dataset.js';
import { sampleBytes } from './dataset.js';
import type { Image, PilMode } from './image.js';
import { convertImage } from './render.js';
import { UsageError } from '../errors.js';
import { DATA_SOURCES, type DataKind } from './spec.js';

/** What every reader hands over to build a Dataset. */
export interface DatasetInit {
  kind: string;
  spec: string;
  split: Split;
  numClasses: number;
  shape: SampleShape;
  labels: Int32Array;
  classNames?: readonly string[];
}

/**
 * The parts of a Dataset that are the same for every reader: index checks, `get` and `iterate`
 * in terms of `readBatch`. A reader implements `fill(index, dst)` (write one decoded sample).
 */
export abstract class BaseDataset implements Dataset {
  readonly kind: string;
  readonly spec: string;
  readonly split: Split;
  readonly size: number;
  readonly numClasses: number;
  readonly shape: SampleShape;
  readonly labels: Int32Array;
  readonly classNames?: readonly string[];
  /** Bytes per sample, H*W*C. */
  readonly sampleBytes: number;
  readonly capabilities?: SourceCapabilities;

  constructor(init: DatasetInit) {
    this.kind = init.kind;
    this.spec = init.spec;
    this.split = init.split;
    this.size = init.labels.length;
    this.numClasses = init.numClasses;
    this.shape = Object.freeze({ ...init.shape });
    this.labels = init.labels;
    if (init.classNames) this.classNames = Object.freeze([...init.classNames]);
    this.sampleBytes = sampleBytes(init.shape);
    const registered = (DATA_SOURCES as Partial<Record<string, { capabilities: SourceCapabilities }>>)[init.kind as DataKind];
    if (registered) this.capabilities = registered.capabilities;
  }

  /** Writes decoded sample `index` (already range-checked) into `dst` (exactly sampleBytes long). */
  protected abstract fill(index: number, dst: Uint8Array): void;

  protected checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new RangeError(`sample index ${i} out of range [0, ${this.size}) for ${this.spec}`);
    }
  }

  async get(i: number): Promise<Uint8Array> {
    this.checkIndex(i);
    const out = new Uint8Array(this.sampleBytes);
    this.fill(i, out);
    return out;
  }

  async readBatch(indices: ArrayLike<number>, out?: Uint8Array): Promise<Uint8Array> {
    const sb = this.sampleBytes;
    const need = indices.length * sb;
    if (out && out.length < need) throw new RangeError(`readBatch: out has ${out.length} bytes, need ${need}`);
    const dst = out ?? new Uint8Array(need);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      this.checkIndex(i);
      this.fill(i, dst.subarray(k * sb, (k + 1) * sb));
    }
    return dst;
  }

  /** Fixed-size samples as PIL images (1 channel = mode L, 3 = RGB), converted to `mode`. */
  async readImages(indices: ArrayLike<number>, mode: PilMode): Promise<Array<Image | null>> {
    const C = this.shape.channels;
    if (C !== 1 && C !== 3) throw new UsageError(`${this.spec} has ${C} channels; images are read as mode L (1 channel) or RGB (3)`);
    const { height, width } = this.shape;
    const out: Image[] = [];
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      this.checkIndex(i);
      const data = new Uint8Array(this.sampleBytes);
      this.fill(i, data);
      out.push(convertImage({ data, width, height, channels: C }, mode));
    }
    return out;
  }

  async *iterate(batchSize = 256): AsyncIterable<{ start: number; indices: Int32Array; pixels: Uint8Array; labels: Int32Array }> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`iterate: batchSize must be a positive integer, got ${batchSize}`);
    for (let start = 0; start < this.size; start += batchSize) {
      const end = Math.min(this.size, start + batchSize);
      const indices = new Int32Array(end - start);
      for (let k = 0; k < indices.length; k++) indices[k] = start + k;
      const pixels = await this.readBatch(indices);
      yield { start, indices, pixels, labels: this.labels.slice(start, end) };
    }
  }
}

/** A data set whose decoded samples all sit in one contiguous HWC buffer. */
export class MemoryDataset extends BaseDataset {
  constructor(
    init: DatasetInit,
    /** `size * sampleBytes` bytes, sample-major HWC. */
    readonly pixels: Uint8Array,
  ) {
    super(init);
    if (pixels.length !== this.size * this.sampleBytes) {
      throw new Error(`MemoryDataset: ${pixels.length} pixel bytes for ${this.size} samples of ${this.sampleBytes}`);
    }
  }

  protected fill(index: number, dst: Uint8Array): void {
    const sb = this.sampleBytes;
    dst.set(this.pixels.subarray(index * sb, (index + 1) * sb));
  }
}
