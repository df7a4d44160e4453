/**
 * WebDataset-style shards for the tar: tests, written by GNU tar (an independent writer, so the
 * reader is checked against real archives): seeded images of random sizes (JPEG and PNG), one
 * `KEY.cls` + `KEY.jpg|png` pair per sample, `per` samples a shard, some samples with an extra
 * `.json` member (passed over), the last shard in GNU format with a long directory path (an `L`
 * header), the others pax. The same images are listed in `list.csv` (a `list:` source with the same
 * samples in the same order), so every tar: result can be compared with the list: one.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/data/rng.js';
import { writeSeededImage } from '../helpers/seeded-images.js';

export async function makeTarShards(dir: string, n: number, classes: number, per: number, seed = 1): Promise<{ tarDir: string; list: string; labels: number[] }> {
  const rng = new Rng(seed);
  const stage = path.join(dir, 'stage');
  const tarDir = path.join(dir, 'shards');
  fs.mkdirSync(tarDir, { recursive: true });
  const long = `deep/${'x'.repeat(90)}/more`;
  const lines: string[] = ['path,label'];
  const labels: number[] = [];
  const members: string[][] = [];
  for (let i = 0; i < n; i++) {
    const shard = Math.floor(i / per);
    const last = shard === Math.floor((n - 1) / per);
    const sub = last ? long : '';
    fs.mkdirSync(path.join(stage, sub), { recursive: true });
    const ext = i % 3 === 0 ? 'png' : 'jpg';
    const key = path.join(sub, `s${String(i).padStart(5, '0')}`);
    await writeSeededImage(rng, i, path.join(stage, `${key}.${ext}`));
    const label = rng.below(classes);
    labels.push(label);
    fs.writeFileSync(path.join(stage, `${key}.cls`), `${label}\n`);
    (members[shard] ??= []).push(`${key}.cls`);
    if (i % 4 === 1) {
      fs.writeFileSync(path.join(stage, `${key}.json`), JSON.stringify({ i }));
      members[shard].push(`${key}.json`);
    }
    members[shard].push(`${key}.${ext}`);
    lines.push(`stage/${key}.${ext},${label}`);
  }
  members.forEach((m, s) => {
    const format = s === members.length - 1 ? 'gnu' : 'pax';
    execFileSync('tar', [`--format=${format}`, '-cf', path.join(tarDir, `shard-${String(s).padStart(6, '0')}.tar`), '-C', stage, ...m]);
  });
  const list = path.join(dir, 'list.csv');
  fs.writeFileSync(list, `${lines.join('\n')}\n`);
  return { tarDir, list, labels };
}
