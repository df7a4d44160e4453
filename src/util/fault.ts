/**
 * Fault-injection points: deterministic crashes for the reliability tests (test/cache/kill.test.ts,
 * `npm run faults`). Inert unless the environment variable `TFKD_FAULT` is set, so production runs
 * pay one environment lookup per point and nothing else.
 *
 *   TFKD_FAULT=<point>:<n>          the first time `<point>` is reached with a counter ≥ n …
 *   TFKD_FAULT_ACTION=kill          … the process SIGKILLs itself (default: same as an external kill -9)
 *   TFKD_FAULT_ACTION=pause         … or writes its pid to TFKD_FAULT_MARKER (if set) and blocks
 *                                   forever (the test kills it, or starts a rival writer meanwhile)
 *   TFKD_FAULT_ACTION=SIGINT        … or sends itself SIGINT (SIGTERM): a real signal, as Ctrl-C or
 *   TFKD_FAULT_ACTION=SIGTERM         `kill` from outside, raised at a known point (test/cli/signals.test.ts)
 *
 * At a synchronous point (faultPoint) the thread cannot serve the event loop, so no JavaScript
 * signal handler can run there: `pause` gives SIGINT and SIGTERM their default action back (the
 * paused process dies of them at once, as it did before the CLI handled signals), and SIGINT /
 * SIGTERM carry on — the CLI's handler runs at the next turn of the event loop, as it would for a
 * signal that arrived during that stretch of synchronous work. At an asynchronous point
 * (faultPointAsync) the process waits with its event loop running: `pause` until a signal (or a
 * kill) from the test ends it, SIGINT / SIGTERM until its own handler does.
 *
 * The points (and their counters) are listed in docs/RELIABILITY.md. A test picks a point and a
 * counter instead of a moment on a clock, so every kill lands exactly where it was meant to, on any
 * machine, however loaded.
 */
import * as fs from 'node:fs';

type FaultAction = 'kill' | 'pause' | 'SIGINT' | 'SIGTERM';

/** Set once a point fired: "the first time" (SIGINT / SIGTERM carry on past it at a synchronous point). */
let fired = false;

/** The action to take at point `name` with counter `n`, or null (not the point, or already fired). */
function reached(name: string, n: number): FaultAction | null {
  const spec = process.env.TFKD_FAULT;
  if (!spec || fired) return null;
  const i = spec.lastIndexOf(':');
  const point = i < 0 ? spec : spec.slice(0, i);
  const at = i < 0 ? 0 : Number(spec.slice(i + 1));
  if (point !== name || !(n >= at)) return null;
  fired = true;
  return (process.env.TFKD_FAULT_ACTION ?? 'kill') as FaultAction;
}

function writeMarker(): void {
  const marker = process.env.TFKD_FAULT_MARKER;
  if (marker) fs.writeFileSync(marker, `${process.pid}\n`);
}

/** Reaches fault point `name` with counter `n` (a row, a shard index, an epoch, a step …). */
export function faultPoint(name: string, n = 0): void {
  const action = reached(name, n);
  if (!action) return;
  if (action === 'SIGINT' || action === 'SIGTERM') {
    process.kill(process.pid, action);
    return;
  }
  if (action === 'pause') {
    // Blocked here, the process could never run a signal listener: the default action it is.
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    writeMarker();
    // Block the thread (no timers, no I/O): the process stays exactly here until it is killed.
    const cell = new Int32Array(new SharedArrayBuffer(4));
    for (;;) Atomics.wait(cell, 0, 0);
  }
  process.kill(process.pid, 'SIGKILL');
}

/**
 * A fault point in asynchronous code (between awaits): like faultPoint, but `pause` and the signal
 * actions wait with the event loop running (a timer keeps the process alive), so a signal's handler
 * runs right there — e.g. `export-tmp`, the exported model's temp file complete and not renamed.
 */
export async function faultPointAsync(name: string, n = 0): Promise<void> {
  const action = reached(name, n);
  if (!action) return;
  if (action === 'pause') writeMarker();
  else process.kill(process.pid, action === 'kill' ? 'SIGKILL' : action);
  await new Promise<never>(() => setInterval(() => undefined, 2 ** 30));
}
