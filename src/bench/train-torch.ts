/**
 * `tfkd bench train --torch [ARCH]`: the PyTorch reference of the same step in the same run
 * (issue 19): scripts/torch_bench_train.py trains torchvision.models.ARCH(num_classes=K) — the
 * model zoo `resnet18` / `mobilenet_v3_small` are the definitions of, and the one an `onnx:FILE`
 * student was exported from — at the same input, batch, steps, warm-up and seed, KD loss and
 * SGD momentum as src/bench/train.ts, on as many threads as tfkd's native kernels use
 * (TFKD_THREADS). The load average around both runs is recorded: on a shared machine only the
 * ratio of one run means anything.
 */
import { loadavg } from 'node:os';
import { UsageError } from '../errors.js';
import { isOnnxModelName } from '../student/zoo/index.js';
import { runTorchScript } from './pytorch.js';

/** Zoo models that are torchvision's definitions (same name, same parameter count). */
const TORCHVISION_ZOO = ['resnet18', 'mobilenet_v3_small'] as const;

export interface TorchTrainResult {
  arch: string;
  torch: string;
  threads: number;
  trainable: number;
  img_per_s: number;
  img_per_s_p10: number;
  img_per_s_p90: number;
  step_ms_median: number;
  cpu_ms_median: number;
  /** tfkd img/s ÷ PyTorch img/s (medians). */
  ratio: number;
  /**
   * PyTorch CPU ms per step ÷ tfkd's (medians): the same ratio by CPU time, which a loaded machine
   * distorts far less than wall time when both sides run one thread.
   */
  cpu_ratio: number;
}

/** The torchvision architecture `--torch [ARCH]` means for `model` (UsageError when there is none). */
export function torchArchFor(model: string, torch: string | true): string {
  if (typeof torch === 'string') {
    if (!/^[a-z0-9_]+$/.test(torch)) throw new UsageError(`--torch ${torch}: not a torchvision model name (e.g. resnet18, mobilenet_v3_small)`);
    return torch;
  }
  if ((TORCHVISION_ZOO as readonly string[]).includes(model)) return model;
  const which = isOnnxModelName(model) ? 'the torchvision model it was exported from' : 'a torchvision model name';
  throw new UsageError(`--torch without a name needs --model ${TORCHVISION_ZOO.join(' or ')}; for ${model} give ${which}, e.g. --torch resnet18`);
}

/** The 1-minute load average now (recorded beside each figure). */
export const load1 = (): number => loadavg()[0];

export interface TorchRunOptions {
  input: [number, number, number];
  classes: number;
  batch: number;
  steps: number;
  warmup: number;
  seed: number;
  threads: number;
}

/** Runs scripts/torch_bench_train.py for torchvision:`arch`; tfkd's medians give the ratios. */
export function runTorchTrainBench(arch: string, o: TorchRunOptions, tfkd: { imgPerS: number; cpuMs: number }): TorchTrainResult {
  const args = [
    '--model', `torchvision:${arch}`, '--input', o.input.join('x'), '--classes', String(o.classes), '--batch', String(o.batch),
    '--steps', String(o.steps), '--warmup', String(o.warmup), '--threads', String(o.threads), '--seed', String(o.seed), '--json',
  ];
  const stdout = runTorchScript('torch_bench_train.py', args, `--torch ${arch}`, { maxBuffer: 16 << 20, env: { ...process.env, OMP_NUM_THREADS: String(o.threads) } });
  const p = JSON.parse(stdout) as { torch: string; threads: number; params: { trainable: number } } & Record<'img_per_s' | 'img_per_s_p10' | 'img_per_s_p90' | 'step_ms_median' | 'cpu_ms_median', number>;
  return {
    arch: `torchvision:${arch}`,
    torch: p.torch,
    threads: p.threads,
    trainable: p.params.trainable,
    img_per_s: p.img_per_s,
    img_per_s_p10: p.img_per_s_p10,
    img_per_s_p90: p.img_per_s_p90,
    step_ms_median: p.step_ms_median,
    cpu_ms_median: p.cpu_ms_median,
    ratio: tfkd.imgPerS / p.img_per_s,
    cpu_ratio: p.cpu_ms_median / tfkd.cpuMs,
  };
}
