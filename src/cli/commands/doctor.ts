/** `tfkd doctor`: src/doctor/doctor.ts → one line per item (see there); exit 1 when tfkd cannot run here. */
import type { Command } from 'commander';
import { z } from 'zod';
import { formatDoctor, runDoctor } from '../../doctor/doctor.js';
import { parseOptions, printJson } from '../options.js';
import { SUMMARIES } from './summaries.js';

const Options = z.strictObject({ json: z.boolean().optional() });

export function register(program: Command): void {
  program
    .command('doctor')
    .description(SUMMARIES.doctor)
    .option('--json', 'print one JSON object')
    .action(async (raw: unknown) => {
      const o = parseOptions(Options, raw);
      const lines = await runDoctor();
      if (o.json) printJson({ lines, ok: lines.every((l) => l.ok || !l.required) });
      else process.stdout.write(formatDoctor(lines));
      if (lines.some((l) => !l.ok && l.required)) process.exitCode = 1;
    });
}
