import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { atLeast, formatDoctor, type DoctorLine } from '../../src/doctor/doctor.js';
import { cli } from '../cli/train-helpers.js';

describe('doctor: what this machine has for tfkd', function () {
  this.timeout(180000);

  it('version comparison is numeric per component', () => {
    expect(atLeast('v20.19.0', '20.19')).to.equal(true);
    expect(atLeast('20.20.2', '20.19')).to.equal(true);
    expect(atLeast('20.9.0', '20.19')).to.equal(false);
    expect(atLeast('11.0.0', '11')).to.equal(true);
    expect(atLeast('10.9.2', '11')).to.equal(false);
  });

  it('one line per item, the fix on the same line; a missing required item says tfkd cannot run', () => {
    const lines: DoctorLine[] = [
      { item: 'Node', ok: true, required: true, status: 'v20.20.2' },
      { item: 'Fashion-MNIST', ok: false, required: false, status: 'not there', fix: 'apt-get install -y dataset-fashion-mnist' },
    ];
    const text = formatDoctor(lines);
    expect(text.trimEnd().split('\n')).to.deep.equal([
      'ok      Node           v20.20.2',
      'absent  Fashion-MNIST  not there → fix: apt-get install -y dataset-fashion-mnist',
      `tfkd runs here (${availableParallelism()} core${availableParallelism() === 1 ? '' : 's'}); the absent items are optional`,
    ]);
    expect(formatDoctor([{ item: 'npm', ok: false, required: true, status: 'not found', fix: 'npm install -g npm@11' }])).to.equal(
      'MISSING npm  not found → fix: npm install -g npm@11\ntfkd cannot run here: npm\n',
    );
  });

  it('tfkd doctor --json: every item, in order; each one not ok has a fix; exit 0 here', async () => {
    const r = await cli('doctor', '--json');
    expect(r.code, r.err).to.equal(0);
    const j = JSON.parse(r.out) as { ok: boolean; lines: DoctorLine[] };
    expect(j.ok).to.equal(true);
    expect(j.lines.map((l) => l.item)).to.include.members(['Node', 'npm', 'native add-on', 'onnxruntime cpu', 'onnxruntime cuda', 'onnxruntime webgpu', 'tfjs backend', 'Fashion-MNIST', 'Python (reference scripts)', 'Chromium']);
    for (const l of j.lines) if (!l.ok) expect(l.fix, l.item).to.be.a('string').and.not.equal('');
    expect(j.lines.find((l) => l.item === 'onnxruntime cpu')).to.include({ ok: true, required: true });
    expect(j.lines.find((l) => l.item === 'Node')!.status).to.include(process.version);
  });
});
