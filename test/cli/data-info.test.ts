import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { withTmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function tfkd(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/tfkd.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('cli/data info', function () {
  this.timeout(60000);

  it('fashion-mnist: 60000 training samples, 10 classes, 28x28x1, 6000 per class, fingerprint', function () {
    needs(this, 'dataset-fashion-mnist');
    const r = tfkd('data', 'info', 'fashion-mnist');
    expect(r.err).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^count\s+60000$/m);
    expect(r.out).to.match(/^classes\s+10$/m);
    expect(r.out).to.match(/^shape\s+28x28x1/m);
    expect(r.out).to.match(/^split\s+train$/m);
    expect(r.out).to.match(/^fingerprint\s+sha256:c2b2624e38a9496ca045144b0ee91e56ab6bf81c2acfb5f319335f360bfcbe87$/m);
    expect(r.out.match(/^\s+\d\s+6000\b/gm)).to.have.length(10);
  });

  it('--split test --json: 10000 samples, 1000 per class', function () {
    needs(this, 'dataset-fashion-mnist');
    const r = tfkd('data', 'info', 'fashion-mnist', '--split', 'test', '--json');
    expect(r.code).to.equal(0);
    const j = JSON.parse(r.out);
    expect(j).to.include({ kind: 'fashion-mnist', split: 'test', count: 10000, classes: 10 });
    expect(j.shape).to.deep.equal({ height: 28, width: 28, channels: 1 });
    expect(j.histogram).to.deep.equal(new Array(10).fill(1000));
    expect(j.fingerprint).to.equal('e29fed2a867c30e66caf6dc651660960468a75135e50e11fbde03fb4e95d200d');
  });

  it('synthetic:100:5:8x8x3 reports 100 samples', () => {
    const r = tfkd('data', 'info', 'synthetic:100:5:8x8x3', '--json');
    expect(r.code).to.equal(0);
    const j = JSON.parse(r.out);
    expect(j).to.include({ spec: 'synthetic:100:5:8x8x3:0', count: 100, classes: 5 });
    expect(j.shape).to.deep.equal({ height: 8, width: 8, channels: 3 });
    expect(j.histogram).to.deep.equal([20, 20, 20, 20, 20]);
    expect(j.fingerprint).to.match(/^[0-9a-f]{64}$/);
  });

  it('EXPECTED FAILURE - nonsense:x exits 2 with one line on stderr', () => {
    const r = tfkd('data', 'info', 'nonsense:x');
    expect(r.code).to.equal(2);
    expect(r.out).to.equal('');
    expect(r.err.trimEnd().split('\n')).to.have.length(1);
    expect(r.err).to.match(/^tfkd: unknown data set kind "nonsense".*fashion-mnist/);
  });

  it('EXPECTED FAILURE - a missing directory exits 2 with one line naming it', () => {
    withTmpDir('cli', (tmp) => {
      const missing = join(tmp, 'no-such-dir');
      // Two kinds here (each spawn costs a Node start); test/data/* check the others in-process.
      for (const kind of ['mnist', 'folder']) {
        const r = tfkd('data', 'info', `${kind}:${missing}`);
        expect(r.code).to.equal(2);
        expect(r.err).to.equal(`tfkd: ${kind} data directory not found: ${missing}\n`);
      }
    });
  });

  it('folder --check: a corrupt image exits 2 naming it; --skip-bad counts and lists it; without --check nothing is decoded', async () => {
    await withTmpDir('cli', async (tmp) => {
      mkdirSync(join(tmp, 'a'));
      mkdirSync(join(tmp, 'b'));
      const img = (v: number) => sharp({ create: { width: 5, height: 4, channels: 3, background: { r: v, g: v, b: 0 } } });
      await img(10).png().toFile(join(tmp, 'a/1.png'));
      await img(200).jpeg().toFile(join(tmp, 'b/1.jpg'));
      writeFileSync(join(tmp, 'b/2.png'), 'garbage');
      const quick = tfkd('data', 'info', `folder:${tmp}`, '--json');
      expect(quick.code).to.equal(0);
      expect(JSON.parse(quick.out)).to.include({ count: 3, classes: 2, variableSize: true });
      const bad = tfkd('data', 'info', `folder:${tmp}`, '--check');
      expect(bad.code).to.equal(2);
      expect(bad.err.split('\n')[0]).to.match(new RegExp(`^tfkd: ${join(tmp, 'b/2.png')}: `));
      const ok = tfkd('data', 'info', `folder:${tmp}`, '--check', '--skip-bad', '--json');
      expect(ok.code).to.equal(0);
      const j = JSON.parse(ok.out);
      expect(j).to.include({ count: 3, classes: 2 });
      expect(j.shape).to.deep.equal({ height: 4, width: 5, channels: 3 });
      expect(j.skipped).to.have.length(1);
      expect(j.skipped[0]).to.match(new RegExp(`^${join(tmp, 'b/2.png')}: `));
      expect(j.classNames).to.deep.equal(['a', 'b']);
    });
  });
});

// `data views --out` made its directory with fs.mkdirSync's recursive mode, which never returns
// below /proc (Node 20), and made it before a bad --size failed, leaving it empty.
describe('cli/data views --out', function () {
  this.timeout(60000);

  it('BAD CALL - an --out that cannot be made (below /proc) is one line, exit 2; a view that cannot be rendered leaves no directory', function () {
    needs(this, 'dataset-fashion-mnist');
    const views = ['data', 'views', '--data', 'fashion-mnist', '--limit', '2', '--views', '2', '--augment', 'rrc,flip'];
    const proc = tfkd(...views, '--size', '28', '--out', '/proc/tfkd-never');
    expect(proc.code, proc.err).to.equal(2);
    expect(proc.err).to.equal('tfkd: --out /proc/tfkd-never is not writable: no directory can be created in /proc (ENOENT)\nhint: choose another directory\n');
    withTmpDir('views-out', (dir) => {
      const out = join(dir, 'a', 'b');
      const r = tfkd(...views, '--size', '0', '--out', out);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.match(/^tfkd: resize: width and height must be integers > 0, got 0x0\n$/);
      expect(existsSync(join(dir, 'a'))).to.equal(false);
    });
  });
});
