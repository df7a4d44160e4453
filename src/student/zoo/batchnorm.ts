/**
 * The zoo's BatchNorm layer: tfjs-layers' BatchNormalization with the training-mode forward and
 * backward replaced by tfkd's fused kernels (src/student/kernels/batchnorm.ts) where they are
 * registered (cpu, wasm); everything else is the stock layer.
 *
 * It subclasses the stock class and keeps its class name, config, weights (`gamma`, `beta`,
 * `moving_mean`, `moving_variance`) and inference path, so checkpoints, `getClassName()` (the
 * ONNX export's layer mapping) and `model.toJSON()` are exactly as before; a model deserialised
 * from JSON gets the stock layer, which computes the same numbers. It is deliberately not
 * registered with `tf.serialization` (that would replace the stock class for every model).
 *
 * The moving statistics are updated with the stock layer's own formula and op order
 * (running ← running − (running − batch)·(1 − momentum), batch variance biased), so a training
 * step leaves the same moving_mean / moving_variance as before up to float32 rounding of the
 * batch statistics.
 */
import { tf } from '../tf.js';
import { batchNormTrain, fusedBatchNormAvailable } from '../kernels/batchnorm.js';

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];
type Kwargs = Record<string, unknown>;

interface BatchNormArgs extends NonNullable<LayerArgs> {
  axis?: number;
  momentum?: number;
  epsilon?: number;
}

/** The stock layer's private fields this subclass reads (names as in tfjs-layers 4.22). */
interface StockBatchNormFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type StockCtor = new (args?: BatchNormArgs) => tf.layers.Layer;

/** The registered stock class (tfjs-layers exports only the factory function). */
function stockBatchNormalization(): StockCtor {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization;
  if (!entry) throw new Error('tfjs-layers BatchNormalization is not registered');
  return entry[0] as unknown as StockCtor;
}

let fusedEnabled = process.env.TFKD_FUSED_BN !== '0';

/**
 * Turns the fused training path on or off for the whole process (default on;
 * TFKD_FUSED_BN=0 starts with it off). For before/after comparisons and tests.
 */
export function setFusedBatchNorm(enabled: boolean): void {
  fusedEnabled = enabled;
}

export function fusedBatchNormEnabled(): boolean {
  return fusedEnabled;
}

export class FusedBatchNormalization extends stockBatchNormalization() {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as StockBatchNormFields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = f.axis >= 0 ? f.axis : f.axis + x.rank;
    const usable =
      kwargs.training === true &&
      fusedEnabled &&
      (!Array.isArray(inputs) || inputs.length === 1) &&
      axis === x.rank - 1 &&
      x.dtype === 'float32' &&
      f.center &&
      f.scale &&
      f.gamma !== null &&
      f.beta !== null &&
      fusedBatchNormAvailable();
    if (!usable) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(x, f.gamma!.read() as tf.Tensor1D, f.beta!.read() as tf.Tensor1D, f.epsilon);
      // The stock layer's doMovingAverage, op for op.
      const update = (variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void => {
        tf.tidy(() => {
          const decay = 1 - momentum;
          const orig = variable.read();
          const delta = tf.mul(tf.sub(orig, value), decay);
          variable.write(tf.sub(orig, delta));
        });
      };
      update(f.movingMean, mean, f.momentum);
      update(f.movingVariance, variance, f.momentum);
      return y;
    });
  }
}
