import type { tf } from '../tf.js';

export type OptimizerKind = 'sgd' | 'adam' | 'adamw';

/** torch.optim.SGD's options (lr is given per step, by the schedule). */
export interface SgdConfig {
  kind: 'sgd';
  /** μ; 0 = plain SGD. */
  momentum?: number;
  /** PyTorch `dampening` (multiplies d_p when added to the buffer, from the 2nd step on). */
  dampening?: number;
  nesterov?: boolean;
  /** L2 weight decay added to the gradient: d_p = g + wd·w. */
  weightDecay?: number;
  /** Names of variables that get no weight decay (a PyTorch param group with weight_decay 0). */
  noDecay?: readonly string[];
  /** Per-variable factors of the step's lr (a param group's timm `lr_scale`, e.g. layer-wise decay); 1 when absent. */
  lrScale?: ReadonlyMap<string, number>;
}

/** torch.optim.Adam (L2 weight decay in the gradient) or AdamW (decoupled: w ← w·(1 − lr·wd)). */
export interface AdamConfig {
  kind: 'adam' | 'adamw';
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /** Names of variables that get no weight decay (a PyTorch param group with weight_decay 0). */
  noDecay?: readonly string[];
  /** Per-variable factors of the step's lr (see SgdConfig.lrScale). */
  lrScale?: ReadonlyMap<string, number>;
}

export type OptimizerConfig = SgdConfig | AdamConfig;

/**
 * Everything needed to resume exactly: the step count and each slot (per-variable buffer) as a
 * plain Float32Array named `<variable name>#<slot>` (slots: `momentum_buffer`; `exp_avg`,
 * `exp_avg_sq` — PyTorch's names). A slot that does not exist yet (SGD before its first step on a
 * variable) is absent, as in PyTorch's state_dict.
 */
export interface OptimizerState {
  kind: OptimizerKind;
  /** step() calls so far. */
  step: number;
  /**
   * Updates each variable has received (PyTorch keeps a per-parameter `step`: a variable without
   * a gradient on some step lags behind, which changes Adam's bias correction for it).
   */
  variableSteps: Record<string, number>;
  slots: Record<string, Float32Array>;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Number of step() calls so far (restored by setState). */
  readonly stepCount: number;
  /**
   * One update of every variable that has a gradient in `grads` (keyed by variable name, as
   * tf.variableGrads returns them), with learning rate `lr`. Variables without a gradient are left
   * untouched, slots included (PyTorch skips params whose grad is None). Does not dispose `grads`.
   */
  step(grads: tf.NamedTensorMap, lr: number): void;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
  /** Frees the slot tensors (not the model's variables). */
  dispose(): void;
}
