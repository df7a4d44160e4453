/**
 * Readers of a run never modify it (QA concurrency report, bug 1): `eval` and `export` take no lock,
 * so they may run while the trainer is between the two renames of a checkpoint swap (run-dir.ts
 * writeDirAtomic: NAME missing, `.old-NAME` the complete previous checkpoint, `.tmp-NAME-PID` the
 * new one not yet committed), or on a run they cannot write. They read `.old-NAME` where it stands
 * and leave every byte and name of the run as it was; only the trainer, under the run's lock,
 * restores it (train --resume).
 *
 * A checkpoint write that fails (bug 5: a full disk) leaves no temp directory, and once the run
 * has kept a checkpoint the hint says to resume it (the same command without --resume is refused).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../../cli/train-helpers.js';
import { runCli } from '../../helpers/kill-resume.js';
import { DATA, rmDir, tmpDir } from './trainer-helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TINY = ['--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '64', '--backend', 'wasm', '--progress', 'off'];

/** Every entry under `dir` — directories too (a rename shows), with each file's sha256 and every mode. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(d, e.name);
      const rel = path.relative(dir, full);
      const mode = (fs.lstatSync(full).mode & 0o7777).toString(8);
      if (e.isDirectory()) {
        out[`${rel}/`] = mode;
        walk(full);
      } else out[rel] = `${mode} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

/** `run`'s paths in a command's output replaced by RUN: two runs' outputs compare by what was read. */
const unpath = (s: string, ...dirs: string[]): string => dirs.reduce((t, d) => t.split(d).join('RUN'), s);

describe('trainer: eval and export read a run mid-swap without touching it', function () {
  this.timeout(300000);
  let root: string;
  /** A run killed between the two renames of a swap (+ the other of best/last moved aside by hand). */
  let midSwap: string;
  /** A copy of midSwap that no test touches (each test reads or writes its own copy). */
  let pristine: string;
  /** The same run as recovery leaves it (the `.old-` copies renamed back, temp directories removed). */
  let recovered: string;
  /** Which checkpoints are mid-swap, and the one the kill left. */
  let names: string[];

  before(async () => {
    root = tmpDir('readers');
    midSwap = path.join(root, 'mid-swap');
    // Epoch 1 swaps best/ (1) and last/ (2); the kill lands on the first swap of epoch 2, after
    // `X → .old-X` and before `.tmp-X-PID → X`: exactly where a reader would have renamed.
    const r = await runCli(['train', ...TINY, '--loss', 'ce', '--epochs', '2', '--out', midSwap], 'checkpoint-swap:3');
    expect(r.signal, r.stderr).to.equal('SIGKILL');
    const ck = path.join(midSwap, 'checkpoints');
    const killedAt = fs.readdirSync(ck).find((e) => e.startsWith('.old-'))!.slice('.old-'.length);
    expect(['best', 'last']).to.include(killedAt);
    expect(fs.existsSync(path.join(ck, killedAt))).to.equal(false);
    const tmp = fs.readdirSync(ck).find((e) => e.startsWith(`.tmp-${killedAt}-`))!;
    expect(fs.existsSync(path.join(ck, tmp, 'state.json')), 'the new checkpoint is complete in its temp directory').to.equal(true);
    // The other one by hand: moved aside, with a complete (epoch 2) temp directory beside it.
    const other = killedAt === 'best' ? 'last' : 'best';
    fs.renameSync(path.join(ck, other), path.join(ck, `.old-${other}`));
    fs.cpSync(path.join(ck, tmp), path.join(ck, `.tmp-${other}-4242`), { recursive: true });
    names = [killedAt, other];
    pristine = path.join(root, 'pristine');
    fs.cpSync(midSwap, pristine, { recursive: true });
    recovered = path.join(root, 'recovered');
    fs.cpSync(midSwap, recovered, { recursive: true });
    const rc = path.join(recovered, 'checkpoints');
    for (const n of names) {
      fs.renameSync(path.join(rc, `.old-${n}`), path.join(rc, n));
      for (const e of fs.readdirSync(rc)) if (e.startsWith(`.tmp-${n}-`)) fs.rmSync(path.join(rc, e), { recursive: true });
    }
  });
  after(() => {
    if (root) spawnSync('chmod', ['-R', 'u+w', root]);
    rmDir(root);
  });

  const exportArgs = (run: string, name: string, out: string) => ['export', run, '--checkpoint', name, '--out', out, '--json'];
  const evalArgs = (run: string, name: string) => ['eval', run, '--checkpoint', name, '--data', DATA, '--backend', 'wasm', '--json'];

  it('export and eval read the previous checkpoint (.old-NAME, not the uncommitted temp one) and leave the run byte for byte', async () => {
    const before = snapshot(midSwap);
    for (const name of names) {
      const a = await cli(...exportArgs(midSwap, name, path.join(root, `mid-${name}.onnx`)));
      expect(a.code, a.err).to.equal(0);
      const b = await cli(...exportArgs(recovered, name, path.join(root, `rec-${name}.onnx`)));
      expect(b.code, b.err).to.equal(0);
      const ja = JSON.parse(a.out) as { sha256: string; epoch: number; checkpoint: string };
      const jb = JSON.parse(b.out) as { sha256: string; epoch: number };
      expect(ja.sha256, `export --checkpoint ${name}`).to.equal(jb.sha256);
      expect(ja.epoch).to.equal(1);
      expect(ja.checkpoint, 'named as the checkpoint, not its .old- copy').to.equal(path.join(midSwap, 'checkpoints', name));
      const e1 = await cli(...evalArgs(midSwap, name));
      expect(e1.code, e1.err).to.equal(0);
      const e2 = await cli(...evalArgs(recovered, name));
      expect(e2.code, e2.err).to.equal(0);
      expect(unpath(e1.out, midSwap), `eval --checkpoint ${name}`).to.equal(unpath(e2.out, recovered));
      // The checkpoint directory given itself (absent mid-swap: its .old- copy is read).
      const e3 = await cli('eval', path.join(midSwap, 'checkpoints', name), '--data', DATA, '--backend', 'wasm', '--json');
      expect(e3.code, e3.err).to.equal(0);
      const untargeted = (out: string, run: string) => ({ ...(JSON.parse(unpath(out, run)) as Record<string, unknown>), target: null });
      expect(untargeted(e3.out, midSwap), `eval RUN/checkpoints/${name}`).to.deep.equal(untargeted(e2.out, recovered));
    }
    // Unnamed: best/ (also mid-swap).
    const d = await cli('export', midSwap, '--out', path.join(root, 'default.onnx'), '--json');
    expect(d.code, d.err).to.equal(0);
    expect(snapshot(midSwap)).to.deep.equal(before);
  });

  it('a run the reader cannot write (a kill left .old-NAME) is evaluated and exported, unchanged', async function () {
    // Root ignores the modes: its readers see the run through a read-only bind mount, in a mount
    // namespace of their own (writes fail with EROFS). Not as another user: a checkout need not be
    // readable by one (a clone under mktemp -d is 0700).
    const ro = path.join(root, 'read-only');
    const asRoot = process.getuid?.() === 0;
    let wrap: string[] = [];
    if (asRoot) {
      if (spawnSync('unshare', ['--mount', '--', 'true']).status !== 0) this.skip(); // no mount namespaces here
      wrap = ['unshare', '--mount', '--', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"', 'sh', ro];
    }
    fs.cpSync(pristine, ro, { recursive: true });
    const outDir = path.join(root, 'out');
    fs.mkdirSync(outDir);
    fs.chmodSync(outDir, 0o777);
    fs.chmodSync(root, 0o755);
    spawnSync('chmod', ['-R', 'a-w', ro]);
    const before = snapshot(ro);
    const run = (args: string[]) => {
      const cmd = [...wrap, process.execPath, path.join(ROOT, 'bin/tfkd.js'), ...args];
      const r = spawnSync(cmd[0], cmd.slice(1), { cwd: outDir, encoding: 'utf8', timeout: 180000, env: { ...process.env, HOME: outDir } });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    for (const name of names) {
      const x = run(exportArgs(ro, name, path.join(outDir, `${name}.onnx`)));
      expect(x.code, x.err).to.equal(0);
      const want = await cli(...exportArgs(recovered, name, path.join(root, `rec2-${name}.onnx`)));
      expect((JSON.parse(x.out) as { sha256: string }).sha256).to.equal((JSON.parse(want.out) as { sha256: string }).sha256);
    }
    const e = run(evalArgs(ro, names[0]));
    expect(e.code, e.err).to.equal(0);
    const want = await cli(...evalArgs(recovered, names[0]));
    expect(unpath(e.out, ro)).to.equal(unpath(want.out, recovered));
    expect(snapshot(ro)).to.deep.equal(before);
  });

  it('train --resume (the lock holder) restores the swap and finishes the run', async () => {
    const run = path.join(root, 'resumed');
    fs.cpSync(pristine, run, { recursive: true });
    const r = await cli('train', '--out', run, '--resume', '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    const left = fs.readdirSync(path.join(run, 'checkpoints')).filter((e) => e.startsWith('.'));
    expect(left).to.deep.equal([]);
    for (const name of ['best', 'last']) expect(fs.existsSync(path.join(run, 'checkpoints', name, 'state.json'))).to.equal(true);
  });
});

describe('trainer: a checkpoint write that fails (disk full) leaves no temp directory and says how to go on', function () {
  this.timeout(300000);
  let root: string;
  /** node:fs itself (its `default`): what the ESM bindings of src/ are synced from. */
  const nodeFs = (fs as unknown as { default: { openSync: typeof fs.openSync } }).default;
  const realOpen = nodeFs.openSync;
  /** Makes the `nth` open of a temp file matching `re` fail with ENOSPC (as a full disk does). */
  const failOpen = (re: RegExp, nth: number) => {
    let seen = 0;
    nodeFs.openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
      if (re.test(String(p)) && ++seen === nth) throw Object.assign(new Error(`ENOSPC: no space left on device, open '${String(p)}'`), { code: 'ENOSPC', errno: -28, syscall: 'open', path: String(p) });
      return (realOpen as (...a: unknown[]) => number)(p, ...rest);
    }) as typeof fs.openSync;
    syncBuiltinESMExports();
  };
  const restore = () => {
    nodeFs.openSync = realOpen;
    syncBuiltinESMExports();
  };
  before(() => (root = tmpDir('disk-full')));
  afterEach(restore);
  after(() => rmDir(root));

  const OPT_OF_LAST = /\/checkpoints\/\.tmp-last-\d+\/\.tmp-optimizer\.safetensors-\d+$/;
  const METRICS = /\/\.tmp-metrics\.jsonl-\d+$/;
  const WEIGHTS_OF_BEST = /\/checkpoints\/\.tmp-best-\d+\/\.tmp-weights\.safetensors-\d+$/;

  for (const c of [
    { what: 'last/ of epoch 2 (a checkpoint kept)', re: OPT_OF_LAST, nth: 2, kept: true, file: /\.tmp-last-\d+\/optimizer\.safetensors/ },
    { what: 'metrics.jsonl of epoch 2 (a checkpoint kept)', re: METRICS, nth: 2, kept: true, file: /metrics\.jsonl/ },
    // Written by the loop, not through a checkpoint's writer: the trainer's error path gives the hint.
    { what: 'summary.json at the end (a checkpoint kept)', re: /\/\.tmp-summary\.json-\d+$/, nth: 1, kept: true, file: /summary\.json/ },
    // Epoch 1 writes best/ first: its failure is the run's first checkpoint.
    { what: 'the first checkpoint, best/ of epoch 1 (none kept)', re: WEIGHTS_OF_BEST, nth: 1, kept: false, file: /\.tmp-best-\d+\/weights\.safetensors/ },
  ]) {
    it(`${c.what}: exit 1 naming the file, no .tmp-* left, the hint ${c.kept ? 'to --resume works' : 'to run it again works'}`, async () => {
      const out = path.join(root, c.what.replace(/\W+/g, '-'));
      const args = ['train', ...TINY, '--loss', 'ce', '--epochs', '2', '--out', out];
      failOpen(c.re, c.nth);
      const r = await cli(...args);
      restore();
      expect(r.code, r.err).to.equal(1);
      expect(r.err).to.match(/no space left on the device \(ENOSPC\)/);
      expect(r.err).to.match(c.file);
      const ck = path.join(out, 'checkpoints');
      const tmps = fs.existsSync(ck) ? fs.readdirSync(ck).filter((e) => e.startsWith('.tmp-')) : [];
      expect(tmps, 'temp directories left on the full disk').to.deep.equal([]);
      if (c.kept) {
        expect(r.err).to.match(/hint: free some space, then resume the run: the same command with --resume continues from its last checkpoint/);
        const again = await cli(...args);
        expect(again.code, 'without --resume the run is refused').to.equal(2);
        const resumed = await cli(...args, '--resume');
        expect(resumed.code, resumed.err).to.equal(0);
      } else {
        expect(r.err).to.match(/hint: free some space, then run the same command again/);
        const again = await cli(...args);
        expect(again.code, again.err).to.equal(0);
      }
    });
  }
});
