import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APT_PACKAGES, DEBIAN_PYTHON, aptFixLine, aptInstallLine, hasPackage, missingPackages, probe } from '../../src/doctor/packages.js';
import { withTmpDir } from '../helpers/tmp-dir.js';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('doctor/packages: the apt packages tfkd uses, and their probes', () => {
  it('each probe kind answers for what is there and what is not', () => {
    withTmpDir('pkgs', (dir) => {
      const f = join(dir, 'here');
      writeFileSync(f, '');
      expect(probe({ file: [join(dir, 'absent'), f] })).to.equal(true);
      expect(probe({ file: [join(dir, 'absent')] })).to.equal(false);
    });
    expect(probe({ bin: ['node'] })).to.equal(true);
    expect(probe({ bin: ['tfkd-no-such-binary'] })).to.equal(false);
    expect(probe({ python: 'sys' })).to.equal(existsSync(DEBIAN_PYTHON));
    expect(probe({ python: 'tfkd_no_such_module' })).to.equal(false);
  });

  it('names are unique; missingPackages keeps the list order; the install line names them', () => {
    const names = APT_PACKAGES.map((p) => p.name);
    expect(new Set(names).size).to.equal(names.length);
    const missing = missingPackages();
    expect(missing).to.deep.equal(names.filter((n) => !hasPackage(n)));
    expect(aptInstallLine(['a', 'b'])).to.equal('apt-get install -y --no-install-recommends a b');
    expect(() => hasPackage('no-such-package')).to.throw(/not in APT_PACKAGES/);
  });

  it('npm run setup --dry-run says what it would install (or that all are here) and changes nothing', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', join(ROOT, 'scripts/setup.ts'), '--dry-run'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const missing = missingPackages();
    if (missing.length) expect(r.stdout).to.include(`would run:\n  ${aptFixLine(missing)}`);
    else expect(r.stdout).to.match(/^setup: all \d+ packages tfkd's tests use are here/);
  });
});
