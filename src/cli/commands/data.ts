import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { fingerprint } from '../../data/fingerprint.js';
import { openDataset } from '../../data/open.js';
import { intString, parseOptions, printJson } from '../options.js';

/** `tfkd data info SPEC`: what a data spec resolves to, and the fingerprint caches record. */

const InfoOptions = z.strictObject({
  split: z.enum(['train', 'test']).default('train'),
  json: z.boolean().default(false),
  skipBad: z.boolean().default(false),
  size: z
    .string()
    .regex(/^\d+x\d+$/, 'must be HxW, e.g. 32x32')
    .transform((s) => s.split('x').map(Number) as [number, number])
    .optional(),
  concurrency: intString(1).optional(),
});

export function register(program: Command): void {
  const data = program.command('data').description(SUMMARIES.data);
  data
    .command('info')
    .description('count, classes, shape, label histogram and fingerprint of a data SPEC')
    .argument('<spec>', 'fashion-mnist[:DIR] | mnist:DIR | cifar10:DIR | cifar100:DIR | folder:DIR | synthetic:N:K:HxWxC[:seed]')
    .option('--split <split>', 'train or test', 'train')
    .option('--json', 'print JSON')
    .option('--skip-bad', 'folder: leave out images that cannot be decoded (listed) instead of failing')
    .option('--size <HxW>', 'folder: resize every image to HxW (default: the first image\'s size)')
    .option('--concurrency <n>', 'folder: images decoded at once')
    .action(async (spec: string, raw: unknown) => {
      const o = parseOptions(InfoOptions, raw);
      const ds = await openDataset(spec, { split: o.split, skipBad: o.skipBad, folderSize: o.size, concurrency: o.concurrency });
      const histogram = new Array<number>(ds.numClasses).fill(0);
      for (let i = 0; i < ds.size; i++) histogram[ds.labels[i]]++;
      const fp = await fingerprint(ds);
      const { height, width, channels } = ds.shape;
      if (o.json) {
        printJson({
          spec: ds.spec,
          kind: ds.kind,
          split: ds.split,
          count: ds.size,
          classes: ds.numClasses,
          shape: { height, width, channels },
          histogram,
          ...(ds.classNames ? { classNames: ds.classNames } : {}),
          ...(ds.skipped ? { skipped: ds.skipped } : {}),
          fingerprint: fp,
        });
        return;
      }
      const lines = [
        `spec         ${ds.spec}`,
        `split        ${ds.split}`,
        `count        ${ds.size}`,
        `classes      ${ds.numClasses}`,
        `shape        ${height}x${width}x${channels} (HxWxC)`,
      ];
      if (ds.skipped) lines.push(`skipped      ${ds.skipped.length}${ds.skipped.length ? ` (${ds.skipped.join(', ')})` : ''}`);
      lines.push(`fingerprint  sha256:${fp}`, 'label histogram:');
      const w = String(ds.numClasses - 1).length;
      histogram.forEach((count, c) => {
        const name = ds.classNames?.[c];
        lines.push(`  ${String(c).padStart(w)}  ${String(count).padStart(7)}${name !== undefined && name !== String(c) ? `  ${name}` : ''}`);
      });
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
