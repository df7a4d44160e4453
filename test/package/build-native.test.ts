/**
 * scripts/build-native.mjs (the package's install script) builds only when an input changed, and
 * puts a build in place by renaming whole files: npm runs it again each time it installs the
 * checkout as a package (the first `npx tfkd` in a checkout does), and a rebuild there used to
 * delete native/build under tfkd processes starting from the same checkout. Run on a copy of the
 * script and native/, so the checkout's own build is never touched.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needs } from '../helpers/needs.js';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('scripts/build-native.mjs: builds when an input changed, else touches nothing', function () {
  this.timeout(600_000);
  let root: string;
  const addon = () => join(root, 'native', 'build', 'Release', 'tfkd_native.node');
  const key = () => (JSON.parse(readFileSync(join(root, 'native', 'build', 'build.json'), 'utf8')) as { key: string }).key;
  const build = () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { encoding: 'utf8', env: { ...process.env, TFKD_NATIVE: '1' } });
    expect(r.status, r.stderr).to.equal(0);
    return r.stdout;
  };

  before(function () {
    needs(this, 'libopenblas-dev', 'libopenblas0-pthread', 'g++', 'make', 'python3');
    root = mkdtempSync(join(tmpdir(), 'tfkd-build-native-'));
    mkdirSync(join(root, 'scripts'));
    cpSync(join(ROOT, 'scripts', 'build-native.mjs'), join(root, 'scripts', 'build-native.mjs'));
    cpSync(join(ROOT, 'native', 'binding.gyp'), join(root, 'native', 'binding.gyp'));
    cpSync(join(ROOT, 'native', 'src'), join(root, 'native', 'src'), { recursive: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('builds on the first run; the second says up to date and leaves the add-ons as they are', () => {
    expect(build()).to.match(/native BLAS kernels built/);
    expect(existsSync(join(root, 'native', '.staging')), 'staging left behind').to.equal(false);
    const before = statSync(addon());
    const again = build();
    expect(again).to.match(/native add-ons up to date/);
    expect(again).to.not.match(/^tfkd: native BLAS kernels built/m);
    const after = statSync(addon());
    expect([after.ino, after.mtimeMs]).to.deep.equal([before.ino, before.mtimeMs]);
  });

  it('rebuilds when a source changes, and the new add-on arrives as a new file (a rename), under a new key', () => {
    const before = { ino: statSync(addon()).ino, key: key() };
    appendFileSync(join(root, 'native', 'src', 'args.cc'), '\n// a change\n');
    expect(build()).to.match(/^tfkd: native BLAS kernels built/m);
    expect(statSync(addon()).ino).to.not.equal(before.ino);
    expect(key()).to.not.equal(before.key);
    expect(build()).to.match(/native add-ons up to date/);
  });
});
