/**
 * `tfkd precompute`: run a teacher over a data set once and store its logits as a `tfkd-cache/2`
 * directory (docs/ARCHITECTURE.md §3, docs/CACHE.md). Resumable (re-run the same command), shardable for job arrays
 * (`--shard I/N`, `--shards N` + JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID, `--shard auto`).
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { CACHE_DTYPES, LAYOUTS, PROGRESS_MODES, SPLITS, TEACHER_DEVICES } from '../../catalog.js';
import type { PartSpec } from '../../cache/precompute.js';
import { runPrecompute as precomputeRun, type PrecomputeSummary } from '../../cache/precompute-run.js';
import { intString, parseOptions, printJson } from '../options.js';
import { createProgress } from '../progress.js';
import { dataSpecHelp } from '../../data/spec.js';

const Options = z.strictObject({
  teacher: z.string().min(1),
  data: z.string().min(1),
  split: z.enum(SPLITS).default('train'),
  out: z.string().min(1),
  device: z.enum(TEACHER_DEVICES).default('auto'),
  threads: intString(1).optional(),
  sessions: z.union([z.literal('auto'), intString(1)]).optional(),
  batch: intString(1).default(256),
  dtype: z.enum(CACHE_DTYPES).default('f32'),
  topk: intString(1).optional(),
  views: intString(1).default(1),
  augment: z.string().optional(),
  augmentSeed: z.coerce.number().int().min(0).max(0xffffffff).default(0),
  shard: z.string().optional(),
  shards: intString(1).optional(),
  shardRows: intString(1).default(8192),
  preprocess: z.string().optional(),
  classMap: z.string().optional(),
  teacherLabels: z.string().optional(),
  skipBad: z.boolean().optional(),
  decoders: intString(1).optional(),
  renderWorkers: intString(0).optional(),
  maxPixels: intString(1).optional(),
  output: z.string().optional(),
  layout: z.enum(LAYOUTS).optional(),
  force: z.boolean().optional(),
  json: z.boolean().optional(),
  progress: z.enum(PROGRESS_MODES).default('auto'),
});
export type PrecomputeCliOptions = z.infer<typeof Options>;

/**
 * The command's work (below the CLI: cache/precompute-run.ts) with its progress bar: kept as a
 * function of the parsed options so tests run it in-process. `explicit`: the flags typed (options
 * that would do nothing are refused only then; commander fills in the defaults of the others).
 */
export async function runPrecompute(o: PrecomputeCliOptions, env: NodeJS.ProcessEnv = process.env, explicit?: ReadonlySet<string>): Promise<PrecomputeSummary> {
  const mode = o.progress === 'auto' ? undefined : o.progress;
  let progress: ReturnType<typeof createProgress> | null = null;
  const { json: _json, progress: _mode, ...options } = o;
  const summary = await precomputeRun(
    {
      ...options,
      explicit,
      // On stderr, before the progress bar: stdout holds the result only (--json).
      onInfo: (line) => process.stderr.write(`${line}\n`),
      onStart: ({ state, startRow, rows }) => {
        if (state === 'complete') return;
        progress = createProgress({ label: 'precompute', total: rows, mode });
        progress.update(startRow);
      },
      onProgress: (done) => progress?.update(done),
    },
    env,
  );
  (progress as ReturnType<typeof createProgress> | null)?.finish({ rows_per_s: summary.rowsPerSecond });
  return summary;
}

export function register(program: Command): void {
  program
    .command('precompute')
    .description(SUMMARIES.precompute)
    .requiredOption('--teacher <model.onnx>', 'ONNX image classifier')
    .requiredOption('--data <spec>', dataSpecHelp())
    .option('--split <split>', 'train or test', 'train')
    .requiredOption('--out <dir>', 'cache directory (re-run the same command to resume)')
    .option('--device <device>', 'auto|cuda|webgpu|cpu (auto tries them in that order)', 'auto')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)')
    .option('--sessions <n|auto>', 'onnxruntime sessions run side by side on the CPU, sharing --threads (default 1; auto: one per thread, at most 4)')
    .option('--batch <n>', 'rows per inference batch', '256')
    .option('--dtype <dtype>', 'stored logits: f16 or f32', 'f32')
    .option('--topk <k>', 'store only the top k logits per row (+ tail statistics) instead of all K')
    .option('--views <v>', 'rows per sample: view 0 un-augmented, views 1… augmented', '1')
    .option('--augment <spec>', 'augmentation of views ≥ 1, e.g. crop:4,flip or rrc,flip,randaugment or rrc,flip,mixup:0.2,cutmix:1 (docs/images.md, docs/MIXING.md)')
    .option('--augment-seed <s>', 'seed of the view augmentation', '0')
    .option('--shard <I/N|auto>', 'compute only part I of N (contiguous samples); auto: from SLURM_ARRAY_TASK_ID/COUNT')
    .option('--shards <n>', 'N parts; this process\'s I from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID')
    .option('--shard-rows <n>', 'rows per shard file', '8192')
    .option('--preprocess <spec>', 'imagenet | timm:config.json | hf:preprocessor_config.json | JSON (or a JSON file) with "resize", "crop", "interpolation", "channels", "scale", "mean", "std", "layout", "size"')
    .option('--class-map <json|file|names>', 'teacher output (index or name) of each data class, for teachers with more classes than the data (e.g. a 1000-class ImageNet model)')
    .option('--teacher-labels <file>', 'class names of the teacher\'s outputs (JSON array/object or one per line), for --class-map by name')
    .option('--skip-bad', 'images that cannot be decoded get zero logits and are listed in the manifest (skipped) instead of stopping the run')
    .option('--decoders <n>', 'images decoded at once (folder:/list: data; default 8)')
    .option('--render-workers <n>', 'worker threads decoding and rendering folder:/list: images beside inference (0: the main thread; default cores − 1, at most 4)')
    .option('--max-pixels <n>', 'refuse images with more pixels (decompression bombs; default PIL\'s limit, 178956970)')
    .option('--output <name>', 'logits output of the model (when it has several 2-D outputs)')
    .option('--layout <layout>', 'force the input layout: NCHW or NHWC')
    .option('--force', 'replace a cache for another key at --out')
    .option('--progress <mode>', 'auto (bar on a TTY, JSON lines otherwise), bar, json or off', 'auto')
    .option('--json', 'print the result as JSON')
    .action(async (raw: unknown, cmd: Command) => {
      const o = parseOptions(Options, raw);
      const explicit = new Set(cmd.options.map((x) => x.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
      const s = await runPrecompute(o, process.env, explicit);
      if (o.json) printJson(s);
      else {
        const what = s.state === 'complete' ? 'already complete' : `${s.state === 'resumed' ? 'resumed, ' : ''}${s.computedRows} rows computed`;
        process.stdout.write(
          `${s.cache}: ${what}; ${s.rows} rows × K=${s.K} (${s.dtype}${s.topk ? `, top-${s.topk}` : ''}, ${s.views} view(s)) in ${s.shards} shard(s)` +
            `${s.part ? `, part ${(s.part as PartSpec).index}/${(s.part as PartSpec).count}` : ''}; provider ${s.provider}` +
            `${s.rowsPerSecond ? `, ${s.rowsPerSecond} rows/s` : ''}\n`,
        );
        // Why the preferred providers did not run (auto tries cuda, then webgpu, then cpu).
        for (const note of s.providerNotes as string[]) process.stdout.write(`  ${note}\n`);
        const skipped = s.skipped as Array<{ file: string; reason: string }>;
        if (skipped.length) process.stdout.write(`  skipped ${skipped.length} image(s) that could not be decoded (listed in manifest.json):\n${skipped.slice(0, 5).map((e) => `    ${e.reason}\n`).join('')}${skipped.length > 5 ? '    …\n' : ''}`);
      }
    });
}
