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
 *   node scripts/build-native.mjs            # TFKD_NATIVE=0 skips the build, TFKD_DNNL=0 leaves oneDNN out,
 *                                            # TFKD_OPENMP=0 builds without OpenMP (one thread)
 *   TFKD_BLAS_INCLUDE=/opt/openblas/include node scripts/build-native.mjs
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const note = (msg) => console.log(`tfkd: ${msg}`);

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
  const args = [gyp, 'rebuild', '--directory', join(root, 'native'), '--loglevel', 'error', ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const out = join(root, 'native', 'build', 'Release', 'tfkd_native.node');
  const imageOut = join(root, 'native', 'build', 'Release', 'tfkd_image.node');
  if (!haveBlas) {
    // The image add-on alone (TFKD_BLAS=0 drops tfkd_native from binding.gyp).
    const r = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, TFKD_BLAS: '0' }, encoding: 'utf8', timeout: 300_000 });
    note(r.status === 0 && existsSync(imageOut) ? `image add-on built (${imageOut.slice(root.length)}: resampling in C)` : 'image add-on not built (resampling runs in JS)');
    return note('native kernels not built (OpenBLAS headers/library not found: apt-get install libopenblas-dev, then node scripts/build-native.mjs); using the wasm kernels');
  }
  // oneDNN (optional): header and library next to OpenBLAS's.
  const dnnl = process.env.TFKD_DNNL !== '0' && haveBlas && existsSync(join(include.replace(/\/(x86_64|aarch64)-linux-gnu$/, ''), 'dnnl.hpp')) && existsSync(join(libDir, 'libdnnl.so'));
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
    if (r.status === 0 && existsSync(imageOut)) note(`image add-on built (${imageOut.slice(root.length)}: resampling in C)`);
    return note('native kernels not built; using the wasm kernels');
  }
  const withDnnl = built.withDnnl;
  if (!built.withOpenmp) note('built without OpenMP: the native kernels run on one thread');
  const convs = withDnnl ? ', convolutions on oneDNN' : dnnl || process.env.TFKD_DNNL === '0' ? '' : '; apt-get install libdnnl-dev and re-run this script for faster convolutions (oneDNN)';
  note(`native BLAS kernels built (${out.slice(root.length)}, OpenBLAS from ${libDir}${convs})`);
}

try {
  main();
} catch (err) {
  note(`native kernels not built (${String(err?.message ?? err).split('\n')[0]}); using the wasm kernels`);
}
process.exitCode = 0;
