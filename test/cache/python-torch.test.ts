/**
 * python/tfkd_torch.py and examples/pytorch_kd.py: torchvision data sets served with their teacher's
 * rows from a cache tfkd wrote — the rows equal tfkd's reader's, the data set is proven the one the
 * cache was computed on (tfkd's data fingerprint recomputed in Python from torchvision's own
 * objects), and every other data set is refused with the reason.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/reader.js';
import { runPrecompute } from '../../src/cache/precompute-run.js';
import { openDataset } from '../../src/data/open.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { DEBIAN_PYTHON } from '../../src/doctor/packages.js';
import { writeImageCache } from '../student/trainer/trainer-helpers.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { needs } from '../helpers/needs.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { writeSynth } from './helpers.js';
import { py } from './python-helpers.js';
import { viewsFor } from '../../src/student/trainer/targets.js';
import { parseAugmentSpec } from '../../src/data/augment.js';
import { cli } from '../cli/train-helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUBSET = path.join(ROOT, 'data/fashion-mnist-subset');
const PHOTOS = path.join(ROOT, 'test/fixtures/photos');

/** Python prelude: torchvision's FashionMNIST over the committed subset, unpacked where it reads it. */
const FMNIST = `
import tempfile, numpy as np, torch
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'examples'))})
from pytorch_kd import torchvision_layout
from torchvision import datasets
import tfkd_cache, tfkd_torch
job = json.load(sys.stdin)
tv = tempfile.mkdtemp()
torchvision_layout(${JSON.stringify(SUBSET)}, tv)
def refusal(f):
    try:
        f()
        return "accepted"
    except tfkd_cache.CacheMismatch as e:
        return str(e)
`;

describe('cache/python with PyTorch (python/tfkd_torch.py)', function () {
  this.timeout(300000);
  let root: string;
  let cache: string;
  before(async function () {
    needs(this, 'python3-numpy', 'python3-torch', 'python3-torchvision');
    root = tmpDir('pytorch');
    cache = path.join(root, 'good');
    await runPrecompute({ teacher: path.join(ROOT, 'models/fmnist-good.onnx'), data: `fashion-mnist:${SUBSET}`, out: cache, split: 'train', device: 'cpu', threads: 1, batch: 256, dtype: 'f16', views: 1, augmentSeed: 0, shardRows: 1000 });
  });
  after(() => rmDir(root));

  it('WithTeacher over torchvision FashionMNIST: proven the same data, rows equal tfkd reader; Subset maps its indices', () => {
    const idx = [0, 1, 999, 1000, 2024, 2999];
    const got = py<{ logits: number[][]; soft: number[][]; subset: number[][]; batch: number[] }>(
      `${FMNIST}
train = datasets.FashionMNIST(tv, train=True, transform=lambda im: torch.from_numpy(np.array(im)))
w = tfkd_torch.WithTeacher(train, job["cache"])
s = tfkd_torch.WithTeacher(train, job["cache"], targets="soft", temperature=4)
sub = tfkd_torch.WithTeacher(torch.utils.data.Subset(train, job["idx"][::-1]), job["cache"])
x, y, t = next(iter(torch.utils.data.DataLoader(w, batch_size=8)))
print(json.dumps({"logits": [w[i][2].tolist() for i in job["idx"]], "soft": [s[i][2].tolist() for i in job["idx"]],
                  "subset": [sub[i][2].tolist() for i in range(len(sub))], "batch": list(t.shape)}))`,
      { cache, idx },
    );
    const r = openCache(cache);
    const K = r.numClasses;
    const z = r.readLogits(idx, idx.map(() => 0));
    const p = r.softTargets(idx, idx.map(() => 0), 4);
    r.close();
    let maxP = 0;
    for (const [j] of idx.entries()) {
      expect(got.logits[j]).to.deep.equal(Array.from(z.subarray(j * K, (j + 1) * K)));
      got.soft[j].forEach((v, k) => (maxP = Math.max(maxP, Math.abs(v - p[j * K + k]))));
      expect(got.subset[idx.length - 1 - j]).to.deep.equal(got.logits[j]);
    }
    console.log(`      max |python − tfkd| soft targets (τ = 4) ${maxP.toExponential(2)}`);
    expect(maxP).to.be.at.most(1e-6);
    expect(got.batch).to.deep.equal([8, K]);
  });

  it('EXPECTED FAILURE - refuses another split, one changed pixel or label, a data set it cannot fingerprint (check="length" accepts it), views it cannot render, a part', async () => {
    const aug = path.join(root, 'aug');
    await writeImageCache(aug, { views: 2, augment: 'flip' });
    const part = path.join(root, 'part');
    writeSynth(part, { N: 3000, K: 10, V: 1, dtype: 'f32', topk: null, shardRows: 1000, part: { index: 1, count: 2 } });
    const got = py<Record<string, string>>(
      `${FMNIST}
W = lambda d, **k: tfkd_torch.WithTeacher(d, job["cache"], **k)
out = {}
out["test split"] = refusal(lambda: W(datasets.FashionMNIST(tv, train=False)))
px = datasets.FashionMNIST(tv, train=True); px.data[1234, 5, 6] ^= 1
out["pixel"] = refusal(lambda: W(px))
lb = datasets.FashionMNIST(tv, train=True); lb.targets[2000] = (lb.targets[2000] + 1) % 10
out["label"] = refusal(lambda: W(lb))
plain = datasets.FashionMNIST(tv, train=True)
td = torch.utils.data.TensorDataset(plain.data, plain.targets)
out["tensors"] = refusal(lambda: W(td))
out["tensors, length"] = refusal(lambda: W(td, check="length"))
out["augmented"] = refusal(lambda: tfkd_torch.WithTeacher(torch.utils.data.TensorDataset(torch.zeros(256)), job["aug"], check="length"))
out["part"] = refusal(lambda: tfkd_torch.WithTeacher(td, job["part"], check="length"))
print(json.dumps(out))`,
      { cache, aug, part },
    );
    for (const [k, v] of Object.entries(got)) console.log(`      ${k}: ${v}`);
    expect(got['test split']).to.match(/has 1000 samples, cache .* was computed on 3000 \(fashion-mnist:.*, train\)/);
    for (const k of ['pixel', 'label']) expect(got[k]).to.match(/not the one cache .* was computed on .*data fingerprint [0-9a-f]{16}… ≠ [0-9a-f]{16}…/);
    expect(got.tensors).to.match(/cannot fingerprint a TensorDataset .*check="length"/);
    expect(got['tensors, length']).to.equal('accepted');
    expect(got.augmented).to.match(/holds crop\/flip views \(flip\) of synthetic:.*: WithTeacher renders those for MNIST, FashionMNIST and CIFAR/);
    expect(got.part).to.match(/is part 1\/2 of a job array: merge the parts first/);
  });

  it('ImageFolder: with is_tfkd_image its fingerprint is tfkd\'s folder: fingerprint; a folder cache serves its rows; plain ImageFolder is refused with the reason', async () => {
    const ds = await openDataset(`folder:${PHOTOS}`);
    const fp = await fingerprint(ds);
    const teacher = writeTinyTeacher(root, { height: 8, width: 8, channels: 3, numClasses: 5 });
    const fc = path.join(root, 'photos-cache');
    await runPrecompute({ teacher, data: `folder:${PHOTOS}`, out: fc, split: 'train', device: 'cpu', threads: 1, batch: 16, dtype: 'f32', views: 1, augmentSeed: 0, shardRows: 8, preprocess: '{"resize": 10, "crop": 8}' });
    const got = py<{ fp: string; rows: number[][]; plain: string }>(
      `${FMNIST}
f = datasets.ImageFolder(job["photos"], is_valid_file=tfkd_torch.is_tfkd_image)
w = tfkd_torch.WithTeacher(f, job["fc"])
print(json.dumps({"fp": tfkd_torch.dataset_fingerprint(f, {"kind": "folder", "split": "train"}),
                  "rows": [w[i][2].tolist() for i in (0, 17, 35)], "plain": refusal(lambda: tfkd_torch.WithTeacher(datasets.ImageFolder(job["photos"]), job["fc"]))}))`,
      { photos: PHOTOS, fc },
    );
    expect(got.fp).to.equal(fp);
    const r = openCache(fc);
    const z = r.readLogits([0, 17, 35], [0, 0, 0]);
    r.close();
    expect(got.rows.flat()).to.deep.equal(Array.from(z));
    console.log(`      plain ImageFolder: ${got.plain}`);
    expect(got.plain).to.match(/has 35 samples, .* computed on 36 .*is_valid_file=tfkd_torch\.is_tfkd_image/);
  });

  it('CIFAR-10 and CIFAR-100: torchvision\'s readers (python version) give the fingerprint tfkd gives the binary version of the same images', async () => {
    // Both layouts written from the same seeded pixels and labels (CIFAR-100: fine and coarse).
    const dir = path.join(root, 'cifar');
    const fps = py<string[]>(
      `import os, pickle, numpy as np
from torchvision import datasets
import tfkd_torch
d = json.load(sys.stdin)
rng = np.random.default_rng(5)
def both(bin_dir, py_dir, name, n, k, hundred):
    x = rng.integers(0, 256, (n, 3072), dtype=np.uint8); y = rng.integers(0, k, n, dtype=np.uint8)
    c = rng.integers(0, 20, n, dtype=np.uint8)
    labels = [c[:, None], y[:, None]] if hundred else [y[:, None]]
    open(os.path.join(bin_dir, name + ".bin"), "wb").write(np.concatenate(labels + [x], 1).tobytes())
    rec = {"data": x, "fine_labels": y.tolist(), "coarse_labels": c.tolist()} if hundred else {"data": x, "labels": y.tolist()}
    pickle.dump(rec, open(os.path.join(py_dir, name), "wb"))
b10, p10, b100, p100 = (os.path.join(d, s) for s in ("cifar-10-batches-bin", "cifar-10-batches-py", "cifar-100-binary", "cifar-100-python"))
for s in (b10, p10, b100, p100):
    os.makedirs(s)
for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
    both(b10, p10, name, 7, 10, False)
for name in ("train", "test"):
    both(b100, p100, name, 23, 100, True)
pickle.dump({"label_names": ["c%d" % i for i in range(10)]}, open(os.path.join(p10, "batches.meta"), "wb"))
pickle.dump({"fine_label_names": ["f%d" % i for i in range(100)]}, open(os.path.join(p100, "meta"), "wb"))
def unchecked(cls):  # the archives' md5s are of the real files: not checked
    return type(cls.__name__, (cls,), {"meta": dict(cls.meta, md5=None), "_check_integrity": lambda self: True})
print(json.dumps([tfkd_torch.dataset_fingerprint(unchecked(c)(d, train=True), {"kind": k, "split": "train"})
                  for c, k in ((datasets.CIFAR10, "cifar10"), (datasets.CIFAR100, "cifar100"))]))`,
      dir,
    );
    const c10 = await openDataset(`cifar10:${dir}`);
    const c100 = await openDataset(`cifar100:${dir}`);
    expect([c10.size, c100.size]).to.deep.equal([35, 23]);
    expect(fps).to.deep.equal([await fingerprint(c10), await fingerprint(c100)]);
  });

  // The plain specs, and the same with a policy (RandAugment on the boxes, AutoAugment's CIFAR-10
  // table on the crops): its operations drawn in Python (tfkd_cache.policy_ops) and applied by
  // torchvision's own _apply_op.
  for (const [RRC, CROP] of [
    ['rrc,flip', 'crop:4,flip'],
    ['rrc,flip,randaugment', 'crop:4,flip,autoaugment:cifar10'],
  ]) it(`caches of views (${RRC}; ${CROP}): each epoch's view is tfkd's trainer's, rendered byte for byte as tfkd renders it, with that view's teacher row`, async () => {
    // RandomResizedCrop views of the photos (a tiny teacher) and crop views of the Fashion-MNIST subset.
    const teacher = writeTinyTeacher(root, { height: 8, width: 8, channels: 3, numClasses: 5 });
    const tag = RRC.replace(/[^a-z]/g, '');
    const rrc = path.join(root, `rrc-cache-${tag}`);
    await runPrecompute({ teacher, data: `folder:${PHOTOS}`, out: rrc, split: 'train', device: 'cpu', threads: 1, batch: 16, dtype: 'f32', views: 4, augment: RRC, augmentSeed: 7, shardRows: 40, preprocess: '{"resize": 10, "crop": 8}' });
    const crop = path.join(root, `crop-cache-${tag}`);
    await runPrecompute({ teacher: path.join(ROOT, 'models/fmnist-good.onnx'), data: `fashion-mnist:${SUBSET}`, out: crop, split: 'train', device: 'cpu', threads: 1, batch: 256, dtype: 'f32', views: 3, augment: CROP, augmentSeed: 3, shardRows: 4096 });
    const rrcPng = path.join(root, `rrc-views-${tag}`);
    const cropPng = path.join(root, `crop-views-${tag}`);
    for (const args of [
      ['--data', `folder:${PHOTOS}`, '--augment', RRC, '--augment-seed', '7', '--views', '4', '--size', '24', '--out', rrcPng],
      ['--data', `fashion-mnist:${SUBSET}`, '--augment', CROP, '--augment-seed', '3', '--views', '3', '--limit', '60', '--size', '28', '--out', cropPng],
    ]) {
      const r = await cli('data', 'views', ...args);
      expect(r.code, r.err).to.equal(0);
    }
    const SEED = 5;
    const got = py<Record<string, { views: number[][]; same: number; compared: number; rows: number[][] }>>(
      `${FMNIST}
from PIL import Image
out = {}
photos = datasets.ImageFolder(job["photos"], is_valid_file=tfkd_torch.is_tfkd_image)
fm = datasets.FashionMNIST(tv, train=True)
for name, ds, cache, png, n, kw in (
        ("rrc", photos, job["rrc"], job["rrcPng"], 36, dict(size=(24, 24), eval_view=lambda im: im.resize((24, 24)))),
        ("crop", fm, job["crop"], job["cropPng"], 60, {})):
    w = tfkd_torch.WithTeacher(ds, cache, seed=job["seed"], **kw)
    r = {"views": [], "same": 0, "compared": 0, "rows": []}
    for e in range(3):
        w.set_epoch(e)
        r["views"].append([w.view_of(i) for i in range(n)])
        for i in range(n):
            x, y, t = w[i]
            v = r["views"][-1][i]
            if e == 0 and i < 4:
                r["rows"].append(t.tolist())
            if v == 0 and name == "rrc":
                continue
            want = Image.open(f"{png}/{i}-{v}.png")
            r["compared"] += 1
            r["same"] += int(np.array_equal(np.asarray(x), np.asarray(want.convert(x.mode))) and y == ds.targets[i])
    out[name] = r
try:
    tfkd_torch.WithTeacher(photos, job["rrc"])
    out["no size"] = "accepted"
except ValueError as e:
    out["no size"] = str(e)
print(json.dumps(out))`,
      { photos: PHOTOS, rrc, crop, rrcPng, cropPng, seed: SEED },
    );
    for (const [name, cache, n] of [['rrc', rrc, 36], ['crop', crop, 60]] as const) {
      const g = got[name];
      const samples = Int32Array.from({ length: n }, (_, i) => i);
      const plan = { mode: 'cache' as const, cacheViews: name === 'rrc' ? 4 : 3, spec: parseAugmentSpec(name === 'rrc' ? RRC : CROP), augmentSeed: 0 };
      for (let e = 0; e < 3; e++) expect(g.views[e], `${name} epoch ${e}`).to.deep.equal(Array.from(viewsFor(plan, SEED, e, samples).cache));
      console.log(`      ${name}: ${g.same} of ${g.compared} (item, epoch) views identical to tfkd data views --out; views of epoch 0: ${g.views[0].slice(0, 12).join(' ')} …`);
      expect(g.compared).to.be.greaterThan(n);
      expect(g.same).to.equal(g.compared);
      const r = openCache(cache);
      const z = r.readLogits([0, 1, 2, 3], g.views[0].slice(0, 4));
      r.close();
      expect(g.rows.flat()).to.deep.equal(Array.from(z));
    }
    expect((got as unknown as Record<string, string>)['no size']).to.match(/pass size=\(H, W\), the student's input size, and eval_view/);
  });

  it('caches of Mixup/CutMix views: the mixture tfkd trains on (within float32 rounding), the mixed one-hot label, the row of the mixture', async () => {
    const SPEC = 'rrc,flip,mixup:0.4,cutmix:1,switch-prob:0.5,mix-prob:0.8';
    const teacher = writeTinyTeacher(root, { height: 8, width: 8, channels: 3, numClasses: 5 });
    const mix = path.join(root, 'mix-cache');
    await runPrecompute({ teacher, data: `folder:${PHOTOS}`, out: mix, split: 'train', device: 'cpu', threads: 1, batch: 16, dtype: 'f32', views: 6, augment: SPEC, augmentSeed: 7, shardRows: 64, preprocess: '{"resize": 10, "crop": 8}' });
    const npy = path.join(root, 'mix-views');
    const args = ['--data', `folder:${PHOTOS}`, '--augment', SPEC, '--augment-seed', '7', '--views', '6', '--size', '24'];
    const j = await cli('data', 'views', ...args, '--json');
    expect(j.code, j.err).to.equal(0);
    const r = await cli('data', 'views', ...args, '--format', 'npy', '--out', npy);
    expect(r.code, r.err).to.equal(0);
    const got = py<{ n: number; mixed: number; maxX: number; maxLabel: number; rowsSame: number; targetTransform: string }>(
      `import numpy as np, torch
from torchvision import datasets, transforms
import tfkd_torch, tfkd_cache
job = json.load(sys.stdin)
f = datasets.ImageFolder(job["photos"], is_valid_file=tfkd_torch.is_tfkd_image, transform=transforms.ToTensor())
w = tfkd_torch.WithTeacher(f, job["mix"], size=(24, 24), eval_view=lambda im: im.resize((24, 24)))
rows = {(r["sample"], r["view"]): r for r in job["rows"]}
out = {"n": 0, "mixed": 0, "maxX": 0.0, "maxLabel": 0.0, "rowsSame": 0}
for i in range(36):
    for v in range(1, 6):
        x, y, t = w.item(i, v)
        want = np.load(f'{job["npy"]}/{i}-{v}.npy')
        out["maxX"] = max(out["maxX"], float(np.abs(x.permute(1, 2, 0).numpy() - want).max()))
        m = rows[(i, v)].get("mix")
        label = np.zeros(5)
        label[f.targets[i]] += m["lambda"] if m else 1
        if m:
            label[f.targets[m["partner"]]] += 1 - m["lambda"]
            out["mixed"] += 1
        out["maxLabel"] = max(out["maxLabel"], float(np.abs(y.numpy() - label).max()))
        out["rowsSame"] += int(np.array_equal(t.numpy(), w.cache.logits([i], v)[0]))
        out["n"] += 1
tt = datasets.ImageFolder(job["photos"], is_valid_file=tfkd_torch.is_tfkd_image, transform=transforms.ToTensor(), target_transform=lambda y: y)
try:
    tfkd_torch.WithTeacher(tt, job["mix"], size=(24, 24), eval_view=lambda im: im)
    out["targetTransform"] = "accepted"
except ValueError as e:
    out["targetTransform"] = str(e)
print(json.dumps(out))`,
      { photos: PHOTOS, mix, npy, rows: JSON.parse(j.out) },
    );
    console.log(`      ${got.n} views (${got.mixed} mixed): max |x − tfkd's npy| ${got.maxX.toExponential(2)}, max |label − tfkd's λ′| ${got.maxLabel.toExponential(2)}`);
    expect(got.n).to.equal(180);
    expect(got.mixed).to.be.greaterThan(100);
    expect(got.maxX).to.be.at.most(1e-6);
    expect(got.maxLabel).to.be.at.most(1e-6);
    expect(got.rowsSame).to.equal(180);
    expect(got.targetTransform).to.match(/mixes views .*target_transform cannot apply/);
  });

  it('examples/pytorch_kd.py trains a PyTorch student from the cache (1 epoch on the 3 000-image subset)', () => {
    const out = execFileSync(DEBIAN_PYTHON, [path.join(ROOT, 'examples/pytorch_kd.py'), cache, '--epochs', '1', '--threads', '1'], { encoding: 'utf8' });
    console.log(out.replace(/^/gm, '      '));
    expect(out).to.match(/^teacher \(from .*\): 3000 images, verified against the data; its train accuracy 89\.\d\d %$/m);
    const acc = Number(/student test accuracy ([\d.]+) %/.exec(out)![1]);
    // Chance is 10 %; one epoch of this CNN on 3 000 images reaches ~50 % here.
    expect(acc).to.be.above(35);
  });
});
