/**
 * index.html in a real browser: Debian's `chromium`, headless. The page of a protocol experiment
 * (fake runner: sweeps, De-KD teachers, a fidelity teacher, three seeds) is opened from disk; the
 * rendered DOM must hold every method's table row, the three inline plots laid out at a real size,
 * the sweeps and the runs; the screenshot must not be blank. Skipped, saying so, only when chromium is not installed
 * (`apt-get install chromium`; .ci/run installs it).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { parseDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { inlineSvg } from '../../src/experiment/html.js';
import { expandDesign } from '../../src/experiment/plan.js';
import { writeReport } from '../../src/experiment/report.js';
import { type Report } from '../../src/experiment/report-types.js';
import { chromium, chromiumOrSkip } from './chromium.js';
import { FakeRunner } from './fake-runner.js';
import { tmpDir, writeIdxDataset } from './helpers.js';

describe('index.html: one self-contained page, rendered by headless chromium', function () {
  this.timeout(240_000);
  let dir: string;
  let rep: Report;
  let html: string;
  let page: string;
  before(async () => {
    dir = tmpDir('html');
    const src = path.join(dir, 'src');
    writeIdxDataset(src, { train: 120, test: 30 });
    const design = parseDesign(
      `name: html check
data: fashion-mnist:${src}
model: mlp
seeds: [1, 2, 3]
train: { epochs: 4 }
validation: { fraction: 0.25, seed: 2 }
fidelity_teacher: big
teachers:
  big: { model: cnn, seed: 7, save_at: [step-1, step-2, step-4, step-8] }
runs:
  - { name: baseline, kind: baseline }
  - { name: lsr, kind: lsr, sweep: { epsilon: [0.05, 0.2] } }
  - { name: kd, kind: kd, teacher: big, sweep: { alpha: [0.3, 0.7], temperature: [4] } }
  - { name: de-kd, kind: de-kd, teacher: big, target_accuracies: [0.15, 0.5], sweep_from: kd }
  - { name: reg, kind: tfkd-reg }
`,
      'x.yaml',
    );
    const exp = path.join(dir, 'exp');
    await executePlan(expandDesign({ file: 'x.yaml', dir, design }), { outDir: exp, runner: new FakeRunner() });
    rep = await writeReport([exp], path.join(exp, 'report'), { title: 'html check <&>' });
    page = path.join(exp, 'report', 'index.html');
    html = fs.readFileSync(page, 'utf8');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is self-contained: no script, no stylesheet, image, font or frame to fetch; every plot inline; text escaped', () => {
    expect(rep.html).to.equal('index.html');
    expect(html).to.not.match(/<script|<link|<img|<iframe|@import|@font-face/i);
    expect(html).to.not.match(/\b(src|href)\s*=\s*["']?(https?:|\/\/|file:)/i);
    expect(html).to.not.match(/url\(\s*["']?(https?:|\/\/)/i);
    expect(html.match(/<svg/g)).to.have.length(3);
    expect(html).to.include('<title>html check &lt;&amp;&gt;</title>');
    // ids of the three inline plots cannot collide
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).to.equal(ids.length);
    expect(inlineSvg('<svg><clipPath id="clip1"/><g clip-path="url(#clip1)"/></svg>', 'p')).to.equal('<svg><clipPath id="p-clip1"/><g clip-path="url(#p-clip1)"/></svg>');
  });

  it('headless chromium: the rendered DOM has every table row, the three plots at a real size, the sweeps and the runs; the screenshot is not blank', async function () {
    const bin = chromiumOrSkip(this);
    const profile = path.join(dir, 'profile');
    // 1. The page as chromium parses it.
    const dom = chromium(bin, profile, ['--dump-dom', `file://${page}`]);
    const rows = [...dom.matchAll(/<tr class="method [a-z]+" data-method="([^"]+)"/g)].map((m) => m[1]);
    expect(rows).to.deep.equal(rep.methods.map((m) => m.method));
    expect(rows).to.include.members(['baseline', 'lsr', 'kd', 'de-kd @acc-0.15', 'de-kd @acc-0.50', 'reg']);
    expect(dom).to.match(/<figure id="plot-curves"><svg/);
    expect(dom).to.match(/<figure id="plot-de-kd"><svg/);
    expect(dom).to.match(/<figure id="plot-fidelity"><svg/);
    expect(dom).to.include('Fidelity to the teacher vs epoch');
    expect(dom).to.include('<section id="fidelity">');
    expect(dom).to.include('Test accuracy vs epoch');
    expect(dom).to.include('Student accuracy vs teacher accuracy');
    expect(dom).to.include('within noise');

    // 2. Layout, measured by the browser: a copy of the page with a probe that writes what it sees into the DOM.
    const probe = path.join(path.dirname(page), 'probe.html');
    const script = `<script>
const box = (s) => { const e = document.querySelector(s); if (!e) return null; const b = e.getBoundingClientRect(); return { w: Math.round(b.width), h: Math.round(b.height) }; };
document.body.setAttribute('data-probe', JSON.stringify({
  rows: document.querySelectorAll('#results-table tbody tr.method').length,
  table: box('#results-table'), curves: box('#plot-curves svg'), dekd: box('#plot-de-kd svg'), fidelity: box('#plot-fidelity svg'),
  fidelityMarks: document.querySelectorAll('#plot-fidelity svg path').length,
  fidelityRows: document.querySelectorAll('#fidelity-table tbody tr').length,
  curveMarks: document.querySelectorAll('#plot-curves svg path').length,
  dekdMarks: document.querySelectorAll('#plot-de-kd svg path').length,
  sweeps: document.querySelectorAll('#protocol .sweep').length, chosen: document.querySelectorAll('#protocol tr.chosen').length,
  runs: document.querySelectorAll('#runs details.run').length,
}));
</script>`;
    fs.writeFileSync(probe, html.replace('</body>', `${script}</body>`));
    const probed = chromium(bin, profile, ['--dump-dom', `file://${probe}`]);
    const m = /data-probe="([^"]*)"/.exec(probed);
    expect(m, 'the probe ran').to.not.equal(null);
    const seen = JSON.parse(m![1].replace(/&quot;/g, '"'));
    expect(seen.rows).to.equal(rep.methods.length);
    expect(seen.table.w).to.be.greaterThan(600);
    for (const k of ['curves', 'dekd', 'fidelity']) {
      expect(seen[k].w, k).to.be.greaterThan(300);
      expect(seen[k].h, k).to.be.greaterThan(200);
    }
    expect(seen.curveMarks).to.be.greaterThan(5);
    expect(seen.dekdMarks).to.be.greaterThan(5);
    expect(seen.fidelityMarks).to.be.greaterThan(5);
    expect(seen.fidelityRows).to.equal(rep.methods.length);
    expect(seen.sweeps).to.equal(2); // lsr, kd (de-kd takes kd's choice)
    expect(seen.chosen).to.equal(2);
    expect(seen.runs).to.equal(rep.runs.length);

    // 3. The screenshot: decoded, it must vary (text, rules, plot lines) and hold colour (the plots' lines).
    const shot = path.join(dir, 'shot.png');
    chromium(bin, profile, ['--window-size=1280,3200', `--screenshot=${shot}`, `file://${page}`]);
    const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).to.deep.equal([1280, 3200]);
    let sum = 0;
    let sq = 0;
    let coloured = 0;
    let ink = 0;
    const n = info.width * info.height;
    for (let i = 0; i < n; i++) {
      const r = data[3 * i];
      const g = data[3 * i + 1];
      const b = data[3 * i + 2];
      const y = 0.299 * r + 0.587 * g + 0.114 * b;
      sum += y;
      sq += y * y;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
      if (y < 128) ink++;
    }
    const std = Math.sqrt(sq / n - (sum / n) ** 2);
    console.log(`      screenshot: luminance std ${std.toFixed(1)}, dark pixels ${(100 * ink / n).toFixed(2)} %, coloured pixels ${coloured}`);
    expect(std, 'not a blank page').to.be.greaterThan(10);
    expect(ink / n, 'text and lines were drawn').to.be.greaterThan(0.005);
    expect(coloured, 'coloured plot marks were drawn').to.be.greaterThan(2000);
  });
});
