/**
 * Teachers on onnxruntime's WebGPU provider, for real: on Mesa 25's lavapipe here and in CI (see
 * test/helpers/webgpu.ts), on whatever adapter a GPU machine has. Through the CLI, in child
 * processes (the Vulkan driver's environment must be there when the process starts):
 *   - `--device webgpu` equals `--device cpu` within 1e-4 on both shipped teachers and on a
 *     ResNet-18 (scripts/torchvision_teacher.py) over the photos, with the same cache key;
 *   - `verify` passes on the webgpu cache, whose manifest records the adapter;
 *   - `--device auto` refuses a software adapter, says so in its one line, and writes nothing to stderr.
 * Small slices (a software device runs 30–70× slower than the CPU provider).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readManifest } from '../../src/cache/manifest.js';
import { openCache } from '../../src/cache/reader.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needWebgpu, ROOT, type WebgpuMachine } from '../helpers/webgpu.js';

const TOL = 1e-4;
const PY = '/usr/bin/python3';
const PHOTOS = path.join(ROOT, 'test/fixtures/photos');

function tfkd(env: NodeJS.ProcessEnv, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...args], { cwd: ROOT, env: { ...env, TFKD_THREADS: '1' }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: ReturnType<typeof tfkd>): string {
  if (r.status !== 0) throw new Error(`tfkd exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function maxAbsDiff(a: string, b: string): { maxAbs: number; rows: number } {
  const ra = openCache(a);
  const rb = openCache(b);
  try {
    const n = ra.manifest.rows;
    expect(rb.manifest.rows).to.equal(n);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const x = ra.readLogits(idx, new Int32Array(n));
    const y = rb.readLogits(idx, new Int32Array(n));
    let maxAbs = 0;
    for (let i = 0; i < x.length; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
    return { maxAbs, rows: n };
  } finally {
    ra.close();
    rb.close();
  }
}

describe('teacher/webgpu: onnxruntime WebGPU provider vs CPU provider (real device)', function () {
  this.timeout(600000);
  let m: WebgpuMachine;
  let tmp: string;
  before(function () {
    m = needWebgpu(this);
    tmp = tmpDir('webgpu');
    console.log(`      adapter: ${JSON.stringify(m.adapter)}`);
  });
  after(() => rmDir(tmp));

  for (const teacher of ['fmnist-good', 'fmnist-poor']) {
    it(`${teacher}: --device webgpu equals --device cpu within ${TOL}, same key, verify passes, adapter recorded`, () => {
      const base = ['precompute', '--teacher', `models/${teacher}.onnx`, '--data', 'fashion-mnist:data/fashion-mnist-subset', '--split', 'test', '--shard', '0/5', '--batch', '64', '--progress', 'off'];
      const cpu = path.join(tmp, `${teacher}-cpu`);
      const gpu = path.join(tmp, `${teacher}-webgpu`);
      ok(tfkd(m.env, [...base, '--out', cpu, '--device', 'cpu']));
      const out = ok(tfkd(m.env, [...base, '--out', gpu, '--device', 'webgpu']));
      expect(out).to.match(/provider webgpu/);
      if (m.adapter.software) expect(out).to.match(/webgpu: running on a software adapter/);
      const { maxAbs, rows } = maxAbsDiff(cpu, gpu);
      console.log(`      ${teacher}: ${rows} rows, max |webgpu − cpu| = ${maxAbs.toExponential(2)}`);
      expect(maxAbs).to.be.at.most(TOL);
      const mc = readManifest(cpu);
      const mg = readManifest(gpu);
      expect(mg.key).to.equal(mc.key);
      expect(mg.runtime.provider).to.equal('webgpu');
      expect(mg.runtime.adapter).to.deep.include({ software: m.adapter.software, description: m.adapter.description });
      expect(mc.runtime.adapter).to.equal(undefined);
      expect(ok(tfkd(m.env, ['verify', gpu]))).to.match(/OK/);
    });
  }

  // `--sessions 2` opens its sessions through the lane factory: it must look at the adapter too
  // (it did not, and took the software adapter at ~500 rows/s).
  for (const sessions of ['1', '2']) {
    it(`--device auto --sessions ${sessions} refuses a software adapter, says why in its one line, and writes nothing to stderr`, function () {
      if (!m.adapter.software) this.skip(); // a hardware adapter is auto's to take
      const out = path.join(tmp, `auto-${sessions}`);
      const r = tfkd(m.env, ['precompute', '--teacher', 'models/fmnist-good.onnx', '--data', 'fashion-mnist:data/fashion-mnist-subset', '--split', 'test', '--shard', '0/10', '--out', out, '--progress', 'off', '--sessions', sessions]);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(r.stdout).to.match(/provider cpu/);
      const line = r.stdout.split('\n').filter((l) => l.includes('webgpu:'));
      expect(line).to.have.length(1);
      expect(line[0]).to.match(/webgpu: not used \(software adapter only: .*llvmpipe|webgpu: not used \(software adapter only/);
      expect(readManifest(out).runtime.provider).to.equal('cpu');
    });
  }

  it(`ResNet-18 (1000 classes) over photos: --device webgpu equals --device cpu within ${TOL}`, function () {
    if (spawnSync(PY, ['-c', 'import torch, torchvision, onnx'], { encoding: 'utf8' }).status !== 0) {
      const why = `${PY} lacks torch/torchvision/onnx (apt-get install python3-torch python3-torchvision python3-onnx; .ci/run does)`;
      if (process.env.CI === 'true') throw new Error(why);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const model = path.join(tmp, 'resnet18.onnx');
    const py = spawnSync(PY, ['scripts/torchvision_teacher.py', '--arch', 'resnet18', '--out', model, '--data', PHOTOS], { cwd: ROOT, encoding: 'utf8' });
    expect(py.status, py.stderr).to.equal(0);
    // Three photos; a label of 999 makes the data set's K = 1000 like the teacher's.
    const files = fs.readdirSync(PHOTOS, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().slice(0, 3);
    const list = path.join(tmp, 'photos.csv');
    fs.writeFileSync(list, `path,label\n${files.map((f, i) => `${path.join(PHOTOS, f)},${i === 0 ? 999 : i}`).join('\n')}\n`);
    const base = ['precompute', '--teacher', model, '--data', `list:${list}`, '--preprocess', 'imagenet', '--batch', '3', '--progress', 'off'];
    const cpu = path.join(tmp, 'r18-cpu');
    const gpu = path.join(tmp, 'r18-webgpu');
    ok(tfkd(m.env, [...base, '--out', cpu, '--device', 'cpu']));
    ok(tfkd(m.env, [...base, '--out', gpu, '--device', 'webgpu']));
    const { maxAbs, rows } = maxAbsDiff(cpu, gpu);
    console.log(`      resnet18: ${rows} photos × 1000 classes, max |webgpu − cpu| = ${maxAbs.toExponential(2)}`);
    expect(rows).to.equal(files.length);
    expect(maxAbs).to.be.at.most(TOL);
    expect(readManifest(gpu).key).to.equal(readManifest(cpu).key);
  });
});
