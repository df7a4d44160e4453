/**
 * Progress reporting for long loops (precompute, merge, training): on a TTY a one-line bar with
 * rate and ETA, redrawn in place on stderr; otherwise (CI logs, files, pipes) one JSON line every
 * `intervalMs`, plus a final one, so logs stay greppable and machine-readable. A command whose
 * line says something else (training: epoch, loss, img/s) gives its own `format` and keeps the
 * rest: the mode choice, the throttling, the redraw in place.
 */
import type { ProgressMode } from '../catalog.js';

/** What a progress line is drawn from. */
interface ProgressState<I> {
  done: number;
  total: number;
  elapsedS: number;
  /** Units per second since the first update (resumed runs start above 0). */
  rate: number;
  etaS: number;
  /** What the last update carried besides the count (training: epoch, loss, img/s). */
  info: I | undefined;
}

export interface ProgressOptions<I = undefined> {
  label: string;
  total: number;
  /** Unit name for the rate (default 'rows'). */
  unit?: string;
  /** Where to write (default process.stderr). */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** `auto` (the default): bar on a TTY, JSON lines elsewhere; 'off' writes nothing. */
  mode?: ProgressMode;
  /** Minimum time between updates (default 200 ms on a TTY, 10 s for JSON lines); per mode as `{ bar, json }`. */
  intervalMs?: number | { bar?: number; json?: number };
  /** Clock in ms (tests). */
  now?: () => number;
  /** Hold the first JSON line until one interval has passed (a short run prints none). Default: the first update writes one. */
  jsonAfterInterval?: boolean;
  /** In bar mode, redraw whatever the interval when `done` reaches `total` (the bar ends full). */
  barAtTotal?: boolean;
  /**
   * Own line formats: `bar` gives the text of the bar line (written after `\r` and a line clear),
   * `json` the fields of a JSON line. Without them: label, bar, %, counts, rate and ETA.
   */
  format?: { bar(s: ProgressState<I>): string; json(s: ProgressState<I>): Record<string, unknown> };
}

export interface Progress<I = undefined> {
  /** Sets the absolute count done (not an increment), what else the line shows, and the total where it changes. */
  update(done: number, info?: I, total?: number): void;
  /** Final line (always written, whatever the interval). */
  finish(extra?: Record<string, unknown>): void;
  /** Erases the bar line (before other output goes to the terminal); nothing in the other modes. */
  clear(): void;
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

/** `filled` full cells then empty ones, `width` in all. */
export function barCells(filled: number, width: number): string {
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

export function createProgress<I = undefined>(o: ProgressOptions<I>): Progress<I> {
  const stream = o.stream ?? process.stderr;
  const mode = o.mode === undefined || o.mode === 'auto' ? (stream.isTTY ? 'bar' : 'json') : o.mode;
  const now = o.now ?? (() => performance.now());
  const unit = o.unit ?? 'rows';
  const iv = o.intervalMs;
  const interval = typeof iv === 'number' ? iv : mode === 'bar' ? (iv?.bar ?? 200) : (iv?.json ?? 10000);
  const t0 = now();
  let total = o.total;
  let first: number | null = null; // count at the first update (resumed runs start above 0)
  let last = mode === 'json' && o.jsonAfterInterval ? t0 : -Infinity;
  let done = 0;
  let info: I | undefined;

  const state = (): ProgressState<I> => {
    const elapsedS = (now() - t0) / 1000;
    const rate = elapsedS > 0 ? (done - (first ?? 0)) / elapsedS : 0;
    const etaS = rate > 0 ? (total - done) / rate : Infinity;
    return { done, total, elapsedS, rate, etaS, info };
  };
  const draw = (final: boolean, extra?: Record<string, unknown>) => {
    const s = state();
    if (mode === 'json') {
      const fields = o.format
        ? o.format.json(s)
        : { event: final ? 'done' : 'progress', label: o.label, done, total, rate: Math.round(s.rate * 10) / 10, unit, elapsed_s: Math.round(s.elapsedS * 10) / 10, eta_s: Number.isFinite(s.etaS) ? Math.round(s.etaS) : null };
      stream.write(`${JSON.stringify({ ...fields, ...extra })}\n`);
      return;
    }
    if (o.format) {
      stream.write(`\r\x1b[2K${o.format.bar(s)}${final ? '\n' : ''}`);
      return;
    }
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60));
    const bar = barCells(Math.round(frac * width), width);
    const tail = final ? `done in ${formatDuration(s.elapsedS)}` : `ETA ${formatDuration(s.etaS)}`;
    stream.write(`\r${o.label} ${bar} ${(frac * 100).toFixed(1)}% ${done}/${total} ${unit} ${s.rate.toFixed(0)} ${unit}/s ${tail}\x1b[K${final ? '\n' : ''}`);
  };
  return {
    update(d, i, t) {
      done = d;
      info = i;
      if (t !== undefined) total = t;
      if (first === null) first = d;
      if (mode === 'off') return;
      const at = now();
      if (at - last < interval && !(mode === 'bar' && o.barAtTotal && done === total)) return;
      last = at;
      draw(false);
    },
    finish(extra) {
      if (mode !== 'off') draw(true, extra);
    },
    clear() {
      if (mode === 'bar') stream.write('\r\x1b[2K');
    },
  };
}
