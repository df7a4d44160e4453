/**
 * What WebGPU adapter this machine has, asked without a sound: both halves use it (teacher
 * `--device`, student `--backend`) to decide whether WebGPU is worth trying and to record what ran.
 *
 * Dawn (inside onnxruntime-node and inside the `webgpu` package) writes its Vulkan warnings
 * ("vkCreateInstance: Found no drivers!", limit reductions, Mesa's `XDG_RUNTIME_DIR` complaint)
 * straight to file descriptor 2, which JavaScript cannot redirect in-process. So the probe runs in a
 * child process with stderr piped and kept: the user sees one line of ours, never Dawn's.
 *
 * A software adapter (Mesa's lavapipe/llvmpipe, SwiftShader) runs 30–70× slower than the CPU
 * provider (docs/PERFORMANCE.md): `auto` never picks one; an explicit request uses it and says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface GpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of the GPU API (lavapipe, llvmpipe, SwiftShader): correctness only. */
  software: boolean;
  /** 'dawn': asked Dawn (the `webgpu` package) itself; 'icd': inferred from the Vulkan driver manifests. */
  source: 'dawn' | 'icd';
}

export interface GpuProbe {
  adapter: GpuAdapter | null;
  /** Why there is no adapter (null adapter), in a few words. */
  reason?: string;
  /** Dawn's own stderr during the probe, kept for `doctor`-style diagnostics, never printed. */
  log?: string;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|\blvp\b|_lvp|vk_swiftshader/i;

/** One-line description of an adapter, e.g. `nvidia ampere (NVIDIA A100), hardware`. */
export function describeAdapter(a: GpuAdapter): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const detail = a.description || a.device;
  return `${name}${detail ? ` (${detail})` : ''}, ${a.software ? 'software' : 'hardware'}`;
}

interface Icd {
  file: string;
  library: string;
  software: boolean;
}

/** The Vulkan ICD manifests the loader would read (VK_DRIVER_FILES/VK_ICD_FILENAMES override the search). */
export function vulkanIcds(env: NodeJS.ProcessEnv = process.env): Icd[] {
  const explicit = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  const files: string[] = [];
  const addDir = (d: string): void => {
    try {
      for (const f of readdirSync(d).sort()) if (f.endsWith('.json')) files.push(path.join(d, f));
    } catch {
      /* absent directory: nothing there */
    }
  };
  if (explicit) {
    for (const p of explicit.split(path.delimiter).filter(Boolean)) {
      try {
        if (statSync(p).isDirectory()) addDir(p);
        else files.push(p);
      } catch {
        /* a listed file that does not exist: the loader skips it too */
      }
    }
  } else {
    const data = (env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':').filter(Boolean);
    const dirs = [
      ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':').filter(Boolean).map((d) => path.join(d, 'vulkan/icd.d')),
      '/etc/vulkan/icd.d',
      ...(env.HOME ? [path.join(env.HOME, '.local/share/vulkan/icd.d')] : []),
      ...data.map((d) => path.join(d, 'vulkan/icd.d')),
      '/usr/share/vulkan/icd.d',
    ];
    for (const d of [...new Set(dirs)]) addDir(d);
  }
  const out: Icd[] = [];
  for (const file of [...new Set(files)]) {
    try {
      const j = JSON.parse(readFileSync(file, 'utf8')) as { ICD?: { library_path?: string } };
      const library = j.ICD?.library_path ?? '';
      out.push({ file, library, software: SOFTWARE.test(library) || SOFTWARE.test(path.basename(file)) });
    } catch {
      /* unreadable manifest: the loader ignores it as well */
    }
  }
  return out;
}

function hasVulkanLoader(env: NodeJS.ProcessEnv): boolean {
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/lib64',
  ];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')));
}

/** A hardware ICD is only worth trying with its device present (Mesa ships Intel/AMD ICDs everywhere). */
function hasDeviceNode(library: string): boolean {
  if (/nvidia/i.test(library)) return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
  try {
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** Where the `webgpu` package (Dawn for Node, an optional dependency) is, or null when not installed. */
function dawnPackage(): string | null {
  try {
    return createRequire(import.meta.url).resolve('webgpu');
  } catch {
    return null;
  }
}

// Runs in a child: asks Dawn for the adapter tfjs's and onnxruntime's WebGPU would get
// (high-performance) and prints its info as one JSON line.
const CHILD = `
const { create } = await import(process.argv[1]);
const gpu = create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const i = a && a.info;
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, fallback: !!i.isFallbackAdapter } : null) + '\\n');
process.exit(0);
`;

function askDawn(pkg: string, env: NodeJS.ProcessEnv, timeoutMs: number): GpuProbe {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, pathToFileURL(pkg).href], { env, encoding: 'utf8', timeout: timeoutMs });
  const log = (r.stderr ?? '').trim();
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `probe exited with ${r.status ?? r.signal}`;
    return { adapter: null, reason: `Dawn could not be asked (${why})`, log };
  }
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let info: { vendor: string; architecture: string; device: string; description: string; fallback: boolean } | null;
  try {
    info = JSON.parse(line);
  } catch {
    return { adapter: null, reason: `Dawn's answer was not understood: ${line.slice(0, 80)}`, log };
  }
  if (!info) return { adapter: null, reason: 'no WebGPU adapter (Dawn found no usable Vulkan device)', log };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const software = info.fallback || info.architecture === 'software' || SOFTWARE.test(text);
  return { adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software, source: 'dawn' }, log };
}

/**
 * The adapter WebGPU would use here. On Linux, a missing Vulkan loader or driver is answered
 * from the file system alone; otherwise Dawn is asked in a child process (when the `webgpu`
 * package is installed) or the ICD manifests decide hardware vs software. Cached per environment.
 */
export function probeGpuAdapter(opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): GpuProbe {
  const env = opts.env ?? process.env;
  const key = JSON.stringify([env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES, env.LD_LIBRARY_PATH]);
  const hit = cache.get(key);
  if (hit) return hit;
  const r = probeUncached(env, opts.timeoutMs ?? 30_000);
  cache.set(key, r);
  return r;
}
const cache = new Map<string, GpuProbe>();

function probeUncached(env: NodeJS.ProcessEnv, timeoutMs: number): GpuProbe {
  let icds: Icd[] = [];
  if (process.platform === 'linux') {
    if (!hasVulkanLoader(env)) return { adapter: null, reason: 'libvulkan.so.1 not found (WebGPU needs Vulkan on Linux: apt install libvulkan1)' };
    icds = vulkanIcds(env);
    if (!icds.length) return { adapter: null, reason: 'no Vulkan driver (no ICD manifest in /usr/share/vulkan/icd.d or VK_DRIVER_FILES)' };
  }
  const pkg = dawnPackage();
  if (pkg) return askDawn(pkg, env, timeoutMs);
  if (process.platform !== 'linux') return { adapter: { vendor: '', architecture: '', device: '', description: `${os.platform()} default adapter`, software: false, source: 'icd' } };
  // Without Dawn to ask, the drivers decide: any hardware ICD is taken as the adapter Dawn would prefer.
  const hw = icds.find((i) => !i.software && hasDeviceNode(i.library));
  const pick = hw ?? icds[0];
  const lib = path.basename(pick.library);
  return { adapter: { vendor: '', architecture: hw ? '' : 'software', device: lib, description: `Vulkan driver ${lib} (${pick.file})`, software: !hw, source: 'icd' } };
}
