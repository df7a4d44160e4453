import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capabilitiesOf } from '../../src/data/dataset.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { openDataset } from '../../src/data/open.js';
import { DATA_SOURCES } from '../../src/data/spec.js';
import { splitMemberName } from '../../src/data/tar-shards.js';
import { UsageError } from '../../src/errors.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { makeTarShards } from './tar-fixture.js';

describe('data/tar-shards: WebDataset .tar shards (tar:DIR)', function () {
  this.timeout(60000);
  let root: string;
  let fx: Awaited<ReturnType<typeof makeTarShards>>;
  before(async () => {
    root = tmpDir('tar');
    fx = await makeTarShards(root, 23, 4, 6);
  });
  after(() => rmDir(root));

  it('splits member names as WebDataset does (key up to the base name\'s first dot)', () => {
    expect(splitMemberName('a/b.c/s01.seg.png')).to.deep.equal({ key: 'a/b.c/s01', ext: 'seg.png' });
    expect(splitMemberName('s01.JPG')).to.deep.equal({ key: 's01', ext: 'jpg' });
  });

  it('reads the samples of GNU tar\'s pax and gnu archives in order, with their labels, as the list: of the same files', async () => {
    const tar = await openDataset(`tar:${fx.tarDir}`);
    const list = await openDataset(`list:${fx.list}`);
    expect(tar.size).to.equal(23);
    expect(Array.from(tar.labels)).to.deep.equal(fx.labels);
    expect(tar.numClasses).to.equal(Math.max(...fx.labels) + 1);
    expect(capabilitiesOf(tar)).to.deep.equal(DATA_SOURCES.tar.capabilities);
    expect(capabilitiesOf(tar).access).to.equal('sequential');
    const all = Int32Array.from({ length: 23 }, (_, i) => i);
    const [a, b] = [await tar.readImages(all, 'RGB'), await list.readImages(all, 'RGB')];
    for (let i = 0; i < 23; i++) {
      expect([a[i]!.width, a[i]!.height], `sample ${i}`).to.deep.equal([b[i]!.width, b[i]!.height]);
      expect(Buffer.from(a[i]!.data).equals(Buffer.from(b[i]!.data)), `sample ${i}`).to.equal(true);
    }
    expect(tar.shape).to.deep.equal(list.shape);
    expect(Buffer.from(await tar.readBatch([3, 0, 22])).equals(Buffer.from(await list.readBatch([3, 0, 22])))).to.equal(true);
  });

  it('streams any range once, in order, each image the bytes of its file; positioned reads agree', async () => {
    const tar = await openDataset(`tar:${fx.tarDir}`);
    const list = await openDataset(`list:${fx.list}`);
    for (const [s, e] of [[0, 23], [5, 13], [17, 18], [22, 23]]) {
      const got: number[] = [];
      for await (const img of tar.streamEncoded!(s, e)) {
        got.push(img.index);
        const file = (await list.encodedImages!([img.index]))[0].file!;
        expect(Buffer.from(img.bytes!).equals(fs.readFileSync(file)), `sample ${img.index}`).to.equal(true);
      }
      expect(got).to.deep.equal(Array.from({ length: e - s }, (_, k) => s + k));
    }
    const pos = await tar.encodedImages!([21, 2]);
    expect(pos.map((p) => p.index)).to.deep.equal([21, 2]);
    expect(pos[0].name).to.match(/shard-000003\.tar:deep\/x+\/more\/s00021\.(jpg|png)$/);
  });

  it('has a fingerprint from names, labels and sizes: stable, and changed by a relabelled sample', async () => {
    const a = await fingerprint(await openDataset(`tar:${fx.tarDir}`));
    expect(await fingerprint(await openDataset(`tar:${fx.tarDir}`))).to.equal(a);
    const copy = path.join(root, 'relabelled');
    fs.cpSync(fx.tarDir, copy, { recursive: true });
    // Rewrite one shard with sample 0's class changed (same sizes otherwise).
    const stage = path.join(root, 'stage');
    const old = fs.readFileSync(path.join(stage, 's00000.cls'), 'utf8');
    fs.writeFileSync(path.join(stage, 's00000.cls'), `${(Number(old) + 1) % 4}\n`);
    try {
      const names = execFileSync('tar', ['-tf', path.join(fx.tarDir, 'shard-000000.tar')], { encoding: 'utf8' }).trim().split('\n');
      execFileSync('tar', ['--format=pax', '-cf', path.join(copy, 'shard-000000.tar'), '-C', stage, ...names]);
    } finally {
      fs.writeFileSync(path.join(stage, 's00000.cls'), old);
    }
    expect(await fingerprint(await openDataset(`tar:${copy}`))).to.not.equal(a);
  });

  it('EXPECTED FAILURE - bad shards are one UsageError naming the shard (no cls, not a tar, no shards)', async () => {
    const bad = async (files: Record<string, Buffer>, re: RegExp) => {
      const d = fs.mkdtempSync(path.join(root, 'bad-'));
      for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(d, f), b);
      try {
        await openDataset(`tar:${d}`);
        expect.fail('should refuse');
      } catch (e) {
        expect(e).to.be.instanceOf(UsageError);
        expect((e as Error).message).to.match(re);
      }
    };
    await bad({}, /has no \.tar shards/);
    await bad({ 'a.tar': Buffer.alloc(1024, 7) }, /a\.tar: not a tar archive/);
    const stage = path.join(root, 'stage');
    const d = fs.mkdtempSync(path.join(root, 'nocls-'));
    execFileSync('tar', ['-cf', path.join(d, 'x.tar'), '-C', stage, 's00001.jpg']);
    await bad({ 'x.tar': fs.readFileSync(path.join(d, 'x.tar')) }, /sample "s00001" has no \.cls member/);
  });
});
