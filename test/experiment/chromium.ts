/**
 * Debian's `chromium`, headless, for the report tests: finding it, and one run of it over a page
 * (its stdout; a non-zero exit throws with the end of its stderr).
 */
import { spawnSync } from 'node:child_process';
import { needs } from '../helpers/needs.js';

function findChromium(): string | null {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/** The browser, else the test skips naming the package (fails under CI=true: test/helpers/needs.ts). */
export function chromiumOrSkip(ctx: Mocha.Context): string {
  const bin = findChromium();
  if (bin) return bin;
  needs(ctx, 'chromium');
  throw new Error('chromium is installed but not on PATH as chromium, chromium-browser or google-chrome');
}

const BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars', '--no-first-run', '--disable-extensions', '--disable-background-networking', '--user-data-dir='];

export function chromium(bin: string, profile: string, args: string[]): string {
  const flags = BASE_FLAGS.map((f) => (f === '--user-data-dir=' ? `${f}${profile}` : f));
  const r = spawnSync(bin, [...flags, ...args], { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`chromium ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}
