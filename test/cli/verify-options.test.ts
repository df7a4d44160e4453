/**
 * `tfkd verify` without --teacher/--data runs the structural checks only: the options of the
 * recompute check (--split, --sample, --seed, --device, --threads) would do nothing there (QA
 * report, section 9). Typed, they are refused with exit 2 and one line plus a hint; left to their
 * defaults they never are. The library (`runVerify`, the API's verifyCache) refuses them when given
 * with a value other than the default, or when named in `explicit`.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { runVerify } from '../../src/cache/verify-run.js';
import { UsageError } from '../../src/errors.js';
import { expectSameBytes, snapshot, writeSynth } from '../cache/helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { cli as runCli } from './train-helpers.js';

/** The CLI in-process (test/cli/train-helpers.ts): the exit code, stdout and stderr. */
const cli = (args: string[]) => runCli(...args);

describe('cli/verify: recompute options without --teacher and --data', function () {
  this.timeout(60000);
  let root: string;
  let cache: string;
  before(() => {
    root = tmpDir('verify-opts');
    cache = path.join(root, 'c');
    writeSynth(cache, { N: 20, K: 4 });
  });
  after(() => rmDir(root));

  const HINT = 'hint: or leave them out: without --teacher and --data, verify runs the structural checks only\n';

  it('BAD CALL - --split, --sample, --seed, --device, --threads are refused (exit 2, one line and a hint, nothing checked or written)', async () => {
    const before = snapshot(cache);
    const all = await cli(['verify', cache, '--json', '--split', 'test', '--sample', '5', '--seed', '9', '--device', 'webgpu', '--threads', '3']);
    expect(all.code, all.err).to.equal(2);
    expect(all.err).to.equal(`tfkd: --split, --sample, --seed, --device, --threads are for the recompute check: give --teacher and --data\n${HINT}`);
    expect(all.out).to.equal('');
    // The defaults' own values, typed, are refused too: they were asked for, and do nothing.
    const one = await cli(['verify', cache, '--sample', '64']);
    expect(one.code, one.err).to.equal(2);
    expect(one.err).to.equal('tfkd: --sample is for the recompute check: give --teacher and --data\nhint: or leave it out: without --teacher and --data, verify runs the structural checks only\n');
    expect(one.out).to.equal('');
    expectSameBytes(snapshot(cache), before);
  });

  it('the defaults are never refused: plain verify passes', async () => {
    const r = await cli(['verify', cache, '--json']);
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.equal('');
    expect(JSON.parse(r.out)).to.include({ ok: true, recompute: null });
  });

  it('BAD CALL - the library refuses them when given with another value than the default, or named in explicit; takes the defaults', async () => {
    const refused = async (o: Parameters<typeof runVerify>[1]): Promise<string> => {
      try {
        await runVerify(cache, o);
      } catch (e) {
        expect(e).to.be.instanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(await refused({ sample: 5, threads: 2 })).to.equal('--sample, --threads are for the recompute check: give --teacher and --data');
    expect(await refused({ seed: 0, explicit: new Set(['seed']) })).to.equal('--seed is for the recompute check: give --teacher and --data');
    expect((await runVerify(cache, { sample: 64, seed: 0, device: 'cpu' })).ok).to.equal(true);
    expect((await runVerify(cache, { sample: 5, explicit: new Set() })).ok).to.equal(true);
  });
});
