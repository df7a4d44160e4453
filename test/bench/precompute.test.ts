import { expect } from 'chai';
import { TAIL_J } from '../../src/cache/topk.js';
import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatPrecomputeBench, runPrecomputeBench } from '../../src/bench/precompute.js';
import { register } from '../../src/cli/commands/bench-precompute.js';
import { handleError } from '../../src/cli/handle-error.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

describe('tfkd bench precompute', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('benchp');
  });
  after(() => rmDir(dir));

  it('reports bare vs end-to-end rows/s, their ratio, and bytes per row of f32 / f16 / top-k caches', async () => {
    const K = 6;
    const model = writeTinyTeacher(dir, { height: 4, width: 4, channels: 1, numClasses: K });
    const r = await runPrecomputeBench({
      teacher: model, data: 'synthetic:600:6:4x4x1:3', split: 'train', batch: 64, rows: 500, reps: 1, topk: 2, device: 'cpu', threads: 1, worker: true,
    });
    expect(r.worker_end_to_end_rows_per_s).to.be.greaterThan(0);
    expect(r.worker_ratio).to.be.closeTo(r.worker_end_to_end_rows_per_s! / r.bare_rows_per_s, 1e-12);
    expect(r.bare_cpu_ms_per_krow).to.be.greaterThan(0);
    expect(r.rows).to.equal(500);
    expect(r.teacher).to.include({ provider: 'cpu', threads: 1, K });
    expect(r.bare_rows_per_s).to.be.greaterThan(0);
    expect(r.end_to_end_rows_per_s).to.be.greaterThan(0);
    expect(r.ratio).to.be.closeTo(r.end_to_end_rows_per_s / r.bare_rows_per_s, 1e-12);
    expect(r.variants.map((v) => v.name)).to.deep.equal(['f32', 'f16', 'top-2 f32', 'top-2 f16']);
    const bpr = Object.fromEntries(r.variants.map((v) => [v.name, v.bytes_per_row]));
    // Payload per row (tfkd-cache/2: a row's sample and view are its position): logits K·4 or K·2;
    // top-k: k·2 u16 indices + k·(4|2) values + the tail statistics (cache/topk.ts: TAIL_J f32 tail
    // log-sums + one f32 tail mean). On disk, plus the safetensors JSON header amortised over the
    // rows (< 4 B/row here).
    const tail = TAIL_J * 4 + 4;
    const payload = { f32: K * 4, f16: K * 2, 'top-2 f32': 2 * 6 + tail, 'top-2 f16': 2 * 4 + tail };
    for (const [name, p] of Object.entries(payload)) {
      expect(bpr[name], name).to.be.at.least(p);
      expect(bpr[name], name).to.be.lessThan(p + 4);
    }
    const text = formatPrecomputeBench(r);
    expect(text).to.match(/bare session\.run +[\d,]+ rows\/s/);
    expect(text).to.match(/end-to-end f32 +[\d,]+ rows\/s .* ratio \d\.\d{3}/);
    console.log(text.replace(/^/gm, '      '));
  });

  /** Runs `tfkd bench precompute ARGS` through commander + the one error handler, in process. */
  async function cli(args: string[]): Promise<{ code: number; err: string }> {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    register(program);
    program.commands.forEach((c) => c.exitOverride().commands.forEach((s) => s.exitOverride().configureOutput({ writeErr: () => undefined })));
    let err = '';
    try {
      await program.parseAsync(['node', 'tfkd', 'bench', 'precompute', ...args]);
      return { code: 0, err };
    } catch (e) {
      const code = handleError(e, (s) => (err += s));
      return { code, err };
    }
  }

  it('BAD CALL - exit 2 with one line: a teacher that is not ONNX, an unknown device, a bad --batch', async () => {
    const bad = join(dir, 'not-a-model.onnx');
    writeFileSync(bad, 'hello\n');
    const r = await cli(['--teacher', bad, '--data', 'synthetic:10:3:4x4x1', '--device', 'cpu']);
    expect(r).to.deep.equal({ code: 2, err: 'tfkd: not an ONNX model: not-a-model.onnx\n' });
    const r2 = await cli(['--teacher', bad, '--data', 'synthetic:10:3:4x4x1', '--device', 'tpu']);
    expect(r2.code).to.equal(2);
    expect(r2.err).to.match(/^tfkd: invalid options: --device: .*\n$/);
    const r3 = await cli(['--teacher', bad, '--data', 'synthetic:10:3:4x4x1', '--batch', '0']);
    expect(r3.code).to.equal(2);
    expect(r3.err).to.match(/--batch/);
  });
});
