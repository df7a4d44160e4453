import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { fingerprint } from '../../data/fingerprint.js';
import type { Dataset } from '../../data/dataset.js';
import { openDataset } from '../../data/open.js';
import { UsageError } from '../../errors.js';
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
  check: z.boolean().default(false),
});

/**
 * `--check`: decode every image of a folder/list source (what PIL's convert('RGB') would be fed),
 * in batches, and collect the files that fail. Sources of fixed-size samples have nothing to check.
 */
async function checkImages(ds: Dataset): Promise<string[]> {
  const bad: Array<{ file: string; reason: string }> = [];
  if (!ds.variableSize) return [];
  const B = 256;
  for (let s = 0; s < ds.size; s += B) {
    const idx = Int32Array.from({ length: Math.min(B, ds.size - s) }, (_, k) => s + k);
    await ds.readImages(idx, 'RGB', { skipBad: true, onBad: (b) => bad.push(b) });
  }
  return bad.map((b) => b.reason);
}

export function register(program: Command): void {
  const data = program.command('data').description(SUMMARIES.data);
  data
    .command('info')
    .description('count, classes, shape, label histogram and fingerprint of a data SPEC')
    .argument('<spec>', 'fashion-mnist[:DIR] | mnist:DIR | cifar10:DIR | cifar100:DIR | folder:DIR | synthetic:N:K:HxWxC[:seed]')
    .option('--split <split>', 'train or test', 'train')
    .option('--json', 'print JSON')
    .option('--check', 'folder/list: decode every image and report those that cannot be (exit 2 naming the first)')
    .option('--skip-bad', 'with --check: list the images that cannot be decoded instead of failing')
    .option('--size <HxW>', 'folder/list: the size of the fixed-shape face (default: the first image\'s size)')
    .option('--concurrency <n>', 'folder/list: images decoded at once')
    .action(async (spec: string, raw: unknown) => {
      const o = parseOptions(InfoOptions, raw);
      const ds = await openDataset(spec, { split: o.split, folderSize: o.size, concurrency: o.concurrency });
      const skipped = o.check ? await checkImages(ds) : undefined;
      if (skipped?.length && !o.skipBad) {
        throw new UsageError(`${skipped[0]}${skipped.length > 1 ? ` (and ${skipped.length - 1} more)` : ''}`, 'pass --skip-bad to list them all');
      }
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
          ...(ds.variableSize ? { variableSize: true } : {}),
          histogram,
          ...(ds.classNames ? { classNames: ds.classNames } : {}),
          ...(skipped ? { skipped } : {}),
          fingerprint: fp,
        });
        return;
      }
      const lines = [
        `spec         ${ds.spec}`,
        `split        ${ds.split}`,
        `count        ${ds.size}`,
        `classes      ${ds.numClasses}`,
        ds.variableSize ? `shape        images of their own sizes (first: ${height}x${width}, read as ${channels === 1 ? 'L' : 'RGB'})` : `shape        ${height}x${width}x${channels} (HxWxC)`,
      ];
      if (skipped) lines.push(`skipped      ${skipped.length}${skipped.length ? ` (${skipped.join('; ')})` : ''}`);
      lines.push(`fingerprint  sha256:${fp}`, 'label histogram:');
      const w = String(ds.numClasses - 1).length;
      histogram.forEach((count, c) => {
        const name = ds.classNames?.[c];
        lines.push(`  ${String(c).padStart(w)}  ${String(count).padStart(7)}${name !== undefined && name !== String(c) ? `  ${name}` : ''}`);
      });
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
