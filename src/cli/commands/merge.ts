/**
 * `tfkd merge CACHE... --out CACHE`: joins the partial caches of a `--shard I/N` job array into one
 * cache whose shard files are byte-identical to a single-process run (src/cache/merge.ts).
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { mergeCaches } from '../../cache/merge.js';
import { parseOptions, printJson } from '../options.js';

const Options = z.strictObject({
  out: z.string().min(1),
  force: z.boolean().optional(),
  link: z.boolean().optional(),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  program
    .command('merge')
    .description(SUMMARIES.merge)
    .argument('<caches...>', 'partial cache directories (all N parts, any order)')
    .requiredOption('--out <dir>', 'merged cache directory')
    .option('--link', 'reference the parts\' shard files in place (relative paths) instead of copying them; keep the parts')
    .option('--force', 'replace a cache for another key at --out')
    .option('--json', 'print the result as JSON')
    .action(async (caches: string[], raw: unknown) => {
      const o = parseOptions(Options, raw);
      const r = mergeCaches(caches, o.out, { force: o.force, link: o.link });
      const s = { cache: o.out, state: r.state, parts: r.parts, key: r.manifest.key, rows: r.manifest.rows, shards: r.manifest.shards.length };
      if (o.json) printJson(s);
      else process.stdout.write(`${o.out}: ${r.state === 'complete' ? 'already complete' : `${o.link ? 'linked' : 'merged'} ${r.parts} parts`}; ${s.rows} rows in ${s.shards} shard(s), key ${s.key.slice(0, 12)}…\n`);
    });
}
