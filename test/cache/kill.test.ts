import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { precompute } from '../../src/cache/precompute.js';
import { parseAugmentSpec } from '../../src/data/augment.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { openDataset } from '../../src/data/open.js';
import { Rng } from '../../src/data/rng.js';
import { openTeacher } from '../../src/teacher/session.js';
import { ORT_VERSION } from '../../src/teacher/ort.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { expectSameBytes, pinned } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { runCli } from '../helpers/kill-resume.js';

/**
 * kill -9 of the real CLI at chosen points of the writer's commit protocol. The child kills itself
 * (SIGKILL, exactly what an external kill -9 does) when it reaches the fault point named in
 * TFKD_FAULT (src/util/fault.ts), so every kill lands mid-run, on any machine, at any load: no
 * clock is raced.
 */
describe('cache/precompute kill -9 (real CLI processes, deterministic fault points)', function () {
  this.timeout(180000);
  let root: string;
  let teacherFile: string;
  let clean: string;
  // 4 000 samples × 2 views / 256 rows = 32 shards (the last one 64 rows).
  const data = 'synthetic:4000:3:4x4x1:2';
  const SHARD_ROWS = 256;
  const SHARDS = Math.ceil((4000 * 2) / SHARD_ROWS);
  const argsFor = (out: string) => ['precompute', '--teacher', teacherFile, '--data', data, '--out', out, '--device', 'cpu', '--threads', '1',
    '--dtype', 'f16', '--views', '2', '--augment', 'flip', '--augment-seed', '4', '--batch', '48', '--shard-rows', String(SHARD_ROWS), '--progress', 'off'];

  /** Runs the CLI, with TFKD_FAULT=`fault` when given. */
  const run = (out: string, fault: string | null) => runCli(argsFor(out), fault);

  before(async () => {
    root = tmpDir('kill');
    teacherFile = writeTinyTeacher(root, { numClasses: 3 });
    // Clean run, in-process, same options.
    const dataset = await openDataset(data);
    const teacher = await openTeacher(teacherFile, { device: 'cpu', threads: 1, data: { shape: dataset.shape, numClasses: dataset.numClasses } });
    clean = path.join(root, 'clean');
    try {
      await precompute({ teacher, dataset, fingerprint: await fingerprint(dataset), out: clean, dtype: 'f16', topk: null, views: 2,
        augment: { spec: parseAugmentSpec('flip'), seed: 4 }, part: null, batch: 48, shardRows: SHARD_ROWS, ortVersion: ORT_VERSION });
    } finally {
      await teacher.close();
    }
  });
  after(() => rmDir(root));

  it('kill -9 at six seeded points of the commit protocol, then the same command: byte-identical to a clean run', async () => {
    const out = path.join(root, 'killed');
    const rng = new Rng(20261128);
    // Six kills at increasing shards (each ≥ 2 past the previous one, so each run has work left
    // when it reaches its point): every stage of the protocol once, in a seeded order, plus one
    // more — rows buffered, a torn temp file (header only), a complete temp file, renamed but not
    // journaled, journaled.
    const stages = ['cache-append', 'cache-shard-torn', 'cache-shard-tmp', 'cache-shard-renamed', 'cache-shard-journaled'];
    const order = [...stages, stages[rng.below(stages.length)]];
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const points: string[] = [];
    let shard = 0;
    for (const stage of order) {
      shard += 2 + rng.below(3);
      // cache-append counts rows: a row strictly inside the shard (its buffer is partly filled).
      points.push(stage === 'cache-append' ? `${stage}:${shard * SHARD_ROWS + 1 + rng.below(SHARD_ROWS - 1)}` : `${stage}:${shard}`);
    }
    expect(shard).to.be.below(SHARDS - 1);
    // And the two commit steps at the end: manifest temp file written; manifest renamed, journal not yet removed.
    points.push('cache-manifest-tmp:0');
    const lines: string[] = [];
    for (const p of points) {
      const r = await run(out, p);
      const shards = fs.readdirSync(out).filter((f) => /^shard-\d+\.safetensors$/.test(f)).length;
      lines.push(`${p} → ${r.signal ?? `exit ${r.code}`}, ${shards} shard file(s)`);
      expect(r.signal, `${p}: the run must be killed at its fault point (stderr: ${r.stderr})`).to.equal('SIGKILL');
      expect(fs.existsSync(path.join(out, 'manifest.json')), `${p}: no manifest after a kill before the commit`).to.equal(false);
    }
    console.log(`      kills: ${lines.join('; ')}`);
    const final = await run(out, null);
    expect(final.code, final.stderr).to.equal(0);
    expectSameBytes(pinned(clean), pinned(out));
  });

  it('kill -9 between the manifest rename and the journal removal: the re-run completes the commit (no journal left behind)', async () => {
    const out = path.join(root, 'late');
    const r = await run(out, 'cache-manifest-renamed:0');
    expect(r.signal).to.equal('SIGKILL');
    expect(fs.existsSync(path.join(out, 'manifest.json'))).to.equal(true);
    expect(fs.existsSync(path.join(out, 'progress.jsonl'))).to.equal(true);
    const again = await run(out, null);
    expect(again.code, again.stderr).to.equal(0);
    expectSameBytes(pinned(clean), pinned(out));
  });
});
