/** `tfkd bench train --profile`: where one training step's time goes, kernel by kernel. */
import { tf } from '../student/tf.js';

export interface KernelTime {
  name: string;
  /** Process CPU time (all threads) inside the kernel. */
  ms: number;
  /** Wall time inside the kernel: what a multi-threaded kernel costs the step on an idle machine. */
  wall_ms: number;
  calls: number;
}

/**
 * CPU and wall time per kernel over one call of `fn`: every kernel of `backendName` is wrapped (and
 * restored afterwards) with process.cpuUsage and hrtime, counting only outermost kernels (tfkd's
 * composite kernels call others). CPU time stays comparable on a loaded machine and, for a
 * one-thread kernel, equals idle-machine wall time; wall time is what a multi-threaded (native)
 * kernel costs the step on an idle machine (its CPU time also counts BLAS threads spinning).
 */
export function profileKernels(backendName: string, fn: () => void): { total_ms: number; total_wall_ms: number; kernels: KernelTime[] } {
  const configs = tf.getKernelsForBackend(backendName);
  const by = new Map<string, KernelTime>();
  let depth = 0;
  const wrap = (c: tf.KernelConfig): tf.KernelConfig => ({
    ...c,
    kernelFunc: (args) => {
      if (depth > 0) return c.kernelFunc(args);
      depth++;
      const t0 = process.cpuUsage();
      const w0 = process.hrtime.bigint();
      try {
        return c.kernelFunc(args);
      } finally {
        const d = process.cpuUsage(t0);
        const wall = Number(process.hrtime.bigint() - w0) / 1e6;
        depth--;
        const e = by.get(c.kernelName) ?? { name: c.kernelName, ms: 0, wall_ms: 0, calls: 0 };
        e.ms += (d.user + d.system) / 1000;
        e.wall_ms += wall;
        e.calls += 1;
        by.set(c.kernelName, e);
      }
    },
  });
  const swap = (list: tf.KernelConfig[]) => {
    for (const c of list) {
      tf.unregisterKernel(c.kernelName, backendName);
      tf.registerKernel(c);
    }
  };
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  swap(configs.map(wrap));
  try {
    fn();
  } finally {
    swap(configs);
  }
  const all = process.cpuUsage(c0);
  const totalWall = Number(process.hrtime.bigint() - w0) / 1e6;
  const kernels = [...by.values()].sort((a, b) => b.wall_ms - a.wall_ms);
  const inKernels = kernels.reduce((a, k) => a + k.ms, 0);
  const inKernelsWall = kernels.reduce((a, k) => a + k.wall_ms, 0);
  kernels.push({ name: '(outside kernels: tape, optimizer, JS)', ms: (all.user + all.system) / 1000 - inKernels, wall_ms: totalWall - inKernelsWall, calls: 0 });
  return { total_ms: (all.user + all.system) / 1000, total_wall_ms: totalWall, kernels };
}
