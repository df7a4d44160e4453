/**
 * RandAugment, TrivialAugmentWide and AutoAugment (data/auto-augment.ts) against torchvision 0.14
 * on PIL images (scripts/autoaugment_reference.py, Debian's /usr/bin/python3): every operation at
 * every magnitude bin of the three policies, both signs, on real photographs (RGB, square and not, odd sizes)
 * and a grey one — byte-exact; the magnitude tables within one float32 ulp of torchvision's;
 * whole views (the seeded draws applied in turn) equal torchvision's `_apply_op` chain.
 */
import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { augment, formatAugmentSpec, parseAugmentSpec } from '../../src/data/augment.js';
import { applyAutoOp, AUTO_OPS, AUTOAUGMENT_TABLES, autoAugment, autoAugmentDraws, magnitudeTable, parseAutoAugmentToken, type AutoAugmentSpec, type AutoOp } from '../../src/data/auto-augment.js';
import { render } from '../../src/data/render.js';
import { decodeImage } from '../../src/data/pil/decode.js';
import { affineNearest } from '../../src/data/pil/geometry.js';
import { setResamplePath } from '../../src/data/pil/native.js';
import type { Image } from '../../src/data/image.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { byteDiff } from './pil/pil-reference.js';
import { cli } from '../cli/train-helpers.js';

const PHOTOS = join(import.meta.dirname, '../fixtures/photos');
const SCRIPT = join(import.meta.dirname, '../../scripts/autoaugment_reference.py');
const RA: AutoAugmentSpec = { policy: 'randaugment', ops: 2, magnitude: 9, bins: 31 };
const TA: AutoAugmentSpec = { policy: 'trivialaugment', ops: 1, magnitude: -1, bins: 31 };
const AA: AutoAugmentSpec = { policy: 'autoaugment', ops: 2, magnitude: -1, bins: 10, table: 'imagenet' };
const ALL_OPS: AutoOp[] = [...AUTO_OPS, 'Invert'];

interface Case {
  image: number;
  ops?: [AutoOp, number][];
  affine?: number[];
}

/** Runs the torchvision reference on `images` for `cases`; returns its outputs and tables. */
function reference(dir: string, images: Image[], cases: Case[], tables: { bins: number; height: number; width: number }[]) {
  const spec = {
    images: images.map((im, k) => {
      const file = join(dir, `img${k}.raw`);
      writeFileSync(file, im.data);
      return { file, width: im.width, height: im.height, mode: im.channels === 1 ? 'L' : 'RGB' };
    }),
    cases,
    tables,
  };
  writeFileSync(join(dir, 'in.json'), JSON.stringify(spec));
  const r = spawnSync('/usr/bin/python3', [SCRIPT, join(dir, 'in.json'), join(dir, 'out')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`autoaugment_reference.py failed: ${r.stderr || r.error}`);
  const index = JSON.parse(readFileSync(join(dir, 'out', 'index.json'), 'utf8')) as {
    cases: [number, number, number, number][];
    tables: Record<'randaugment' | 'trivialaugment' | 'autoaugment', Record<string, [number[] | null, boolean]>>[];
    policies: Record<string, [string, number, number | null][][]>;
  };
  const blob = readFileSync(join(dir, 'out', 'blob.bin'));
  return { outputs: index.cases.map(([o, n, w, h]) => ({ data: new Uint8Array(blob.buffer, blob.byteOffset + o, n), width: w, height: h })), tables: index.tables, policies: index.policies };
}

/** The float32 ulp of x (x a float32 value). */
function ulp32(x: number): number {
  const a = Math.abs(Math.fround(x));
  if (a === 0) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

describe('data/auto-augment: RandAugment, TrivialAugmentWide and AutoAugment, byte-exact against torchvision on PIL images', function () {
  this.timeout(120000);
  let dir: string;
  const images: Image[] = [];
  before(async () => {
    dir = tmpDir('auto-augment');
    // Real photographs rendered small (the ops are per pixel or per histogram: size changes nothing
    // but the run time), square and not, even and odd sides, and a grey one.
    const at = async (file: string, mode: 'L' | 'RGB', size: [number, number]) =>
      render(await decodeImage(readFileSync(join(PHOTOS, file)), mode), { mode, resize: size, crop: null, cropRounding: 'round', interpolation: 'bilinear' });
    images.push(await at('flower/01_jpeg.jpg', 'RGB', [48, 64]));
    images.push(await at('landscape/16_jpeg.jpg', 'RGB', [37, 37]));
    images.push(await at('leaf/08_jpeg.jpg', 'L', [28, 28]));
    images.push(await at('flower/05_jpeg-444.jpg', 'RGB', [29, 53]));
  });
  after(() => rmDir(dir));
  afterEach(() => setResamplePath('auto'));
  // The JS loops, and the C ones of the image add-on when it is built (native/src/policy.cc).
  const paths = (['js', 'portable'] as const).filter((p) => setResamplePath(p) === p);
  setResamplePath('auto');
  const onPaths = (fn: () => void) => {
    for (const p of paths) {
      setResamplePath(p);
      fn();
    }
  };

  it('every operation at every bin of the three policies, both signs: the same bytes as torchvision', () => {
    const cases: Case[] = [];
    const where: string[] = [];
    images.forEach((im, k) => {
      for (const spec of [RA, TA, AA]) {
        for (const op of spec === AA ? ALL_OPS : AUTO_OPS) {
          const table = magnitudeTable(spec.policy, spec.bins, op, im.height, im.width);
          const mags = table ? [...table, ...table.map((m) => -m)] : [0];
          for (const m of mags) {
            // Posterize and Solarize are not signed: negative values never reach them.
            if (m < 0 && (op === 'Posterize' || op === 'Solarize')) continue;
            cases.push({ image: k, ops: [[op, m]] });
            where.push(`${spec.policy} ${op} ${m} on image ${k} (${im.width}x${im.height}x${im.channels})`);
          }
        }
      }
    });
    const ref = reference(dir, images, cases, []);
    const first: string[] = [];
    for (const p of paths) {
      setResamplePath(p);
      let bad = 0;
      let maxDiff = 0;
      cases.forEach((c, i) => {
        const [op, m] = c.ops![0];
        const ours = applyAutoOp(images[c.image], op, m);
        const d = byteDiff(ours.data, ref.outputs[i].data);
        if (d.count || ours.width !== ref.outputs[i].width) {
          bad++;
          if (first.length < 8) first.push(`${where[i]} [${p === 'js' ? 'JS' : 'C'}]: ${d.count} bytes differ (max ${d.max})`);
        }
        maxDiff = Math.max(maxDiff, d.max);
      });
      console.log(`      ${cases.length} (op, magnitude, image) cases against torchvision, ${p === 'js' ? 'JS loops' : 'C loops (image add-on)'}: ${bad} differ, max byte diff ${maxDiff}`);
    }
    expect(first, first.join('\n')).to.deep.equal([]);
  });

  it('PIL\'s affine transform through each of Geometry.c\'s three loops (translation, 16.16 fixed point, float): the same bytes', () => {
    const cases: Case[] = [];
    for (let k = 0; k < images.length; k++) {
      for (const a of [
        [1, 0, -7, 0, 1, 3.5], // translation: ImagingScaleAffine
        [1, 0, 2.25, 0, 1, -0.75],
        [0.96, 0.28, -5.3, -0.28, 0.96, 9.1], // rotation + shift: affine_fixed
        [1.3, -0.2, 0.4, 0.1, 0.7, 2.0],
        [1, 1500, -750, 0.02, 1, 0.1], // a corner beyond ±32768: the float loop (row 0 maps inside)
        [2000, 0.5, -1000, 0.3, 1, 0], // …column 0 maps inside
        [0.9, 0.3, 40000, 0.2, 1.1, -5], // …nothing inside
      ]) cases.push({ image: k, affine: a });
    }
    const ref = reference(dir, images, cases, []);
    onPaths(() => {
      let inside = 0;
      cases.forEach((c, i) => {
        const ours = affineNearest(images[c.image], c.affine!);
        expect(byteDiff(ours.data, ref.outputs[i].data), JSON.stringify(c)).to.deep.equal({ count: 0, max: 0 });
        if (Math.max(...c.affine!.map(Math.abs)) >= 1500 && ours.data.some((x) => x !== 0)) inside++;
      });
      // The float loop must have copied pixels somewhere, or the comparison proves little.
      expect(inside).to.equal(2 * images.length);
    });
  });

  it('magnitude tables: within one float32 ulp of torchvision\'s (its vectorised linspace), the same bins for Posterize and Solarize', () => {
    const sizes = [
      { bins: 31, height: 224, width: 224 },
      { bins: 31, height: 28, width: 32 },
      { bins: 11, height: 37, width: 53 },
      { bins: 2, height: 64, width: 48 },
    ];
    const ref = reference(dir, [], [], sizes);
    let worst = 0;
    sizes.forEach((s, k) => {
      for (const policy of ['randaugment', 'trivialaugment', 'autoaugment'] as const) {
        const bins = policy === 'autoaugment' ? 10 : s.bins;
        expect(Object.keys(ref.tables[k][policy]).sort(), policy).to.deep.equal((policy === 'autoaugment' ? ALL_OPS.filter((o) => o !== 'Identity') : [...AUTO_OPS]).sort());
        for (const op of policy === 'autoaugment' ? ALL_OPS.filter((o) => o !== 'Identity') : AUTO_OPS) {
          const [theirs, signed] = ref.tables[k][policy][op];
          const ours = magnitudeTable(policy, bins, op, s.height, s.width);
          expect(signed, `${policy} ${op} signed`).to.equal(['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast', 'Sharpness'].includes(op));
          if (theirs === null) {
            expect(ours, `${policy} ${op}`).to.equal(null);
            continue;
          }
          expect(ours, `${policy} ${op}`).to.have.length(theirs.length);
          expect(theirs).to.have.length(bins);
          theirs.forEach((t, i) => {
            const d = Math.abs(ours![i] - t);
            if (op === 'Posterize' || op === 'Solarize') expect(ours![i], `${policy} ${op} bin ${i}`).to.equal(t);
            else expect(d, `${policy} ${op} bin ${i} of ${bins}: ${ours![i]} vs ${t}`).to.be.at.most(ulp32(t));
            if (t !== 0) worst = Math.max(worst, d / ulp32(t));
          });
        }
      }
    });
    console.log(`      tables of ${sizes.length} (bins, size) pairs: max difference ${worst} float32 ulp`);
    // AutoAugment's three tables, entry for entry.
    for (const [name, subs] of Object.entries(ref.policies)) expect(AUTOAUGMENT_TABLES[name as keyof typeof AUTOAUGMENT_TABLES], name).to.deep.equal(subs);
  });

  it('a view is its seeded draws applied in turn: equal to torchvision applying the same draws', () => {
    const cases: Case[] = [];
    const views: Array<() => Uint8Array> = [];
    for (const spec of [RA, { ...RA, ops: 3, magnitude: 30 }, TA, AA, { ...AA, table: 'cifar10' as const }, { ...AA, table: 'svhn' as const }]) {
      for (let i = 0; i < 12; i++) {
        const k = i % images.length;
        const im = images[k];
        const draws = autoAugmentDraws(spec, 5, i, 1 + (i % 3), im.height, im.width);
        cases.push({ image: k, ops: draws.map((d) => [d.op, d.magnitude]) });
        views.push(() => autoAugment(im, spec, 5, i, 1 + (i % 3)).data);
      }
    }
    const ref = reference(dir, images, cases, []);
    onPaths(() => cases.forEach((c, i) => expect(byteDiff(views[i](), ref.outputs[i].data), JSON.stringify(c)).to.deep.equal({ count: 0, max: 0 })));
  });

  it('draws: a pure function of (spec, seed, sample, view); ops uniform over the 14, signs balanced; view 0 untouched', () => {
    const counts = new Map<string, number>();
    let neg = 0;
    let signed = 0;
    const bins = new Set<number>();
    const N = 7000;
    for (let i = 0; i < N; i++) {
      const d = autoAugmentDraws(TA, 11, i, 1, 224, 224);
      expect(autoAugmentDraws(TA, 11, i, 1, 224, 224)).to.deep.equal(d);
      expect(d).to.have.length(1);
      counts.set(d[0].op, (counts.get(d[0].op) ?? 0) + 1);
      const t = magnitudeTable('trivialaugment', 31, d[0].op, 224, 224);
      if (t && d[0].op !== 'Posterize' && d[0].op !== 'Solarize') {
        signed++;
        if (d[0].magnitude < 0) neg++;
        bins.add(t.indexOf(Math.abs(d[0].magnitude)));
      }
    }
    expect([...counts.keys()].sort()).to.deep.equal([...AUTO_OPS].sort());
    // 500 expected per op; 5 standard deviations is ±108.
    for (const [op, n] of counts) expect(n, op).to.be.within(392, 608);
    expect(neg / signed).to.be.within(0.45, 0.55);
    expect(bins.size).to.equal(31);
    expect(autoAugmentDraws(RA, 11, 3, 2, 32, 32)).to.have.length(2);
    expect(autoAugmentDraws(RA, 11, 3, 2, 32, 32)).to.not.deep.equal(autoAugmentDraws(RA, 12, 3, 2, 32, 32));
    expect(autoAugment(images[0], RA, 1, 0, 0)).to.equal(images[0]);
  });

  it('AutoAugment draws: each view one sub-policy, each operation applied with its probability (frequencies within 5σ)', () => {
    const spec: AutoAugmentSpec = { ...AA, table: 'cifar10' };
    const subs = AUTOAUGMENT_TABLES.cifar10;
    const expected = new Map<string, number>();
    for (const sub of subs) for (const [op, p] of sub) expected.set(op, (expected.get(op) ?? 0) + p / subs.length);
    const seen = new Map<string, number>();
    const N = 20000;
    for (let i = 0; i < N; i++) {
      const d = autoAugmentDraws(spec, 3, i, 1, 32, 32);
      // The applied operations are a subsequence of one sub-policy, in its order.
      expect(subs.some((sub) => d.every((x, j) => sub.some(([op], q) => op === x.op && q >= j)))).to.equal(true);
      for (const x of d) seen.set(x.op, (seen.get(x.op) ?? 0) + 1);
    }
    for (const [op, e] of expected) {
      const sd = Math.sqrt(N * e * (1 - Math.min(e, 0.99)));
      expect(seen.get(op) ?? 0, op).to.be.within(N * e - 5 * sd - 1, N * e + 5 * sd + 1);
    }
  });

  it('parses randaugment[:OPS[:M[:BINS]]] and trivialaugment[:BINS]; refuses bad values', () => {
    expect(parseAutoAugmentToken('randaugment', 'x', '')).to.deep.equal(RA);
    expect(parseAutoAugmentToken('randaugment:3:12', 'x', '')).to.deep.equal({ ...RA, ops: 3, magnitude: 12 });
    expect(parseAutoAugmentToken('trivialaugment', 'x', '')).to.deep.equal(TA);
    expect(parseAutoAugmentToken('trivialaugment:11', 'x', '')).to.deep.equal({ ...TA, bins: 11 });
    expect(parseAutoAugmentToken('flip', 'x', '')).to.equal(null);
    for (const [tok, re] of [
      ['randaugment:2:31', /magnitude 31 .* \[0, 30\]/],
      ['randaugment:0', /ops 0/],
      ['randaugment:2:9:31:4', /at most ops:magnitude:bins/],
      ['randaugment:a', /"a" .* not an integer/],
      ['trivialaugment:1', /bins 1/],
      ['trivialaugment:2:3', /at most bins/],
    ] as const) {
      expect(() => parseAutoAugmentToken(tok, tok, ''), tok).to.throw(re);
    }
  });

  it('in --augment specs: parsed from tokens and JSON, formatted canonically (after the flip, before mixing), refused twice or with the wrong keys', () => {
    const a = parseAugmentSpec('rrc,flip,randaugment,mixup:0.2');
    expect(a.auto).to.deep.equal(RA);
    expect(formatAugmentSpec(a)).to.equal('rrc:0.08-1:0.75-1.3333333333333333,flip,randaugment:2:9:31,mixup:0.2');
    expect(parseAugmentSpec(formatAugmentSpec(a))).to.deep.equal(a);
    expect(parseAugmentSpec('{"flip": true, "auto": {"policy": "trivialaugment"}}')).to.deep.equal({ cropPad: 0, flip: true, auto: TA });
    expect(parseAugmentSpec('{"auto": {"policy": "randaugment", "magnitude": 5}}').auto).to.deep.equal({ ...RA, magnitude: 5 });
    expect(formatAugmentSpec(parseAugmentSpec('crop:4,flip'))).to.equal('crop:4,flip');
    expect(() => parseAugmentSpec('randaugment,trivialaugment')).to.throw(/names two policies/);
    expect(() => parseAugmentSpec('randaugment,randaugment:1')).to.throw(/names two policies/);
    expect(() => parseAugmentSpec('{"auto": {"policy": "trivialaugment", "ops": 2}}')).to.throw(/trivialaugment takes "bins", not "ops"/);
    expect(() => parseAugmentSpec('{"auto": {"policy": "autoaugment", "bins": 31}}')).to.throw(/autoaugment takes "table", not "bins"/);
    expect(parseAugmentSpec('{"auto": {"policy": "autoaugment", "table": "svhn"}}').auto).to.deep.equal({ ...AA, table: 'svhn' });
    expect(formatAugmentSpec(parseAugmentSpec('crop:4,flip,autoaugment:cifar10'))).to.equal('crop:4,flip,autoaugment:cifar10');
    expect(parseAugmentSpec('autoaugment').auto).to.deep.equal(AA);
    expect(() => parseAugmentSpec('autoaugment:imagenet21k')).to.throw(/known tables are imagenet, cifar10, svhn/);
    expect(() => parseAugmentSpec('autoaugment,randaugment')).to.throw(/names two policies/);
    expect(() => parseAugmentSpec('{"auto": {"policy": "augmix"}}')).to.throw(/auto.policy/);
  });

  it('the pixel path (crop:P, flip, then the policy): view 0 the image, views ≥ 1 the policy of the shifted image', () => {
    const im = images[2];
    const shape = { height: im.height, width: im.width, channels: im.channels };
    const spec = parseAugmentSpec('crop:3,flip,trivialaugment');
    const plain = parseAugmentSpec('crop:3,flip');
    expect(Buffer.from(augment(im.data, shape, spec, 4, 9, 0)).equals(Buffer.from(im.data))).to.equal(true);
    let changed = 0;
    for (let v = 1; v < 40; v++) {
      const shifted = augment(im.data, shape, plain, 4, 9, v);
      const want = autoAugment({ ...im, data: shifted }, TA, 4, 9, v).data;
      const got = augment(im.data, shape, spec, 4, 9, v);
      expect(Buffer.from(got).equals(Buffer.from(want)), `view ${v}`).to.equal(true);
      if (!Buffer.from(got).equals(Buffer.from(shifted))) changed++;
    }
    expect(changed).to.be.at.least(30);
  });

  it('BAD CALL - a policy over fixed-size data of 2 channels: one line, exit 2, no run written', async () => {
    const out = join(dir, 'two-channels');
    const r = await cli('train', '--data', 'synthetic:64:4:8x8x2:1', '--model', 'mlp', '--loss', 'ce', '--epochs', '1', '--augment', 'randaugment', '--out', out, '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/randaugment:2:9:31 works on images of 1 or 3 channels .* has 2/);
    expect(existsSync(out)).to.equal(false);
  });
});
