/**
 * tfkd as a library user gets it: `npm pack` the checkout (which builds dist/ through `prepare`),
 * install the tarball into a fresh ESM project the way the README says, then run the README's API
 * example — the code block as written — with plain `node` (no tsx), and type-check it with `tsc
 * --checkJs` against the shipped `.d.ts`. Also: importing tfkd leaves tfjs's and onnxruntime's
 * process-wide settings alone, and the tarball ships no sources or tests.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The README's API example: the ```js block after the api-example marker. */
export function readmeExample(readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')): string {
  const at = readme.indexOf('<!-- api-example');
  if (at < 0) throw new Error('README.md has no api-example marker');
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error('README.md: no ```js block after the api-example marker');
  return m[1];
}

/** The environment of the user's commands: none of the test runner's loader options. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  return env;
}

function run(cmd: string, args: string[], cwd: string, env = userEnv()): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('package: npm pack → npm install in a fresh project → the README API example', function () {
  this.timeout(20 * 60_000);
  let tmp: string;
  let project: string;
  let files: string[];
  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-pack-'));
    project = path.join(tmp, 'user-project');
    fs.mkdirSync(project);
    const packed = execFileSync('npm', ['pack', '--pack-destination', tmp, '--json'], { cwd: ROOT, env: userEnv(), encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    const info = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = info[0].files.map((f) => f.path);
    const tgz = path.join(tmp, info[0].filename);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'api-user', version: '1.0.0', private: true, type: 'module' }, null, 2));
    // As the README says: onnxruntime-node's CUDA download skipped; tfkd's own install script runs.
    const inst = run('npm', ['install', tgz, '--prefer-offline', '--no-audit', '--no-fund'], project, userEnv({ ONNXRUNTIME_NODE_INSTALL: 'skip' }));
    if (inst.status !== 0) throw new Error(`npm install of the tarball failed:\n${inst.out}`);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('ships dist/ with declarations, the native sources, models and the data subset; no src/ or test/', function () {
    expect(files).to.include.members(['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/tfkd.js', 'native/binding.gyp', 'models/fmnist-good.onnx', 'package.json']);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).to.deep.equal([]);
    const installed = path.join(project, 'node_modules', 'tfkd');
    expect(fs.existsSync(path.join(installed, 'dist', 'index.d.ts'))).to.equal(true);
    expect(fs.existsSync(path.join(installed, 'src'))).to.equal(false);
  });

  it('runs the README example as written with plain node', function () {
    fs.writeFileSync(path.join(project, 'example.mjs'), readmeExample());
    const r = run(process.execPath, ['example.mjs'], project);
    if (r.status !== 0) throw new Error(`node example.mjs exited ${r.status}:\n${r.out}`);
    expect(r.out).to.match(/^cache: 3000 rows × K=10, fresh$/m);
    expect(r.out).to.match(/^verified: true$/m);
    expect(r.out).to.match(/^kd epoch 2: test acc \d+\.\d %$/m);
    expect(r.out).to.match(/^kd student: \d+\.\d % on 1000 test images$/m);
    const acc = Number(/^kd student: (\d+\.\d) %/m.exec(r.out)![1]);
    // The 88 % teacher's KD student after 2 epochs on 3 000 images: far above chance (10 %).
    expect(acc).to.be.greaterThan(50);
    expect(r.out).to.match(/^tfkd-self student: \d+\.\d %$/m);
  });

  it('type-checks the example with tsc --checkJs against the shipped .d.ts, and a wrong call fails', function () {
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, allowJs: true, checkJs: true, noEmit: true, skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      },
      files: ['example.mjs'],
    };
    fs.writeFileSync(path.join(project, 'example.mjs'), readmeExample());
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const ok = run(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    if (ok.status !== 0) throw new Error(`tsc on the README example failed:\n${ok.out}`);
    // The declarations are real types, not `any`: a misspelt config key and a number for `out` fail.
    fs.writeFileSync(path.join(project, 'wrong.mjs'), "// @ts-check\nimport { train } from 'tfkd';\nawait train({ out: 1, config: { data: 'x', model: 'mlp', loss: 'kd', epoch: 2 } });\n");
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ ...tsconfig, files: ['wrong.mjs'] }, null, 2));
    const bad = run(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    expect(bad.status).to.not.equal(0);
    expect(bad.out).to.match(/wrong\.mjs\(3,\d+\): error TS2322/);
    expect(bad.out).to.match(/'epoch' does not exist/);
  });

  it('importing tfkd changes neither tfjs\'s flags nor onnxruntime\'s log level; a bad option is a UsageError in API terms', function () {
    const probe = [
      "const tf = await import('@tensorflow/tfjs');",
      "const ort = await import('onnxruntime-node');",
      'const before = [tf.env().getBool(\'PROD\'), ort.env.logLevel];',
      "const tfkd = await import('tfkd');",
      "const after = [tf.env().getBool('PROD'), ort.env.logLevel];",
      // A bad option: a UsageError in the API's terms (no CLI flag), nothing written.
      'let error = null;',
      "try { await tfkd.precompute({ teacher: tfkd.embedded.teachers.good, data: tfkd.embedded.data, out: 'never', topk: 0 }); } catch (e) { error = { usage: e instanceof tfkd.UsageError, message: e.message }; }",
      "const fs = await import('node:fs');",
      "console.log(JSON.stringify({ before, after, api: typeof tfkd.train, error, wrote: fs.existsSync('never') }));",
    ].join('\n');
    fs.writeFileSync(path.join(project, 'probe.mjs'), probe);
    const r = run(process.execPath, ['probe.mjs'], project);
    if (r.status !== 0) throw new Error(`probe failed:\n${r.out}`);
    const o = JSON.parse(r.out.trim().split('\n').pop()!) as { before: unknown[]; after: unknown[]; api: string; error: { usage: boolean; message: string } | null; wrote: boolean };
    expect(o.api).to.equal('function');
    expect(o.after).to.deep.equal(o.before);
    expect(o.error?.usage).to.equal(true);
    expect(o.error?.message).to.match(/^topk 0 must be an integer in \[1, K\)/);
    expect(o.wrote).to.equal(false);
  });
});
