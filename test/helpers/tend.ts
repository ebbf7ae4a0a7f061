// Shared test rig: runs the real, built tend (bin/tend → bin/tend.cjs → dist/tend.cjs) with real
// children, and waits on conditions with deadlines — never on fixed sleeps.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const TEND_BIN = join(ROOT, 'bin', 'tend.cjs');
/** The executable users run (native/tend-launch.c, built by `npm ci`). */
export const TEND_LAUNCHER = join(ROOT, 'bin', 'tend');

/** The command line of tend as users run it: the launcher, or Node on the entry stub without one. */
export function tendCommand(...args: readonly string[]): string[] {
  return existsSync(TEND_LAUNCHER) ? [TEND_LAUNCHER, ...args] : [process.execPath, TEND_BIN, ...args];
}

/** A fresh temporary directory for one test. */
export function tempDir(prefix = 'tend-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a manifest into dir and returns its path. */
export function writeManifest(dir: string, yaml: string, name = 'tend.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/** Polls `condition` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeout = 10_000, interval = 10, what = 'condition' as string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const subject = typeof what === 'function' ? what() : what;
      throw new Error(`timed out after ${timeout} ms waiting for ${subject}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Reads a file, or '' when it does not exist yet. */
export function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

export interface RunningTend {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with tend's exit code (or 128+signal) once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stdout+stderr match the pattern. */
  waitOutput(pattern: RegExp | string, timeout?: number): Promise<void>;
  /** tend's own pid as seen from here (under unshare, the child of unshare). */
  tendPid(): Promise<number>;
  /** Sends a signal to tend itself (not to unshare). */
  signal(signal: NodeJS.Signals): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run tend as PID 1 of a new PID namespace (unshare --pid --fork --mount-proc). */
  pid1?: boolean;
  /**
   * With pid1: shell commands run in the new namespaces before tend replaces the shell
   * (still PID 1) — mounts private to tend, e.g. a /dev of its own holding /dev/log.
   */
  prelude?: string;
  stdin?: 'pipe' | 'ignore';
}

let sockets = 0;

function baseEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  // Each tend gets its own control socket unless the test chooses one: tests run in
  // parallel, and a live tend's socket is never taken over.
  const socket = join(tmpdir(), `tend-test-${process.pid}-${sockets++}.sock`);
  const env: NodeJS.ProcessEnv = { ...process.env, TEND_SOCKET: socket, ...extra };
  delete env.NODE_EXTRA_CA_CERTS; // costs ~60 ms of start-up on this machine (FINDINGS)
  return env;
}

/** The command line that runs tend, as PID 1 of a new PID namespace when asked. */
function tendArgv(args: readonly string[], pid1: boolean | undefined, prelude?: string): string[] {
  const tend = tendCommand(...args);
  if (!pid1) return tend;
  const unshare = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
  return prelude === undefined ? [...unshare, ...tend] : [...unshare, 'sh', '-ec', `${prelude}\nexec "$@"`, 'sh', ...tend];
}

/**
 * A prelude (StartOptions) giving tend a /dev of its own, in `dir`, with what services
 * use (null, zero, urandom, tty, fd links): tend's /dev/log is then its own, and the
 * machine's /dev is never touched. `then` adds commands (more bind mounts).
 */
export function privateDev(dir: string): string {
  return [
    `mkdir -p ${dir}`,
    `for n in null zero full random urandom tty; do touch ${dir}/$n; mount --bind /dev/$n ${dir}/$n; done`,
    `ln -sfn /proc/self/fd ${dir}/fd; ln -sfn /proc/self/fd/0 ${dir}/stdin; ln -sfn /proc/self/fd/1 ${dir}/stdout; ln -sfn /proc/self/fd/2 ${dir}/stderr`,
    `mount --rbind ${dir} /dev`,
  ].join('\n');
}

/** Starts tend with the given arguments. */
export function startTend(args: readonly string[], options: StartOptions = {}): RunningTend {
  const argv = tendArgv(args, options.pid1, options.prelude);
  const child = spawn(argv[0]!, argv.slice(1), {
    env: baseEnv(options.env),
    cwd: options.cwd ?? ROOT,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const running = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolveExit) => {
      child.on('exit', (code, signal) => resolveExit({ code, signal }));
    }),
    waitOutput: (pattern, timeout = 10_000) =>
      waitFor(() => {
        const text = running.stdout + running.stderr;
        return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
      }, { timeout, what: () => `output ${String(pattern)}\n--- stdout:\n${running.stdout}\n--- stderr:\n${running.stderr}` }).then(() => undefined),
  } as RunningTend;
  running.tendPid = async () => {
    if (!options.pid1) return child.pid!;
    return waitFor(() => childrenOf(child.pid!)[0], { what: 'tend to start under unshare' });
  };
  running.signal = async (signal) => {
    process.kill(await running.tendPid(), signal);
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { running.stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { running.stderr += d; });
  return running;
}

/** Runs tend to completion and returns its exit code and output. */
export function runTendSync(args: readonly string[], options: StartOptions & { input?: string; timeout?: number } = {}) {
  const argv = tendArgv(args, options.pid1);
  const result = spawnSync(argv[0]!, argv.slice(1), {
    env: baseEnv(options.env),
    cwd: options.cwd ?? ROOT,
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeout ?? 20_000,
  });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

let namespaceSupport: boolean | undefined;

/**
 * Whether `unshare --pid --fork --mount-proc` works here. Tests that need it skip
 * with a printed reason when it does not — unless TEND_REQUIRE_NS=1 (set by .ci/run),
 * which turns the skip into a failure so CI can never pass by skipping them.
 */
export function canUnshare(): boolean {
  if (namespaceSupport === undefined) {
    const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
    namespaceSupport = probe.status === 0;
    if (!namespaceSupport) {
      const why = probe.error?.message ?? probe.stderr.trim();
      if (process.env.TEND_REQUIRE_NS === '1') {
        throw new Error(`TEND_REQUIRE_NS=1 but unshare --pid --fork --mount-proc fails: ${why}`);
      }
      console.warn(`skipping PID-namespace tests: unshare --pid --fork --mount-proc fails here (${why})`);
    }
  }
  return namespaceSupport;
}

/** Direct children of a process, from /proc (as seen from this namespace). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Lines of a file, without the empty last one. */
export function lines(file: string): string[] {
  return readText(file).split('\n').filter((line) => line.length > 0);
}

/** Milliseconds since the test started it. */
export function stopwatch(): () => number {
  const t0 = performance.now();
  return () => performance.now() - t0;
}

/** A TCP port nobody listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Ends a tend started as PID 1 the way a container runtime does: SIGTERM, so that it stops
 * its services and removes its cgroup leaves (a SIGKILLed tend leaves them behind), and
 * SIGKILL to unshare (--kill-child) if that has not ended it within `graceMs`.
 */
export async function stopGracefully(tend: RunningTend | null, graceMs: number): Promise<void> {
  if (tend === null || tend.child.exitCode !== null) return;
  await tend.signal('SIGTERM').catch(() => undefined);
  const killer = setTimeout(() => tend.child.kill('SIGKILL'), graceMs);
  await tend.exited;
  clearTimeout(killer);
}
