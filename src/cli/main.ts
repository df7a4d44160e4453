import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { registerCommands } from './commands/index.js';
import { commanderUsageError, commandPath, handleError, interruptedMessage, isCommanderParseError, type RunningCommand } from './handle-error.js';
import { removeTempPaths } from '../util/atomic.js';
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

/** The command whose action is running (recorded by main's preAction hook), for onSignal's message. */
let running: RunningCommand | null = null;

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * The commands whose main thread keeps serving the event loop while they work, so that a signal
 * listener runs within moments of the signal: precompute (inference is a macrotask: a worker's reply,
 * or onnxruntime's call in setImmediate), export (its model built in one bounded stretch, then
 * written off the thread), experiment and demo (they wait on child processes). A JavaScript
 * listener runs only when the event loop turns: during `train`, `eval` of a run, `bench`, `repro`
 * (tfjs steps chained by promises that never yield to it) or `merge` and `verify` (synchronous),
 * Ctrl-C would do nothing until the command ended (measured: a 100 s training ran to its end). Those
 * keep the default action — killed at once, silently; what they wrote resumes as before — until
 * their loops yield (e.g. `await new Promise((r) => setImmediate(r))` after each training step).
 */
const HANDLES_SIGNALS = new Set(['precompute', 'export', 'experiment', 'demo']);

/**
 * SIGINT (Ctrl-C) or SIGTERM (`kill`, Slurm's and Kubernetes' pre-emption) during any command: the
 * temp files of atomic writes in flight are removed (util/atomic.ts), one `tfkd:` line says what was
 * interrupted and how to go on (interruptedMessage), and the process ends *by that signal*, as it
 * did before tfkd handled signals: exit status 130 / 143 in a shell, the signal for a parent that
 * looks (bash stops its script on a child's Ctrl-C, `tfkd experiment` reports `killed by SIGTERM`).
 * The `exit` hooks run first — the locks' release (util/lock.ts) among them. Nothing is finished
 * or flushed: the commands' own commit protocols are what the next run continues from.
 *
 * A command that handles signals itself (`experiment`, `demo`: stop the steps in flight, then end
 * normally) has a listener of its own while it does; then this one leaves the signal to it.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listeners(signal).some((l) => l !== onSignal)) return;
  removeTempPaths();
  process.stderr.write(`${interruptedMessage(signal, running)}\n`);
  for (const s of SIGNALS) process.off(s, onSignal);
  // With no listener left the signal's default action is back: raised again as the last exit hook,
  // it ends the process (a platform where it does not — Windows — exits with the same status).
  process.once('exit', () => process.kill(process.pid, signal));
  process.exit(128 + constants.signals[signal]);
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
    const program = await buildProgram(args);
    program.hook('preAction', (_program, action) => {
      running = { name: commandPath(action).replace(/^tfkd /, ''), opts: action.opts() };
      if (HANDLES_SIGNALS.has(running.name)) for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
    });
    await program.parseAsync(args);
  } catch (err) {
    code = handleError(err, undefined, { verbose });
  } finally {
    running = null;
    for (const s of SIGNALS) process.off(s, onSignal);
  }
  process.exitCode = code;
}
