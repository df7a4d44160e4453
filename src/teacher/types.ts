/**
 * Contract between the teacher (src/teacher/, onnxruntime-node) and its users (precompute, verify,
 * eval). The teacher takes decoded data-set pixels and returns raw logits; preprocessing (resize,
 * scale, mean/std, layout, dtype) happens inside it, as recorded in `preprocess`.
 */
import type { Image, Interpolation } from '../data/image.js';
import type { CropRounding } from '../data/render.js';
import type { ClassMap } from './class-map.js';
import type { GpuAdapter } from '../util/gpu-adapter.js';

export type Layout = 'NCHW' | 'NHWC';
/** `--device`: one of the catalog's TEACHER_DEVICES. */

/**
 * The resolved preprocessing (recorded in the cache manifest and part of its key):
 *   image → convert(channels: L, or RGB then BGR reorders) → resize → center crop   (data/render.ts)
 *   input[c] = (pixel · scale − mean[c]) / std[c]      in `layout`, [H, W] = `size`.
 */
export interface PreprocessSpec {
  layout: Layout;
  /** [H, W] of the model input: the crop, or the exact resize, or the data's own size. */
  size: [number, number];
  /** Shorter side (int, torchvision's rule for the longer) or exact [H, W]; null: none. */
  resize: number | [number, number] | null;
  /** Center crop [H, W]; null: none. */
  crop: [number, number] | null;
  /** 'round': torchvision/timm CenterCrop offsets; 'floor': Hugging Face's center_crop. */
  cropRounding: CropRounding;
  /** PIL filter of the resize. */
  interpolation: Interpolation;
  /** Channel order fed to the model ('L': one grey channel). mean/std are in this order. */
  channels: ChannelOrder;
  scale: number;
  mean: number[];
  std: number[];
  /** Where the recipe came from: 'imagenet', 'timm:config.json', 'hf:preprocessor_config.json', … */
  source?: string;
}

/** 'as-is': data of another channel count (2, 4, …) fed unconverted (no resize or crop either). */
type ChannelOrder = 'RGB' | 'BGR' | 'L' | 'as-is';

export interface TeacherInfo {
  /** File name (no directory) and sha256 of the .onnx bytes. */
  file: string;
  sha256: string;
  inputName: string;
  outputName: string;
  inputDtype: 'float32' | 'float16';
  /** Input shape as declared by the model; symbolic dims are strings. */
  inputShape: Array<number | string>;
  layout: Layout;
  /** Fixed batch size when the model declares one, else null (dynamic). */
  fixedBatch: number | null;
  /** Logits returned per row: the model's K, or the data set's K under a class map. */
  numClasses: number;
  /** `--class-map`: which model outputs were selected (null: all, in order). */
  classMap: ClassMap | null;
  opset: number;
  /** Execution provider that actually ran, and why the preferred ones did not. */
  provider: string;
  providerNotes: string[];
  threads: number;
  /** onnxruntime sessions running side by side, sharing `threads` (teacher/lanes.ts); absent: one. */
  sessions?: number;
  /** The WebGPU adapter (webgpu provider only; null when it could not be asked). */
  adapter?: GpuAdapter | null;
  /** Metadata props stored in the model (tfkd exports record their preprocessing here). */
  metadata: Record<string, string>;
}

/**
 * A teacher capability: a batch is prepared (preprocessed into a model feed) apart from its
 * inference, so precompute prepares the next batch while this one is inferred. `P` is the
 * teacher's own prepared form; precompute only passes it from `prepare*` to `infer`.
 */
export interface StagedInference<P = unknown> {
  /** Preprocesses packed samples of the data's shape (at most one model batch). */
  prepare(pixels: Uint8Array, n: number): Promise<P>;
  /** Preprocesses samples already rendered at `preprocess.size` (normalisation only). */
  prepareRendered(pixels: Uint8Array | Float32Array, n: number): Promise<P>;
  /** Runs a prepared batch; returns `n·K` float32 logits. */
  infer(batch: P): Promise<Float32Array>;
  /** Batches whose `infer` runs at once (sessions side by side, teacher/lanes.ts); absent: one. */
  readonly concurrency?: number;
}

export interface Teacher {
  readonly info: TeacherInfo;
  readonly preprocess: PreprocessSpec;
  /** Present when the teacher can prepare a batch apart from inferring it (StagedInference). */
  readonly staged?: StagedInference;
  /**
   * Runs `n` samples given as packed HWC uint8 pixels of the data set's shape (`n·H·W·C` bytes).
   * Returns `n·K` float32 logits, row-major.
   */
  run(pixels: Uint8Array, n: number): Promise<Float32Array>;
  /**
   * Runs decoded images of any size (a data source's `readImages`), each rendered by the
   * preprocessing's resize/crop first. Returns `images.length·K` float32 logits.
   */
  runImages(images: readonly Image[]): Promise<Float32Array>;
  /**
   * Runs `n` samples already rendered at `preprocess.size` in the fed channels (HWC uint8, e.g.
   * views rendered by data/views.ts): only the normalisation is applied. Float32 pixels are on
   * [0, 1] (mixed views, docs/MIXING.md) and are normalised as they are.
   */
  runRendered(pixels: Uint8Array | Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}
