/**
 * The names and bounds the parts of tfkd agree on: the choices of every enumerated option and the
 * allowed range of every loss hyperparameter, each written once. The trainer's config, the CLI's
 * option parsing, the experiment design and the loss registry all read them from here, so a value
 * one part accepts is never refused (or silently accepted) by another.
 *
 * Runtime-free on purpose: it imports nothing, never onnxruntime or tfjs, so a
 * library user (or a config validator, or `--help`) can import it without loading either runtime.
 * The lists are frozen: they are shared by every importer, a push from one would change the rest.
 */

// Losses, their options and bounds are not here: each loss's own entry declares them, and the loss
// registry (student/losses/registry.ts) is the list (docs/LOSSES.md).

/**
 * `paper` follows the paper's equations with the standard τ² and per-sample ('batchmean') KL;
 * `official` reproduces the official code exactly (docs/PAPER.md, "What the official code computes").
 */
export const FIDELITIES = Object.freeze(['paper', 'official'] as const);
export type Fidelity = (typeof FIDELITIES)[number];

/** `--device` of the teacher (onnxruntime); teacher/providers.ts maps each to providers to try. */
export const TEACHER_DEVICES = Object.freeze(['auto', 'cuda', 'webgpu', 'cpu'] as const);
export type TeacherDevice = (typeof TEACHER_DEVICES)[number];

/** `--backend` of the student (tfjs); student/backend.ts says what each one is. */
export const BACKEND_CHOICES = Object.freeze(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const);
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The trainer's `--optimizer`: torch.optim's SGD, Adam and AdamW (src/student/optim). */
export const OPTIMIZERS = Object.freeze(['sgd', 'adam', 'adamw'] as const);

/** The trainer's `--schedule`, in the order its help and error messages list them. */
export const SCHEDULES = Object.freeze(['step', 'cosine', 'constant'] as const);

/** Storage type of the logits in a soft-target cache (`tfkd precompute --dtype`). */
export const CACHE_DTYPES = Object.freeze(['f16', 'f32'] as const);
export type CacheDtype = (typeof CACHE_DTYPES)[number];

/** A data set's splits (`--split`). */
export const SPLITS = Object.freeze(['train', 'test'] as const);

/** A teacher's input layout (`--layout`): channels first (PyTorch exports) or last (tfjs students). */
export const LAYOUTS = Object.freeze(['NCHW', 'NHWC'] as const);

/** How a long command reports progress on stderr (`--progress`). */
export const PROGRESS_MODES = Object.freeze(['auto', 'bar', 'json', 'off'] as const);
export type ProgressMode = (typeof PROGRESS_MODES)[number];
