/**
 * `tfkd precompute` options that would do nothing with the others (QA report, section 10): given
 * on the command line (or set through the library) they are refused with exit 2 and one line plus
 * a hint, before anything is written; left to their defaults they never are. `--sessions` beyond
 * what runs is not refused: one line on stderr says how many sessions run and why.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPrecompute } from '../../src/cache/precompute-run.js';
import { UsageError } from '../../src/errors.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { cli as runCli } from './train-helpers.js';

/** The CLI in-process (test/cli/train-helpers.ts): the exit code, stdout and stderr. */
const cli = (args: string[]) => runCli(...args);

describe('cli/precompute: options that would do nothing', function () {
  this.timeout(60000);
  let root: string;
  let teacher: string;
  const DATA = 'synthetic:24:3:4x4x1'; // fixed-size samples: no image files to decode
  const d = (n: string) => path.join(root, n);
  const pc = (out: string, ...more: string[]) => ['precompute', '--teacher', teacher, '--data', DATA, '--out', out, '--device', 'cpu', '--threads', '1', '--progress', 'off', ...more];
  before(() => {
    root = tmpDir('pc-opts');
    teacher = writeTinyTeacher(root, {}); // K = 3, 4x4x1
    fs.writeFileSync(d('labels.json'), '["ant", "bee", "cat"]');
  });
  after(() => rmDir(root));

  /** Exit 2, exactly `lines` on stderr, nothing on stdout, and no --out directory. */
  async function refused(name: string, more: string[], lines: string): Promise<void> {
    const out = d(name);
    const r = await cli(pc(out, ...more));
    expect(r.code, r.err).to.equal(2);
    expect(r.err).to.equal(lines);
    expect(r.out).to.equal('');
    expect(fs.existsSync(out), `${more.join(' ')} wrote ${out}`).to.equal(false);
  }

  it('BAD CALL - --augment-seed without --augment (even its default value, typed)', async () => {
    const lines =
      'tfkd: --augment-seed needs --augment SPEC: it seeds the augmented views, and without --augment there are none\n' +
      'hint: e.g. --views 4 --augment crop:4,flip --augment-seed 7, or leave --augment-seed out\n';
    await refused('seed', ['--augment-seed', '7'], lines);
    await refused('seed0', ['--augment-seed', '0'], lines.replace('--augment-seed 7,', '--augment-seed 0,'));
  });

  it('BAD CALL - --teacher-labels without --class-map (a good labels file, read by nothing)', async () => {
    await refused(
      'labels',
      ['--teacher-labels', d('labels.json')],
      "tfkd: --teacher-labels needs --class-map: the teacher's class names are read only to map data classes to teacher outputs by name\n" + 'hint: e.g. --class-map names, or leave --teacher-labels out\n',
    );
  });

  it('BAD CALL - --skip-bad, --decoders, --render-workers, --max-pixels on data without image files', async () => {
    await refused('files', ['--max-pixels', '10', '--decoders', '1', '--render-workers', '0', '--skip-bad'], 'tfkd: --skip-bad, --decoders, --render-workers, --max-pixels apply to folder:/list:/tar: data (image files to decode); synthetic data has none\nhint: leave them out\n');
    await refused('decoders', ['--decoders', '8'], 'tfkd: --decoders applies to folder:/list:/tar: data (image files to decode); synthetic data has none\nhint: leave it out\n');
  });

  it('--sessions beyond the threads: not refused; one line on stderr says what runs, --json stdout stays the result', async () => {
    const out = d('sessions');
    const r = await cli(pc(out, '--sessions', '3', '--json'));
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.equal('--sessions 3 with 1 thread: 1 session runs (each session needs a thread of its own; raise --threads for more)\n');
    expect(JSON.parse(r.out)).to.include({ sessions: 1, threads: 1, state: 'fresh' });
    // As many as asked, or auto: nothing to say.
    for (const s of ['1', 'auto']) {
      const again = await cli(pc(d(`sessions-${s}`), '--sessions', s, '--json'));
      expect(again.code, again.err).to.equal(0);
      expect(again.err).to.equal('');
    }
  });

  it('the defaults are never refused: a plain precompute, and one with views, augment and its seed', async () => {
    const plain = await cli(pc(d('plain')));
    expect(plain.code, plain.err).to.equal(0);
    expect(plain.err).to.equal('');
    const views = await cli(pc(d('views'), '--views', '2', '--augment', 'flip', '--augment-seed', '4'));
    expect(views.code, views.err).to.equal(0);
  });

  describe('the library (runPrecompute): options given with a value other than their default, or named in `explicit`', () => {
    const base = () => ({ teacher, data: DATA, device: 'cpu' as const, threads: 1 });
    async function apiRefused(name: string, o: Record<string, unknown>, message: string): Promise<void> {
      const out = d(name);
      let err: unknown = null;
      try {
        await runPrecompute({ ...base(), out, ...o });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UsageError);
      expect((err as Error).message).to.equal(message);
      expect(fs.existsSync(out)).to.equal(false);
    }

    it('BAD CALL - augmentSeed, teacherLabels, renderWorkers that do nothing are UsageErrors, nothing written', async () => {
      await apiRefused('api-seed', { augmentSeed: 3 }, '--augment-seed needs --augment SPEC: it seeds the augmented views, and without --augment there are none');
      await apiRefused('api-seed0', { augmentSeed: 0, explicit: new Set(['augmentSeed']) }, '--augment-seed needs --augment SPEC: it seeds the augmented views, and without --augment there are none');
      await apiRefused('api-labels', { teacherLabels: d('labels.json') }, "--teacher-labels needs --class-map: the teacher's class names are read only to map data classes to teacher outputs by name");
      await apiRefused('api-workers', { renderWorkers: 0 }, '--render-workers applies to folder:/list:/tar: data (image files to decode); synthetic data has none');
    });

    it('the default values spelled out are taken (augmentSeed 0, skipBad false, decoders 8)', async () => {
      const s = await runPrecompute({ ...base(), out: d('api-defaults'), views: 1, augmentSeed: 0, skipBad: false, decoders: 8 });
      expect(s).to.include({ state: 'fresh', rows: 24 });
    });
  });
});
