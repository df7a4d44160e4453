/**
 * Contract between the teacher (src/teacher/, onnxruntime-node) and its users (precompute, verify,
 * eval). The teacher takes decoded data-set pixels and returns raw logits; preprocessing (resize,
 * scale, mean/std, layout, dtype) happens inside it, as recorded in `preprocess`.
 */
export type Layout = 'NCHW' | 'NHWC';
export type Device = 'auto' | 'cuda' | 'webgpu' | 'cpu';

/** input = (pixel · scale − mean[c]) / std[c], resized to `size` ([H, W]) when it differs. */
export interface PreprocessSpec {
  layout: Layout;
  size: [number, number];
  scale: number;
  mean: number[];
  std: number[];
}

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
  numClasses: number;
  opset: number;
  /** Execution provider that actually ran, and why the preferred ones did not. */
  provider: string;
  providerNotes: string[];
  threads: number;
  /** Metadata props stored in the model (tfkd exports record their preprocessing here). */
  metadata: Record<string, string>;
}

export interface Teacher {
  readonly info: TeacherInfo;
  readonly preprocess: PreprocessSpec;
  /**
   * Runs `n` samples given as packed HWC uint8 pixels of the data set's shape (`n·H·W·C` bytes).
   * Returns `n·K` float32 logits, row-major.
   */
  run(pixels: Uint8Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}
