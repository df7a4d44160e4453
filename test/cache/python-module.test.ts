/**
 * python/tfkd_cache.py, the Python reader users import: the same verdicts and the same numbers as
 * tfkd's own reader (src/cache/reader.ts) on caches tfkd wrote — sound ones of every layout
 * (f32/f16, top-k, views, parts, a linked merge, the tfkd-cache/1 fixtures), the seeded corruptions
 * of `npm run faults`, and the canonical JSON that keys and checksums hash.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/reader.js';
import { mergeCaches } from '../../src/cache/merge.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { cacheCorruptions } from '../../scripts/faults/corruptions.js';
import { writeImageCache } from '../student/trainer/trainer-helpers.js';
import { needs } from '../helpers/needs.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { writeSynth } from './helpers.js';
import { py } from './python-helpers.js';
import { cli } from '../cli/train-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/cache-v1/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Python: open each cache (full verify); per cache "ok" or the exception's class and message. */
const OPEN_ALL = `
import tfkd_cache
out = []
for d in json.load(sys.stdin):
    try:
        tfkd_cache.open_cache(d)
        out.append(["ok", ""])
    except (tfkd_cache.CacheError, tfkd_cache.CacheMismatch) as e:
        out.append([type(e).__name__, str(e)])
print(json.dumps(out))`;

describe('cache/python module (python/tfkd_cache.py)', function () {
  this.timeout(300000);
  let root: string;
  before(function () {
    needs(this, 'python3-numpy');
    root = tmpDir('pymod');
  });
  after(() => rmDir(root));

  it('canonical JSON: the same text as tfkd for the numbers, strings and keys a manifest can hold', () => {
    const values = [
      1e-7, 1.5e-7, 2.5e-5, 0.000001, 1e21, 1e20, 123456789012345680000, 0.1 + 0.2, -0, -1.25, 5e-324, 1.7976931348623157e308, 2 ** 53 + 2,
      1 / 255, 0.00392156862745098, 0.485, 100, -3e-12, 4.35e22, 0.5, 1 / 3,
      'plain', 'quote " back \\ slash', 'ctl \u0001\u001f\n\t\r\b\f', 'ünïcödé ✓', 'astral 😀', '\u2028\u2029', '',
      { b: 1, a: [1, 2.5, null, true, false], 'ä': { z: 'x', Z: 'y' }, '😀k': 1, 'ﬀk': 2 },
    ];
    const texts = values.map((v) => canonicalJson(v));
    const got = py<string[]>(`import tfkd_cache\nprint(json.dumps([tfkd_cache.canonical_json(json.loads(t)) for t in json.load(sys.stdin)]))`, texts);
    const diff = texts.map((t, i) => (t === got[i] ? null : `${t} ≠ python ${got[i]}`)).filter(Boolean);
    expect(diff, diff.join('\n')).to.deep.equal([]);
  });

  it('opens every sound layout tfkd writes, with the same values as tfkd reads (logits, soft targets, rows in order)', () => {
    const dirs: Array<{ dir: string; T: number }> = [];
    const mk = (name: string, o: Parameters<typeof writeSynth>[1]) => {
      const dir = path.join(root, name);
      writeSynth(dir, o);
      dirs.push({ dir, T: 2.5 });
      return dir;
    };
    mk('f32-v3', { N: 23, K: 7, V: 3, dtype: 'f32', topk: null, shardRows: 10 });
    mk('f16', { N: 40, K: 11, V: 1, dtype: 'f16', topk: null, shardRows: 16 });
    mk('f16-top3', { N: 23, K: 9, V: 2, dtype: 'f16', topk: 3, shardRows: 10 });
    mk('f32-top2-T7', { N: 15, K: 6, V: 1, dtype: 'f32', topk: 2, shardRows: 4 });
    const parts = [0, 1, 2].map((i) => mk(`part-${i}`, { N: 31, K: 5, V: 2, dtype: 'f16', topk: null, shardRows: 8, part: { index: i, count: 3 } }));
    const linked = path.join(root, 'linked');
    mergeCaches(parts, linked, { link: true });
    dirs.push({ dir: linked, T: 1 });
    const copied = path.join(root, 'copied');
    mergeCaches(parts, copied);
    dirs.push({ dir: copied, T: 4 });
    for (const f of ['f32', 'f16', 'f16-top3']) dirs.push({ dir: path.join(FIXTURE, f), T: 3 });

    // tfkd's reading: every row of every cache, in row order.
    const want = dirs.map(({ dir, T }) => {
      const r = openCache(dir);
      const samples: number[] = [];
      const views: number[] = [];
      for (let s = r.sampleStart; s < r.sampleEnd; s++) {
        for (let v = 0; v < r.views; v++) {
          samples.push(s);
          views.push(v);
        }
      }
      const res = { logits: Array.from(r.readLogits(samples, views)), soft: Array.from(r.softTargets(samples, views, T)), samples, views };
      r.close();
      return res;
    });
    const got = py<Array<{ logits: number[]; soft: number[]; rows: number; blockRows: number[]; repr: string }>>(
      `import tfkd_cache, numpy as np, pickle
out = []
for job in json.load(sys.stdin):
    c = tfkd_cache.open_cache(job["dir"])
    s, v = np.array(job["samples"]), np.array(job["views"])
    c = pickle.loads(pickle.dumps(c))  # what a DataLoader worker under spawn gets
    out.append({"logits": c.logits(s, v).astype(float).ravel().tolist(),
                "soft": c.soft_targets(s, v, job["T"]).astype(float).ravel().tolist(),
                "rows": len(c), "blockRows": [r0 for r0, b in c.blocks(3)], "repr": repr(c)})
print(json.dumps(out))`,
      dirs.map((d, i) => ({ ...d, samples: want[i].samples, views: want[i].views })),
    );
    for (const [i, { dir }] of dirs.entries()) {
      const name = path.basename(dir);
      const rows = want[i].samples.length;
      expect(got[i].rows, name).to.equal(rows);
      // blocks(3) walks every row once, in order, never across a shard.
      expect(got[i].blockRows[0], name).to.equal(0);
      expect(got[i].blockRows.every((r, j) => j === 0 || r > got[i].blockRows[j - 1]), name).to.equal(true);
      let maxZ = 0;
      got[i].logits.forEach((x, j) => (maxZ = Math.max(maxZ, Math.abs(x - want[i].logits[j]))));
      let maxP = 0;
      got[i].soft.forEach((x, j) => (maxP = Math.max(maxP, Math.abs(x - want[i].soft[j]))));
      console.log(`      ${name}: ${rows} rows, max |python − tfkd| logits ${maxZ}, soft targets ${maxP.toExponential(2)}`);
      expect(got[i].logits).to.have.length(want[i].logits.length);
      // Stored f16/f32 values are exact in float32; top-k tail classes are F0 − log m, one float32 rounding.
      expect(maxZ, name).to.be.at.most(name.includes('top') ? 1e-6 : 0);
      expect(maxP, name).to.be.at.most(1e-6);
    }
  });

  it('view_params, policy_ops and mix_params: every view\'s box, flip, policy operations and mixing (kind, partner, partner\'s view, cut, λ′) equal `tfkd data views --json`', async () => {
    const cases = [
      { data: `folder:${ROOT}test/fixtures/photos`, augment: 'rrc,flip', seed: 7, views: 8, limit: [] as string[] },
      { data: `folder:${ROOT}test/fixtures/photos`, augment: 'rrc:0.35-1:0.5-2,flip', seed: 11, views: 8, limit: [] },
      { data: `fashion-mnist:${ROOT}data/fashion-mnist-subset`, augment: 'crop:4,flip', seed: 3, views: 4, limit: ['--limit', '300'] },
      { data: `folder:${ROOT}test/fixtures/photos`, augment: 'rrc,flip,mixup:0.4,cutmix:1,switch-prob:0.5,mix-prob:0.8', seed: 7, views: 6, limit: ['--size', '24'] },
      { data: `fashion-mnist:${ROOT}data/fashion-mnist-subset`, augment: 'crop:4,flip,mixup:0.2,cutmix:1,switch-prob:0.3', seed: 2, views: 5, limit: ['--limit', '400'] },
      { data: `folder:${ROOT}test/fixtures/photos`, augment: 'rrc,flip,randaugment:3:12', seed: 5, views: 6, limit: ['--size', '24'] },
      { data: `fashion-mnist:${ROOT}data/fashion-mnist-subset`, augment: 'crop:4,flip,trivialaugment', seed: 3, views: 4, limit: ['--limit', '300'] },
      { data: `fashion-mnist:${ROOT}data/fashion-mnist-subset`, augment: 'crop:2,flip,autoaugment:svhn,mixup:0.2', seed: 4, views: 4, limit: ['--limit', '300'] },
      { data: `folder:${ROOT}test/fixtures/photos`, augment: 'rrc,flip,autoaugment,cutmix:1', seed: 9, views: 6, limit: ['--size', '24'] },
    ];
    const jobs = [];
    for (const c of cases) {
      const r = await cli('data', 'views', '--data', c.data, '--augment', c.augment, '--augment-seed', String(c.seed), '--views', String(c.views), ...c.limit, '--json');
      expect(r.code, r.err).to.equal(0);
      jobs.push({ ...c, rows: JSON.parse(r.out) as Array<{ sample: number; view: number; box: number[]; flip: boolean }> });
    }
    const got = py<Array<{ compared: number; mixed: number; maxLambda: number; differ: string[]; ops: number }>>(
      `import tfkd_cache
out = []
for job in json.load(sys.stdin):
    a = tfkd_cache.parse_augment(job["augment"])
    size = {r["sample"]: r["box"][2:] for r in job["rows"] if r["view"] == 0}  # view 0: the whole image
    N = 36 if "photos" in job["data"] else 3000
    grid = (24, 24) if "photos" in job["data"] else (28, 28)
    res = {"compared": 0, "mixed": 0, "maxLambda": 0.0, "differ": [], "ops": 0}
    ops = lambda j, v: [{"op": o, "magnitude": m} for o, m in tfkd_cache.policy_ops(a["auto"], job["seed"], j, v, *grid)]  # noqa: E731
    for r in job["rows"]:
        if r["view"] == 0:
            continue
        p = tfkd_cache.view_params(a, job["seed"], r["sample"], r["view"], *size[r["sample"]])
        res["compared"] += 1
        if p != {"box": r["box"], "flip": r["flip"]}:
            res["differ"].append(f"{r} vs {p}")
        if a["auto"] is not None:
            res["ops"] += len(r["ops"])
            if ops(r["sample"], r["view"]) != r["ops"]:
                res["differ"].append(f"{r}: ops {ops(r['sample'], r['view'])}")
        m, want = tfkd_cache.mix_params(a["mix"], job["seed"], r["sample"], r["view"], N), r.get("mix")
        if (m is None) != (want is None):
            res["differ"].append(f"{r}: mixed {m}")
        elif m is not None:
            res["mixed"] += 1
            j = m["partner"]
            pb = tfkd_cache.view_params(a, job["seed"], j, r["view"], *size[j]) if j in size else None
            if (m["kind"], j, tfkd_cache.cut_pixels(m, *grid)) != (want["kind"], want["partner"], want.get("cut")) or (pb and pb != {"box": want["partner_box"], "flip": want["partner_flip"]}):
                res["differ"].append(f"{r}: mixed {m}, partner view {pb}")
            if a["auto"] is not None and ops(j, r["view"]) != want["partner_ops"]:
                res["differ"].append(f"{r}: partner ops {ops(j, r['view'])}")
            res["maxLambda"] = max(res["maxLambda"], abs(tfkd_cache.label_lambda(m, *grid) - want["lambda"]))
    out.append(res)
print(json.dumps(out))`,
      jobs,
    );
    for (const [i, g] of got.entries()) {
      console.log(`      ${cases[i].augment}: ${g.compared} views, ${g.mixed} mixed (max |Δλ′| ${g.maxLambda.toExponential(1)}), ${g.ops} policy operations, ${g.differ.length} differ`);
      if (cases[i].augment.includes('augment')) expect(g.ops, cases[i].augment).to.be.greaterThan(g.compared * 0.4);
      expect(g.maxLambda).to.be.at.most(1e-12);
      expect(g.compared).to.equal(jobs[i].rows.filter((r) => r.view > 0).length);
      expect(g.differ).to.deep.equal([]);
    }
  });

  it('reads positioned: with verify="none" a row comes from its own shard only; a missing shard is named when reached', () => {
    const dir = path.join(root, 'lazy');
    writeSynth(dir, { N: 30, K: 4, V: 1, dtype: 'f32', topk: null, shardRows: 10 });
    fs.rmSync(path.join(dir, 'shard-00002.safetensors'));
    const got = py<string[]>(
      `import tfkd_cache
d = json.load(sys.stdin)
out = []
c = tfkd_cache.open_cache(d, verify="none")
out.append(str(c.logits([0, 19]).shape))
for s in (25,):
    try:
        c.logits([s]); out.append("read")
    except tfkd_cache.CacheError as e:
        out.append(str(e))
for mode in ("layout", "full"):
    try:
        tfkd_cache.open_cache(d, verify=mode); out.append("opened")
    except tfkd_cache.CacheError as e:
        out.append(str(e))
print(json.dumps(out))`,
      dir,
    );
    expect(got[0]).to.equal('(2, 4)');
    for (const msg of got.slice(1)) expect(msg).to.match(/shard-00002\.safetensors: cannot read/);
  });

  // np.asarray(…, dtype=int64) cut 1.7 down to row 1 (and took '5' and True): the wrong row, silently.
  it('refuses indices that are not integers (1.7, a view of 1.9, "5", True), as tfkd\'s reader does; integer arrays of any width are read', () => {
    const dir = path.join(root, 'int-indices');
    writeSynth(dir, { N: 6, K: 4, V: 2, dtype: 'f32', topk: null, shardRows: 10 });
    const got = py<string[]>(
      `import numpy as np
import tfkd_cache
d = json.load(sys.stdin)
c = tfkd_cache.open_cache(d)
out = []
for f in (lambda: c.logits([1.7]), lambda: c.logits([3], 1.9), lambda: c.logits(["5"]), lambda: c.logits([True]), lambda: c.read_rows([0.5])):
    try:
        f(); out.append("read")
    except TypeError as e:
        out.append(str(e))
out.append(str(bool(np.array_equal(c.logits(np.array([1, 4], dtype=np.uint8), np.int16(1)), c.logits([1, 4], 1)))))
print(json.dumps(out))`,
      dir,
    );
    expect(got).to.deep.equal([
      'sample indices must be integers, got float64 (1.7)',
      'view indices must be integers, got float64 (1.9)',
      "sample indices must be integers, got <U1 ('5')",
      'sample indices must be integers, got bool (True)',
      'row indices must be integers, got float64 (0.5)',
      'True',
    ]);
    expect(() => openCache(dir).readLogits([1.7], [0])).to.throw(/sample 1\.7 is outside/);
  });

  it('refuses every seeded corruption tfkd refuses (manifest edits, shards, resealed contents, byte damage), naming the file', async () => {
    const dirs: string[] = [];
    const files: string[] = [];
    for (const [name, o] of [
      ['f32', {}],
      ['f16top2', { dtype: 'f16' as const, topk: 2 }],
    ] as const) {
      const sound = path.join(root, `sound-${name}`);
      const foreign = path.join(root, `foreign-${name}`);
      await writeImageCache(sound, o);
      await writeImageCache(foreign, { ...o, teacherSha: 'b'.repeat(64), logitScale: 2 });
      dirs.push(sound);
      files.push('');
      for (const [n, c] of cacheCorruptions(sound, 70, 14).entries()) {
        const dir = path.join(root, `c-${name}-${n}`);
        fs.cpSync(sound, dir, { recursive: true });
        c.apply(dir, foreign);
        dirs.push(dir);
        files.push(c.file);
      }
    }
    const got = py<Array<[string, string]>>(OPEN_ALL, dirs);
    const accepted: string[] = [];
    const unnamed: string[] = [];
    for (const [i, [kind, msg]] of got.entries()) {
      if (!files[i]) expect(kind, `${dirs[i]}: ${msg}`).to.equal('ok');
      else if (kind === 'ok') accepted.push(dirs[i]);
      else if (!msg.includes(files[i])) unnamed.push(`${dirs[i]}: ${msg}`);
    }
    console.log(`      ${dirs.length - 2} corruptions: ${accepted.length} accepted, ${unnamed.length} refused without naming the file`);
    expect(dirs.length).to.equal(142);
    expect(accepted, accepted.join('\n')).to.deep.equal([]);
    expect(unnamed, unnamed.join('\n')).to.deep.equal([]);
  });
});
