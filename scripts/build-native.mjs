#!/usr/bin/env node
/**
 * Builds tfkd's optional native add-ons with node-gyp: tfkd_image.node (Pillow's resampling passes
 * with AVX2, native/src/resample.cc; needs only a C++ compiler; with the headers of libjpeg-turbo,
 * libpng and libwebp it decodes JPEG, PNG and WebP too, each left out when its header is missing or
 * TFKD_JPEG / TFKD_PNG / TFKD_WEBP=0) always, and tfkd_native.node
 * (the training kernels) when OpenBLAS's CBLAS header and library are on the machine (Debian/Ubuntu:
 * `apt-get install libopenblas-dev`); when oneDNN is there too (`apt-get install libdnnl-dev`)
 * the convolutions run on it (native/src/dnnl_conv.cc), and if that build fails it is retried
 * without oneDNN. Meant as the package's install script, so it NEVER fails the install: when the
 * header/library, Node's headers or node-gyp are missing, or the build fails, it prints one line
 * and exits 0 — tfkd then runs its wasm kernels (see src/student/kernels/native.ts).
 *
 * It builds only when something that goes into the add-ons changed: their sources, this script,
 * Node's ABI, the libraries found and the TFKD_* switches (the key in native/build/build.json);
 * else it says "up to date" and touches nothing. npm runs this script again whenever it installs
 * the checkout as a package — e.g. the first `npx tfkd` in a checkout, which installs the local
 * package into npx's cache — so a rebuild there would cost a minute and replace the add-on under
 * tfkd processes already starting from the same checkout. A build runs in native/.staging and
 * only a loadable result is renamed into native/build/Release, so a process that loads the add-on
 * meanwhile gets the old file or the new one, never a half-written one.
 *
 *   node scripts/build-native.mjs            # TFKD_NATIVE=0 skips the build, TFKD_DNNL=0 leaves oneDNN out,
 *                                            # TFKD_OPENMP=0 builds without OpenMP (one thread),
 *                                            # --force rebuilds even when up to date
 *   TFKD_BLAS_INCLUDE=/opt/openblas/include node scripts/build-native.mjs
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const release = join(root, 'native', 'build', 'Release');
const staging = join(root, 'native', '.staging');
const stampFile = join(root, 'native', 'build', 'build.json');
const ADDONS = ['tfkd_image.node', 'tfkd_native.node'];
const notes = [];
const note = (msg) => {
  notes.push(msg);
  console.log(`tfkd: ${msg}`);
};

/** sha256 of everything a build depends on besides the machine's libraries (in `found`). */
function buildKey(found) {
  const h = createHash('sha256');
  const add = (name, bytes) => h.update(`${name}\0${bytes.length}\0`).update(bytes);
  add('build-native.mjs', readFileSync(fileURLToPath(import.meta.url)));
  add('binding.gyp', readFileSync(join(root, 'native', 'binding.gyp')));
  for (const f of readdirSync(join(root, 'native', 'src')).sort()) add(`src/${f}`, readFileSync(join(root, 'native', 'src', f)));
  const env = Object.fromEntries(['TFKD_DNNL', 'TFKD_OPENMP', 'TFKD_BLAS_INCLUDE', 'TFKD_JPEG', 'TFKD_PNG', 'TFKD_WEBP'].map((k) => [k, process.env[k] ?? null]));
  add('context', Buffer.from(JSON.stringify({ node: process.versions.modules, napi: process.versions.napi, platform: process.platform, arch: process.arch, execPath: process.execPath, env, found })));
  return h.digest('hex');
}

/** The previous build's notes when it was made from the same key and what it built still loads. */
function upToDate(key) {
  if (process.argv.includes('--force')) return null;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return null;
  }
  if (stamp?.key !== key || !Array.isArray(stamp.built) || !Array.isArray(stamp.notes)) return null;
  try {
    for (const f of stamp.built) createRequire(import.meta.url)(join(release, f));
  } catch {
    return null;
  }
  return stamp.notes;
}

/**
 * Moves the staged add-ons into native/build/Release (a rename each: never half-written there) and
 * records the key; a build that fell short of what this machine allows (`complete` false: it
 * failed) is not recorded as up to date, so the next run tries again.
 */
function publish(key, complete) {
  const built = ADDONS.filter((f) => existsSync(join(staging, 'build', 'Release', f)));
  mkdirSync(release, { recursive: true });
  for (const f of built) renameSync(join(staging, 'build', 'Release', f), join(release, f));
  // An add-on this build did not make (e.g. no OpenBLAS any more) must not stay behind from an older one.
  for (const f of ADDONS.filter((a) => !built.includes(a))) rmSync(join(release, f), { force: true });
  const tmp = `${stampFile}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ key: complete ? key : null, built, notes }, null, 2)}\n`);
  renameSync(tmp, stampFile);
  rmSync(staging, { recursive: true, force: true });
}

function main() {
  if (process.env.TFKD_NATIVE === '0') return note('native kernels skipped (TFKD_NATIVE=0); using the wasm kernels');
  const includes = [process.env.TFKD_BLAS_INCLUDE, '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu', '/usr/include/openblas', '/usr/include', '/usr/local/include', '/opt/homebrew/opt/openblas/include', '/usr/local/opt/openblas/include'].filter(Boolean);
  const include = includes.find((d) => existsSync(join(d, 'cblas.h')) && existsSync(join(d, 'openblas_config.h')));
  const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/opt/homebrew/opt/openblas/lib', '/usr/local/opt/openblas/lib'];
  const libDir = libDirs.find((d) => ['libopenblas.so', 'libopenblas.dylib'].some((f) => existsSync(join(d, f))));
  const haveBlas = Boolean(include && libDir);
  // libjpeg-turbo's header (Debian: libjpeg62-turbo-dev): the image add-on then decodes JPEGs itself.
  const jpeg = process.env.TFKD_JPEG !== '0' && ['/usr/include', '/usr/local/include', '/opt/homebrew/include'].some((d) => existsSync(join(d, 'jpeglib.h')));
  process.env.TFKD_JPEG = jpeg ? '1' : '0';
  // libpng's header (Debian: libpng-dev): the image add-on then decodes PNGs itself.
  const png = process.env.TFKD_PNG !== '0' && ['/usr/include', '/usr/local/include', '/opt/homebrew/include'].some((d) => existsSync(join(d, 'png.h')));
  process.env.TFKD_PNG = png ? '1' : '0';
  // libwebp's header (Debian: libwebp-dev): the image add-on then decodes still WebPs itself.
  const webp = process.env.TFKD_WEBP !== '0' && ['/usr/include', '/usr/local/include', '/opt/homebrew/include'].some((d) => existsSync(join(d, 'webp', 'decode.h')));
  process.env.TFKD_WEBP = webp ? '1' : '0';
  // oneDNN (optional): header and library next to OpenBLAS's.
  const dnnl = process.env.TFKD_DNNL !== '0' && haveBlas && existsSync(join(include.replace(/\/(x86_64|aarch64)-linux-gnu$/, ''), 'dnnl.hpp')) && existsSync(join(libDir, 'libdnnl.so'));

  const key = buildKey({ include: include ?? null, libDir: libDir ?? null, jpeg, png, webp, dnnl });
  const previous = upToDate(key);
  if (previous) {
    console.log(`tfkd: native add-ons up to date (native/build/build.json; --force rebuilds)`);
    for (const n of previous) console.log(`tfkd:   ${n}`);
    return;
  }

  // node-gyp ships inside npm; find it next to the running node / npm.
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ].filter(Boolean);
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally: fine */
  }
  const gyp = candidates.find((p) => existsSync(p));
  if (!gyp) return note('native kernels not built (node-gyp not found); using the wasm kernels');

  // Use the installed Node headers when present (no download: install may run offline).
  const nodeDir = [join(dirname(process.execPath), '..'), '/usr', '/usr/local'].find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
  // The build runs on a copy of the sources (see the header comment).
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  cpSync(join(root, 'native', 'binding.gyp'), join(staging, 'binding.gyp'));
  cpSync(join(root, 'native', 'src'), join(staging, 'src'), { recursive: true });
  const args = [gyp, 'rebuild', '--directory', staging, '--loglevel', 'error', ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const out = join(staging, 'build', 'Release', 'tfkd_native.node');
  const imageOut = join(staging, 'build', 'Release', 'tfkd_image.node');
  const shown = (f) => join(release, f).slice(root.length);
  if (!haveBlas) {
    // The image add-on alone (TFKD_BLAS=0 drops tfkd_native from binding.gyp).
    const r = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, TFKD_BLAS: '0' }, encoding: 'utf8', timeout: 300_000 });
    note(r.status === 0 && existsSync(imageOut) ? `image add-on built (${shown('tfkd_image.node')}: resampling in C)` : 'image add-on not built (resampling runs in JS)');
    note('native kernels not built (OpenBLAS headers/library not found: apt-get install libopenblas-dev, then node scripts/build-native.mjs); using the wasm kernels');
    return publish(key, r.status === 0 && existsSync(imageOut));
  }
  const build = (withDnnl, withOpenmp) => {
    const r = spawnSync(process.execPath, args, {
      cwd: root,
      env: { ...process.env, TFKD_BLAS_INCLUDE: include, TFKD_BLAS_LIBDIR: libDir, TFKD_DNNL: withDnnl ? '1' : '0', TFKD_OPENMP: withOpenmp ? '1' : '0' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (r.status !== 0 || !existsSync(out)) {
      return `${r.error?.message ?? ''}${r.stderr ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l))[0] ?? `exit ${r.status}`;
    }
    // Load it once so a broken link (e.g. missing libopenblas.so.0 at run time) shows now.
    try {
      createRequire(import.meta.url)(out);
      createRequire(import.meta.url)(imageOut);
    } catch (err) {
      return `built but does not load: ${String(err?.message ?? err).split('\n')[0]}`;
    }
    return null;
  };
  // Best first: oneDNN + OpenMP; then OpenMP alone (tfkd's own threads); then a compiler without
  // OpenMP (e.g. Apple clang): the kernels then run on one thread.
  // TFKD_OPENMP=0 forces the last (tests, or a toolchain whose OpenMP misbehaves).
  const attempts = process.env.TFKD_OPENMP === '0' ? [[false, false]] : [...(dnnl ? [[true, true]] : []), [false, true], [false, false]];
  let built = null;
  for (const [withDnnl, withOpenmp] of attempts) {
    const failed = build(withDnnl, withOpenmp);
    if (failed === null) {
      built = { withDnnl, withOpenmp };
      break;
    }
    note(`native build ${withDnnl ? 'with oneDNN' : withOpenmp ? 'with OpenMP' : 'without OpenMP'} failed (${failed.slice(0, 200)})`);
  }
  if (!built) {
    const r = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, TFKD_BLAS: '0' }, encoding: 'utf8', timeout: 300_000 });
    if (r.status === 0 && existsSync(imageOut)) note(`image add-on built (${shown('tfkd_image.node')}: resampling in C)`);
    note('native kernels not built; using the wasm kernels');
    return publish(key, false);
  }
  const withDnnl = built.withDnnl;
  if (!built.withOpenmp) note('built without OpenMP: the native kernels run on one thread');
  const convs = withDnnl ? ', convolutions on oneDNN' : dnnl || process.env.TFKD_DNNL === '0' ? '' : '; apt-get install libdnnl-dev and re-run this script for faster convolutions (oneDNN)';
  note(`native BLAS kernels built (${shown('tfkd_native.node')}, OpenBLAS from ${libDir}${convs})`);
  publish(key, true);
}

try {
  main();
} catch (err) {
  note(`native kernels not built (${String(err?.message ?? err).split('\n')[0]}); using the wasm kernels`);
}
process.exitCode = 0;
