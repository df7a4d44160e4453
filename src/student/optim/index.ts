/**
 * Optimizers with PyTorch semantics, driven by an explicit learning rate per step (the schedule
 * owns the lr), with exact-resume state as plain Float32Arrays.
 */
import type { tf } from '../tf.js';
import { Adam } from './adam.js';
import { Sgd } from './sgd.js';
import type { Optimizer, OptimizerConfig } from './types.js';

export type { Optimizer, OptimizerConfig, OptimizerState } from './types.js';
export { clipGradNorm } from './clip.js';

/** An optimizer over `variables` (distinct names; the keys of the grads passed to step()). */
export function createOptimizer(variables: readonly tf.Variable[], config: OptimizerConfig): Optimizer {
  switch (config.kind) {
    case 'sgd':
      return new Sgd(variables, config);
    case 'adam':
    case 'adamw':
      return new Adam(variables, config);
    default:
      throw new Error(`unknown optimizer "${(config as { kind: string }).kind}"`);
  }
}
