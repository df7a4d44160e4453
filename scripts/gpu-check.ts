/**
 * The GPU check (issue 21): what a machine with a GPU gives tfkd, measured against its own CPU in
 * the same run. Start it with scripts/gpu-check.sh (which finds or unpacks Node). Steps, each in a
 * child process with its own timeout, each result appended to OUT/results.jsonl as it finishes and
 * OUT/summary.txt rewritten, so a step that hangs or a machine taken back loses only that step:
 *   driver     nvidia-smi: GPU, driver, memory
 *   vulkan     the Vulkan ICD used (VK_DRIVER_FILES: the NVIDIA one, or lavapipe in a dry run)
 *   adapter    the WebGPU adapter Dawn sees (util/gpu-adapter.ts)
 *   teachers   precompute rows/s on webgpu vs cpu for the shipped teachers, and their parity
 *   resnet18   a ResNet-18 at 224 built with the machine's PyTorch (scripts/torchvision_teacher.py):
 *              rows/s on webgpu vs cpu over synthetic 224² images, parity over the photos
 *              and --batch on webgpu: the default against larger batches (which to use on a GPU)
 *   train      a training epoch's img/s on webgpu vs the CPU kernels (wasm, + native BLAS when the
 *              add-on loads) for cnn and resnet20, and an ONNX ResNet-18 student (torchvision's,
 *              exported by the machine's PyTorch at 64×64)
 *
 *   scripts/gpu-check.sh [--dry-run] [--out DIR]   (default OUT: $OUT when set, else .gpu-check/)
 * --dry-run: on this machine's lavapipe (scripts/lavapipe.sh), tiny sizes: checks the script, not the speed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../src/cache/reader.js';
import { describeAdapter, probeGpuAdapter } from '../src/util/gpu-adapter.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const args = process.argv.slice(2);
const dry = args.includes('--dry-run');
const outArg = args.indexOf('--out');
const OUT = path.resolve(outArg >= 0 ? args[outArg + 1] : (process.env.OUT ?? path.join(ROOT, '.gpu-check')));
fs.mkdirSync(path.join(OUT, 'logs'), { recursive: true });
const RESULTS = path.join(OUT, 'results.jsonl');
fs.writeFileSync(RESULTS, '');

// Sizes: real ones on a GPU; tiny ones in a dry run (lavapipe is 30–70× slower than the CPU).
const S = dry
  ? { fmShard: '0/30', fmBatch: 50, fmSweep: [25], r18Rows: 8, r18Batch: 4, r18Sweep: [8], photos: 2, trainLimit: 16, trainBatch: 8, testLimit: 8, onnxSize: 32 }
  : { fmShard: null, fmBatch: 256, fmSweep: [1024, 4096], r18Rows: 1024, r18Batch: 64, r18Sweep: [16, 256], photos: 38, trainLimit: 2048, trainBatch: 128, testLimit: 512, onnxSize: 64 };

interface Result {
  step: string;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  seconds: number;
  value?: string;
  data?: Record<string, unknown>;
}
const results: Result[] = [];

function record(r: Result): void {
  results.push(r);
  fs.appendFileSync(RESULTS, `${JSON.stringify(r)}\n`);
  fs.writeFileSync(path.join(OUT, 'summary.txt'), summary());
  console.log(`[${r.status}] ${r.step} (${r.seconds.toFixed(1)} s)${r.value ? `: ${r.value}` : ''}`);
}

const env: NodeJS.ProcessEnv = { ...process.env, TFKD_THREADS: process.env.TFKD_THREADS ?? '' };
if (!env.TFKD_THREADS) delete env.TFKD_THREADS;

/** Runs a command with a timeout; the log goes to OUT/logs/STEP.log. */
function sh(step: string, cmd: string, argv: string[], timeoutS: number): { ok: boolean; timedOut: boolean; stdout: string; stderr: string; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  const seconds = (Date.now() - t0) / 1000;
  fs.mkdirSync(path.join(OUT, 'logs'), { recursive: true });
  fs.writeFileSync(path.join(OUT, 'logs', `${step.replace(/[^\w.-]+/g, '_')}.log`), `$ ${cmd} ${argv.join(' ')}\n${r.stdout ?? ''}\n--- stderr\n${r.stderr ?? ''}`);
  const timedOut = r.error !== undefined && /ETIMEDOUT/.test(String((r.error as NodeJS.ErrnoException).code ?? r.error.message)) || r.signal === 'SIGKILL';
  return { ok: r.status === 0, timedOut, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds };
}

function fail(step: string, r: ReturnType<typeof sh>): void {
  const why = r.timedOut ? 'timed out' : (r.stderr.trim().split('\n').filter(Boolean).pop() ?? 'failed').slice(0, 200);
  record({ step, status: r.timedOut ? 'timeout' : 'failed', seconds: r.seconds, value: why });
}

const tfkd = (step: string, argv: string[], timeoutS: number) => sh(step, process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...argv], timeoutS);

function maxAbs(a: string, b: string): { maxAbs: number; rows: number } {
  const ra = openCache(a);
  const rb = openCache(b);
  try {
    const n = Math.min(ra.manifest.rows, rb.manifest.rows);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const x = ra.readLogits(idx, new Int32Array(n));
    const y = rb.readLogits(idx, new Int32Array(n));
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
    return { maxAbs: m, rows: n };
  } finally {
    ra.close();
    rb.close();
  }
}

// --- driver and Vulkan -----------------------------------------------------------------------
{
  const t0 = Date.now();
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status === 0) record({ step: 'driver', status: 'ok', seconds: (Date.now() - t0) / 1000, value: r.stdout.trim().split('\n').join('; ') });
  else record({ step: 'driver', status: dry ? 'skipped' : 'failed', seconds: (Date.now() - t0) / 1000, value: dry ? 'no NVIDIA driver (dry run)' : `nvidia-smi: ${r.error?.message ?? r.stderr.trim()}` });
}
{
  const t0 = Date.now();
  if (dry) {
    const file = path.join(process.env.TFKD_LAVAPIPE ?? path.join(ROOT, '.lavapipe'), 'env');
    if (!fs.existsSync(file)) {
      record({ step: 'vulkan', status: 'failed', seconds: 0, value: `${file} missing: run scripts/lavapipe.sh` });
      process.exit(1);
    }
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) env[m[1]] = m[1] === 'LD_LIBRARY_PATH' && env.LD_LIBRARY_PATH ? `${m[2]}:${env.LD_LIBRARY_PATH}` : m[2];
    }
  } else if (!env.VK_DRIVER_FILES) {
    const icd = ['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json', '/usr/share/vulkan/icd.d/nvidia_icd.json', '/etc/vulkan/icd.d/nvidia_icd.json'].find((f) => fs.existsSync(f));
    if (icd) env.VK_DRIVER_FILES = icd;
  }
  const icd = env.VK_DRIVER_FILES;
  let lib = '';
  try {
    lib = icd ? (JSON.parse(fs.readFileSync(icd, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path ?? '' : '';
  } catch {
    /* reported below as no library */
  }
  record({ step: 'vulkan', status: icd ? 'ok' : 'failed', seconds: (Date.now() - t0) / 1000, value: icd ? `VK_DRIVER_FILES=${icd} (driver ${lib || '?'})` : 'no NVIDIA Vulkan ICD found (nvidia_icd.json)' });
}
{
  const t0 = Date.now();
  const p = probeGpuAdapter({ env, timeoutMs: 60_000 });
  fs.writeFileSync(path.join(OUT, 'logs', 'adapter-dawn.log'), p.log ?? '');
  record({ step: 'adapter', status: p.adapter ? 'ok' : 'failed', seconds: (Date.now() - t0) / 1000, value: p.adapter ? describeAdapter(p.adapter) : p.reason, data: p.adapter ? { ...p.adapter } : undefined });
}

// --- teachers ----------------------------------------------------------------------------------
function precompute(step: string, teacher: string, data: string, extra: string[], device: string, timeoutS: number): string | null {
  const out = path.join(OUT, 'caches', step.replace(/[^\w.-]+/g, '_'));
  fs.rmSync(out, { recursive: true, force: true });
  const r = tfkd(step, ['precompute', '--teacher', teacher, '--data', data, '--out', out, '--device', device, '--progress', 'off', '--json', ...extra], timeoutS);
  if (!r.ok) {
    fail(step, r);
    return null;
  }
  const s = JSON.parse(r.stdout) as { rows: number; rowsPerSecond?: number; provider: string };
  record({ step, status: 'ok', seconds: r.seconds, value: `${s.rowsPerSecond ?? '?'} rows/s (${s.rows} rows, provider ${s.provider})`, data: { rowsPerSecond: s.rowsPerSecond, rows: s.rows, provider: s.provider } });
  return out;
}

function parity(step: string, a: string | null, b: string | null): void {
  if (!a || !b) return record({ step, status: 'skipped', seconds: 0, value: 'a precompute it needs failed' });
  const t0 = Date.now();
  const d = maxAbs(a, b);
  record({ step, status: d.maxAbs <= 1e-4 ? 'ok' : 'failed', seconds: (Date.now() - t0) / 1000, value: `max |webgpu − cpu| = ${d.maxAbs.toExponential(2)} over ${d.rows} rows (limit 1e-4)`, data: d });
}

for (const t of ['fmnist-good', 'fmnist-poor']) {
  const extra = ['--batch', String(S.fmBatch), ...(S.fmShard ? ['--shard', S.fmShard] : [])];
  const cpu = precompute(`teacher ${t} cpu`, `models/${t}.onnx`, 'fashion-mnist:data/fashion-mnist-subset', extra, 'cpu', 300);
  const gpu = precompute(`teacher ${t} webgpu`, `models/${t}.onnx`, 'fashion-mnist:data/fashion-mnist-subset', extra, 'webgpu', 300);
  parity(`parity ${t}`, cpu, gpu);
}
// --batch on the GPU: the default (256) against larger ones, so the figures say which batch to use there.
for (const b of S.fmSweep) {
  precompute(`teacher fmnist-good webgpu batch ${b}`, 'models/fmnist-good.onnx', 'fashion-mnist:data/fashion-mnist-subset', ['--batch', String(b), ...(S.fmShard ? ['--shard', S.fmShard] : [])], 'webgpu', 300);
}

// --- ResNet-18 at 224 -------------------------------------------------------------------------------
const python = [process.env.PYTHON, '/usr/bin/python3', 'python3'].find((p) => p && spawnSync(p, ['-c', 'import torch, torchvision'], { encoding: 'utf8', timeout: 120_000 }).status === 0);
const r18 = path.join(OUT, 'resnet18.onnx');
let haveR18 = false;
if (!python) record({ step: 'resnet18 build', status: 'skipped', seconds: 0, value: 'no Python with torch and torchvision' });
else {
  const r = sh('resnet18 build', python, ['scripts/torchvision_teacher.py', '--arch', 'resnet18', '--out', r18, '--data', 'test/fixtures/photos'], 600);
  if (r.ok) {
    haveR18 = true;
    record({ step: 'resnet18 build', status: 'ok', seconds: r.seconds, value: `${python}: ${r.stdout.trim().split('\n').pop()?.slice(0, 120) ?? ''}` });
  } else fail('resnet18 build', r);
}
if (haveR18) {
  const synth = `synthetic:${S.r18Rows}:1000:224x224x3:1`;
  const extra = ['--batch', String(S.r18Batch), '--preprocess', 'imagenet'];
  precompute('resnet18 224 cpu', r18, synth, extra, 'cpu', 600);
  precompute('resnet18 224 webgpu', r18, synth, extra, 'webgpu', 600);
  for (const b of S.r18Sweep) precompute(`resnet18 224 webgpu batch ${b}`, r18, synth, ['--batch', String(b), '--preprocess', 'imagenet'], 'webgpu', 600);
  // Parity on real photographs: a list whose first label is 999 gives the data set K = 1000.
  const photos = fs.readdirSync(path.join(ROOT, 'test/fixtures/photos'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().slice(0, S.photos);
  const list = path.join(OUT, 'photos.csv');
  fs.writeFileSync(list, `path,label\n${photos.map((f, i) => `${path.join(ROOT, 'test/fixtures/photos', f)},${i === 0 ? 999 : i}`).join('\n')}\n`);
  const pe = ['--batch', String(Math.min(S.photos, 16)), '--preprocess', 'imagenet'];
  parity('parity resnet18 photos', precompute('resnet18 photos cpu', r18, `list:${list}`, pe, 'cpu', 600), precompute('resnet18 photos webgpu', r18, `list:${list}`, pe, 'webgpu', 600));
}

// --- training -----------------------------------------------------------------------------------
function train(step: string, model: string, backend: string, timeoutS: number, data = 'fashion-mnist:data/fashion-mnist-subset'): void {
  const out = path.join(OUT, 'runs', step.replace(/[^\w.-]+/g, '_'));
  fs.rmSync(out, { recursive: true, force: true });
  const r = tfkd(step, [
    'train', '--data', data, '--model', model, '--loss', 'ce', '--epochs', '1', '--batch', String(S.trainBatch),
    '--limit', String(S.trainLimit), '--test-limit', String(S.testLimit), '--backend', backend, '--out', out, '--progress', 'json',
  ], timeoutS);
  if (!r.ok) return fail(step, r);
  // The last progress line's img/s: training steps only (the epoch's seconds include evaluation).
  const prog = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('{"event":"progress"')).map((l) => JSON.parse(l) as { img_per_s: number });
  const man = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { backend: { name: string; kernels: string } };
  // A run shorter than the progress interval prints none: then the epoch's own figure (evaluation included).
  const epoch = JSON.parse(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { seconds: number };
  const ips = prog.length ? prog[prog.length - 1].img_per_s : Math.round(S.trainLimit / Math.max(epoch.seconds, 1e-3));
  record({ step, status: 'ok', seconds: r.seconds, value: `${ips ?? '?'} img/s (backend ${man.backend.name}, kernels ${man.backend.kernels})`, data: { imgPerSecond: ips, backend: man.backend.name, kernels: man.backend.kernels } });
}
for (const model of ['cnn', 'resnet20']) {
  train(`train ${model} webgpu`, model, 'webgpu', 600);
  train(`train ${model} cpu-kernels`, model, 'wasm', 600);
}
// ONNX students exported by the machine's PyTorch (scripts/torchvision_student.py): torchvision's
// resnet18 and timm's ViT layout (timm_vit: attention's batched products, LayerNorm, GELU).
for (const arch of ['resnet18', 'timm_vit']) {
  const name = `onnx-${arch}`;
  if (!python) {
    record({ step: `train ${name}`, status: 'skipped', seconds: 0, value: 'no Python with torch and torchvision' });
    continue;
  }
  const file = path.join(OUT, `${arch}-student-${S.onnxSize}.onnx`);
  const r = sh(`${name} build`, python, ['scripts/torchvision_student.py', 'export', '--arch', arch, '--out', file, '--size', String(S.onnxSize), '--classes', '10'], 600);
  if (!r.ok) {
    fail(`${name} build`, r);
    continue;
  }
  const data = `synthetic:${S.trainLimit}:10:${S.onnxSize}x${S.onnxSize}x3:1`;
  train(`train ${name} webgpu`, `onnx:${file}`, 'webgpu', 600, data);
  train(`train ${name} cpu-kernels`, `onnx:${file}`, 'wasm', 600, data);
}

console.log(`\n${summary()}`);
console.log(`results: ${RESULTS}`);

function summary(): string {
  const w = Math.max(...results.map((r) => r.step.length), 10);
  const lines = [`tfkd GPU check${dry ? ' (DRY RUN on lavapipe: figures say nothing about a GPU)' : ''} — ${new Date().toISOString()}`];
  for (const r of results) lines.push(`${r.step.padEnd(w)}  ${r.status.padEnd(7)}  ${r.value ?? ''}`);
  const rate = (s: string) => results.find((r) => r.step === s)?.data?.rowsPerSecond as number | undefined;
  const ips = (s: string) => results.find((r) => r.step === s)?.data?.imgPerSecond as number | undefined;
  const ratios: string[] = [];
  for (const [name, a, b] of [
    ['fmnist-good precompute', 'teacher fmnist-good webgpu', 'teacher fmnist-good cpu'],
    ['resnet18 224 precompute', 'resnet18 224 webgpu', 'resnet18 224 cpu'],
  ] as const) {
    if (rate(a) && rate(b)) ratios.push(`${name}: webgpu / cpu = ${(rate(a)! / rate(b)!).toFixed(2)}×`);
  }
  for (const m of ['cnn', 'resnet20', 'onnx-resnet18', 'onnx-timm_vit']) {
    const a = ips(`train ${m} webgpu`);
    const b = ips(`train ${m} cpu-kernels`);
    if (a && b) ratios.push(`train ${m}: webgpu / cpu kernels = ${(a / b).toFixed(2)}×`);
  }
  if (ratios.length) lines.push('', ...ratios);
  const bad = results.filter((r) => r.status === 'failed' || r.status === 'timeout').length;
  lines.push('', `${results.length} steps: ${results.filter((r) => r.status === 'ok').length} ok, ${bad} failed/timed out, ${results.filter((r) => r.status === 'skipped').length} skipped`);
  return `${lines.join('\n')}\n`;
}
