/**
 * Fault-injection points: deterministic crashes for the reliability tests (test/cache/kill.test.ts,
 * `npm run faults`). Inert unless the environment variable `TFKD_FAULT` is set, so production runs
 * pay one environment lookup per point and nothing else.
 *
 *   TFKD_FAULT=<point>:<n>          the first time `<point>` is reached with a counter ≥ n …
 *   TFKD_FAULT_ACTION=kill          … the process SIGKILLs itself (default: same as an external kill -9)
 *   TFKD_FAULT_ACTION=pause         … or writes its pid to TFKD_FAULT_MARKER (if set) and blocks
 *                                   forever (the test kills it, or starts a rival writer meanwhile)
 *
 * The points (and their counters) are listed in docs/RELIABILITY.md. A test picks a point and a
 * counter instead of a moment on a clock, so every kill lands exactly where it was meant to, on any
 * machine, however loaded.
 */
import * as fs from 'node:fs';

type FaultAction = 'kill' | 'pause';

/** Reaches fault point `name` with counter `n` (a row, a shard index, an epoch, a step …). */
export function faultPoint(name: string, n = 0): void {
  const spec = process.env.TFKD_FAULT;
  if (!spec) return;
  const i = spec.lastIndexOf(':');
  const point = i < 0 ? spec : spec.slice(0, i);
  const at = i < 0 ? 0 : Number(spec.slice(i + 1));
  if (point !== name || !(n >= at)) return;
  const action = (process.env.TFKD_FAULT_ACTION ?? 'kill') as FaultAction;
  if (action === 'pause') {
    const marker = process.env.TFKD_FAULT_MARKER;
    if (marker) fs.writeFileSync(marker, `${process.pid}\n`);
    // Block the thread (no timers, no I/O): the process stays exactly here until it is killed.
    const cell = new Int32Array(new SharedArrayBuffer(4));
    for (;;) Atomics.wait(cell, 0, 0);
  }
  process.kill(process.pid, 'SIGKILL');
}
