import { expect } from 'chai';
import { createProgress, formatDuration } from '../../src/cli/progress.js';

describe('cli/progress (used by precompute)', () => {
  const sink = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, columns: 100, write: (s: string) => out.push(s) } };
  };
  it('non-TTY: JSON lines at most every interval, with rate and ETA, and a final line', () => {
    let t = 0;
    const { out, stream } = sink(false);
    const p = createProgress({ label: 'precompute', total: 1000, stream, intervalMs: 1000, now: () => t });
    p.update(100); // first update (a resumed run may start above 0)
    t = 500;
    p.update(200); // within the interval: silent
    t = 2000;
    p.update(500);
    t = 3000;
    p.finish({ rows_per_s: 133 });
    const lines = out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).to.deep.equal(['progress', 'progress', 'done']);
    expect(lines[1]).to.include({ done: 500, total: 1000, rate: 200, eta_s: 3, elapsed_s: 2 });
    expect(lines[2]).to.include({ event: 'done', rows_per_s: 133 });
  });
  it('TTY: one redrawn bar line with percentage, rate and ETA', () => {
    let t = 0;
    const { out, stream } = sink(true);
    const p = createProgress({ label: 'x', total: 200, stream, now: () => t });
    p.update(0);
    t = 1000;
    p.update(50);
    expect(out[1]).to.match(/^\rx .* 25\.0% 50\/200 rows 50 rows\/s ETA 00:03/);
    p.finish();
    expect(out[2].endsWith('\n')).to.equal(true);
  });
  it('formats durations', () => {
    expect(formatDuration(0)).to.equal('00:00');
    expect(formatDuration(3725)).to.equal('1:02:05');
    expect(formatDuration(Infinity)).to.equal('--:--');
  });
});
