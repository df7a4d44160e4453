/**
 * Process-wide settings a library user sets in code, alongside the environment variables a CLI
 * user sets in the shell: `configure({ threads: 4 })` is `TFKD_THREADS=4`. Runtime-free (no tfjs,
 * no onnxruntime), so every layer reads it without loading either.
 *
 * Why one merged environment rather than a settings object threaded through every call: the
 * kernels read these values where they load (once per process) and experiment steps run in child
 * processes that inherit them; `settingsEnv()` gives both the same view — the environment with
 * what `configure()` set written over it.
 */
import { z } from 'zod';
import { BACKEND_CHOICES, type BackendChoice } from './catalog.js';
import { formatZodError, UsageError } from './errors.js';

export interface TfkdSettings {
  /**
   * Threads of the native kernels (OpenBLAS, oneDNN, tfkd's own splits). Environment:
   * `TFKD_THREADS`. Default: the number of cores. Numbers do not depend on it (the work is cut by
   * shape, not by thread count).
   */
  threads?: number;
  /**
   * Use the native add-on's kernels when it is built (`TFKD_NATIVE=0` turns them off). Default:
   * true. Read when the kernels first load — the first `train`/`evaluate` of the process.
   */
  nativeKernels?: boolean;
  /** Convolutions on oneDNN when the add-on has it (`TFKD_DNNL=0` turns it off). Default: true. */
  dnnl?: boolean;
  /**
   * Which CPU kernels OpenBLAS and oneDNN run (`TFKD_CPU_KERNELS`): `best` (default) lets them pick
   * the CPU's best; `avx2` pins OpenBLAS's Haswell kernels and oneDNN's AVX2 ones, the same code
   * on every x86-64 CPU with AVX2 and FMA, so machines with different CPUs (AVX2, AVX-512) train
   * to the same bits. Read when the kernels first load.
   */
  cpuKernels?: CpuKernels;
  /**
   * The student backend `train` and `evaluate` use when their options name none: auto |
   * tensorflow | wasm | cpu (default auto: tfjs-node when installed, else wasm + native kernels).
   */
  backend?: BackendChoice;
}

const CPU_KERNELS = ['best', 'avx2'] as const;
export type CpuKernels = (typeof CPU_KERNELS)[number];

const settingsSchema = z.strictObject({
  threads: z.number().int().min(1).max(1024).optional(),
  nativeKernels: z.boolean().optional(),
  dnnl: z.boolean().optional(),
  cpuKernels: z.enum(CPU_KERNELS).optional(),
  backend: z.enum(BACKEND_CHOICES).optional(),
});

let current: TfkdSettings = {};

/**
 * Validates and merges `s` into the process's settings (a key set to `undefined` returns it to
 * the environment's value); returns the settings now in force. Throws UsageError on a bad value.
 */
export function setSettings(s: TfkdSettings): TfkdSettings {
  const r = settingsSchema.safeParse(s);
  if (!r.success) throw new UsageError(`configure(): ${formatZodError(r.error)}`);
  const next: TfkdSettings = { ...current };
  for (const [k, v] of Object.entries(s) as Array<[keyof TfkdSettings, unknown]>) {
    if (v === undefined) delete next[k];
    else (next as Record<string, unknown>)[k] = v;
  }
  current = next;
  return { ...current };
}

/** What `configure()` has set (not the environment). */
export const getSettings = (): TfkdSettings => ({ ...current });

/** The environment with the configured settings written over it (for the kernels and child steps). */
export function settingsEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = { ...base };
  if (current.threads !== undefined) env.TFKD_THREADS = String(current.threads);
  if (current.nativeKernels !== undefined) env.TFKD_NATIVE = current.nativeKernels ? '1' : '0';
  if (current.dnnl !== undefined) env.TFKD_DNNL = current.dnnl ? '1' : '0';
  if (current.cpuKernels !== undefined) env.TFKD_CPU_KERNELS = current.cpuKernels;
  return env;
}

/** What is wrong with TFKD_CPU_KERNELS in `env`, or null (unset, best or avx2). */
export function cpuKernelsProblem(env: NodeJS.ProcessEnv): string | null {
  const k = env.TFKD_CPU_KERNELS;
  return k === undefined || (CPU_KERNELS as readonly string[]).includes(k) ? null : `TFKD_CPU_KERNELS=${k}: expected ${CPU_KERNELS.join(' or ')}`;
}

/** The environment's settings that have a fixed set of values, checked at the CLI's edge (UsageError). */
export function checkEnvSettings(env: NodeJS.ProcessEnv = process.env): void {
  const problem = cpuKernelsProblem(env);
  if (problem) throw new UsageError(problem);
}
