/**
 * Everything a design file names that can be checked before an experiment writes anything (issue
 * 14, finding 7): its data set opens (both splits), every model is in the zoo, every ONNX teacher
 * exists and is an ONNX model. One UsageError (exit 2) lists every problem, one per line, with its
 * path in the file — instead of a step failing (exit 1) after plan.json, status.json and logs were
 * written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { openDataset } from '../data/open.js';
import { decodeModel } from '../teacher/introspect.js';
import { isOnnxModelName, MODEL_NAMES } from '../student/zoo/index.js';
import { readOnnxGraph } from '../student/zoo/onnx-graph.js';
import type { LoadedDesign } from './design.js';

export async function preflightDesign(loaded: LoadedDesign): Promise<void> {
  const { design: d, file } = loaded;
  const problems: string[] = [];
  for (const split of ['train', 'test'] as const) {
    try {
      await openDataset(d.data, { split });
    } catch (e) {
      problems.push(`${file}: data: ${(e as Error).message}`);
      break;
    }
  }
  const model = (at: string, name: string | undefined): void => {
    if (name !== undefined && isOnnxModelName(name)) {
      // onnx:FILE students, as on the command line (the path is taken from the working directory).
      try {
        readOnnxGraph(name.slice('onnx:'.length));
      } catch (e) {
        problems.push(`${file}: ${at}: ${(e as Error).message}`);
      }
    } else if (name !== undefined && !MODEL_NAMES.includes(name)) problems.push(`${file}: ${at}: unknown model '${name}' (valid: ${MODEL_NAMES.join(', ')}, onnx:FILE)`);
  };
  model('model', d.model);
  for (const [name, t] of Object.entries(d.teachers ?? {})) {
    model(`teachers.${name}.model`, t.model);
    if (t.onnx !== undefined) {
      const f = path.resolve(loaded.dir, t.onnx);
      if (!fs.existsSync(f)) problems.push(`${file}: teachers.${name}.onnx: file not found: ${f}`);
      else if (!fs.statSync(f).isFile()) problems.push(`${file}: teachers.${name}.onnx: ${f} is not a file`);
      else {
        try {
          decodeModel(fs.readFileSync(f), f);
        } catch (e) {
          problems.push(`${file}: teachers.${name}.onnx: ${(e as Error).message}`);
        }
      }
    }
  }
  d.runs.forEach((r, i) => model(`runs[${i}].model`, r.model));
  if (problems.length) {
    const [first, ...rest] = problems;
    throw new UsageError(rest.length ? `${first}\n${rest.map((p) => `  ${p}`).join('\n')}` : first, 'nothing was written; fix the design file (docs/EXPERIMENTS.md)');
  }
}
