import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCommands } from './commands/index.js';
import { handleError } from './handle-error.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('tfkd')
    .description('Teacher-free knowledge distillation: ONNX teachers → soft-target cache → tfjs students → ONNX')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  // Every (sub-)command gets exitOverride so that commander never calls process.exit itself.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

/** The only place that sets the exit code. */
export async function main(argv: string[]): Promise<void> {
  let code = 0;
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    code = handleError(err);
  }
  process.exitCode = code;
}
