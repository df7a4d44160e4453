/**
 * Tests that need an apt package (src/doctor/packages.ts): `needs(this, 'python3-pil')` in a
 * `before` or an `it`. When the machine lacks it, the test (or suite) skips with one line naming
 * the package and the command that installs it — a fresh clone's `npm test` never fails for a
 * missing package. Under CI=true nothing may skip for a missing package (coverage must not shrink
 * silently): the test fails instead, naming the package. `.ci/run` installs them all (npm run setup).
 */
import { aptInstallLine, missingPackages } from '../../src/doctor/packages.js';

const told = new Set<string>();

/** Skips (or under CI=true fails) the current test or suite unless every package of `names` is present. */
export function needs(ctx: Mocha.Context, ...names: string[]): void {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  const line = aptInstallLine(missing);
  if (process.env.CI === 'true') throw new Error(`CI=true: this test needs ${missing.join(', ')}, which this machine lacks (${line}; .ci/run does it through npm run setup)`);
  const key = missing.join(' ');
  // One line per missing set and run: a suite of skipped tests names its package once.
  if (!told.has(key)) {
    told.add(key);
    console.log(`      skipped: needs ${missing.join(', ')} (${line}, or npm run setup as root)`);
  }
  ctx.skip();
}

/**
 * For a test that runs either way but checks less without the packages (a fallback): under
 * CI=true their absence fails it; elsewhere this says whether they are here.
 */
export function hasOrCi(...names: string[]): boolean {
  const missing = missingPackages(names);
  if (missing.length && process.env.CI === 'true') throw new Error(`CI=true: this test needs ${missing.join(', ')}, which this machine lacks (${aptInstallLine(missing)})`);
  return missing.length === 0;
}

/**
 * Tests of the native add-on (OpenBLAS/oneDNN kernels): skip when it is off on purpose
 * (TFKD_NATIVE=0) or its packages are missing (naming them; under CI=true, fail); with the
 * packages present but the add-on not built, skip saying how to build it (under CI, fail).
 */
export function needsNativeAddon(ctx: Mocha.Context, st: { addon: unknown; why: string }): void {
  if (st.addon) return;
  if (process.env.TFKD_NATIVE === '0') {
    console.log(`      skipped: ${st.why}`);
    ctx.skip();
  }
  needs(ctx, 'libopenblas-dev', 'libopenblas0-pthread', 'g++', 'make', 'python3');
  if (process.env.CI === 'true') throw new Error(`CI=true: ${st.why}`);
  const line = `${st.why}; build it: node scripts/build-native.mjs`;
  if (!told.has(line)) {
    told.add(line);
    console.log(`      skipped: ${line}`);
  }
  ctx.skip();
}
