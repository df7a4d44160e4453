/**
 * `npm run setup`: installs the Debian packages tfkd's tests, reference scripts and native kernels
 * use (src/doctor/packages.ts) that this machine lacks — as root, with apt-get; otherwise it prints
 * the exact `apt-get install` line and exits 2. After installing OpenBLAS it builds the native
 * add-on (`npm ci` skipped it without the headers). `--dry-run` only prints what it would do.
 *
 * Without it, `npm test` still passes: a test that needs a missing package skips, naming it
 * (under CI=true it fails instead; .ci/run runs this first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { APT_PACKAGES, aptFixLine, aptInstallLine, forgetProbes, missingPackages } from '../src/doctor/packages.js';

const ROOT = new URL('..', import.meta.url).pathname;
const NATIVE = join(ROOT, 'native/build/Release/tfkd_native.node');

function run(cmd: string, args: string[]): number {
  console.log(`setup: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error) console.error(`setup: ${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

function main(): number {
  const dry = process.argv.includes('--dry-run');
  const missing = missingPackages();
  if (missing.length === 0) {
    console.log(`setup: all ${APT_PACKAGES.length} packages tfkd's tests use are here (${APT_PACKAGES.map((p) => p.name).join(', ')})`);
  } else {
    const line = aptInstallLine(missing);
    const root = process.getuid?.() === 0;
    if (!root || dry) {
      console.log(`setup: ${missing.length} of ${APT_PACKAGES.length} packages are missing; ${dry ? 'would run' : 'as root, run'}:`);
      console.log(`  ${aptFixLine(missing)}`);
      if (!dry) return 2;
    } else {
      if (run('apt-get', ['update', '-qq']) !== 0) return 1;
      if (run('apt-get', line.split(' ').slice(1)) !== 0) return 1;
      forgetProbes(); // the probes above saw the machine before the install
    }
  }
  // The add-on is built at `npm ci` time only when OpenBLAS is already installed.
  if (!existsSync(NATIVE) && existsSync(join(ROOT, 'node_modules')) && missingPackages(['libopenblas-dev']).length === 0 && !dry) {
    if (run(process.execPath, [join(ROOT, 'scripts/build-native.mjs')]) !== 0) return 1;
  }
  return 0;
}

process.exitCode = main();
