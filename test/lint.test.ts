/**
 * The boundaries `npm run lint` keeps (eslint.config.js), each shown failing on a deliberate
 * violation: an upward import of the CLI, a second onnxruntime importer, a tfjs importer outside
 * student/tf.ts (ESLint), and an import cycle, type-only imports included (dpdm). (That main itself passes is CI's `npm run lint`.)
 */
import { expect } from 'chai';
import { ESLint } from 'eslint';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function rules(code: string, file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [r] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return r.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('lint: the boundaries of the tree', function () {
  this.timeout(180000);

  it('EXPECTED FAILURE - a lower layer importing the CLI', async () => {
    const m = await rules("import { main } from '../cli/main.js';\nexport const x = main;\n", 'src/data/lint-probe.ts');
    expect(m.join('\n')).to.match(/no-restricted-imports: .*only src\/cli\/ imports the CLI/);
  });

  it('EXPECTED FAILURE - a second onnxruntime importer, and tfjs outside student/tf.ts', async () => {
    const ort = await rules("import * as ort from 'onnxruntime-node';\nexport const x = ort;\n", 'src/cache/lint-probe.ts');
    expect(ort.join('\n')).to.match(/no-restricted-imports: .*only src\/teacher\/ort\.ts imports onnxruntime/);
    const tf = await rules("import * as tf from '@tensorflow/tfjs';\nexport const x = tf;\n", 'src/cache/lint-probe.ts');
    expect(tf.join('\n')).to.match(/no-restricted-imports: .*only src\/student\/tf\.ts imports tfjs/);
    // The owners themselves may.
    expect(await rules("import * as ort from 'onnxruntime-node';\nexport const x = ort;\n", 'src/teacher/ort.ts')).to.deep.equal([]);
  });

  it('EXPECTED FAILURE - an import cycle, a type-only one included (npm run lint:cycles; two real files, removed afterwards)', () => {
    const a = path.join(ROOT, 'src', 'util', 'lint-probe-a.ts');
    const b = path.join(ROOT, 'src', 'util', 'lint-probe-b.ts');
    const cycles = () => spawnSync('npm', ['run', '-s', 'lint:cycles'], { cwd: ROOT, encoding: 'utf8' });
    try {
      fs.writeFileSync(a, "import { b } from './lint-probe-b.js';\nexport const a = (): number => b() + 1;\n");
      fs.writeFileSync(b, "import type { a } from './lint-probe-a.js';\nexport const b = (): number => 1;\nexport type A = typeof a;\n");
      const r = cycles();
      expect(r.status).to.equal(1);
      expect(r.stdout).to.match(/src\/util\/lint-probe-b\.ts -> src\/util\/lint-probe-a\.ts/);
    } finally {
      fs.rmSync(a, { force: true });
      fs.rmSync(b, { force: true });
    }
    const clean = cycles();
    expect(clean.status, clean.stdout).to.equal(0);
  });
});
