/**
 * `tfkd repro RUN`: re-run a finished training run from its config.json and manifest and compare
 * (src/repro/repro.ts). Exit 0 when it reproduces (bit-identical, or within --tolerance), 1 when it
 * does not, naming the first difference and what differs in the environment.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { SUMMARIES } from './summaries.js';
import { WorkError } from '../../errors.js';
import { intString, parseOptions, printJson } from '../options.js';
import { repro, type ReproReport } from '../../repro/repro.js';

const Options = z.strictObject({
  out: z.string().min(1).optional(),
  tolerance: z.coerce.number().min(0, '--tolerance must be ≥ 0').optional(),
  stopAfter: intString(1).optional(),
  json: z.boolean().optional(),
});

const e = (v: number): string => (v === 0 ? '0' : v.toExponential(2));

export function formatRepro(r: ReproReport): string {
  const lines = [`repro ${r.run}: re-ran ${r.epochsCompared} epoch${r.epochsCompared === 1 ? '' : 's'} in ${r.seconds.now.toFixed(1)} s (recorded run: ${r.seconds.recorded === null ? '?' : `${r.seconds.recorded.toFixed(1)} s`})${r.kept ? ` → ${r.out}` : ''}`];
  lines.push(r.environment.length === 0 ? 'environment  same as recorded (versions, backend, kernels, native libraries, threads)' : 'environment  differs from the recorded run:');
  for (const d of r.environment) lines.push(`  ${d.what}: ${d.recorded} → ${d.now}`);
  if (r.metricDiffs.length === 0) lines.push(`metrics      ${r.valuesCompared} values over ${r.epochsCompared} epoch${r.epochsCompared === 1 ? '' : 's'}: identical`);
  else {
    const w = [...r.metricDiffs].sort((a, b) => b.rel - a.rel)[0];
    lines.push(`metrics      ${r.metricDiffs.length} of ${r.valuesCompared} values differ; largest: epoch ${w.epoch} ${w.field} ${w.recorded} → ${w.now} (relative ${e(w.rel)})`);
  }
  if (r.checkpoints.length === 0) lines.push(`weights      not compared: the run holds no checkpoint at epoch ${r.epochsCompared} (train with --save-at ${r.epochsCompared} to keep one)`);
  for (const c of r.checkpoints) lines.push(`weights      ${c.file}: ${c.identical ? 'identical, byte for byte' : `max |Δ| / max |w| = ${e(c.maxRelDiff)} (${c.worstTensor})`}`);
  const verdict = r.verdict === 'identical' ? 'reproduced bit for bit' : r.verdict === 'within-tolerance' ? `reproduced within relative tolerance ${r.tolerance}` : 'NOT reproduced';
  lines.push(`promise      ${r.promise.why}`);
  lines.push(`result       ${verdict}`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('repro')
    .description(SUMMARIES.repro)
    .argument('<run>', 'a finished run directory (tfkd train --out)')
    .option('--out <dir>', 'keep the re-run here (default: a temporary directory, removed afterwards)')
    .option('--tolerance <x>', 'accept relative differences up to x in every metric value and weight tensor (default: 0, bit-identical; a webgpu run on another adapter: 1e-3)')
    .option('--stop-after <epochs>', 're-run only the first N epochs (same schedule) and compare those')
    .option('--json', 'print the report as JSON')
    .action(async (run: string, raw: unknown) => {
      const o = parseOptions(Options, raw);
      const r = await repro(run, { out: o.out, tolerance: o.tolerance, stopAfter: o.stopAfter, info: (s) => process.stderr.write(`${s}\n`) });
      if (o.json) printJson(r);
      else process.stdout.write(formatRepro(r));
      if (r.verdict === 'differs') {
        const why = r.environment.length ? ` (environment differs: ${r.environment.map((d) => d.what).join(', ')})` : '';
        const first = r.metricDiffs[0] ? `epoch ${r.metricDiffs[0].epoch} ${r.metricDiffs[0].field} ${r.metricDiffs[0].recorded} → ${r.metricDiffs[0].now}` : `${r.checkpoints.find((c) => !c.identical)?.file} differs`;
        const otherKernels = r.environment.some((d) => d.what === 'native add-on');
        const hint = otherKernels
          ? 'the CPU kernels differ (another CPU rounds differently): train and repro both with TFKD_CPU_KERNELS=avx2 for the same kernels on any AVX2 CPU, or pass --tolerance X'
          : r.tolerance === 0 ? 'pass --tolerance X to accept small float differences' : undefined;
        throw new WorkError(`${run} not reproduced: ${first}${why}`, hint);
      }
    });
}
