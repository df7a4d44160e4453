/**
 * The boundaries `npm run lint` keeps (eslint.config.js), each shown failing on a deliberate
 * violation: an import against the layer order, an upward import of the CLI, a second onnxruntime
 * importer, tfjs outside student/tf.ts, sharp outside its three users, a relay re-export, a function
 * over 80 lines anywhere in src/ (ESLint), an import cycle, type-only imports included
 * (dpdm), and an export that nothing imports (knip). Nothing is written into src/: probes are
 * linted as text under a path of the tree; the cycle and the unused export are made in a copy.
 * (That main itself passes is CI's `npm run lint`.)
 */
import { expect } from 'chai';
import { ESLint } from 'eslint';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmDir, tmpDir } from './helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function rules(code: string, file: string, cwd = ROOT): Promise<string[]> {
  const eslint = new ESLint({ cwd });
  const [r] = await eslint.lintText(code, { filePath: path.join(cwd, file) });
  return r.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('lint: the boundaries of the tree', function () {
  this.timeout(180000);

  it('EXPECTED FAILURE - a lower layer importing a higher one (data → student, cache → experiment, util → data); the order itself passes', async () => {
    const up = await rules("import { tf } from '../student/tf.js';\nexport const x = tf;\n", 'src/data/lint-probe.ts');
    expect(up.join('\n')).to.match(/no-restricted-imports: .*the layer order is data → teacher → cache → student .*data does not import/);
    const exp = await rules("import { expandDesign } from '../experiment/plan.js';\nexport const x = expandDesign;\n", 'src/cache/lint-probe.ts');
    expect(exp.join('\n')).to.match(/no-restricted-imports: .*cache does not import .*experiment/);
    const util = await rules("import { openDataset } from '../data/open.js';\nexport const x = openDataset;\n", 'src/util/lint-probe.ts');
    expect(util.join('\n')).to.match(/no-restricted-imports: .*src\/util\/ and the shared files .* import no pipeline layer/);
    // Downward imports are the order itself.
    expect(await rules("import { openDataset } from '../data/open.js';\nimport { openCache } from '../cache/reader.js';\nexport const x = [openDataset, openCache];\n", 'src/student/lint-probe.ts')).to.deep.equal([]);
  });

  it('EXPECTED FAILURE - a lower layer importing the CLI', async () => {
    const m = await rules("import { main } from '../cli/main.js';\nexport const x = main;\n", 'src/data/lint-probe.ts');
    expect(m.join('\n')).to.match(/no-restricted-imports: .*data does not import .*cli/);
  });

  it('EXPECTED FAILURE - a second onnxruntime importer, tfjs outside student/tf.ts, sharp outside its users', async () => {
    const ort = await rules("import * as ort from 'onnxruntime-node';\nexport const x = ort;\n", 'src/cache/lint-probe.ts');
    expect(ort.join('\n')).to.match(/no-restricted-imports: .*only src\/teacher\/ort\.ts imports onnxruntime/);
    const tf = await rules("import * as tf from '@tensorflow/tfjs';\nexport const x = tf;\n", 'src/cache/lint-probe.ts');
    expect(tf.join('\n')).to.match(/no-restricted-imports: .*only src\/student\/tf\.ts imports tfjs/);
    const sharp = await rules("import sharp from 'sharp';\nexport const x = sharp;\n", 'src/data/lint-probe.ts');
    expect(sharp.join('\n')).to.match(/no-restricted-imports: .*only src\/data\/pil\/decode\.ts decodes images with sharp/);
    // The owners themselves may.
    expect(await rules("import * as ort from 'onnxruntime-node';\nexport const x = ort;\n", 'src/teacher/ort.ts')).to.deep.equal([]);
    expect(await rules("import sharp from 'sharp';\nexport const x = sharp;\n", 'src/data/pil/decode.ts')).to.deep.equal([]);
  });

  it('EXPECTED FAILURE - relays: a re-export outside an index.ts, an index.ts re-exporting another folder', async () => {
    const relay = await rules("export { writeFileAtomic } from '../util/atomic.js';\n", 'src/cache/lint-probe.ts');
    expect(relay.join('\n')).to.match(/no-restricted-syntax: no relays/);
    const star = await rules("export * from './spec.js';\n", 'src/data/lint-probe.ts');
    expect(star.join('\n')).to.match(/no-restricted-syntax: no relays/);
    const list = await rules("import { canonicalJson } from '../util/canonical-json.js';\nexport { canonicalJson };\n", 'src/cache/lint-probe.ts');
    expect(list.join('\n')).to.match(/no-restricted-syntax: no relays/);
    // ort.ts owns onnxruntime but exports wrappers, not the namespace (only tf.ts hands on its library).
    const ns = await rules("import * as ort from 'onnxruntime-node';\nexport { ort };\n", 'src/teacher/ort.ts');
    expect(ns.join('\n')).to.match(/no-restricted-syntax: no relays/);
    expect(await rules("import * as tf from '@tensorflow/tfjs';\nexport { tf };\n", 'src/student/tf.ts')).to.deep.equal([]);
    const tfStar = await rules("export * from '@tensorflow/tfjs';\n", 'src/student/tf.ts');
    expect(tfStar.join('\n')).to.match(/no-restricted-syntax: no relays/);
    const index = await rules("export { canonicalJson } from '../../util/canonical-json.js';\n", 'src/student/zoo/index.ts');
    expect(index.join('\n')).to.match(/no-restricted-syntax: a folder's index\.ts re-exports its own folder only/);
    expect(await rules("export { buildMlp } from './mlp.js';\n", 'src/student/zoo/index.ts')).to.deep.equal([]);
  });

  it('EXPECTED FAILURE - a function over 80 lines anywhere in src/ (the shaped modules, a bench, the CLI, a leaf under util/)', async () => {
    const fn = (lines: number): string => `export function long(): number {\n  let x = 0;\n${'  x += 1;\n'.repeat(lines - 4)}  return x;\n}\n`;
    for (const file of ['src/cache/precompute.ts', 'src/cache/reader.ts', 'src/student/trainer/loop.ts', 'src/experiment/plan-builder.ts', 'src/bench/render.ts', 'src/cli/commands/train.ts', 'src/util/atomic.ts']) {
      const long = await rules(fn(81), file);
      expect(long.join('\n'), file).to.match(/max-lines-per-function: Function 'long' has too many lines \(81\)\. Maximum allowed is 80/);
      expect(await rules(fn(80), file), file).to.deep.equal([]);
    }
  });

  it('EXPECTED FAILURE - an export nothing imports, a value and a type (lint:exports, knip over a copy of the tree)', () => {
    const copy = tmpDir('lint-exports');
    try {
      for (const d of ['src', 'test', 'scripts', 'bin']) fs.cpSync(path.join(ROOT, d), path.join(copy, d), { recursive: true });
      for (const f of ['tsconfig.json', 'package.json', 'knip.json']) fs.copyFileSync(path.join(ROOT, f), path.join(copy, f));
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
      const exportsCheck = () => spawnSync('npm', ['run', '-s', 'lint:exports'], { cwd: copy, encoding: 'utf8' });
      const clean = exportsCheck();
      expect(clean.status, clean.stdout + clean.stderr).to.equal(0);
      fs.appendFileSync(path.join(copy, 'src', 'data', 'rng.ts'), '\nexport const lintProbeUnused = 1;\nexport type LintProbeType = number;\n');
      const r = exportsCheck();
      expect(r.status).to.not.equal(0);
      expect(r.stdout).to.match(/Unused exports[^]*lintProbeUnused\s+src\/data\/rng\.ts/);
      expect(r.stdout).to.match(/Unused exported types[^]*LintProbeType\s+type\s+src\/data\/rng\.ts/);
    } finally {
      rmDir(copy);
    }
  });

  it('EXPECTED FAILURE - an import cycle, a type-only one included (lint:cycles over a copy of src/)', () => {
    const copy = tmpDir('lint');
    try {
      fs.cpSync(path.join(ROOT, 'src'), path.join(copy, 'src'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(copy, 'tsconfig.json'));
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(copy, 'package.json'));
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
      const cycles = () => spawnSync('npm', ['run', '-s', 'lint:cycles'], { cwd: copy, encoding: 'utf8' });
      const clean = cycles();
      expect(clean.status, clean.stdout).to.equal(0);
      fs.writeFileSync(path.join(copy, 'src', 'util', 'lint-probe-a.ts'), "import { b } from './lint-probe-b.js';\nexport const a = (): number => b() + 1;\n");
      fs.writeFileSync(path.join(copy, 'src', 'util', 'lint-probe-b.ts'), "import type { a } from './lint-probe-a.js';\nexport const b = (): number => 1;\nexport type A = typeof a;\n");
      const r = cycles();
      expect(r.status).to.equal(1);
      expect(r.stdout).to.match(/src\/util\/lint-probe-b\.ts -> src\/util\/lint-probe-a\.ts/);
    } finally {
      rmDir(copy);
    }
    expect(fs.readdirSync(path.join(ROOT, 'src', 'util')).filter((f) => f.startsWith('lint-probe'))).to.deep.equal([]);
  });
});
