/**
 * Does what a command printed match what a transcript shows? Line by line, exactly, except:
 * - a line that is only `…` matches any number of lines (none included);
 * - runs of blanks count as one blank (columns are padded to the widest value of the run);
 * - the fields that change from run to run or machine to machine match any value of their shape:
 *   durations (`7.0 s`, `3.6s`), rates (`22862 rows/s`, `img/s`), temporary directories
 *   (`/tmp/tfkd-repro-DZAm7h`), and the reason in parentheses after `X: not available` /
 *   `X: not used` (what an execution provider or backend lacks on this machine).
 * Everything else — accuracies, losses, hashes, counts, messages — must be what the transcript says.
 */

export type MatchResult = { ok: true } | { ok: false; detail: string };

const ELLIPSIS = '…';

// In priority order; the groups name what each matches in the transcript's line.
const VOLATILE = new RegExp(
  [
    String.raw`(?<reason>: not (?:available|used) \().*\)$`,
    String.raw`(?<tmp>\/tmp\/)(?<tmpname>tfkd-[a-z]+-)[A-Za-z0-9]+`,
    String.raw`(?<rate>\d+(?:\.\d+)? (?:rows|img)\/s)`,
    String.raw`(?<dur>\b\d+(?:\.\d+)? ?s\b)`,
  ].join('|'),
  'g',
);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const squash = (s: string) => s.trimEnd().replace(/\s+/g, ' ');

/** The regular expression one shown line stands for (against a squashed printed line). */
function lineRegex(shown: string): RegExp {
  const line = squash(shown);
  let src = '';
  let at = 0;
  for (const m of line.matchAll(VOLATILE)) {
    src += escape(line.slice(at, m.index));
    const g = m.groups!;
    if (g.reason !== undefined) src += String.raw`: not (?:available|used) \(.*\)`;
    else if (g.tmp !== undefined) src += String.raw`\S*\/${escape(g.tmpname)}[A-Za-z0-9_-]+`;
    else if (g.rate !== undefined) src += String.raw`\d+(?:\.\d+)? ${g.rate.endsWith('rows/s') ? 'rows' : 'img'}\/s`;
    else src += String.raw`\d+(?:\.\d+)? ?s\b`;
    at = m.index + m[0].length;
  }
  return new RegExp(`^${src}${escape(line.slice(at))}$`);
}

/** Whether one printed line is what one shown line says. */
export function lineMatches(shown: string, printed: string): boolean {
  return lineRegex(shown).test(squash(printed));
}

/** Matches `actual` (lines printed) against `expected` (lines shown, `…` lines included). */
export function matchOutput(expected: readonly string[], actual: readonly string[]): MatchResult {
  const res = expected.map((l) => (l.trim() === ELLIPSIS ? null : lineRegex(l)));
  const act = actual.map(squash);
  const failed = new Set<string>();
  // The furthest shown line reached, and the printed line it was held against, for the report.
  let best = { e: -1, a: 0 };
  const go = (e: number, a: number): boolean => {
    if (e > best.e) best = { e, a };
    if (e === res.length) return a === act.length;
    const key = `${e},${a}`;
    if (failed.has(key)) return false;
    const re = res[e];
    const ok = re === null ? go(e + 1, a) || (a < act.length && go(e, a + 1)) : a < act.length && re.test(act[a]) && go(e + 1, a + 1);
    if (!ok) failed.add(key);
    return ok;
  };
  if (go(0, 0)) return { ok: true };
  const shown = best.e < expected.length ? expected[best.e] : '(end of the transcript)';
  const got = best.a < actual.length ? actual[best.a] : '(end of the output)';
  return { ok: false, detail: `shown:   ${shown}\nprinted: ${got}` };
}
