/**
 * The bad-input matrix: for every command, invocations that must end with exit 2 and one line
 * (`tfkd: …`, optionally `hint: …`; no stack, no internal message), and must write nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Fixtures {
  /** A tiny ONNX teacher with K = 3 over `data`. */
  teacher: string;
  /** A data spec the teacher fits (4×4×1, K = 3). */
  data: string;
  /** A complete whole cache of `data`. */
  cache: string;
  /** A finished run directory (synthetic:256:4:8x8x1:5, mlp). */
  run: string;
  /** The run's data spec. */
  runData: string;
  /** A valid design file. */
  design: string;
  /** Scratch directory for --out targets (cases never write into it when they are right). */
  scratch: string;
}

/** [label, argv] pairs; every one must exit 2. */
export function badInputs(f: Fixtures): Array<[string, string[]]> {
  const text = path.join(f.scratch, 'notes.txt');
  const dir = path.join(f.scratch, 'a-dir');
  const file = path.join(f.scratch, 'a-file');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(text, 'not a model, not JSON, not YAML: {[\n');
  fs.writeFileSync(file, 'x');
  const out = (name: string) => path.join(f.scratch, 'never', name);
  const cases: Array<[string, string[]]> = [];
  const add = (label: string, args: string[]) => cases.push([label, args]);

  // precompute
  const pc = (...more: string[]) => ['precompute', '--teacher', f.teacher, '--data', f.data, '--out', out('pc'), '--device', 'cpu', '--progress', 'off', ...more];
  add('precompute: no --teacher', ['precompute', '--data', f.data, '--out', out('pc')]);
  add('precompute: no --data', ['precompute', '--teacher', f.teacher, '--out', out('pc')]);
  add('precompute: no --out', ['precompute', '--teacher', f.teacher, '--data', f.data]);
  add('precompute: teacher missing', ['precompute', '--teacher', path.join(f.scratch, 'none.onnx'), '--data', f.data, '--out', out('pc')]);
  add('precompute: teacher is a directory', ['precompute', '--teacher', dir, '--data', f.data, '--out', out('pc')]);
  add('precompute: teacher is a text file', ['precompute', '--teacher', text, '--data', f.data, '--out', out('pc')]);
  for (const d of ['nonsense', 'synthetic:0:3:4x4x1', 'synthetic:a:b', 'synthetic:10:3:4x4x1:x', `fashion-mnist:${path.join(f.scratch, 'none')}`, `folder:${file}`, 'cifar10']) {
    add(`precompute: --data ${d}`, ['precompute', '--teacher', f.teacher, '--data', d, '--out', out('pc')]);
  }
  for (const [flag, vals] of [
    ['--split', ['val']],
    ['--device', ['tpu']],
    ['--threads', ['0', 'x']],
    ['--batch', ['0', '-3', 'x', '1.5']],
    ['--dtype', ['f64']],
    ['--topk', ['0', '3', 'x']],
    ['--views', ['0', '2']],
    ['--shard', ['3/2', 'x', '-1/2']],
    ['--shards', ['0']],
    ['--shard-rows', ['0']],
    ['--preprocess', ['{bad', text]],
    ['--layout', ['NWHC']],
    ['--progress', ['loud']],
    ['--augment-seed', ['-1']],
  ] as const) {
    for (const v of vals) add(`precompute: ${flag} ${v}`, pc(flag, v));
  }
  add('precompute: --augment bogus --views 2', pc('--augment', 'bogus', '--views', '2'));
  add('precompute: --augment without --views', pc('--augment', 'flip'));
  add('precompute: unknown option', pc('--fast'));
  add('precompute: --out is a file', ['precompute', '--teacher', f.teacher, '--data', f.data, '--out', file]);

  // merge
  add('merge: no parts', ['merge', '--out', out('m')]);
  add('merge: part missing', ['merge', path.join(f.scratch, 'none'), '--out', out('m')]);
  add('merge: not a cache', ['merge', dir, '--out', out('m')]);
  add('merge: a whole cache', ['merge', f.cache, '--out', out('m')]);
  add('merge: --out is a file', ['merge', f.cache, '--out', file]);

  // verify
  add('verify: missing', ['verify', path.join(f.scratch, 'none')]);
  add('verify: not a cache', ['verify', dir]);
  add('verify: a file', ['verify', file]);
  add('verify: --sample 0', ['verify', f.cache, '--sample', '0']);
  add('verify: --sample x', ['verify', f.cache, '--sample', 'x']);
  add('verify: --teacher without --data', ['verify', f.cache, '--teacher', f.teacher]);
  add('verify: --teacher is text', ['verify', f.cache, '--teacher', text, '--data', f.data]);
  add('verify: other data', ['verify', f.cache, '--teacher', f.teacher, '--data', 'synthetic:99:3:4x4x1', '--device', 'cpu']);
  add('verify: --device tpu', ['verify', f.cache, '--teacher', f.teacher, '--data', f.data, '--device', 'tpu']);

  // train
  // With a loss: without one every case below would be refused for the missing --loss alone, and
  // the flag under test never looked at (a later --loss overrides this one).
  const tr = (...more: string[]) => ['train', '--data', f.runData, '--model', 'mlp', '--loss', 'ce', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', out('tr'), ...more];
  add('train: no --data', ['train', '--model', 'mlp', '--out', out('tr')]);
  add('train: no --out', ['train', '--data', f.runData, '--model', 'mlp']);
  for (const [flag, vals] of [
    ['--model', ['resnet99']],
    ['--loss', ['foo', 'kd']],
    ['--alpha', ['2', '-0.5', 'x']],
    ['--temperature', ['0', '-1']],
    ['--epochs', ['0', 'x']],
    ['--batch', ['0']],
    ['--lr', ['-1', 'x', '0']],
    ['--optimizer', ['rmsprop']],
    ['--weight-decay', ['-1']],
    ['--clip-grad', ['0', 'x']],
    ['--skip-decay', ['pos_embed']],
    ['--ema', ['1', '0', 'x']],
    ['--schedule', ['linear']],
    ['--milestones', ['a,b']],
    ['--warmup', ['-1']],
    ['--seed', ['-1', 'x']],
    ['--backend', ['gpu']],
    ['--limit', ['0', '99999999']],
    ['--test-limit', ['0']],
    ['--augment', ['bogus']],
    ['--save-at', ['x']],
    ['--config', [path.join(f.scratch, 'none.json'), text]],
    ['--stop-after', ['0']],
    ['--progress', ['loud']],
    ['--fidelity', ['exact']],
    ['--width-multiplier', ['0']],
    ['--epsilon', ['1.5']],
    ['--correct-prob', ['0']],
  ] as const) {
    for (const v of vals) add(`train: ${flag} ${v}`, tr(flag, v));
  }
  // Valid on their own, not for this run (K = 4, 1 epoch of 256 samples at batch 128: 2 steps).
  add('train: --correct-prob below 1/K', tr('--loss', 'tfkd-reg', '--correct-prob', '0.2'));
  add('train: --save-at past the last epoch', tr('--save-at', '2'));
  add('train: --save-at past the last step', tr('--save-at', 'steps:3'));
  add('train: ce with a cache', tr('--cache', f.cache));
  add('train: kd with a missing cache', tr('--loss', 'kd', '--cache', path.join(f.scratch, 'none')));
  add('train: kd with a cache of other data', tr('--loss', 'kd', '--cache', f.cache));
  add('train: --milestones 3,2 (step schedule)', tr('--schedule', 'step', '--milestones', '3,2'));
  add('train: --nesterov with momentum 0', tr('--nesterov', '--momentum', '0'));
  add('train: --ema-warmup without --ema', tr('--ema-warmup'));
  add('train: --resume of nothing', ['train', '--out', out('nothing'), '--resume']);
  add('train: --resume with another --model', ['train', '--out', f.run, '--resume', '--model', 'cnn']);
  add('train: --out is an existing run', ['train', '--data', f.runData, '--model', 'mlp', '--loss', 'ce', '--out', f.run]);
  add('train: --out is a file', ['train', '--data', f.runData, '--model', 'mlp', '--loss', 'ce', '--out', file]);
  add('train: unknown option', tr('--fast'));

  // eval
  add('eval: missing target', ['eval', path.join(f.scratch, 'none'), '--data', f.runData]);
  add('eval: not a run', ['eval', dir, '--data', f.runData]);
  add('eval: no --data', ['eval', f.run]);
  add('eval: --checkpoint bogus', ['eval', f.run, '--data', f.runData, '--checkpoint', 'bogus']);
  add('eval: --checkpoint epoch-99', ['eval', f.run, '--data', f.runData, '--checkpoint', 'epoch-99']);
  add('eval: --batch 0', ['eval', f.run, '--data', f.runData, '--batch', '0']);
  add('eval: --limit 0', ['eval', f.run, '--data', f.runData, '--limit', '0']);
  add('eval: --split val', ['eval', f.run, '--data', f.runData, '--split', 'val']);
  add('eval: other data shape', ['eval', f.run, '--data', f.data]);
  add('eval: a text file as model', ['eval', text, '--data', f.data]);
  add('eval: --backend gpu', ['eval', f.run, '--data', f.runData, '--backend', 'gpu']);
  add('eval: --reliability into a missing folder', ['eval', f.run, '--data', f.runData, '--reliability', out('rel')]);
  add('eval: a cache with other data', ['eval', f.cache, '--data', f.runData]);
  add('eval: a cache with another --split', ['eval', f.cache, '--data', f.data, '--split', 'test']);
  add('eval: a cache with --checkpoint', ['eval', f.cache, '--data', f.data, '--checkpoint', 'best']);
  add('eval: --temperature 0', ['eval', f.run, '--data', f.runData, '--temperature', '0']);
  add('eval: --temperature with --fit-temperature', ['eval', f.run, '--data', f.runData, '--temperature', '2', '--fit-temperature']);
  add('eval: --unseen of a cache', ['eval', f.cache, '--data', f.data, '--unseen']);
  add('eval: --teacher-cache of other data', ['eval', f.run, '--data', f.runData, '--teacher-cache', f.cache]);
  add('eval: --teacher-cache not a cache', ['eval', f.run, '--data', f.runData, '--teacher-cache', dir]);

  // export
  add('export: missing run', ['export', path.join(f.scratch, 'none'), '--out', out('m.onnx')]);
  add('export: no --out', ['export', f.run]);
  add('export: --out not .onnx', ['export', f.run, '--out', out('m.txt')]);
  add('export: --opset 99', ['export', f.run, '--out', out('m.onnx'), '--opset', '99']);
  add('export: --layout NWHC', ['export', f.run, '--out', out('m.onnx'), '--layout', 'NWHC']);
  add('export: --checkpoint bogus', ['export', f.run, '--out', out('m.onnx'), '--checkpoint', 'bogus']);
  add('export: --out under a file', ['export', f.run, '--out', path.join(file, 'm.onnx')]);

  // experiment
  const bad = (name: string, yaml: string): string => {
    const p = path.join(f.scratch, name);
    fs.writeFileSync(p, yaml);
    return p;
  };
  add('experiment: missing file', ['experiment', path.join(f.scratch, 'none.yaml'), '--out', out('e')]);
  add('experiment: not YAML', ['experiment', bad('broken.yaml', 'a: [1, 2\n'), '--out', out('e')]);
  add('experiment: unknown key', ['experiment', bad('unknown.yaml', 'data: synthetic:64:3:8x8x1\nmodel: mlp\nruns:\n  - { name: b, kind: baseline }\ncolour: red\n'), '--out', out('e')]);
  add('experiment: unknown kind', ['experiment', bad('kind.yaml', 'data: synthetic:64:3:8x8x1\nmodel: mlp\nruns:\n  - { name: b, kind: magic }\n'), '--out', out('e')]);
  add('experiment: unknown model', ['experiment', bad('model.yaml', 'data: synthetic:64:3:8x8x1\nmodel: resnet99\nruns:\n  - { name: b, kind: baseline }\n'), '--out', out('e')]);
  add('experiment: bad data', ['experiment', bad('data.yaml', 'data: nonsense:1\nmodel: mlp\nruns:\n  - { name: b, kind: baseline }\n'), '--out', out('e')]);
  add('experiment: text as onnx teacher', ['experiment', bad('onnx.yaml', `data: synthetic:64:3:8x8x1\nmodel: mlp\nteachers:\n  t: { onnx: ${text} }\nruns:\n  - { name: kd, kind: kd, teacher: t }\n`), '--out', out('e')]);
  add('experiment: undefined fidelity_teacher', ['experiment', bad('fidelity.yaml', 'data: synthetic:64:3:8x8x1\nmodel: mlp\nseeds: [1]\nfidelity_teacher: nobody\nruns:\n  - { name: b, kind: baseline }\n'), '--out', out('e')]);
  add('experiment: --jobs 0', ['experiment', f.design, '--out', out('e'), '--jobs', '0']);
  add('experiment: --out is a file', ['experiment', f.design, '--out', file]);

  // report
  add('report: missing dir', ['report', path.join(f.scratch, 'none'), '--out', out('r')]);
  add('report: no runs', ['report', dir, '--out', out('r')]);
  add('report: no --out', ['report', dir]);

  // repro
  add('repro: missing', ['repro', path.join(f.scratch, 'none')]);
  add('repro: not a run', ['repro', dir]);
  add('repro: --tolerance -1', ['repro', f.run, '--tolerance', '-1']);
  add('repro: --stop-after 0', ['repro', f.run, '--stop-after', '0']);

  // bench, data, demo, doctor, the program itself
  add('bench train: unknown model', ['bench', 'train', '--model', 'resnet99']);
  add('bench train: --batch 0', ['bench', 'train', '--model', 'mlp', '--batch', '0']);
  add('bench train: --backend gpu', ['bench', 'train', '--model', 'mlp', '--backend', 'gpu']);
  add('bench precompute: no --teacher', ['bench', 'precompute', '--data', f.data]);
  add('bench precompute: missing teacher', ['bench', 'precompute', '--teacher', path.join(f.scratch, 'none.onnx'), '--data', f.data]);
  add('bench precompute: --rows 0', ['bench', 'precompute', '--teacher', f.teacher, '--data', f.data, '--rows', '0']);
  add('data views: bad data', ['data', 'views', '--data', 'nonsense', '--augment', 'flip', '--views', '2']);
  add('data views: --views 0', ['data', 'views', '--data', f.data, '--augment', 'flip', '--views', '0']);
  add('data views: bad augment', ['data', 'views', '--data', f.data, '--augment', 'bogus', '--views', '2']);
  add('data info: bad spec', ['data', 'info', 'nonsense']);
  add('demo: --jobs 0', ['demo', '--jobs', '0', '--out', out('demo')]);
  add('doctor: an unknown option', ['doctor', '--fix']);
  add('bench micro: --reps 0', ['bench', 'micro', '--reps', '0']);
  add('unknown command', ['frobnicate']);
  add('unknown global option', ['--frob', 'train']);
  return cases;
}
