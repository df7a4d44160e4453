/**
 * `tfkd data info` / `data views` flags that would do nothing with the others or on the data (QA
 * report, section 13): typed, they are refused with exit 2 and one line plus a hint, before
 * anything is read or written; left to their defaults they never are.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { cli as runCli } from './train-helpers.js';

/** The CLI in-process (test/cli/train-helpers.ts): the exit code, stdout and stderr. */
const cli = (args: string[]) => runCli(...args);

/** Exit 2, exactly `lines` on stderr, nothing on stdout. */
async function refused(args: string[], lines: string): Promise<void> {
  const r = await cli(args);
  expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
  expect(r.err, args.join(' ')).to.equal(lines);
  expect(r.out, args.join(' ')).to.equal('');
}

describe('cli/data info and data views: flags that would do nothing', function () {
  this.timeout(60000);
  let root: string;
  let folder: string;
  const FIXED = 'synthetic:8:3:12x12x1';
  before(async () => {
    root = tmpDir('data-opts');
    folder = path.join(root, 'folder');
    for (const [c, v] of [['a', 10], ['b', 200]] as const) {
      fs.mkdirSync(path.join(folder, c), { recursive: true });
      await sharp({ create: { width: 5, height: 4, channels: 3, background: { r: v, g: v, b: 0 } } }).png().toFile(path.join(folder, c, '1.png'));
    }
  });
  after(() => rmDir(root));

  it('BAD CALL - data info: --size, --concurrency on fixed-size data; --skip-bad, --concurrency without --check', async () => {
    await refused(['data', 'info', FIXED, '--json', '--skip-bad', '--size', '5x5', '--concurrency', '3'], 'tfkd: --size, --concurrency apply to folder:/list:/tar: data (images of their own sizes); synthetic data has samples of one size\nhint: leave them out\n');
    await refused(['data', 'info', FIXED, '--size', '5x5', '--check'], 'tfkd: --size applies to folder:/list:/tar: data (images of their own sizes); synthetic data has samples of one size\nhint: leave it out\n');
    await refused(['data', 'info', FIXED, '--skip-bad'], 'tfkd: --skip-bad is for --check (which decodes every image): give --check\nhint: or leave it out\n');
    await refused(['data', 'info', `folder:${folder}`, '--skip-bad', '--concurrency', '2'], 'tfkd: --skip-bad, --concurrency are for --check (which decodes every image): give --check\nhint: or leave them out\n');
  });

  it('data info: the same flags where they do something, and the defaults, are taken', async () => {
    for (const args of [[FIXED], [FIXED, '--check'], [`folder:${folder}`, '--size', '6x7'], [`folder:${folder}`, '--check', '--skip-bad', '--concurrency', '2']]) {
      const r = await cli(['data', 'info', ...args, '--json']);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(0);
      expect(r.err).to.equal('');
    }
    expect(JSON.parse((await cli(['data', 'info', `folder:${folder}`, '--size', '6x7', '--json'])).out).shape).to.deep.equal({ height: 6, width: 7, channels: 3 });
  });

  describe('data views', () => {
    const views = ['data', 'views', '--data', FIXED, '--augment', 'rrc,flip', '--views', '2', '--limit', '1'];
    const PRE = '{"resize":14,"crop":[12,12],"interpolation":"bicubic"}';

    it('BAD CALL - --format, --interpolation, --preprocess without --out', async () => {
      await refused([...views, '--json', '--format', 'npy'], 'tfkd: --format is for the views --out writes: give --out DIR --size H[,W]\nhint: or leave it out: the boxes printed do not depend on it\n');
      await refused(
        [...views, '--json', '--size', '12', '--interpolation', 'nearest', '--preprocess', PRE],
        'tfkd: --interpolation, --preprocess are for the views --out writes: give --out DIR --size H[,W]\nhint: or leave them out: the boxes printed do not depend on them\n',
      );
    });

    it('BAD CALL - an --interpolation the --preprocess spec\'s own filter overrides; no --out directory is made', async () => {
      const out = path.join(root, 'views-nearest');
      await refused(
        [...views, '--size', '12', '--preprocess', PRE, '--interpolation', 'nearest', '--out', out, '--format', 'npy'],
        'tfkd: --interpolation nearest with --preprocess, whose own filter is bicubic: the --preprocess filter is the one used\nhint: leave --interpolation out, or set "interpolation" in the --preprocess spec\n',
      );
      expect(fs.existsSync(out)).to.equal(false);
    });

    it('the flags where they do something, and the defaults, are taken', async () => {
      const cases: string[][] = [
        ['--json'],
        ['--size', '12', '--json'],
        ['--size', '12', '--out', path.join(root, 'v-npy'), '--format', 'npy'],
        ['--size', '12', '--out', path.join(root, 'v-nearest'), '--interpolation', 'nearest'],
        // The same filter as the spec's, or a spec without one: --interpolation is the one used.
        ['--size', '12', '--out', path.join(root, 'v-same'), '--preprocess', PRE, '--interpolation', 'bicubic'],
        ['--size', '12', '--out', path.join(root, 'v-nofilter'), '--preprocess', '{"resize":14,"crop":[12,12]}', '--interpolation', 'nearest'],
      ];
      for (const args of cases) {
        const r = await cli([...views, ...args]);
        expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(0);
        expect(r.err).to.equal('');
      }
      expect(fs.readdirSync(path.join(root, 'v-npy')).sort()).to.deep.equal(['0-0.npy', '0-1.npy']);
    });
  });
});
