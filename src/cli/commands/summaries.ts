/**
 * One line per command: what `tfkd --help` lists and what each command file passes to
 * `.description()`. Kept apart from the command modules so the top-level help (and every command
 * that does not need them) starts without loading tfjs, onnxruntime, sharp or vega.
 */
export const SUMMARIES = {
  data: 'inspect data sets',
  precompute: 'run an ONNX teacher over a data set and store its logits as a verified, resumable cache',
  merge: 'join the partial caches of precompute --shard I/N into one cache',
  verify: 'check a cache: shard checksums, manifest, coverage; with --teacher/--data, recompute sampled rows',
  train: 'train a student (tfjs: a zoo model, an ONNX graph or your own) with any KD or Tf-KD loss (--loss lists them); writes a run directory',
  eval: 'accuracy (top-1, top-5), loss, calibration (ECE, temperature scaling), confusion matrix and fidelity to a cached teacher (agreement, KL) of a run (its best/last/epoch-N checkpoint), an ONNX model or a cache on a data set',
  export: "export a run's checkpoint to ONNX (preprocessing and model spec in its metadata)",
  experiment: 'run a declarative design (baseline, lsr, kd, re-kd, de-kd, tfkd-self, tfkd-reg or any loss × seeds), resumably',
  repro: 're-run a finished training run from its config and manifest; compare metrics and weights bit for bit (or within --tolerance)',
  report: 'summarise runs: table.md (mean ± std over seeds, Δ vs baseline with a 95 % Welch interval, calibration, fidelity to a teacher), index.html, curves.png, de-kd.png, fidelity.png, report.json',
  bench: 'measure speed (img/s lines; JSON with --json)',
  doctor: 'what this machine has for tfkd (Node, npm, native kernels, execution providers, tfjs backends, data, Python, Chromium), one line each with the fix',
  demo: 'the embedded default, end to end: shipped teachers + Fashion-MNIST → precompute → ce / tfkd-reg / kd / De-KD students → table + report',
} as const;

export type CommandName = keyof typeof SUMMARIES;
