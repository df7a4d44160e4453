/**
 * Real teachers on real images (issue 10's acceptance): two torchvision architectures exported to
 * ONNX (scripts/torchvision_teacher.py: seeded weights, BatchNorm calibrated on the photos), over
 * the folder of real photographs of mixed sizes and formats in test/fixtures/photos, with
 * torchvision's recipe (`--preprocess imagenet`) and a timm config (bicubic, crop_pct 0.95):
 *   - the uint8 crops tfkd renders equal PIL's (torchvision's transforms) byte for byte;
 *   - tfkd's logits equal PyTorch's (scripts/torchvision_reference.py: ImageFolder + the
 *     transforms + the same weights in torch, eval, no_grad) to ≤ 1e-4 max abs diff;
 *   - K = 1000 caches, full and top-k, through `tfkd precompute` on a `list:` of the photos, and
 *     a 5-class `folder:` cache through --class-map.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/reader.js';
import { readManifest } from '../../src/cache/manifest.js';
import { runDataViews } from '../../src/cli/commands/data.js';
import { runPrecompute, type PrecomputeRunOptions } from '../../src/cache/precompute-run.js';
import sharp from 'sharp';
import type { ImageFilesDataset } from '../../src/data/files.js';
import type { Image } from '../../src/data/image.js';
import { openDataset } from '../../src/data/open.js';
import { render } from '../../src/data/render.js';
import { renderSpecOf } from '../../src/teacher/preprocess.js';
import { openTeacher } from '../../src/teacher/session.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PHOTOS = path.join(ROOT, 'test/fixtures/photos');
const TIMM = path.join(ROOT, 'test/fixtures/timm-bicubic-095.json');
const PY = '/usr/bin/python3';
const TOL = 1e-4;

interface Reference {
  files: string[];
  classes: string[];
  labels: number[];
  logits: number[][];
  crops: Array<{ file: string; shape: [number, number, number] }>;
  crops_dir: string;
  transforms: string[];
}

function py(args: string[]): string {
  const r = spawnSync(PY, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONHASHSEED: '0' } });
  if (r.status !== 0) throw new Error(`${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * A ResNet-18 cache of the photos' views (`augment`, `views`, seed) against PyTorch on the views
 * scripts/views_reference.py renders from the boxes (and policy operations) `tfkd data views --json`
 * prints: the largest |Δ| over the rows, the rows compared, and what data views printed.
 */
async function cacheVsPyTorch(o: { tmp: string; model: string; map: number[]; files: string; tag: string; augment: string; seed: number; views: number; size?: [number, number] }) {
  const out = path.join(o.tmp, `views-${o.tag}`);
  await runPrecompute({
    teacher: o.model, data: `folder:${PHOTOS}`, out, split: 'train', device: 'cpu', threads: 2, batch: 8, dtype: 'f32', views: o.views, augment: o.augment, augmentSeed: o.seed,
    shardRows: 64, preprocess: 'imagenet', classMap: JSON.stringify(o.map),
  });
  const { rows } = await runDataViews({ data: `folder:${PHOTOS}`, split: 'train', augment: o.augment, augmentSeed: o.seed, views: o.views, interpolation: 'bilinear', json: true, ...(o.size ? { size: o.size } : {}) });
  const boxes = path.join(o.tmp, `boxes-${o.tag}.json`);
  fs.writeFileSync(boxes, JSON.stringify(rows));
  const refOut = path.join(o.tmp, `views-${o.tag}-ref.json`);
  py(['scripts/views_reference.py', '--boxes', boxes, '--data', PHOTOS, '--files', o.files, '--size', '224', '--model', o.model.replace(/\.onnx$/, '.pt'), '--out', refOut]);
  const vref = JSON.parse(fs.readFileSync(refOut, 'utf8')) as { rows: Array<{ sample: number; view: number }>; logits: number[][] };
  const rd = openCache(out);
  let maxAbs = 0;
  try {
    const got = rd.readLogits(Int32Array.from(vref.rows, (r) => r.sample), Int32Array.from(vref.rows, (r) => r.view));
    vref.rows.forEach((_, r) => o.map.forEach((t, j) => (maxAbs = Math.max(maxAbs, Math.abs(vref.logits[r][t] - got[r * o.map.length + j])))));
  } finally {
    rd.close();
  }
  return { vref, maxAbs, boxes, rows };
}

describe('teacher/torchvision: torchvision teachers over real photographs match PyTorch', function () {
  this.timeout(600000);
  let tmp: string;
  before(function () {
    needs(this, 'python3-torch', 'python3-torchvision', 'python3-onnx', 'python3-pil');
    tmp = tmpDir('tv');
  });
  after(() => rmDir(tmp));

  for (const arch of ['resnet18', 'mobilenet_v3_small']) {
    describe(arch, () => {
      let model: string;
      const refs: Record<string, Reference> = {};
      before(() => {
        model = path.join(tmp, `${arch}.onnx`);
        console.log(`      ${py(['scripts/torchvision_teacher.py', '--arch', arch, '--out', model, '--data', PHOTOS]).trim().slice(0, 200)}`);
        for (const [name, recipe] of [['imagenet', 'imagenet'], ['timm', `timm:${TIMM}`]]) {
          const out = path.join(tmp, `${arch}-${name}.json`);
          py(['scripts/torchvision_reference.py', '--model', model.replace(/\.onnx$/, '.pt'), '--data', PHOTOS, '--recipe', recipe, '--out', out, '--dump-crops', path.join(tmp, `${arch}-${name}-crops`)]);
          refs[name] = JSON.parse(fs.readFileSync(out, 'utf8')) as Reference;
        }
      });

      for (const [name, pre] of [['imagenet', 'imagenet'], ['timm', `timm:${TIMM}`]] as const) {
        it(`--preprocess ${name}: crops byte-exact with PIL, logits ≤ ${TOL} from PyTorch on every photo`, async () => {
          const ref = refs[name];
          const ds = (await openDataset(`folder:${PHOTOS}`)) as ImageFilesDataset;
          expect(ds.classNames).to.deep.equal(ref.classes);
          const t = await openTeacher(model, { device: 'cpu', threads: 2, preprocess: pre, data: { shape: ds.shape, variableSize: true } });
          try {
            expect(t.info.numClasses).to.equal(1000);
            const spec = renderSpecOf(t.preprocess);
            const index = new Map(ds.files.map((f, i) => [f, i]));
            let diffBytes = 0;
            let maxAbs = 0;
            let worst = '';
            const imgs: Image[] = [];
            for (const [r, file] of ref.files.entries()) {
              const i = index.get(file);
              expect(i, `${file} is not in tfkd's folder listing`).to.not.equal(undefined);
              expect(ds.labels[i!]).to.equal(ref.labels[r]);
              const [img] = await ds.readImages([i!], 'RGB');
              imgs.push(img!);
              const crop = render(img!, spec);
              const want = fs.readFileSync(path.join(ref.crops_dir, ref.crops[r].file));
              expect([crop.height, crop.width, crop.channels]).to.deep.equal(ref.crops[r].shape);
              let d = 0;
              for (let k = 0; k < want.length; k++) if (want[k] !== crop.data[k]) d++;
              if (d) console.log(`      ${file}: ${d} of ${want.length} crop bytes differ`);
              diffBytes += d;
            }
            const logits = await t.runImages(imgs);
            ref.logits.forEach((row, r) =>
              row.forEach((v, k) => {
                const a = Math.abs(v - logits[r * 1000 + k]);
                if (a > maxAbs) [maxAbs, worst] = [a, `${ref.files[r]} class ${k}`];
              }),
            );
            console.log(`      ${arch} ${name}: ${ref.files.length} photos, ${diffBytes} crop bytes differ, logits max |Δ| ${maxAbs.toExponential(2)} (${worst})`);
            expect(diffBytes).to.equal(0);
            expect(maxAbs).to.be.at.most(TOL);
          } finally {
            await t.close();
          }
        });
      }

      // Issue 11: views as boxes. The boxes `tfkd data views --json` prints, rendered by PIL
      // (torchvision's resized_crop + hflip) and run through PyTorch, equal the cache's view rows;
      // the student-side PNGs equal PIL's renders of the same boxes at the student's size.
      if (arch === 'resnet18') it('rrc views: cache rows = PyTorch on PIL renders of the printed boxes (≤ 1e-4); student PNGs = PIL byte for byte', async () => {
        const ref = refs.imagenet;
        const ds = (await openDataset(`folder:${PHOTOS}`)) as ImageFilesDataset;
        const map = ref.classes.map((_, c) => 100 + 7 * c);
        const files = path.join(tmp, 'files.json');
        fs.writeFileSync(files, JSON.stringify(ds.files));
        const { vref, maxAbs, boxes } = await cacheVsPyTorch({ tmp, model, map, files, tag: 'rrc', augment: 'rrc,flip', seed: 7, views: 4 });
        expect(vref.rows).to.have.length(ds.size * 3);
        console.log(`      ${vref.rows.length} rrc views: cache vs PyTorch on PIL's resized_crop + hflip: max |Δ| ${maxAbs.toExponential(2)}`);
        expect(maxAbs).to.be.at.most(TOL);
        // The student's side: the same boxes at 32×32.
        const pngs = path.join(tmp, 'student-views');
        await runDataViews({ data: `folder:${PHOTOS}`, split: 'train', augment: 'rrc,flip', augmentSeed: 7, views: 4, size: [32, 32], interpolation: 'bilinear', out: pngs, json: false });
        const dump = path.join(tmp, 'student-ref');
        py(['scripts/views_reference.py', '--boxes', boxes, '--data', PHOTOS, '--files', files, '--size', '32', '--out', path.join(tmp, 'sref.json'), '--dump', dump]);
        let differ = 0;
        for (const r of vref.rows) {
          const png = await sharp(path.join(pngs, `${r.sample}-${r.view}.png`)).raw().toBuffer();
          const want = fs.readFileSync(path.join(dump, `${r.sample}-${r.view}.rgb`));
          expect(png.length).to.equal(want.length);
          for (let k = 0; k < want.length; k++) if (png[k] !== want[k]) differ++;
        }
        console.log(`      ${vref.rows.length} student views at 32x32: ${differ} bytes differ from PIL`);
        expect(differ).to.equal(0);
      });

      // Policies: RandAugment / TrivialAugmentWide after the box and flip, as torchvision's
      // training transforms order them. The reference renders each box with PIL, then applies the
      // operations `tfkd data views --json` prints through torchvision's own _apply_op.
      if (arch === 'resnet18') it('policy views: cache rows (rrc,flip,trivialaugment) = PyTorch on torchvision\'s _apply_op of the printed ops (≤ 1e-4); student PNGs (randaugment) = torchvision byte for byte', async () => {
        const ref = refs.imagenet;
        const ds = (await openDataset(`folder:${PHOTOS}`)) as ImageFilesDataset;
        const map = ref.classes.map((_, c) => 100 + 7 * c);
        const files = path.join(tmp, 'files.json');
        fs.writeFileSync(files, JSON.stringify(ds.files));
        const { vref, maxAbs, rows: printed } = await cacheVsPyTorch({ tmp, model, map, files, tag: 'ta', augment: 'rrc,flip,trivialaugment', seed: 3, views: 3, size: [224, 224] });
        const ops = new Set(printed.flatMap((r) => (r.ops ?? []).map((o) => o.op)));
        expect(vref.rows).to.have.length(ds.size * 2);
        console.log(`      ${vref.rows.length} trivialaugment views (${ops.size} of the 14 operations): cache vs PyTorch on torchvision's renders: max |Δ| ${maxAbs.toExponential(2)}`);
        expect(maxAbs).to.be.at.most(TOL);
        expect(ops.size).to.be.at.least(10);
        // The student's side: RandAugment views at 32×32, PNG bytes against torchvision's.
        const pngs = path.join(tmp, 'student-views-ra');
        const sv = await runDataViews({ data: `folder:${PHOTOS}`, split: 'train', augment: 'rrc,flip,randaugment', augmentSeed: 7, views: 4, size: [32, 32], interpolation: 'bilinear', out: pngs, json: true });
        const sboxes = path.join(tmp, 'boxes-ra.json');
        fs.writeFileSync(sboxes, JSON.stringify(sv.rows));
        const dump = path.join(tmp, 'student-ref-ra');
        py(['scripts/views_reference.py', '--boxes', sboxes, '--data', PHOTOS, '--files', files, '--size', '32', '--out', path.join(tmp, 'sref-ra.json'), '--dump', dump]);
        let differ = 0;
        const rows = sv.rows.filter((r) => r.view > 0);
        for (const r of rows) {
          const png = await sharp(path.join(pngs, `${r.sample}-${r.view}.png`)).raw().toBuffer();
          const want = fs.readFileSync(path.join(dump, `${r.sample}-${r.view}.rgb`));
          expect(png.length).to.equal(want.length);
          for (let k = 0; k < want.length; k++) if (png[k] !== want[k]) differ++;
        }
        console.log(`      ${rows.length} randaugment student views at 32x32: ${differ} bytes differ from torchvision`);
        expect(differ).to.equal(0);
      });

      // Once is enough: the cache path does not depend on the model.
      if (arch === 'resnet18') it('K = 1000 caches (full f32 and --topk 5) over a list: of the photos; a 5-class folder cache via --class-map', async () => {
        const ref = refs.imagenet;
        // A list whose labels reach 999, so the data set has K = 1000 like the teacher.
        const list = path.join(tmp, 'photos.csv');
        fs.writeFileSync(list, `path,label\n${ref.files.map((f, r) => `${path.join(PHOTOS, f)},${r === 0 ? 999 : ref.labels[r]}`).join('\n')}\n`);
        const base: PrecomputeRunOptions = {
          teacher: model, data: `list:${list}`, out: '', split: 'train', device: 'cpu', threads: 2, batch: 8, dtype: 'f32', views: 1, augmentSeed: 0, shardRows: 16, preprocess: 'imagenet',
        };
        const full = path.join(tmp, 'k1000');
        const s = await runPrecompute({ ...base, out: full });
        expect(s).to.include({ K: 1000, rows: ref.files.length });
        const rd = openCache(full);
        let maxAbs = 0;
        try {
          const got = rd.readLogits(Int32Array.from(ref.files, (_, i) => i), new Int32Array(ref.files.length));
          ref.logits.forEach((row, r) => row.forEach((v, k) => (maxAbs = Math.max(maxAbs, Math.abs(v - got[r * 1000 + k])))));
        } finally {
          rd.close();
        }
        console.log(`      K=1000 cache vs PyTorch: max |Δ| ${maxAbs.toExponential(2)}`);
        expect(maxAbs).to.be.at.most(TOL);
        const top = await runPrecompute({ ...base, out: path.join(tmp, 'k1000-top5'), topk: 5 });
        expect(top).to.include({ K: 1000, topk: 5 });
        const m = readManifest(path.join(tmp, 'k1000-top5'));
        expect(m.preprocess).to.include({ resize: 256, interpolation: 'bilinear', source: 'imagenet' });
        const mapped = await runPrecompute({ ...base, data: `folder:${PHOTOS}`, out: path.join(tmp, 'mapped'), classMap: JSON.stringify(ref.classes.map((_, c) => 100 + c)) });
        expect(mapped).to.include({ K: ref.classes.length });
        expect(readManifest(path.join(tmp, 'mapped')).classMap!.teacherK).to.equal(1000);
      });
    });
  }
});
