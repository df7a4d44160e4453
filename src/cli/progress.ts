/**
 * Progress reporting for long loops (precompute, merge, training): on a TTY a one-line bar with
 * rate and ETA, redrawn in place on stderr; otherwise (CI logs, files, pipes) one JSON line every
 * `intervalMs`, plus a final one, so logs stay greppable and machine-readable.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  /** Unit name for the rate (default 'rows'). */
  unit?: string;
  /** Where to write (default process.stderr). */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Force a mode; default: bar on a TTY, JSON lines elsewhere; 'off' writes nothing. */
  mode?: 'bar' | 'json' | 'off';
  /** Minimum time between updates (default 200 ms on a TTY, 10 s for JSON lines). */
  intervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface Progress {
  /** Sets the absolute count done (not an increment). */
  update(done: number): void;
  /** Final line (always written, whatever the interval). */
  finish(extra?: Record<string, unknown>): void;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function createProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const mode = o.mode ?? (stream.isTTY ? 'bar' : 'json');
  const now = o.now ?? (() => performance.now());
  const unit = o.unit ?? 'rows';
  const interval = o.intervalMs ?? (mode === 'bar' ? 200 : 10000);
  const t0 = now();
  let first: number | null = null; // count at the first update (resumed runs start above 0)
  let last = -Infinity;
  let done = 0;

  const stats = () => {
    const el = (now() - t0) / 1000;
    const rate = el > 0 ? (done - (first ?? 0)) / el : 0;
    const eta = rate > 0 ? (o.total - done) / rate : Infinity;
    return { el, rate, eta };
  };
  const draw = (final: boolean, extra?: Record<string, unknown>) => {
    const { el, rate, eta } = stats();
    if (mode === 'json') {
      stream.write(
        `${JSON.stringify({ event: final ? 'done' : 'progress', label: o.label, done, total: o.total, rate: Math.round(rate * 10) / 10, unit, elapsed_s: Math.round(el * 10) / 10, eta_s: Number.isFinite(eta) ? Math.round(eta) : null, ...extra })}\n`,
      );
      return;
    }
    const frac = o.total > 0 ? Math.min(1, done / o.total) : 1;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60));
    const fill = Math.round(frac * width);
    const bar = `${'█'.repeat(fill)}${'░'.repeat(width - fill)}`;
    const tail = final ? `done in ${formatDuration(el)}` : `ETA ${formatDuration(eta)}`;
    stream.write(`\r${o.label} ${bar} ${(frac * 100).toFixed(1)}% ${done}/${o.total} ${unit} ${rate.toFixed(0)} ${unit}/s ${tail}\x1b[K${final ? '\n' : ''}`);
  };
  return {
    update(d) {
      done = d;
      if (first === null) first = d;
      if (mode === 'off') return;
      const t = now();
      if (t - last < interval) return;
      last = t;
      draw(false);
    },
    finish(extra) {
      if (mode !== 'off') draw(true, extra);
    },
  };
}
