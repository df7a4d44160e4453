/**
 * Execution-provider choice. onnxruntime-node *throws* when a listed provider cannot be loaded (a
 * missing libonnxruntime_providers_cuda.so, no WebGPU adapter) instead of falling back, so we never
 * list more than one: `auto` tries each provider of its row in turn, keeps the first session that
 * opens, and records why each earlier one did not. The rows, and which platform ships which provider,
 * are ort.ts's DEVICE_PROVIDERS.
 */
import os from 'node:os';
import { TEACHER_DEVICES } from '../catalog.js';
import { UsageError, optionName } from '../errors.js';
import { DEVICE_PROVIDERS, createOrtSession, type OrtFeeds, type OrtOutputs, type OrtSession, type OrtSessionOptions, type Provider } from './ort.js';
import { describeAdapter, probeGpuAdapter, type GpuAdapter, type GpuProbe } from '../util/gpu-adapter.js';
import type { TeacherDevice as Device } from '../catalog.js';

/** What to do when a provider is absent (a function: its option names follow the message style at the time). */
export function providerHint(p: Provider): string {
  switch (p) {
    case 'cuda':
      return (
        'install the CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js ' +
        `(needs CUDA 12 and cuDNN 9 on the machine), or use ${optionName('device')} cpu`
      );
    case 'webgpu':
      return `the WebGPU provider needs a GPU adapter (on Linux: libvulkan1 and the GPU driver's Vulkan ICD, e.g. the NVIDIA driver's nvidia_icd.json), or use ${optionName('device')} cpu`;
    case 'cpu':
      return 'the CPU provider failed: the model itself could not be loaded by onnxruntime';
  }
}

/** What a teacher needs of a session: in-process onnxruntime, or one in a worker (remote.ts). */
export interface TeacherSession extends Pick<OrtSession, 'release' | 'inputMetadata' | 'outputMetadata'> {
  /** Always names the outputs to fetch (tfkd fetches the logits only). */
  run(feeds: OrtFeeds, fetches: readonly string[]): Promise<OrtOutputs>;
  /** Sessions behind this one that run side by side (teacher/lanes.ts); absent: one. */
  readonly lanes?: number;
}
/** Creates one session for one provider; injectable so the fallback is testable without a GPU. */
export type SessionFactory = (model: Uint8Array, options: OrtSessionOptions) => Promise<TeacherSession>;

export const ortSessionFactory: SessionFactory = (model, options) => createOrtSession(model, options);

export interface OpenedSession {
  session: TeacherSession;
  provider: Provider;
  /** One line per provider that was tried and did not open, with the reason. */
  notes: string[];
  threads: number;
  /** The WebGPU adapter the session runs on (webgpu provider only; null when it could not be asked). */
  adapter?: GpuAdapter | null;
}

/** Default intra-op threads: every core we may use (recorded, so a run can be reproduced). */
export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function sessionOptions(provider: Provider, threads: number): OrtSessionOptions {
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
 * A look before `auto` tries a provider. For WebGPU it asks what adapter this machine has
 * (util/gpu-adapter.ts: in a child process, so Dawn's Vulkan chatter never reaches our stderr) and
 * rules it out when there is none or when it is a software one (lavapipe/llvmpipe/SwiftShader run
 * 30–70× slower than the CPU provider). Returns the reason to skip, or null to try. Explicit
 * `--device webgpu` always tries, and the adapter it runs on is recorded either way.
 */
export type ProviderPrecheck = (provider: Provider) => string | null;

/** The adapter probe; injectable so tests decide what machine they are on. */
export type AdapterProbe = () => GpuProbe;

function webgpuPrecheck(probe: AdapterProbe): ProviderPrecheck {
  return (provider) => {
    if (provider !== 'webgpu') return null;
    const p = probe();
    if (!p.adapter) return p.reason ?? 'no WebGPU adapter';
    if (p.adapter.software) {
      return `software adapter only: ${describeAdapter(p.adapter)} — slower than the CPU provider; ${optionName('device')} webgpu uses it anyway`;
    }
    return null;
  };
}

export const defaultPrecheck: ProviderPrecheck = webgpuPrecheck(() => probeGpuAdapter());

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
 * Whatever the factory (in process, a worker thread, lanes), the adapter is looked at first, so
 * Dawn's warnings stay out of stderr and `auto` never picks a software adapter; `probe: false` is
 * for a stub factory that stands in for the machine (tests): it then decides alone.
 */
export async function createSession(
  model: Uint8Array,
  opts: { device?: Device; threads?: number; factory?: SessionFactory; precheck?: ProviderPrecheck; adapterProbe?: AdapterProbe; probe?: boolean; what?: string } = {},
): Promise<OpenedSession> {
  const device = opts.device ?? 'auto';
  const row = DEVICE_PROVIDERS[device];
  if (!row) throw new UsageError(`unknown device '${device}' (expected one of ${TEACHER_DEVICES.join(', ')})`);
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`threads must be a positive integer, got ${threads}`);
  const factory = opts.factory ?? ortSessionFactory;
  const probing = opts.probe !== false;
  const probe: AdapterProbe = opts.adapterProbe ?? (probing ? () => probeGpuAdapter() : () => ({ adapter: null, reason: 'not probed (probe: false)' }));
  const precheck = opts.precheck ?? (probing ? webgpuPrecheck(probe) : () => null);
  const what = opts.what ?? 'the model';
  const notes: string[] = [];
  if (device === 'webgpu' && probing) {
    // Asked first, in a child: a machine without an adapter gets our reason, not Dawn's warnings.
    const p = probe();
    if (!p.adapter) throw new UsageError(`${optionName('device')} webgpu: the webgpu execution provider is not available: ${p.reason ?? 'no adapter'}`, providerHint('webgpu'));
  }
  for (const provider of row) {
    const skip = row.length > 1 ? precheck(provider) : null;
    if (skip) {
      notes.push(`${provider}: ${skip.startsWith('software adapter') ? 'not used' : 'not available'} (${skip})`);
      continue;
    }
    try {
      const session = await factory(model, sessionOptions(provider, threads));
      if (provider !== 'webgpu') return { session, provider, notes, threads };
      const p = probe();
      if (p.adapter?.software) notes.push(`webgpu: running on a software adapter (${describeAdapter(p.adapter)}): correct but slower than ${optionName('device')} cpu`);
      else if (p.adapter) notes.push(`webgpu: adapter ${describeAdapter(p.adapter)}`);
      return { session, provider, notes, threads, adapter: p.adapter };
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
