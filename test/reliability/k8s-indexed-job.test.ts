/**
 * docs/k8s-indexed-job.yaml's pod command, run as the Job controller would run it — every index at
 * once, each with its JOB_COMPLETION_INDEX — with `tfkd` on PATH and the Job's arguments swapped for
 * a small data set: the pod that completes the last part merges, once, and the merged cache equals an
 * unsharded run byte for byte; a pod killed mid-part (a TFKD_FAULT point) leaves no merge, and the
 * recovery the pods print (the whole Job again) completes it. No Kubernetes is needed: what is tested
 * is the YAML's own script and arguments contract.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { partRange, readManifest } from '../../src/cache/manifest.js';
import { expectSameAsUnsharded } from '../cache/helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const TFKD = path.join(ROOT, 'bin/tfkd.js');
const ARGS = ['--teacher', path.join(ROOT, 'models/fmnist-good.onnx'), '--data', `fashion-mnist:${path.join(ROOT, 'data/fashion-mnist-subset')}`, '--device', 'cpu', '--threads', '1', '--shard-rows', '256', '--progress', 'off'];
const SHARDS = 4;

interface Container {
  command: string[];
  args: string[];
  env: Array<{ name: string; value: string }>;
}

describe('docs/k8s-indexed-job.yaml: the pods\' script (no cluster)', function () {
  this.timeout(150_000);
  let work: string;
  let ref: string;
  let job: { spec: { completions: number }; container: Container };

  before(() => {
    work = tmpDir('k8s');
    const doc = parse(fs.readFileSync(path.join(ROOT, 'docs/k8s-indexed-job.yaml'), 'utf8'));
    job = { spec: doc.spec, container: doc.spec.template.spec.containers[0] };
    // `tfkd` on PATH, as the image installs it.
    fs.mkdirSync(path.join(work, 'bin'));
    fs.writeFileSync(path.join(work, 'bin', 'tfkd'), `#!/bin/sh\nexec "${process.execPath}" "${TFKD}" "$@"\n`, { mode: 0o755 });
    ref = path.join(work, 'unsharded');
    const r = spawnSync(process.execPath, [TFKD, 'precompute', ...ARGS, '--out', ref], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });
  after(() => rmDir(work));

  it('declares completions = SHARDS and hands its arguments to the script', () => {
    const env = Object.fromEntries(job.container.env.map((e) => [e.name, e.value]));
    expect(Number(env.SHARDS)).to.equal(job.spec.completions);
    expect(job.container.command).to.deep.equal(['/bin/bash', '-c']);
    expect(job.container.args[1]).to.equal('tfkd-precompute');
    expect(job.container.args.slice(2).some((a) => a.startsWith('--teacher'))).to.equal(true);
  });

  /** Every index's pod at once; resolves to their exit codes and outputs. */
  function runPods(out: string, env: NodeJS.ProcessEnv = {}): Promise<Array<{ code: number | null; out: string }>> {
    const [sh, flag] = job.container.command;
    return Promise.all(
      Array.from({ length: SHARDS }, (_, i) => {
        const p = spawn(sh, [flag, job.container.args[0], 'tfkd-precompute', ...ARGS], {
          cwd: work,
          env: { ...process.env, ...env, PATH: `${path.join(work, 'bin')}:${process.env.PATH}`, JOB_COMPLETION_INDEX: String(i), SHARDS: String(SHARDS), OUT: out },
        });
        let text = '';
        p.stdout.on('data', (b) => (text += b));
        p.stderr.on('data', (b) => (text += b));
        return new Promise<{ code: number | null; out: string }>((resolve) => p.on('close', (code) => resolve({ code, out: text })));
      }),
    );
  }

  it('all pods at once, one killed mid-part: no merge; the whole Job again (what the pods print): one pod merges, merged == unsharded', async () => {
    const c2 = path.join(work, 'c2');
    const { sampleStart } = partRange(SHARDS - 1, SHARDS, readManifest(ref).N);
    const failed = await runPods(c2, { TFKD_FAULT: `cache-append:${sampleStart + 300}` });
    expect(failed.map((p) => p.code)).to.deep.equal([0, 0, 0, 137]);
    expect(fs.existsSync(path.join(c2, 'manifest.json'))).to.equal(false);
    expect(failed[3].out).to.match(/to run failed parts again: kubectl delete job tfkd-precompute && kubectl apply -f docs\/k8s-indexed-job\.yaml/);
    const again = await runPods(c2);
    expect(again.map((p) => p.code), again.map((p) => p.out).join('\n')).to.deep.equal([0, 0, 0, 0]);
    expect(again[3].out).to.match(/resumed, \d+ rows computed/);
    for (const p of again.slice(0, 3)) expect(p.out).to.match(/already complete/);
    expect(again.filter((p) => /: merged 4 parts/.test(p.out))).to.have.length(1);
    expectSameAsUnsharded(c2, ref);
  });
});
