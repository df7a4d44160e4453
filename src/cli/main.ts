import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCommands } from './commands/index.js';
import { handleError } from './handle-error.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The program with the commands `argv` needs (all of them when omitted). */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command();
  program
    .name('tfkd')
    .description('Teacher-free knowledge distillation: ONNX teachers → soft-target cache → tfjs students → ONNX')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  await registerCommands(program, argv);
  // Every (sub-)command gets exitOverride so that commander never calls process.exit itself.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
}

/** The only place that sets the exit code. */
export async function main(argv: string[]): Promise<void> {
  // `tfkd … | head` closes the pipe early: that is the reader's choice, not a failure to report.
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  let code = 0;
  try {
    await (await buildProgram(argv)).parseAsync(argv);
  } catch (err) {
    code = handleError(err);
  }
  process.exitCode = code;
}
