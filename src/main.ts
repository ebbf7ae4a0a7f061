// argv → one of tend's modes. The only place that calls process.exit.
import { readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { parseCommandLine, UsageError, USAGE, type Command } from './cli/args';
import { adoptEarlySignals } from './early-signals';
import pkg from '../package.json';

// Each mode is its own bundle beside this one (scripts/build.mjs), loaded on demand:
// start-up pays only for the mode that runs.
type Modes = {
  run: typeof import('./supervisor/run');
  tini: typeof import('./process/tini');
  check: typeof import('./cli/check');
  client: typeof import('./cli/client');
};

function mode<K extends keyof Modes>(name: K): Modes[K] {
  return loadBundle(join(__dirname, `${name}.cjs`)) as Modes[K];
}

/**
 * require() for one of tend's bundles, with the V8 code cache the build made beside it
 * (`<bundle>.cache`): compiling the supervisor's bundle is a third of tend's start-up.
 * Without a cache, or with one V8 rejects (another Node version), it compiles as usual.
 * The build sets TEND_BUILD_CODE_CACHE on training runs of each mode: the cache is then
 * written at exit, when it holds every function the run compiled (scripts/build.mjs).
 */
function loadBundle(file: string): unknown {
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (process.env.TEND_BUILD_CODE_CACHE === '1') process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()));
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  const module = { exports: {} as unknown };
  wrapper.call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  return module.exports;
}

export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

async function dispatch(command: Command): Promise<number> {
  switch (command.kind) {
    case 'run':
      return mode('run').runSupervisor(command);
    case 'tini':
      return mode('tini').runTini(command);
    case 'check':
      return mode('check').runCheck(command);
    case 'schema':
      return mode('check').runSchema();
    case 'client':
      // Client commands are short-lived: default actions for signals are right.
      adoptEarlySignals(() => process.exit(130));
      return mode('client').runClient(command.command, command.socket);
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
