/**
 * `tfkd doctor` (`npm run doctor`): what this machine has for tfkd, one line per item with the
 * command that fixes what is missing — Node, npm, the native add-on, onnxruntime's execution
 * providers, the tfjs backends, Fashion-MNIST, Python/PyTorch for the reference scripts, Chromium.
 *
 * `required` items are those tfkd cannot run without (Node, npm, onnxruntime's CPU provider, a tfjs
 * backend); the rest make it faster or let the reference checks and tests run (a test that needs a
 * missing package skips, naming it). Every probe is read-only and bounded in time.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FASHION_MNIST_DIR } from '../data/spec.js';
import { installHint, selectBackend } from '../student/backend.js';
import { loadNative } from '../student/kernels/native.js';
import type { Provider } from '../teacher/ort.js';
import { createSession, defaultPrecheck, providerHint } from '../teacher/providers.js';
import { DEBIAN_PYTHON, aptFixLine, hasPackage, missingPackages } from './packages.js';

export interface DoctorLine {
  item: string;
  ok: boolean;
  /** What was found, or why not. */
  status: string;
  /** The command (or step) that fixes a missing item. */
  fix?: string;
  /** tfkd cannot run without it (else: optional, for speed or for the reference checks). */
  required: boolean;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { engines?: { node?: string } };

/** a.b.c ≥ min (numeric, per component). */
export function atLeast(version: string, min: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i];
  return true;
}

function nodeLine(): DoctorLine {
  const min = (PKG.engines?.node ?? '>=20.19').replace(/^>=\s*/, '');
  const ok = atLeast(process.versions.node, min);
  return { item: 'Node', ok, required: true, status: `${process.version} (tfkd needs ≥ ${min})`, fix: ok ? undefined : `install Node ${min} or newer (nodejs.org, or Debian: the nodesource node_20.x repository)` };
}

function npmLine(): DoctorLine {
  const r = spawnSync('npm', ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const v = r.status === 0 ? r.stdout.trim() : null;
  const ok = v !== null && atLeast(v, '11');
  return { item: 'npm', ok, required: true, status: v ? `${v} (tfkd's install needs ≥ 11: it honours "allowScripts")` : 'not found on PATH', fix: ok ? undefined : 'npm install -g npm@11' };
}

/** The apt line for the missing ones among `names`, else undefined. */
function aptFix(names: string[], then?: string): string | undefined {
  const missing = missingPackages(names);
  if (!missing.length) return then;
  return `${aptFixLine(missing)}${then ? ` && ${then}` : ''}`;
}

function nativeLine(): DoctorLine {
  const st = loadNative();
  const build = 'node scripts/build-native.mjs';
  if (st.addon) {
    const dnnl = st.addon.dnnlVersion();
    return { item: 'native add-on', ok: true, required: false, status: `${st.why}${dnnl ? '' : ' (no oneDNN: convolutions on im2col + OpenBLAS)'}`, fix: dnnl ? undefined : aptFix(['libdnnl-dev'], build) };
  }
  const off = process.env.TFKD_NATIVE === '0';
  return { item: 'native add-on', ok: false, required: false, status: `${st.why}; training uses the wasm kernels (same results, slower)`, fix: off ? 'unset TFKD_NATIVE' : (aptFix(['libopenblas-dev', 'libopenblas0-pthread', 'libdnnl-dev', 'g++', 'make', 'python3'], build) ?? build) };
}

/** The smallest ONNX model tfkd ships: every provider is tried on it. */
const PROBE_MODEL = `${ROOT}models/fmnist-poor.onnx`;

async function providerLines(): Promise<DoctorLine[]> {
  const model = new Uint8Array(readFileSync(PROBE_MODEL));
  const lines: DoctorLine[] = [];
  for (const p of ['cpu', 'cuda', 'webgpu'] as Provider[]) {
    const item = `onnxruntime ${p}`;
    const skip = p === 'cpu' ? null : defaultPrecheck(p);
    if (skip) {
      lines.push({ item, ok: false, required: false, status: `not available (${skip})`, fix: providerHint(p) });
      continue;
    }
    try {
      const s = await createSession(model, { device: p, threads: 1, what: PROBE_MODEL });
      await s.session.release();
      lines.push({ item, ok: true, required: p === 'cpu', status: 'loads' });
    } catch (e) {
      // createSession's message for an explicit device names the option; the reason is what matters here.
      const why = (e as Error).message.split('\n')[0].replace(/^.*? execution provider is not available: /, '');
      lines.push({ item, ok: false, required: p === 'cpu', status: `not available (${why})`, fix: providerHint(p) });
    }
  }
  return lines;
}

async function backendLines(): Promise<DoctorLine[]> {
  try {
    const b = await selectBackend('auto');
    const node = b.name === 'tensorflow';
    const lines: DoctorLine[] = [{ item: 'tfjs backend', ok: true, required: true, status: `${b.name} (${b.detail}) · kernels ${b.kernels}; cpu (pure JS) as the fallback` }];
    if (!node) lines.push({ item: 'tfjs-node', ok: false, required: false, status: 'not installed (optional: libtensorflow, CPU or CUDA 11.2)', fix: installHint() });
    return lines;
  } catch (e) {
    return [{ item: 'tfjs backend', ok: false, required: true, status: (e as Error).message.split('\n')[0], fix: 'npm ci (tfjs and tfjs-backend-wasm are dependencies)' }];
  }
}

function dataLine(): DoctorLine {
  const ok = hasPackage('dataset-fashion-mnist');
  return {
    item: 'Fashion-MNIST', ok, required: false,
    status: ok ? `${DEFAULT_FASHION_MNIST_DIR}` : `not in ${DEFAULT_FASHION_MNIST_DIR} (the demo falls back to the committed subset; its tests skip)`,
    fix: ok ? undefined : aptFixLine(['dataset-fashion-mnist']),
  };
}

const PY_MODULES: Array<[string, string]> = [['numpy', 'python3-numpy'], ['torch', 'python3-torch'], ['torchvision', 'python3-torchvision'], ['PIL', 'python3-pil'], ['onnx', 'python3-onnx'], ['scipy', 'python3-scipy']];

function pythonLine(): DoctorLine {
  const item = 'Python (reference scripts)';
  const allPkgs = ['python3', ...PY_MODULES.map(([, p]) => p)];
  if (!hasPackage('python3')) return { item, ok: false, required: false, status: `no ${DEBIAN_PYTHON}`, fix: aptFix(allPkgs) };
  const code = `import sys, importlib\nprint(sys.version.split()[0])\nfor m in ${JSON.stringify(PY_MODULES.map(([m]) => m))}:\n    try: print(m, importlib.import_module(m).__version__)\n    except Exception: print(m, '-')`;
  const r = spawnSync(DEBIAN_PYTHON, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  const out = (r.stdout ?? '').trim().split('\n');
  const found = out.slice(1).map((l) => l.split(' ')).filter(([, v]) => v && v !== '-').map(([m, v]) => `${m} ${v}`);
  const fix = aptFix(allPkgs);
  return { item, ok: fix === undefined, required: false, status: `${DEBIAN_PYTHON} ${out[0] ?? '?'}: ${found.join(', ') || 'no modules'}${fix ? `; missing ${missingPackages(allPkgs).join(', ')}` : ''}`, fix };
}

function chromiumLine(): DoctorLine {
  const ok = hasPackage('chromium');
  return { item: 'Chromium', ok, required: false, status: ok ? 'found (report pages are checked in a headless browser)' : 'not found (the report pages\' browser check skips)', fix: ok ? undefined : aptFixLine(['chromium']) };
}

/** Every line, in the order printed. */
export async function runDoctor(): Promise<DoctorLine[]> {
  const lines = [nodeLine(), npmLine(), nativeLine()];
  lines.push(...(await providerLines()));
  lines.push(...(await backendLines()));
  lines.push(dataLine(), pythonLine(), chromiumLine());
  return lines;
}

export function formatDoctor(lines: DoctorLine[]): string {
  const w = Math.max(...lines.map((l) => l.item.length));
  const body = lines.map((l) => `${l.ok ? 'ok     ' : l.required ? 'MISSING' : 'absent '} ${l.item.padEnd(w)}  ${l.status}${l.fix ? ` → fix: ${l.fix}` : ''}`);
  const bad = lines.filter((l) => !l.ok && l.required);
  const cores = availableParallelism();
  return `${body.join('\n')}\n${bad.length ? `tfkd cannot run here: ${bad.map((l) => l.item).join(', ')}` : `tfkd runs here (${cores} core${cores === 1 ? '' : 's'}); the absent items are optional`}\n`;
}
