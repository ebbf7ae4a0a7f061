// argv → one of tend's modes. The only place that calls process.exit.
import { join } from 'node:path';
import { loadBundle } from './bundle';
import { parseCommandLine, UsageError, USAGE, type Command } from '../cli/args';
import { subscribeSignals } from '../process/signal-intake';
import pkg from '../../package.json';
import { EXIT_INTERNAL, EXIT_USAGE } from '../vocab/exit';

// Each mode is its own bundle beside this one (scripts/build.mjs), loaded on demand:
// start-up pays only for the mode that runs.
type Modes = {
  run: typeof import('./run');
  tini: typeof import('./tini');
  check: typeof import('./check');
  client: typeof import('./client');
  top: typeof import('./top');
  exec: typeof import('./exec');
  import: typeof import('./import');
};

/** Modes already evaluated: those a start-up snapshot holds (bin/tend-snapshot.cjs). */
let preloaded: Partial<Modes> = {};

function mode<K extends keyof Modes>(name: K): Modes[K] {
  return preloaded[name] ?? (loadBundle(join(__dirname, `${name}.cjs`)) as Modes[K]);
}

declare global {
  // eslint-disable-next-line no-var
  var __tendStartup: { readonly snapshot: string | null; readonly fallback: string | null } | undefined;
}

/**
 * How this tend started, for TEND_DEBUG_STARTUP: from the launcher's start-up snapshot, or
 * without one and why (the launcher's reason: none built, built for another Node...).
 */
function describeStartup(): string {
  const startup = globalThis.__tendStartup;
  if (startup?.snapshot) return `from the start-up snapshot ${startup.snapshot}`;
  return `without a start-up snapshot (${startup?.fallback ?? 'not started by the launcher, bin/tend'})`;
}


/** Signals that leave an init or a terminal alone; to anything else a short-lived command ends. */
const HARMLESS = new Set(['SIGWINCH', 'SIGURG', 'SIGCONT', 'SIGCHLD']);

/**
 * Client commands and `check` are short-lived: a signal ends them, as its default action
 * would (128 + N), once anything they printed has gone out. Signals are taken by tend
 * itself from the start (src/process/signal-intake.ts), so this is said here.
 */
function exitOnSignal(): void {
  subscribeSignals((signal) => {
    if (!HARMLESS.has(signal.name)) process.exit(128 + signal.number);
  });
}

async function dispatch(command: Command): Promise<number> {
  switch (command.kind) {
    case 'run':
      return mode('run').runSupervisor(command);
    case 'tini':
      return mode('tini').runTini(command);
    case 'check':
      exitOnSignal();
      return mode('check').runCheck(command);
    case 'schema':
      exitOnSignal();
      return mode('check').runSchema();
    case 'import':
      exitOnSignal();
      return mode('import').runImport(command);
    case 'client':
      exitOnSignal();
      return mode('client').runClient(command.command, command.socket);
    case 'top':
      // A terminal to put back on every way out: top takes the signals over itself.
      return mode('top').runTop(command);
    case 'exec':
      // Signals are the job's: exec relays or ignores them itself while CMD runs.
      return mode('exec').runExec(command);
    case 'version':
      process.stdout.write(`tend ${pkg.version}\n`);
      return 0;
    case 'help':
      process.stdout.write(USAGE);
      return 0;
  }
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`tend: ${error.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    throw error;
  }
  process.exitCode = await dispatch(command);
}

/**
 * Runs tend: bin/tend.cjs calls it once the signals and the environment are in place. A
 * start-up snapshot evaluated this bundle and the modes it holds when it was built, and
 * passes those modes here; a mode not among them is loaded from dist/ as usual.
 */
export function start(modes: Partial<Modes> = {}): void {
  preloaded = modes;
  if (process.env.TEND_DEBUG_STARTUP) process.stderr.write(`tend: start-up: ${describeStartup()}\n`);
  main().then(
    () => {
      // Let pending asynchronous writes to stdout/stderr finish before exiting.
      const code = process.exitCode ?? 0;
      const finish = (): never => process.exit(code);
      if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) finish();
      process.stdout.once('drain', finish);
      process.stderr.once('drain', finish);
    },
    (error: unknown) => {
      process.stderr.write(`tend: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(EXIT_INTERNAL);
    },
  );
}
