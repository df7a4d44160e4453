/**
 * Everything a design file names that can be checked before an experiment writes anything (issue
 * 14, finding 7): its data set opens (both splits) and holds the images its `validation:` block
 * takes, every model is in the zoo, every ONNX teacher exists and is an ONNX model. One UsageError
 * (exit 2) lists every problem, one per line, with its path in the file — instead of a step
 * failing (exit 1) after plan.json, status.json and logs were written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { openDataset } from '../data/open.js';
import { decodeModel } from '../teacher/introspect.js';
import { isOnnxModelName, MODEL_NAMES } from '../student/zoo/index.js';
import { readOnnxGraph } from '../student/zoo/onnx-graph.js';
import type { LoadedDesign } from './design.js';
import { holdoutCount } from './design-schema.js';

export async function preflightDesign(loaded: LoadedDesign): Promise<void> {
  const { design: d, file } = loaded;
  const problems: string[] = [];
  let trainImages: number | null = null;
  for (const split of ['train', 'test'] as const) {
    try {
      const ds = await openDataset(d.data, { split });
      if (split === 'train') trainImages = ds.size;
    } catch (e) {
      problems.push(`${file}: data: ${(e as Error).message}`);
      break;
    }
  }
  // The hold-out's sizes against the training split, known now that it is open (the data step
  // would refuse them too, but only after the output directory is written).
  const v = d.validation;
  if (v && trainImages !== null) {
    if (v.subset !== undefined && v.subset > trainImages) problems.push(`${file}: validation.subset: ${v.subset} exceeds the ${trainImages} training images of ${d.data}`);
    else if (v.subset === undefined) {
      const { held, empty } = holdoutCount(v, trainImages);
      const at = v.size !== undefined ? 'validation.size' : 'validation.fraction';
      if (empty) problems.push(`${file}: ${at}: ${held} held-out images out of the ${trainImages} training images of ${d.data} leaves nothing to ${empty}`);
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
