/**
 * The Debian packages tfkd can use beyond `npm ci` — for its data, its reference scripts, its
 * native kernels and its browser check — each with a cheap probe of whether this machine has what
 * the package provides. One list for `npm run setup` (scripts/setup.ts installs the missing ones),
 * `tfkd doctor` (says what is missing and the command that fixes it), the tests (test/helpers/
 * needs.ts: a test that needs an absent package skips naming it, or fails under CI=true) and
 * `.ci/run` (which runs the setup).
 *
 * Probes look at what the package provides, not at dpkg (a pip-installed torch or a data set
 * copied by hand counts), and are memoized per process: a Python import costs up to a second.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FASHION_MNIST_DIR } from '../data/spec.js';

/** Debian's interpreter: the one the apt python3-* packages install into (the reference scripts run on it). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/** `file`: any of these exists; `python`: Debian's python3 imports the module; `bin`: any of these is on PATH. */
export type Probe = { file: string[] } | { python: string } | { bin: string[] };

/** Debian's multiarch directory names of this machine (x86_64, aarch64). */
const ARCHES = ['x86_64-linux-gnu', 'aarch64-linux-gnu'];
const perArch = (f: (arch: string) => string): string[] => ARCHES.map(f);

export interface AptPackage {
  name: string;
  /** What in tfkd uses it. */
  usedBy: string;
  probe: Probe;
}

/** In install order; `npm run setup` installs these (the ones missing) in one apt-get call. */
export const APT_PACKAGES: readonly AptPackage[] = [
  { name: 'dataset-fashion-mnist', usedBy: 'the fashion-mnist data spec, the demo, the data and teacher tests', probe: { file: [join(DEFAULT_FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz')] } },
  { name: 'python3', usedBy: 'the reference scripts (scripts/*.py); node-gyp for the native add-on', probe: { bin: [DEBIAN_PYTHON] } },
  { name: 'python3-numpy', usedBy: 'python/tfkd_cache.py (reading caches from Python), scripts/read_cache.py and the numpy references', probe: { python: 'numpy' } },
  { name: 'python3-scipy', usedBy: 'the Welch-test fixture check (test/experiment/stats.test.ts)', probe: { python: 'scipy' } },
  { name: 'python3-pil', usedBy: 'the PIL references of the decoder and resampler (scripts/pil_reference.py, render_reference.py)', probe: { python: 'PIL' } },
  { name: 'python3-torch', usedBy: 'python/tfkd_torch.py and examples/pytorch_kd.py; the PyTorch references (losses, teachers, benchmarks, eval metrics)', probe: { python: 'torch' } },
  { name: 'python3-torchvision', usedBy: 'the torchvision teacher and transform references', probe: { python: 'torchvision' } },
  { name: 'python3-onnx', usedBy: 'onnx.checker on exported students (scripts/check_onnx.py)', probe: { python: 'onnx' } },
  { name: 'g++', usedBy: 'building the native add-on', probe: { bin: ['g++'] } },
  { name: 'make', usedBy: 'building the native add-on', probe: { bin: ['make'] } },
  { name: 'libopenblas0-pthread', usedBy: 'the native add-on at run time (threaded OpenBLAS)', probe: { file: perArch((a) => `/usr/lib/${a}/openblas-pthread/libopenblas.so.0`) } },
  { name: 'libopenblas-dev', usedBy: 'building the native add-on (matrix multiplies on OpenBLAS)', probe: { file: perArch((a) => `/usr/include/${a}/openblas-pthread/cblas.h`) } },
  { name: 'libdnnl-dev', usedBy: 'the native add-on\'s oneDNN convolutions', probe: { file: ['/usr/include/dnnl.h'] } },
  { name: 'libjpeg62-turbo-dev', usedBy: 'the image add-on\'s JPEG decoder (built against the libjpeg-turbo Pillow links)', probe: { file: ['/usr/include/jpeglib.h', ...perArch((a) => `/usr/include/${a}/jpeglib.h`)] } },
  { name: 'libpng-dev', usedBy: 'the image add-on\'s PNG decoder (8-bit PNGs on libpng, one open per image)', probe: { file: ['/usr/include/png.h'] } },
  { name: 'libwebp-dev', usedBy: 'the image add-on\'s WebP decoder (still WebPs on libwebp, the library Pillow links)', probe: { file: ['/usr/include/webp/decode.h'] } },
  { name: 'chromium', usedBy: 'the headless-browser check of report pages', probe: { bin: ['chromium', 'chromium-browser'] } },
  // test/reliability/slurm-array.test.ts starts its own single-node Slurm (as root, in a temp dir) and runs docs/slurm-array.sh on it.
  { name: 'slurmctld', usedBy: 'the Slurm job-array test (its controller)', probe: { bin: ['/usr/sbin/slurmctld'] } },
  { name: 'slurmd', usedBy: 'the Slurm job-array test (its node daemon)', probe: { bin: ['/usr/sbin/slurmd'] } },
  { name: 'slurm-client', usedBy: 'the Slurm job-array test (sbatch, squeue, scontrol)', probe: { bin: ['sbatch'] } },
  { name: 'munge', usedBy: 'the Slurm job-array test (munged authenticates the daemons)', probe: { bin: ['/usr/sbin/munged'] } },
];

const memo = new Map<string, boolean>();

/** The directories of PATH plus /usr/bin: where a `bin` probe looks. */
function onPath(bin: string): boolean {
  if (bin.startsWith('/')) return existsSync(bin);
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/bin'];
  return dirs.some((d) => existsSync(join(d, bin)));
}

/** Whether this machine has what a probe looks for (unmemoized). */
export function probe(p: Probe): boolean {
  if ('file' in p) return p.file.some((f) => existsSync(f));
  if ('bin' in p) return p.bin.some(onPath);
  if (!existsSync(DEBIAN_PYTHON)) return false;
  const r = spawnSync(DEBIAN_PYTHON, ['-c', `import ${p.python}`], { encoding: 'utf8', timeout: 120_000 });
  return !r.error && r.status === 0;
}

/** True when this machine has what the package provides (memoized). */
export function hasPackage(name: string): boolean {
  const pkg = APT_PACKAGES.find((p) => p.name === name);
  if (!pkg) throw new Error(`internal: ${name} is not in APT_PACKAGES`);
  let v = memo.get(name);
  if (v === undefined) {
    v = probe(pkg.probe);
    memo.set(name, v);
  }
  return v;
}

/** Forgets the memoized probes (after installing packages). */
export function forgetProbes(): void {
  memo.clear();
}

/** The packages of `names` (default: all) this machine lacks, in APT_PACKAGES order. */
export function missingPackages(names?: readonly string[]): string[] {
  return APT_PACKAGES.filter((p) => (!names || names.includes(p.name)) && !hasPackage(p.name)).map((p) => p.name);
}

/** The one command that installs `names`. */
export const aptInstallLine = (names: readonly string[]): string => `apt-get install -y --no-install-recommends ${names.join(' ')}`;

/** The same, after refreshing apt's lists (empty on a fresh debootstrap or container image). */
export const aptFixLine = (names: readonly string[]): string => `apt-get update && ${aptInstallLine(names)}`;
