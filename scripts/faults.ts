/**
 * `npm run faults` — the fault-injection suite (docs/RELIABILITY.md), seeded and deterministic.
 *
 *   npm run faults [-- --seed S] [--only kills,corruptions,…] [--quick] [--json]
 *
 * Sections: kills (precompute / train / experiment, ≥ 20 points each), corruptions (caches and
 * checkpoints, ≥ 100), concurrent writers, disk full (a small tmpfs; needs root), crafted
 * safetensors headers (≥ 10 000), the bad-input matrix over every command; bounds (endless and
 * oversized shards and image files, a read-only --out, NaN model outputs, a foreign manifest),
 * resume (--resume while the killed trainer is a zombie, 10 trials), scale (a 1.3 M-line list). Prints the figures and
 * exits 1 when any acceptance figure misses: a corruption accepted, a row lost or duplicated, a
 * kill that did not resume identically, a header not refused cleanly, a bad input not exit 2.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeTinyTeacher } from '../test/teacher/fixtures.js';
import { writeImageCache } from '../test/student/trainer/trainer-helpers.js';
import { badInputMatrix, concurrentWriters, corruptCaches, corruptCheckpoints, craftedHeaders, diskFull, killExperiment, killPrecompute, killTrain, tfkd } from './faults/suite.js';
import { endlessShards, oddInputs, oversizedImages, readOnlyOut } from './faults/bounds.js';
import { resumeAfterKill } from './faults/recovery.js';
import { scaleList } from './faults/scale.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seed = Number(flag('--seed') ?? 14);
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const only = flag('--only')?.split(',');
const want = (s: string) => !only || only.includes(s);
const n = (full: number, q: number) => (quick ? q : full);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-faults-'));
const say = (s: string) => process.stderr.write(`${s}\n`);
const figures: Record<string, unknown> = { seed, quick };
const failures: string[] = [];
const t0 = Date.now();
const timed = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
  const t = Date.now();
  say(`faults: ${name} …`);
  const r = await f();
  say(`faults: ${name} done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  return r;
};

try {
  const teacher = writeTinyTeacher(work, { numClasses: 3 });
  const DATA = 'synthetic:256:4:8x8x1:5';

  if (want('headers')) {
    const h = await timed('crafted safetensors headers', () => craftedHeaders(work, n(10000, 1000), seed));
    figures.headers = h;
    if (h.unclean) failures.push(`${h.unclean} crafted headers not refused cleanly: ${h.examples.join('; ')}`);
  }

  if (want('corruptions')) {
    const caches = await timed('cache corruptions', async () => {
      const out = [];
      for (const [name, o] of [['f32', {}], ['f16-top2', { dtype: 'f16' as const, topk: 2 }]] as const) {
        const sound = path.join(work, `sound-${name}`);
        const foreign = path.join(work, `foreign-${name}`);
        await writeImageCache(sound, o);
        await writeImageCache(foreign, { ...o, teacherSha: 'b'.repeat(64), logitScale: 2 });
        out.push(corruptCaches(work, sound, foreign, DATA, n(70, 45), seed));
      }
      return out;
    });
    const run = path.join(work, 'ck-run');
    const other = path.join(work, 'ck-other');
    const base = ['train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '32', '--epochs', '2', '--loss', 'ce', '--backend', 'wasm', '--progress', 'off'];
    for (const [out, s] of [[run, '1'], [other, '9']]) if (tfkd([...base, '--seed', s, '--out', out]).code !== 0) throw new Error('checkpoint fixture runs failed');
    const cks = await timed('checkpoint corruptions', () => corruptCheckpoints(work, run, other, DATA, n(40, 30), seed));
    const all = [...caches, cks];
    figures.corruptions = {
      cases: all.reduce((a, f) => a + f.cases, 0),
      caches: caches.reduce((a, f) => a + f.cases, 0),
      checkpoints: cks.cases,
      accepted: all.reduce((a, f) => a + f.accepted, 0),
      unnamed: all.reduce((a, f) => a + f.unnamed, 0),
      examples: all.flatMap((f) => f.examples).slice(0, 10),
    };
    for (const f of all) if (f.accepted || f.unnamed) failures.push(`corruptions: ${f.accepted} accepted, ${f.unnamed} not named: ${f.examples.slice(0, 5).join('; ')}`);
  }

  if (want('concurrency')) {
    const c = await timed('concurrent writers', () => concurrentWriters(work, teacher));
    figures.concurrency = c;
    if (c.ok !== c.cases) failures.push(`concurrent writers: ${c.failures.join('; ')}`);
  }

  if (want('diskfull')) {
    const d = await timed('disk full', () => diskFull(work, teacher));
    figures.diskFull = d;
    if (!d.skipped && d.ok !== d.cases) failures.push(`disk full: ${d.failures.join('; ')}`);
  }

  if (want('badinputs')) {
    const fx = path.join(work, 'bad');
    fs.mkdirSync(fx);
    const cache = path.join(fx, 'cache');
    tfkd(['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--out', cache, '--device', 'cpu', '--progress', 'off']);
    const run = path.join(fx, 'run');
    tfkd(['train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--epochs', '1', '--limit', '64', '--backend', 'wasm', '--loss', 'ce', '--progress', 'off', '--out', run]);
    const design = path.join(fx, 'd.yaml');
    fs.writeFileSync(design, 'data: synthetic:64:3:8x8x1\nmodel: mlp\nseeds: [1]\ntrain: { epochs: 1 }\nruns:\n  - { name: base, kind: baseline }\n');
    const scratch = path.join(fx, 'scratch');
    fs.mkdirSync(scratch);
    const b = await timed('bad-input matrix', () => badInputMatrix({ teacher, data: 'synthetic:40:3:4x4x1', cache, run, runData: DATA, design, scratch }));
    figures.badInputs = b;
    if (b.ok !== b.cases) failures.push(`bad inputs: ${b.failures.slice(0, 5).join('; ')}`);
  }

  if (want('bounds')) {
    const b = await timed('bounded reads and clean failures', () => ({
      shards: endlessShards(work, teacher),
      images: oversizedImages(work),
      readOnly: readOnlyOut(work, teacher),
      odd: oddInputs(work),
    }));
    figures.bounds = b;
    for (const [k, f] of Object.entries(b)) if (!('skipped' in f && f.skipped) && f.ok !== f.cases) failures.push(`bounds (${k}): ${f.failures.join('; ')}`);
  }

  if (want('resume')) {
    const r = await timed('--resume right after kill -9 (zombie holder)', () => resumeAfterKill(work, n(10, 3), seed));
    figures.resume = r;
    if (r.identical !== r.trials) failures.push(`resume after kill: ${r.failures.join('; ')}`);
  }

  if (want('scale')) {
    const sc = await timed('the 1.3 M-line list', () => scaleList(work, n(1_300_000, 200_000)));
    figures.scale = sc;
    if (sc.failures.length) failures.push(`scale: ${sc.failures.join('; ')}`);
  }

  if (want('kills')) {
    const kills = [];
    kills.push(await timed('kill -9 of precompute', () => killPrecompute(work, teacher, n(22, 6), seed)));
    kills.push(await timed('kill -9 of train', () => killTrain(work, n(20, 6), seed)));
    if (!quick) kills.push(await timed('kill -9 of experiment', () => killExperiment(work, 20, seed)));
    figures.kills = kills;
    for (const k of kills) if (k.landed !== k.kills || !k.identical || k.lostOrDuplicatedRows) failures.push(`kills of ${k.what}: ${k.landed}/${k.kills} landed, identical ${k.identical}: ${k.differences.join(', ')}`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

figures.seconds = Math.round((Date.now() - t0) / 1000);
figures.failures = failures;
if (json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
else {
  const f = figures as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const lines = [`tfkd fault-injection suite (seed ${seed}${quick ? ', quick' : ''}, ${f.seconds} s)`];
  if (f.kills) for (const k of f.kills) lines.push(`kill -9 of ${k.what.padEnd(10)} ${k.landed}/${k.kills} kills landed at their points; resumed identically: ${k.identical ? '100 %' : 'NO'}; rows lost or duplicated: ${k.lostOrDuplicatedRows}`);
  if (f.corruptions) lines.push(`corruptions            ${f.corruptions.cases} (${f.corruptions.caches} of caches × verify + train, ${f.corruptions.checkpoints} of checkpoints × eval + export + resume): ${f.corruptions.accepted} accepted by any consumer, ${f.corruptions.unnamed} refused without naming the file`);
  if (f.concurrency) lines.push(`concurrent writers     ${f.concurrency.ok}/${f.concurrency.cases} second writers refused (exit 2, holder named)`);
  if (f.diskFull) lines.push(`disk full (tmpfs)      ${f.diskFull.skipped ? `skipped: ${f.diskFull.skipped}` : `${f.diskFull.ok}/${f.diskFull.cases} failed with the file named; precompute resumed identically, eval --fit-temperature left no temporary file`}`);
  if (f.headers) lines.push(`crafted headers        ${f.headers.cases}: ${f.headers.accepted} valid and read inside the file, ${f.headers.refused} refused with a SafetensorsError, ${f.headers.unclean} unclean → ${(100 * (f.headers.cases - f.headers.unclean) / f.headers.cases).toFixed(1)} % handled cleanly`);
  if (f.badInputs) lines.push(`bad-input matrix       ${f.badInputs.ok}/${f.badInputs.cases} exit 2 with one line, nothing written`);
  if (f.bounds) {
    const b = f.bounds;
    lines.push(`endless shards         ${b.shards.ok}/${b.shards.cases} (/dev/zero, /dev/urandom, FIFO, oversized × verify + train): failed in seconds naming the shard, --out not locked, the same command runs again`);
    lines.push(`image file limits      ${b.images.ok}/${b.images.cases} refused before reading (1.9 GiB sparse .jpg: peak RSS ${b.images.peakMiB} MiB; /dev/zero .jpg; TFKD_MAX_IMAGE_BYTES)`);
    lines.push(`read-only --out        ${b.readOnly.skipped ? `skipped: ${b.readOnly.skipped}` : `${b.readOnly.ok}/${b.readOnly.cases} exit 2 with one line, nothing written (${b.readOnly.how})`}`);
    lines.push(`odd inputs             ${b.odd.ok}/${b.odd.cases} (NaN model outputs → exit 1 with the count; a foreign manifest.json → one short line)`);
  }
  if (f.resume) lines.push(`--resume after kill -9 ${f.resume.trials} trials with the killed trainer a zombie: continued ${f.resume.continued}/${f.resume.trials}, identical to an uninterrupted run ${f.resume.identical}/${f.resume.trials}`);
  if (f.scale) {
    lines.push(`scale: list of ${f.scale.lines} lines`);
    for (const st of f.scale.steps) lines.push(`  ${st.what.padEnd(44)} exit ${st.code}, ${st.seconds} s, peak RSS ${st.peakMiB} MiB`);
  }
  lines.push(failures.length ? `FAILED: ${failures.length} figure(s) missed:\n  ${failures.join('\n  ')}` : 'all figures met');
  process.stdout.write(`${lines.join('\n')}\n`);
}
process.exitCode = failures.length ? 1 : 0;
