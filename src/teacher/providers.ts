/**
 * Execution-provider choice. onnxruntime-node *throws* when a listed provider cannot be loaded (a
 * missing libonnxruntime_providers_cuda.so, no WebGPU adapter) instead of falling back, so we never
 * list more than one: `auto` tries each provider of its row in turn, keeps the first session that
 * opens, and records why each earlier one did not.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEACHER_DEVICES } from '../catalog.js';
import { UsageError, optionName } from '../errors.js';
import { createOrtSession, ort } from './ort.js';
import type { Device } from './types.js';

export type Provider = 'cuda' | 'webgpu' | 'cpu';

/** device → providers to try, in order (cf. transformers.js `backends/onnx.js`). */
export const DEVICE_PROVIDERS: Readonly<Record<Device, readonly Provider[]>> = Object.freeze({
  auto: Object.freeze(['cuda', 'webgpu', 'cpu'] as const),
  cuda: Object.freeze(['cuda'] as const),
  webgpu: Object.freeze(['webgpu'] as const),
  cpu: Object.freeze(['cpu'] as const),
});

/** The catalog's TEACHER_DEVICES (DEVICE_PROVIDERS has a row for each), under this module's old name. */
export const DEVICES: readonly Device[] = TEACHER_DEVICES;

/** What to do when a provider is absent (a function: its option names follow the message style at the time). */
export function providerHint(p: Provider): string {
  switch (p) {
    case 'cuda':
      return (
        'install the CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js ' +
        `(needs CUDA 12 and cuDNN 9 on the machine), or use ${optionName('device')} cpu`
      );
    case 'webgpu':
      return `the WebGPU provider needs a GPU adapter (on Linux: a GPU driver and libvulkan1), or use ${optionName('device')} cpu`;
    case 'cpu':
      return 'the CPU provider failed: the model itself could not be loaded by onnxruntime';
  }
}

export type SessionOptions = ort.InferenceSession.SessionOptions;
/** What a teacher needs of a session: in-process onnxruntime, or one in a worker (remote.ts). */
export interface TeacherSession {
  run(feeds: Record<string, ort.Tensor>, fetches: readonly string[]): Promise<ort.InferenceSession.ReturnType>;
  release(): Promise<void>;
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
}
/** Creates one session for one provider; injectable so the fallback is testable without a GPU. */
export type SessionFactory = (model: Uint8Array, options: SessionOptions) => Promise<TeacherSession>;

export const ortSessionFactory: SessionFactory = (model, options) => createOrtSession(model, options);

export interface OpenedSession {
  session: TeacherSession;
  provider: Provider;
  /** One line per provider that was tried and did not open, with the reason. */
  notes: string[];
  threads: number;
}

/** Default intra-op threads: every core we may use (recorded, so a run can be reproduced). */
export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function sessionOptions(provider: Provider, threads: number): SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    // One graph, one request at a time: inter-op parallelism only adds threads that compete.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    // ORT's intra-op threads spin-wait after each run by default. Between runs our JS thread reads,
    // preprocesses and writes the next batch, and spinning workers take the cores it needs:
    // measured on 2 vCPUs, spinning off raised bare session.run from ~6.5 k to ~10.5 k rows/s and
    // the serial read+preprocess+run loop from ~4.4 k to ~10.7 k rows/s (docs/PERFORMANCE.md).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/**
 * A cheap look before `auto` tries a provider whose failure is noisy. Dawn (onnxruntime's WebGPU)
 * prints a multi-line native warning to stderr when it cannot load Vulkan, before ORT throws; on
 * Linux we look for the loader library first and skip WebGPU with a note when it is absent.
 * Returns the reason to skip, or null to try. Explicit `--device webgpu` always tries.
 */
export type ProviderPrecheck = (provider: Provider) => string | null;

export const defaultPrecheck: ProviderPrecheck = (provider) => {
  if (provider !== 'webgpu' || process.platform !== 'linux') return null;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/lib64',
  ];
  if (dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')))) return null;
  return 'libvulkan.so.1 not found (the WebGPU provider needs Vulkan on Linux)';
};

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // ORT prefixes messages with source paths and appends native log dumps; keep the gist.
  const line = msg.split('\n').find((l) => l.trim()) ?? msg;
  return line
    .replace(/\u001b\[[0-9;]*m/g, '')
    .replace(/^\/onnxruntime_src\/\S+ /, '')
    .replace(/^.*? was false\. /, '') // assertion text before the actual reason
    .trim()
    .slice(0, 300);
}

/**
 * Opens a session on the first provider of `device`'s row that loads. Explicit devices fail with
 * a UsageError carrying the install hint; `auto` fails only when even the CPU provider fails.
 */
export async function createSession(
  model: Uint8Array,
  opts: { device?: Device; threads?: number; factory?: SessionFactory; precheck?: ProviderPrecheck; what?: string } = {},
): Promise<OpenedSession> {
  const device = opts.device ?? 'auto';
  const row = DEVICE_PROVIDERS[device];
  if (!row) throw new UsageError(`unknown device '${device}' (expected one of ${DEVICES.join(', ')})`);
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`threads must be a positive integer, got ${threads}`);
  const factory = opts.factory ?? ortSessionFactory;
  // An injected factory (tests) decides alone; the real one gets the noise-avoiding look first.
  const precheck = opts.precheck ?? (opts.factory ? () => null : defaultPrecheck);
  const what = opts.what ?? 'the model';
  const notes: string[] = [];
  for (const provider of row) {
    const skip = row.length > 1 ? precheck(provider) : null;
    if (skip) {
      notes.push(`${provider}: not available (${skip})`);
      continue;
    }
    try {
      const session = await factory(model, sessionOptions(provider, threads));
      return { session, provider, notes, threads };
    } catch (err) {
      const reason = firstLine(err);
      if (row.length === 1) {
        if (provider === 'cpu') throw new UsageError(`onnxruntime cannot load ${what}: ${reason}`);
        throw new UsageError(`${optionName('device')} ${device}: the ${provider} execution provider is not available: ${reason}`, providerHint(provider));
      }
      notes.push(`${provider}: not available (${reason})`);
    }
  }
  // Every provider of `auto` failed; the CPU one failing means the model, not the machine.
  throw new UsageError(`onnxruntime cannot load ${what}: ${notes[notes.length - 1]}`, notes.slice(0, -1).join('; ') || undefined);
}
