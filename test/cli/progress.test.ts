import { expect } from 'chai';
import { createProgress, formatDuration } from '../../src/cli/progress.js';

describe('cli/progress (used by precompute and train)', () => {
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
  it('a command\'s own format (train): the first JSON line after one interval; the bar redrawn at the total; clear() erases it', () => {
    type Info = { epoch: number; loss: number };
    const make = (isTTY: boolean) => {
      let t = 0;
      const { out, stream } = sink(isTTY);
      const p = createProgress<Info>({
        label: 'train',
        total: 0,
        mode: 'auto',
        stream,
        now: () => t,
        intervalMs: { bar: 100, json: 10000 },
        jsonAfterInterval: true,
        barAtTotal: true,
        format: { bar: (s) => `epoch ${s.info!.epoch} ${s.done}/${s.total}`, json: (s) => ({ epoch: s.info!.epoch, loss: s.info!.loss }) },
      });
      return { out, p, at: (ms: number) => (t = ms) };
    };
    const j = make(false);
    j.p.update(1, { epoch: 1, loss: 2 }, 4); // t = 0: within the first interval, silent
    j.at(10000);
    j.p.update(2, { epoch: 1, loss: 1.5 }, 4);
    j.p.clear(); // nothing outside bar mode
    expect(j.out).to.deep.equal(['{"epoch":1,"loss":1.5}\n']);
    const b = make(true);
    b.p.update(1, { epoch: 1, loss: 2 }, 4); // the first update draws
    b.at(50);
    b.p.update(2, { epoch: 1, loss: 2 }, 4); // within 100 ms: silent
    b.p.update(4, { epoch: 1, loss: 2 }, 4); // the last step always draws
    b.p.clear();
    expect(b.out).to.deep.equal(['\r\x1b[2Kepoch 1 1/4', '\r\x1b[2Kepoch 1 4/4', '\r\x1b[2K']);
  });
  it('formats durations', () => {
    expect(formatDuration(0)).to.equal('00:00');
    expect(formatDuration(3725)).to.equal('1:02:05');
    expect(formatDuration(Infinity)).to.equal('--:--');
  });
});
