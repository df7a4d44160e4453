/**
 * A private single-node Slurm for tests: munged, slurmctld and slurmd (Debian's `munge slurmctld
 * slurmd slurm-client`), run as root with every file they write under one temporary directory, on
 * free ports, so nothing of the host's configuration is read or changed. Facts this rests on
 * (measured; /work/shared/DESIGN.md §8): munged as root wants its own key, socket, pid, log and seed
 * files in a root-owned 0755 directory; slurm.conf needs MailProg, proctrack/linuxproc and task/none
 * (no cgroups), DefMemPerCPU (else array tasks run one at a time) and cred_expire=10 (else a
 * resubmitted task can wait two minutes); NodeName=localhost NodeAddr=127.0.0.1 with `slurmd -N
 * localhost` avoids any hostname dependence.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Path of a daemon or client binary (sbin is not on every user's PATH), or null. */
function findBinary(name: string): string | null {
  for (const d of [...(process.env.PATH ?? '').split(':'), ...SBIN]) {
    const f = path.join(d, name);
    if (d && fs.existsSync(f)) return f;
  }
  return null;
}

/** Why this machine cannot run the cluster (null when it can). */
export function slurmUnavailable(): string | null {
  const missing = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel'].filter((b) => !findBinary(b));
  if (missing.length) return `not installed: ${missing.join(', ')} (apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)`;
  if (process.getuid?.() !== 0) return 'slurmd must run as root here';
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Blocks for `ms` (polling a condition only; never a timing assertion). */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const ACTIVE = /PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUE|SUSPENDED|RESIZING|SIGNALING|STAGE_OUT/;

export interface JobTask {
  jobId: string;
  arrayJobId: string;
  taskId: number;
  state: string;
  exitCode: string;
  stdout: string;
}

export class SlurmCluster {
  readonly env: NodeJS.ProcessEnv;
  private pids: Array<{ name: string; file: string }> = [];

  private constructor(
    readonly dir: string,
    readonly conf: string,
  ) {
    this.env = { ...process.env, SLURM_CONF: conf };
    // A user's own Slurm defaults must not leak into the test's submissions.
    for (const k of Object.keys(this.env)) if (/^(SBATCH_|SLURM_)/.test(k) && k !== 'SLURM_CONF') delete this.env[k];
  }

  /** Starts munged, slurmctld and slurmd; waits until the node is idle. */
  static async start(): Promise<SlurmCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-slurm-'));
    fs.chmodSync(dir, 0o755);
    for (const d of ['munge', 'ctld', 'spool', 'log']) fs.mkdirSync(path.join(dir, d), { mode: 0o755 });
    fs.chmodSync(path.join(dir, 'munge'), 0o755);
    const key = path.join(dir, 'munge', 'munge.key');
    execFileSync(findBinary('mungekey')!, ['--create', `--keyfile=${key}`]);
    const sock = path.join(dir, 'munge', 'munge.sock');
    const c = new SlurmCluster(dir, path.join(dir, 'slurm.conf'));
    try {
      c.run(findBinary('munged')!, [`--key-file=${key}`, `--socket=${sock}`, `--pid-file=${path.join(dir, 'munge', 'munged.pid')}`, `--log-file=${path.join(dir, 'munge', 'munged.log')}`, `--seed-file=${path.join(dir, 'munge', 'munged.seed')}`]);
      c.pids.push({ name: 'munged', file: path.join(dir, 'munge', 'munged.pid') });
      // A port taken between the probe and the daemon's bind: try others.
      for (let attempt = 0; ; attempt++) {
        const [ctld, slurmd] = [await freePort(), await freePort()];
        fs.writeFileSync(c.conf, slurmConf(dir, sock, ctld, slurmd));
        c.run(findBinary('slurmctld')!, ['-i', '-f', c.conf]);
        c.pids.push({ name: 'slurmctld', file: path.join(dir, 'slurmctld.pid') });
        c.run(findBinary('slurmd')!, ['-f', c.conf, '-N', 'localhost']);
        c.pids.push({ name: 'slurmd', file: path.join(dir, 'slurmd.pid') });
        if (c.waitIdle()) break;
        c.stopSlurm();
        if (attempt === 2) throw new Error(`slurm did not come up:\n${c.logs()}`);
      }
      return c;
    } catch (e) {
      c.stop();
      throw e;
    }
  }

  private run(bin: string, args: string[]): void {
    const r = spawnSync(bin, args, { env: this.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${path.basename(bin)} ${args.join(' ')}: exit ${r.status}\n${r.stderr}\n${this.logs()}`);
  }

  /** Polls sinfo until the node is idle (true) or it clearly is not coming (false). */
  private waitIdle(): boolean {
    for (let i = 0; i < 150; i++) {
      const r = this.cmd('sinfo', ['-h', '-o', '%T']);
      if (r.status === 0 && r.stdout.trim() === 'idle') return true;
      sleep(100);
    }
    return false;
  }

  logs(): string {
    return ['log/slurmctld.log', 'log/slurmd.log', 'munge/munged.log']
      .map((f) => path.join(this.dir, f))
      .filter((f) => fs.existsSync(f))
      .map((f) => `--- ${f}\n${fs.readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }

  /** A Slurm client command against this cluster. */
  cmd(name: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
    return spawnSync(findBinary(name)!, args, { cwd: opts.cwd, env: { ...this.env, ...opts.env }, encoding: 'utf8' });
  }

  /** `sbatch ARGS` in `cwd`; the job id. */
  sbatch(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
    const r = this.cmd('sbatch', ['--parsable', ...args], { cwd, env });
    if (r.status !== 0) throw new Error(`sbatch ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim().split(';')[0];
  }

  /** The tasks of a job (an array's, or one job), as scontrol knows them (MinJobAge keeps finished ones). */
  tasks(jobId: string): JobTask[] {
    const r = this.cmd('scontrol', ['show', 'job', '-o', jobId]);
    if (r.status !== 0) throw new Error(`scontrol show job ${jobId}: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        const f = (k: string) => new RegExp(`(?:^| )${k}=(\\S*)`).exec(l)?.[1] ?? '';
        return { jobId: f('JobId'), arrayJobId: f('ArrayJobId'), taskId: Number(f('ArrayTaskId')), state: f('JobState'), exitCode: f('ExitCode'), stdout: f('StdOut') };
      });
  }

  /**
   * Polls until no task of the job is pending or running; its tasks. The deadline only turns a hang
   * into a failure (a synchronous loop cannot be stopped by mocha's timeout); nothing is timed.
   */
  waitJob(jobId: string, deadlineMs = 150_000): JobTask[] {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const t = this.tasks(jobId);
      if (t.length && t.every((x) => !ACTIVE.test(x.state))) return t;
      if (Date.now() > end) throw new Error(`job ${jobId} still not finished: ${t.map((x) => `${x.taskId}:${x.state}`).join(' ')}\n${this.logs()}`);
      sleep(200);
    }
  }

  /** Cancels every job on this cluster and waits until none is left (its processes are gone with them). */
  private cancelAll(): void {
    this.cmd('scancel', ['--user', os.userInfo().username]);
    for (let i = 0; i < 300; i++) {
      const r = this.cmd('squeue', ['-h', '-o', '%i']);
      if (r.status !== 0 || r.stdout.trim() === '') return;
      sleep(100);
    }
  }

  private stopSlurm(): void {
    for (const name of ['slurmd', 'slurmctld']) {
      const i = this.pids.findIndex((p) => p.name === name);
      if (i >= 0) {
        stopPidFile(this.pids[i].file);
        this.pids.splice(i, 1);
      }
    }
  }

  /** Stops every daemon this cluster started (and waits for each to exit), then removes its directory. */
  stop(): void {
    // A test that failed half-way may leave tasks running (or paused at a fault point).
    if (this.pids.some((p) => p.name === 'slurmd')) this.cancelAll();
    this.stopSlurm();
    for (const p of this.pids.reverse()) stopPidFile(p.file);
    this.pids = [];
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGTERM to the pid in `file`, then wait until that process is gone. */
function stopPidFile(file: string): void {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return; // never started
  }
  if (!(pid > 1)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; ; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (i === 200) process.kill(pid, 'SIGKILL');
    sleep(50);
  }
}

function slurmConf(dir: string, sock: string, ctldPort: number, slurmdPort: number): string {
  const cpus = 16;
  return `${[
    'ClusterName=tfkdtest',
    'SlurmctldHost=localhost(127.0.0.1)',
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${sock},cred_expire=10`,
    'SlurmUser=root',
    'SlurmdUser=root',
    `StateSaveLocation=${path.join(dir, 'ctld')}`,
    `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
    `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${path.join(dir, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${path.join(dir, 'log', 'slurmd.log')}`,
    'MailProg=/bin/true',
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core_Memory',
    'DefMemPerCPU=100',
    // The job script asks for 4 CPUs and 4 GiB a task; the node says it has enough for four such
    // tasks at a time whatever the machine (config_overrides: slurmd believes slurm.conf).
    'SlurmdParameters=config_overrides',
    'ReturnToService=2',
    'MinJobAge=600',
    'KillWait=2',
    'JobCompType=jobcomp/none',
    'AccountingStorageType=accounting_storage/none',
    `NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${cpus * 2048} State=UNKNOWN`,
    'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
  ].join('\n')}\n`;
}
