import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCommands } from './commands/index.js';
import { commanderUsageError, commandPath, handleError, isCommanderParseError } from './handle-error.js';
import { setOptionStyle } from '../errors.js';
import { checkEnvSettings } from '../settings.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The program with the commands `argv` needs (all of them when omitted). */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command();
  program
    .name('tfkd')
    .description('Teacher-free knowledge distillation: ONNX teachers → soft-target cache → tfjs students → ONNX')
    .version(pkg.version)
    .option('--verbose', 'on a failure, print its stack trace too (any command; also TFKD_DEBUG=1)');
  await registerCommands(program, argv);
  // Every (sub-)command gets exitOverride so that commander never calls process.exit itself, and
  // prints none of its own errors: a parse error (unknown option or command, a missing value) is
  // thrown as a UsageError naming the command, and handleError prints it as every other error
  // (`tfkd: unknown option '--bogus'`, `hint: tfkd train --help lists the options`, exit 2).
  const override = (c: Command): void => {
    c.configureOutput({ outputError: () => undefined });
    c.exitOverride((err) => {
      throw isCommanderParseError(err) ? commanderUsageError(err, commandPath(c)) : err;
    });
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
  // Messages from the layers below name options as the flags the user typed.
  setOptionStyle('flag');
  // `tfkd … | head` closes the pipe early: that is the reader's choice, not a failure to report.
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  // --verbose is global: taken out here, so every command accepts it wherever it is written.
  const verbose = argv.slice(2).includes('--verbose');
  const args = verbose ? [...argv.slice(0, 2), ...argv.slice(2).filter((a) => a !== '--verbose')] : argv;
  let code = 0;
  try {
    checkEnvSettings();
    await (await buildProgram(args)).parseAsync(args);
  } catch (err) {
    code = handleError(err, undefined, { verbose });
  }
  process.exitCode = code;
}
