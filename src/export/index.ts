/**
 * Public face of the export stage: tfjs zoo model → ONNX bytes (see ./onnx.ts for the mapping).
 */
import { buildFromSpec, loadWeights, type ModelSpec, type WeightRecord } from '../student/zoo/index.js';
import { exportOnnx, type ExportOptions } from './onnx.js';

export { MAX_OPSET, MIN_OPSET, exportOnnx, type ExportOptions } from './onnx.js';
export { tfSamePads } from './onnx-core-layers.js';

/**
 * Exports a checkpoint (the ModelSpec and weight record a training run stores) without keeping a
 * model around: rebuild from the spec, load the weights (refused whole if they do not match),
 * export, dispose.
 */
export function exportCheckpoint(spec: ModelSpec, weights: WeightRecord, opts: ExportOptions): Uint8Array {
  const model = buildFromSpec(spec);
  try {
    loadWeights(model, weights);
    return exportOnnx(model, spec, opts);
  } finally {
    model.dispose();
  }
}

