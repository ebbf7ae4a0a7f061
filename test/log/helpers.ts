// Rig for the log tests: real pipes to real reader processes that the test can stall,
// and fixture scripts bundled with esbuild so a child process can run src/log itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
  // The reader must not touch process.stdin before 'go': creating it would start reading.
  const reader = spawn(
    process.execPath,
    ['-e', "process.on('message', () => { process.channel.unref(); process.stdin.pipe(process.stdout); })"],
    { stdio: ['pipe', 'pipe', 'inherit', 'ipc'], env: childEnv() },
  );
  const chunks: Buffer[] = [];
  reader.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exited = new Promise<void>((done) => reader.on('close', () => done()));
  const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  const writer = new AsyncWriter(fd, options.writer);
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
      reader.stdin!.destroy();
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
