import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { precompute } from '../../src/cache/precompute.js';
import { parseAugmentSpec } from '../../src/data/augment.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { openDataset } from '../../src/data/open.js';
import { Rng } from '../../src/data/rng.js';
import { ORT_VERSION, openTeacher } from '../../src/teacher/session.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { expectSameBytes, snapshot } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cache/precompute kill -9 (real CLI processes)', function () {
  this.timeout(120000);
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-kill-'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('kill -9 at several random moments, then the same command: byte-identical to a clean run', async () => {
    const teacherFile = writeTinyTeacher(root, { numClasses: 3 });
    // 12 000 samples × 2 views / 512 rows = 47 shards: three kills at up to +5 shards each (plus
    // whatever a run writes before its kill lands) always leave work for the next run, even when
    // a loaded machine lets a child write several shards between two polls.
    const data = 'synthetic:12000:3:4x4x1:2';
    const out = path.join(root, 'killed');
    const args = ['bin/tfkd.js', 'precompute', '--teacher', teacherFile, '--data', data, '--out', out, '--device', 'cpu', '--threads', '1',
      '--dtype', 'f16', '--views', '2', '--augment', 'flip', '--augment-seed', '4', '--batch', '64', '--shard-rows', '512', '--progress', 'off'];

    // Clean run, in-process, same options.
    const dataset = await openDataset(data);
    const teacher = await openTeacher(teacherFile, { device: 'cpu', threads: 1, data: { shape: dataset.shape, numClasses: dataset.numClasses } });
    const clean = path.join(root, 'clean');
    try {
      await precompute({ teacher, dataset, fingerprint: await fingerprint(dataset), out: clean, dtype: 'f16', topk: null, views: 2,
        augment: { spec: parseAugmentSpec('flip'), seed: 4 }, part: null, batch: 64, shardRows: 512, ortVersion: ORT_VERSION });
    } finally {
      await teacher.close();
    }

    const shardCount = () => (fs.existsSync(out) ? fs.readdirSync(out).filter((f) => /^shard-\d+\.safetensors$/.test(f)).length : 0);
    /** Spawns the CLI; with `kill`, SIGKILLs it once `kill.shards` more shards exist plus `kill.ms`. */
    const run = (kill: { shards: number; ms: number } | null) =>
      new Promise<{ code: number | null; signal: string | null; shardsAtKill: number }>((resolve, reject) => {
        const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (b) => (stderr += b));
        let shardsAtKill = -1;
        let done = false;
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          done = true;
          if (kill === null && code !== 0) reject(new Error(`precompute exited ${code}: ${stderr}`));
          resolve({ code, signal, shardsAtKill });
        });
        if (kill !== null) {
          void (async () => {
            // A random moment while shards are being written: after `kill.shards` new shard files,
            // plus `kill.ms` (so the kill lands anywhere inside the next shard's work or write).
            const start = shardCount();
            while (!done && shardCount() < start + kill.shards) await sleep(2);
            await sleep(kill.ms);
            if (!done) {
              shardsAtKill = shardCount();
              child.kill('SIGKILL');
            }
          })();
        }
      });

    const rng = new Rng(20261128);
    const kills: string[] = [];
    let interrupted = 0;
    for (let i = 0; i < 3; i++) {
      const k = { shards: 1 + rng.below(5), ms: rng.below(60) };
      const r = await run(k);
      if (r.signal === 'SIGKILL') interrupted++;
      kills.push(`+${k.shards} shards +${k.ms} ms → ${r.signal ?? `exit ${r.code}`} with ${r.shardsAtKill} shard(s) on disk`);
    }
    console.log(`      kills: ${kills.join('; ')}`);
    expect(interrupted, 'every run must really be killed mid-way').to.equal(3);
    expect(fs.existsSync(path.join(out, 'manifest.json'))).to.equal(false);
    const final = await run(null);
    expect(final.code).to.equal(0);
    expectSameBytes(snapshot(clean), snapshot(out));
  });
});
