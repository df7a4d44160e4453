/**
 * The committed converged experiment (issue 13): experiments/results/fashion-mnist-converged/ holds
 * the report of `tfkd experiment experiments/fashion-mnist-converged.yaml`. Its index.html opens in
 * headless chromium with the table and both plots; docs/EXPERIMENTS.md quotes its table.md
 * verbatim and its claim lines are the ones scripts/experiment-claims.ts derives from report.json.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { claimsTable } from '../../scripts/experiment-claims.js';
import { chromium, chromiumOrSkip } from './chromium.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS = path.join(ROOT, 'experiments', 'results', 'fashion-mnist-converged');
const DOC = path.join(ROOT, 'docs', 'EXPERIMENTS.md');

function between(doc: string, begin: string, end: string): string {
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end, a);
  if (a < 0 || b < 0) throw new Error(`docs/EXPERIMENTS.md lacks ${begin} … ${end}`);
  return doc.slice(doc.indexOf('\n', a) + 1, b);
}

describe('the committed converged report (experiments/results/fashion-mnist-converged)', function () {
  this.timeout(180_000);
  const report = JSON.parse(fs.readFileSync(path.join(RESULTS, 'report.json'), 'utf8'));
  const doc = fs.readFileSync(DOC, 'utf8');

  it('docs/EXPERIMENTS.md quotes its table.md verbatim and the claim lines derived from its report.json', () => {
    const table = fs.readFileSync(path.join(RESULTS, 'table.md'), 'utf8');
    expect(between(doc, '<!-- converged-table:begin', '<!-- converged-table:end -->')).to.equal(table);
    expect(between(doc, '<!-- claims:begin', '<!-- claims:end -->')).to.equal(claimsTable(report));
  });

  it('is the full design: every method on 3 seeds, test split read once per run, the sweeps chosen on validation', () => {
    expect(report.missing).to.deep.equal([]);
    expect(report.methods.length).to.equal(15);
    for (const m of report.methods) expect(m.n, m.method).to.equal(3);
    for (const r of report.runs) expect(r.split, r.dir).to.equal('test');
    expect(report.protocol?.validation?.fraction).to.equal(0.1);
    expect(report.selections.length).to.be.greaterThan(0);
  });

  it('headless chromium renders its index.html with every table row and both plots; the screenshot is not blank', async function () {
    const bin = chromiumOrSkip(this);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-converged-'));
    try {
      const profile = path.join(tmp, 'profile');
      const page = `file://${path.join(RESULTS, 'index.html')}`;
      const dom = chromium(bin, profile, ['--dump-dom', page]);
      const rows = [...dom.matchAll(/<tr class="method [a-z]+" data-method="([^"]+)"/g)].map((m) => m[1]);
      expect(rows).to.deep.equal(report.methods.map((m: { method: string }) => m.method));
      expect(dom).to.match(/<figure id="plot-curves"><svg/);
      expect(dom).to.match(/<figure id="plot-de-kd"><svg/);
      const shot = path.join(tmp, 'shot.png');
      chromium(bin, profile, ['--window-size=1280,9000', `--screenshot=${shot}`, page]);
      const { data } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let min = 255;
      let coloured = 0;
      for (let i = 0; i < data.length; i += 3) {
        min = Math.min(min, data[i], data[i + 1], data[i + 2]);
        if (Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) coloured++;
      }
      expect(min, 'dark pixels (text)').to.be.lessThan(80);
      expect(coloured, 'coloured pixels (plot lines)').to.be.greaterThan(200);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
