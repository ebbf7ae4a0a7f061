// Rig for the log tests: real pipes to real reader processes that the test can stall,
// and fixture scripts bundled with esbuild so a child process can run src/log itself.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { AsyncWriter, type AsyncWriterOptions } from '../../src/log/writer';
import { waitFor } from '../helpers/tend';

const FIXTURES = resolve(__dirname, 'fixtures');
const bundled = new Map<string, string>();

/** Bundles test/log/fixtures/NAME.ts (with src/log and pino) into a runnable .cjs file. */
export function fixture(name: string): string {
  let out = bundled.get(name);
  if (!out) {
    out = join(mkdtempSync(join(tmpdir(), 'tend-log-fixture-')), `${name}.cjs`);
    buildSync({
      entryPoints: [join(FIXTURES, `${name}.ts`)],
      outfile: out,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      logLevel: 'error',
    });
    bundled.set(name, out);
  }
  return out;
}

/** Environment for child processes: without the CA bundle that slows node start-up (FINDINGS). */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** A node child printing with the given script (stdout and stderr are pipes). */
export function nodeChild(script: string, args: string[] = []): ChildProcess {
  return spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
}

export interface Fixture {
  readonly child: ChildProcess;
  /** The fixture's own exit code (not cat's, in the pipe case). */
  readonly exited: Promise<number | null>;
  /** What the fixture wrote to its stderr. */
  stderr(): string;
}

/**
 * Starts a bundled fixture with its fd 1 a real pipe (`node fixture | cat`: what docker
 * gives a container) or a socket (what child_process gives, like systemd's journal).
 * The test reads child.stdout; not reading it stalls cat, and so the pipe.
 */
export function startFixture(name: string, args: string[], via: 'pipe' | 'socket'): Fixture {
  const node = [process.execPath, fixture(name), ...args].map((a) => `'${a}'`).join(' ');
  const marker = 'fixture exited with ';
  const child =
    via === 'pipe'
      ? spawn('sh', ['-c', `{ ${node}; echo "${marker}$?" >&2; } | cat`], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: childEnv() })
      : spawn(process.execPath, [fixture(name), ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: childEnv() });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((done) =>
    child.on('close', (code) => {
      if (via === 'socket') return done(code);
      const at = stderr.lastIndexOf(marker);
      done(at === -1 ? null : Number.parseInt(stderr.slice(at + marker.length), 10));
    }),
  );
  return { child, exited, stderr: () => (via === 'pipe' ? stderr.replace(/fixture exited with \d+\n$/, '') : stderr) };
}

export interface Collector {
  /** An AsyncWriter on the write end of a pipe to the reader process. */
  readonly writer: AsyncWriter;
  /** Everything the reader has read so far. */
  text(): string;
  /** Lets the reader start reading (it does not until told, when created stalled). */
  resume(): void;
  /** Closes the write end and waits until the reader has read everything. */
  close(): Promise<string>;
}

/**
 * A pipe whose reading end belongs to a child process that reads only once resume() is
 * called: the test's stand-in for `docker logs` (stalled or not).
 */
export function collector(options: { stalled?: boolean; writer?: AsyncWriterOptions } = {}): Collector {
  // A FIFO, not child_process's stdio (a socketpair): a real pipe, as docker gives tend.
  // The read end is opened first (O_NONBLOCK: no writer yet), so opening the write end
  // does not wait either.
  const fifo = join(mkdtempSync(join(tmpdir(), 'tend-log-fifo-')), 'pipe');
  execFileSync('mkfifo', [fifo]);
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  // The reader must not touch process.stdin before 'go': creating it would start reading.
  const reader = spawn(
    process.execPath,
    ['-e', "process.on('message', () => { process.channel.unref(); process.stdin.pipe(process.stdout); })"],
    { stdio: [readEnd, 'pipe', 'inherit', 'ipc'], env: childEnv() },
  );
  closeSync(readEnd);
  const chunks: Buffer[] = [];
  reader.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exited = new Promise<void>((done) => reader.on('close', () => done()));
  const writeEnd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const writer = new AsyncWriter(writeEnd, options.writer);
  // The writer reopened the pipe for itself; with this end closed, its close() means EOF.
  closeSync(writeEnd);
  let resumed = false;
  const resume = () => {
    if (!resumed) reader.send('go');
    resumed = true;
  };
  if (!options.stalled) resume();
  return {
    writer,
    text: () => Buffer.concat(chunks).toString('utf8'),
    resume,
    async close() {
      resume();
      await writer.flush(20_000);
      writer.close();
      await exited;
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Resolves with the child's exit code once it has exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.on('exit', (code) => done(code)));
}

/** Measures event-loop lag with a 10 ms interval: the worst delay seen, and ticks counted. */
export function lagMeter() {
  const state = { ticks: 0, worst: 0 };
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    state.worst = Math.max(state.worst, now - last - 10);
    last = now;
    state.ticks += 1;
  }, 10);
  return { state, stop: () => clearInterval(timer) };
}

export { waitFor };
