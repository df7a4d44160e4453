/**
 * The WebGPU tests' machine: a Vulkan device Dawn accepts. On a machine without a GPU that is Mesa
 * 25's lavapipe, unpacked by scripts/lavapipe.sh into <checkout>/.lavapipe (or $TFKD_LAVAPIPE);
 * its `env` file (VK_DRIVER_FILES, LD_LIBRARY_PATH) is given to the child processes the tests run,
 * since the dynamic linker reads LD_LIBRARY_PATH only when a process starts. A machine whose own
 * environment already names a driver (VK_DRIVER_FILES set, e.g. a GPU machine) is used as it is.
 *
 * Missing pieces skip the test with one line naming them, except under CI=true, where they fail it:
 * CI installs them (.ci/run), so a skip there would be coverage silently lost.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { probeGpuAdapter, type GpuAdapter } from '../../src/util/gpu-adapter.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface WebgpuMachine {
  env: NodeJS.ProcessEnv;
  adapter: GpuAdapter;
}

function lavapipeEnv(): NodeJS.ProcessEnv | string {
  if (process.env.VK_DRIVER_FILES) return { ...process.env };
  const dir = process.env.TFKD_LAVAPIPE ?? path.join(ROOT, '.lavapipe');
  const file = path.join(dir, 'env');
  if (!existsSync(file)) return `no Vulkan driver for WebGPU: run scripts/lavapipe.sh (Mesa 25 lavapipe into ${dir}; .ci/run does)`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[1] === 'LD_LIBRARY_PATH' && process.env.LD_LIBRARY_PATH ? `${m[2]}:${process.env.LD_LIBRARY_PATH}` : m[2];
  }
  return env;
}

/** The machine for the WebGPU tests, or a one-line reason it is missing. `students` also needs tfjs's WebGPU backend. */
function webgpuMachine(opts: { students?: boolean } = {}): WebgpuMachine | string {
  const req = createRequire(import.meta.url);
  for (const pkg of ['webgpu', ...(opts.students ? ['@tensorflow/tfjs-backend-webgpu'] : [])]) {
    try {
      req.resolve(pkg);
    } catch {
      return `npm package ${pkg} is not installed (an optional dependency of tfkd: npm install)`;
    }
  }
  const env = lavapipeEnv();
  if (typeof env === 'string') return env;
  const probe = probeGpuAdapter({ env });
  if (!probe.adapter) return `no WebGPU adapter with ${env.VK_DRIVER_FILES}: ${probe.reason}`;
  return { env, adapter: probe.adapter };
}

/** In a `before`: the machine, or skip (fail under CI=true) with the reason. */
export function needWebgpu(ctx: Mocha.Context, opts: { students?: boolean } = {}): WebgpuMachine {
  const m = webgpuMachine(opts);
  if (typeof m !== 'string') return m;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${m}`);
  console.log(`      skipped: ${m}`);
  ctx.skip();
}
