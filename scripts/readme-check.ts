/**
 * Runs every transcript a Markdown file shows (README.md by default) and checks that each command
 * still prints what is shown (scripts/readme/match.ts says what may differ: timings, rates,
 * temporary names, why a GPU provider is unavailable here). The commands run in document order in
 * a scratch copy of the checkout (every top-level entry linked, except the outputs they write), so
 * they start from nothing, as on a fresh clone, and nothing in the checkout is touched.
 *
 *   npm run readme-check [-- FILE... --list --keep --from LINE]
 *
 * Accuracies and losses must match exactly: on the machine the transcripts were recorded on (same
 * CPU kernels) tfkd's runs are bit-for-bit deterministic. On another machine OpenBLAS/oneDNN may
 * pick other kernels and the last digits can differ — which is why this is a script to run before
 * changing the README or the code it shows, and not a test in CI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { matchOutput } from './readme/match.js';
import { parseTranscripts, type Transcript } from './readme/transcripts.js';

const ROOT = resolve(import.meta.dirname, '..');
// What the transcripts write (and local leftovers): not linked, so each run starts without them.
const NOT_LINKED = new Set(['out', 'demo-out', '.gpu-bundle', '.gpu-check']);
const TIMEOUT_MS = 20 * 60 * 1000;

function sandbox(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfkd-readme-'));
  for (const name of readdirSync(ROOT)) if (!NOT_LINKED.has(name)) symlinkSync(join(ROOT, name), join(dir, name));
  return dir;
}

/** What the command printed, stdout and stderr in order, as a terminal would show it. */
function run(command: string, cwd: string): { status: number | null; lines: string[] } {
  const r = spawnSync('bash', ['-c', `exec 2>&1\n${command}`], { cwd, encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 64 << 20 });
  const lines = (r.stdout ?? '')
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    .split('\n')
    // Progress: a JSON line every few seconds off a terminal, a bar erased when done on one.
    .filter((l) => !l.startsWith('{"event":'))
    // The links resolve to the checkout: a path through them prints as it would from the checkout.
    .map((l) => l.replaceAll(`${ROOT}/`, ''));
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  return { status: r.status, lines };
}

/** A transcript that shows an error line expects a failing exit; any other, success. */
const expectsFailure = (t: Transcript) => t.expected.some((l) => l.startsWith('tfkd: '));

function check(file: string, t: Transcript, cwd: string): boolean {
  const t0 = performance.now();
  const r = run(t.command, cwd);
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  const exitOk = expectsFailure(t) ? r.status !== 0 && r.status !== null : r.status === 0;
  const m = matchOutput(t.expected, r.lines);
  const ok = exitOk && m.ok;
  console.log(`[${ok ? 'ok' : 'FAIL'}] ${file}:${t.line} (${s} s) $ ${t.command}`);
  if (!exitOk) console.log(`  exit ${r.status}, expected ${expectsFailure(t) ? 'a failure' : '0'}`);
  if (!m.ok) console.log(m.detail.replace(/^/gm, '  '));
  if (!ok) console.log(`  --- printed (${r.lines.length} lines) ---\n${r.lines.slice(0, 60).map((l) => `  | ${l}`).join('\n')}`);
  return ok;
}

function main(argv: string[]): number {
  const files = argv.filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  const fromAt = argv.indexOf('--from');
  const from = fromAt >= 0 ? Number(argv[fromAt + 1]) : 0;
  let failed = 0;
  let total = 0;
  for (const file of files.length ? files : ['README.md']) {
    const transcripts = parseTranscripts(readFileSync(join(ROOT, file), 'utf8'));
    if (argv.includes('--list')) {
      for (const t of transcripts) console.log(`${file}:${t.line}  $ ${t.command}  (${t.expected.length} lines shown)`);
      continue;
    }
    const dir = sandbox();
    console.log(`${file}: ${transcripts.length} transcripts, run in ${dir}`);
    for (const t of transcripts) {
      // --from LINE skips the checks before it (their commands still run: later ones need their output).
      if (t.line < from) run(t.command, dir);
      else {
        total++;
        if (!check(file, t, dir)) failed++;
      }
    }
    if (argv.includes('--keep')) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  if (argv.includes('--list')) return 0;
  console.log(`${total} transcripts: ${total - failed} as shown, ${failed} not`);
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
