/**
 * `tfkd demo`: the embedded default, end to end — the shipped ONNX teachers (models/) and
 * Fashion-MNIST → precompute → MLP students with ce, tfkd-reg, kd and De-KD → a printed table and a
 * report directory. It is `tfkd experiment experiments/demo.yaml`, with the data swapped for the
 * committed subset (data/fashion-mnist-subset) when the Debian data set is absent.
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { intString, parseOptions } from '../options.js';
import { loadDesign } from '../../experiment/design.js';
import { assertAllRan, runDesign } from '../../experiment/run.js';
import { CliRunner, stepEnv } from '../../experiment/runner.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../../data/spec.js';

const demoDesignFile = fileURLToPath(new URL('../../../experiments/demo.yaml', import.meta.url));
const SUBSET = fileURLToPath(new URL('../../../data/fashion-mnist-subset', import.meta.url));

const Options = z.strictObject({
  out: z.string().min(1),
  jobs: intString(1),
  subset: z.boolean().optional(),
});

export function register(program: Command): void {
  program
    .command('demo')
    .description(SUMMARIES.demo)
    .option('--out <dir>', 'output directory (re-run to resume; finished steps are reused)', 'demo-out')
    .option('--jobs <n>', 'steps run at the same time', '2')
    .option('--subset', `use the committed Fashion-MNIST subset even when ${DEFAULT_FASHION_MNIST_DIR} exists`)
    .addHelpText('after', `\nThe design is ${demoDesignFile}; \`tfkd experiment\` runs it the same way.`)
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(Options, raw);
      const say = (s: string) => process.stdout.write(`${s}\n`);
      const loaded = loadDesign(demoDesignFile);
      if (o.subset || !existsSync(DEFAULT_FASHION_MNIST_DIR)) {
        say(
          `data: ${o.subset ? 'using' : `${DEFAULT_FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist); falling back to`} ` +
            `the committed subset ${SUBSET} (3000 train / 1000 test images)`,
        );
        loaded.design.data = `fashion-mnist:${SUBSET}`;
        // The subset is smaller than the design's training limit: train on all of it.
        if (loaded.design.train) delete loaded.design.train.limit;
      } else {
        say(`data: Fashion-MNIST from ${DEFAULT_FASHION_MNIST_DIR}`);
      }
      const r = await runDesign(loaded, { out: o.out, runner: new CliRunner({ env: stepEnv(process.env, o.jobs) }), jobs: o.jobs, say, title: 'tfkd demo' });
      assertAllRan(r, o.out);
    });
}
