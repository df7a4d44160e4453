import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/reader.js';
import { writeSynth } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { DEBIAN_PYTHON } from '../../src/doctor/packages.js';
import { needs } from '../helpers/needs.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/read_cache.py', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/cache-v1/', import.meta.url));

/** Values as Python (numpy only) reads them with scripts/read_cache.py (the docs/CACHE.md lines). */
function pyRead(dir: string, temperature: number): Record<string, number[]> {
  return JSON.parse(execFileSync(DEBIAN_PYTHON, [SCRIPT, dir, '--json', '--temperature', String(temperature)], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

describe('cache/python interop (numpy only)', () => {
  let root: string;
  before(function () {
    needs(this, 'python3-numpy');
    root = tmpDir('py');
  });
  after(() => root && rmDir(root));

  for (const o of [
    { name: 'f32', dtype: 'f32' as const, topk: null },
    { name: 'f16', dtype: 'f16' as const, topk: null },
    { name: 'f16 top-3', dtype: 'f16' as const, topk: 3 },
    { name: 'f32 top-2', dtype: 'f32' as const, topk: 2 },
    { name: 'tfkd-cache/1 f16 top-3 (fixture)', dtype: 'f16' as const, topk: 3, fixture: 'f16-top3' },
    { name: 'tfkd-cache/1 f32 (fixture)', dtype: 'f32' as const, topk: null, fixture: 'f32' },
  ]) {
    it(`python3 reads a tfkd-written ${o.name} cache to the same values`, () => {
      let dir = path.join(root, o.name.replace(/\W/g, ''));
      let N = 23;
      const K = 7;
      const V = 2;
      if ('fixture' in o) {
        dir = path.join(FIXTURE, o.fixture!);
        N = 12;
      } else writeSynth(dir, { N, K, V, dtype: o.dtype, topk: o.topk, shardRows: 10 });
      const T = 2.5;
      const py = pyRead(dir, T);
      const r = openCache(dir);
      if (o.topk !== null) expect(py.topk_indices).to.deep.equal(Array.from(r.readBlock(0, N * V).topkIndices!));
      const samples = Array.from({ length: N * V }, (_, g) => Math.floor(g / V));
      const views = Array.from({ length: N * V }, (_, g) => g % V);
      expect(py.sample).to.deep.equal(samples);
      expect(py.view).to.deep.equal(views);
      if (o.topk === null) {
        // Stored values, bit for bit: f16 and f32 numbers are exact in JSON doubles.
        const js = Array.from(r.readLogits(samples, views));
        expect(py.logits).to.have.length(N * V * r.numClasses);
        let maxDiff = 0;
        py.logits.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - js[i]))));
        console.log(`      ${o.name}: max |python − tfkd| logits = ${maxDiff}`);
        expect(maxDiff).to.equal(0);
      }
      const p = Array.from(r.softTargets(samples, views, T));
      let maxP = 0;
      py.soft_targets.forEach((v, i) => (maxP = Math.max(maxP, Math.abs(v - p[i]))));
      console.log(`      ${o.name}: max |python − tfkd| soft targets (T=${T}) = ${maxP.toExponential(2)}`);
      expect(maxP).to.be.at.most(1e-6);
      r.close();
    });
  }

  // tfkd's reader refuses these (softTargets: "temperature must be a positive number"); the Python
  // one did not, and printed NaN (invalid JSON) or a reversed distribution with exit 0.
  it('python3 refuses a temperature that is not a positive number, as tfkd does (exit 2, one line)', () => {
    const dir = path.join(root, 'badT');
    writeSynth(dir, { N: 4, K: 5, V: 1, dtype: 'f32', topk: null, shardRows: 10 });
    const top = path.join(root, 'badT-top');
    writeSynth(top, { N: 4, K: 5, V: 1, dtype: 'f16', topk: 2, shardRows: 10 });
    const r = openCache(dir);
    for (const T of ['0', '-1', 'nan', 'inf']) {
      expect(() => r.softTargets([0], [0], Number(T))).to.throw(/temperature must be a positive number/);
      for (const d of [dir, top]) {
        let status = 0;
        let stderr = '';
        try {
          execFileSync(DEBIAN_PYTHON, [SCRIPT, d, '--json', '--temperature', T], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e) {
          ({ status, stderr } = e as { status: number; stderr: string });
        }
        expect(status, `--temperature ${T}`).to.equal(2);
        const lines = stderr.trim().split('\n');
        expect(lines, `--temperature ${T}`).to.have.length(1);
        expect(lines[0]).to.match(/^read_cache: temperature must be a positive number, got (0\.0|-1\.0|nan|inf)$/);
      }
    }
    r.close();
  });
});
