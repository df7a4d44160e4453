/**
 * docs/slurm-array.sh on a real Slurm (slurm-cluster.ts: munged + slurmctld + slurmd in a temp
 * directory), submitted as docs/CACHE.md shows it: the merged cache equals an unsharded run byte for
 * byte; the highest index killed mid-part (a TFKD_FAULT point) is recovered by the one command its
 * log prints (that index alone); a task cancelled mid-part is recovered by resubmitting the whole
 * array. Needs root and `apt-get install slurmctld slurmd slurm-client munge`: without them it is
 * skipped with one line — except under CI=true, where .ci/run installs them and a skip would hide a
 * failure.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { partRange, readManifest } from '../../src/cache/manifest.js';
import { expectSameAsUnsharded } from '../cache/helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { SlurmCluster, sleep, slurmUnavailable, type JobTask } from './slurm-cluster.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SCRIPT = path.join(ROOT, 'docs/slurm-array.sh');
const TFKD = path.join(ROOT, 'bin/tfkd.js');
/** What the tasks compute: the committed Fashion-MNIST subset (3 000 images) through a shipped teacher. */
const ARGS = ['--teacher', path.join(ROOT, 'models/fmnist-good.onnx'), '--data', `fashion-mnist:${path.join(ROOT, 'data/fashion-mnist-subset')}`, '--device', 'cpu', '--shard-rows', '256', '--progress', 'off'];

describe('docs/slurm-array.sh on a real Slurm (single node)', function () {
  this.timeout(170_000);
  let cluster: SlurmCluster | undefined;
  let work: string | undefined;
  let ref: string;

  before(async function () {
    const why = slurmUnavailable();
    if (why) {
      if (process.env.CI === 'true') throw new Error(`CI=true but Slurm cannot run here: ${why}`);
      console.log(`    (skipped: ${why})`);
      this.skip();
    }
    work = tmpDir('slurm-work');
    ref = path.join(work, 'unsharded');
    const r = spawnSync(process.execPath, [TFKD, 'precompute', ...ARGS, '--threads', '1', '--out', ref], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    cluster = await SlurmCluster.start();
  });

  after(() => {
    cluster?.stop();
    rmDir(work);
  });

  /** The merged cache equals the unsharded run (test/cache/helpers.ts), and holds nothing else: no part, journal or lock is left. */
  function expectMergedOnly(dir: string): void {
    expectSameAsUnsharded(dir, ref);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['manifest.json', ...readManifest(ref).shards.map((s) => s.file)].sort());
  }

  const log = (t: JobTask): string => fs.readFileSync(t.stdout, 'utf8');
  const states = (tasks: JobTask[]): string[] => tasks.sort((a, b) => a.taskId - b.taskId).map((t) => `${t.taskId}:${t.state}`);
  /** The command a task's log says runs its part again. */
  const resubmitCommand = (t: JobTask): string => {
    const m = /^tfkd-precompute: to run this part again \([^)]*\): (.+)$/m.exec(log(t));
    expect(m, log(t)).to.not.equal(null);
    return m![1];
  };
  /** Runs a printed command with bash, from another directory; the job id sbatch gives. */
  const runPrinted = (cmd: string): string => {
    const r = spawnSync('bash', ['-c', cmd], { cwd: os.tmpdir(), env: cluster!.env, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    return /Submitted batch job (\d+)/.exec(r.stdout)![1];
  };

  it('sbatch docs/slurm-array.sh --teacher … --data … --out CACHE from another directory: 8 parts, merged == unsharded byte for byte', () => {
    // The script named by a relative path, as a user in some directory would.
    const job = cluster!.sbatch([path.relative(work!, SCRIPT), ...ARGS, '--out', 'c1'], work!);
    const tasks = cluster!.waitJob(job);
    expect(states(tasks)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7].map((i) => `${i}:COMPLETED`));
    for (const t of tasks) {
      // Logs land in the submit directory, named for the job and index.
      expect(t.stdout).to.equal(path.join(work!, `tfkd-precompute-${job}_${t.taskId}.log`));
      expect(resubmitCommand(t)).to.include(`sbatch --array=${t.taskId} --chdir=${work}`).and.include(`${SCRIPT} `).and.match(/--shards 8 $/);
    }
    expect(tasks.filter((t) => /merged into c1/.test(log(t)))).to.have.length(1);
    expectMergedOnly(path.join(work!, 'c1'));
  });

  it('the highest index killed mid-part: no merge, `tfkd merge` names the part; the command its log prints (that index alone) completes it and merges byte-identically', () => {
    const N = readManifest(ref).N;
    const { sampleStart, sampleEnd } = partRange(7, 8, N);
    const killAt = sampleStart + 300; // after its first shard (256 rows) is committed
    expect(killAt).to.be.below(sampleEnd);
    const job = cluster!.sbatch([SCRIPT, ...ARGS, '--out', 'c2'], work!, { TFKD_FAULT: `cache-append:${killAt}` });
    const tasks = cluster!.waitJob(job);
    expect(states(tasks)).to.deep.equal([...[0, 1, 2, 3, 4, 5, 6].map((i) => `${i}:COMPLETED`), '7:FAILED']);
    expect(fs.existsSync(path.join(work!, 'c2', 'manifest.json'))).to.equal(false);
    expect(fs.readdirSync(path.join(work!, 'c2.parts', 'part-7'))).to.include('shard-00000.safetensors');
    const parts = fs.readdirSync(path.join(work!, 'c2.parts')).filter((f) => f.startsWith('part-')).map((f) => path.join('c2.parts', f));
    const early = spawnSync(process.execPath, [TFKD, 'merge', ...parts, '--out', 'c2'], { cwd: work, encoding: 'utf8' });
    expect(early.status).to.equal(2);
    expect(early.stderr).to.match(/c2\.parts\/part-7 is not complete/);

    const cmd = resubmitCommand(tasks.find((t) => t.taskId === 7)!);
    expect(cmd).to.match(/^sbatch --array=7 /);
    const again = cluster!.waitJob(runPrinted(cmd));
    expect(states(again)).to.deep.equal(['7:COMPLETED']);
    const out = log(again[0]);
    expect(out).to.match(/part-7: resumed, 119 rows computed/);
    expect(out).to.match(/merged into c2/);
    expectMergedOnly(path.join(work!, 'c2'));
  });

  it('a task cancelled mid-part (--array=0-3: 4 parts), the whole array resubmitted: merged byte-identically', () => {
    const N = readManifest(ref).N;
    const { sampleStart } = partRange(3, 4, N);
    const marker = path.join(work!, 'paused');
    const fault = { TFKD_FAULT: `cache-append:${sampleStart + 300}`, TFKD_FAULT_ACTION: 'pause', TFKD_FAULT_MARKER: marker };
    const submit = ['--array=0-3', SCRIPT, ...ARGS, '--out', 'c3'];
    const job = cluster!.sbatch(submit, work!, fault);
    // The condition (not a time): task 3 is paused inside its part, half of it written.
    const end = Date.now() + 120_000; // a hang becomes a failure; nothing is timed
    while (!fs.existsSync(marker)) {
      if (Date.now() > end) throw new Error(`task 3 never reached its fault point:\n${cluster!.logs()}`);
      const t = cluster!.tasks(job).find((x) => x.taskId === 3);
      if (t && !/PENDING|RUNNING|CONFIGURING/.test(t.state)) throw new Error(`task 3 ended (${t.state}) before its fault point:\n${log(t)}`);
      sleep(100);
    }
    const cancel = cluster!.cmd('scancel', [`${job}_3`]);
    expect(cancel.status, cancel.stderr).to.equal(0);
    const tasks = cluster!.waitJob(job);
    expect(states(tasks)).to.deep.equal(['0:COMPLETED', '1:COMPLETED', '2:COMPLETED', '3:CANCELLED']);
    expect(fs.existsSync(path.join(work!, 'c3', 'manifest.json'))).to.equal(false);

    const again = cluster!.waitJob(cluster!.sbatch(submit, work!));
    expect(states(again)).to.deep.equal(['0:COMPLETED', '1:COMPLETED', '2:COMPLETED', '3:COMPLETED']);
    for (const t of again.filter((x) => x.taskId < 3)) expect(log(t)).to.match(/already complete/);
    expect(again.filter((t) => /merged into c3/.test(log(t)))).to.have.length(1);
    expectMergedOnly(path.join(work!, 'c3'));
  });
});

describe('docs/slurm-array.sh: its arguments, refused before any work (no Slurm needed)', () => {
  /** The script as a task of an array would run it (the variables Slurm sets), without a cluster. */
  const task = (env: Record<string, string>, ...args: string[]) => spawnSync('bash', [SCRIPT, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, encoding: 'utf8' });
  const whole = { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '7', SLURM_ARRAY_TASK_COUNT: '8' };
  const alone = { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '3', SLURM_ARRAY_TASK_MAX: '3', SLURM_ARRAY_TASK_COUNT: '1' };
  const cases: Array<[string, Record<string, string>, string[], RegExp]> = [
    ['outside a job array', {}, ['--out', 'c'], /run this script as a Slurm job array: sbatch/],
    ['no --out', whole, ['--teacher', 'm.onnx'], /give --out CACHE/],
    ['--shard (the part is the index)', whole, ['--out', 'c', '--shard', '1/8'], /give --shards N .*not --shard/],
    ['one index resubmitted without --shards', alone, ['--out', 'c'], /--array=3-3 \(1 tasks\) is not the whole job 0-0: add --shards N/],
    ['an index beyond --shards', alone, ['--out', 'c', '--shards', '2'], /array index 3 is not a part of 2/],
    ['--shards not a number', alone, ['--out', 'c', '--shards', 'x'], /--shards x: expected a positive integer/],
  ];
  for (const [what, env, args, re] of cases) {
    it(`BAD CALL - ${what}: exit 2, one line`, () => {
      const r = task(env, ...args);
      expect(r.status, r.stdout + r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(re);
    });
  }
});
