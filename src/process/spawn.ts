// The only module that starts processes. Services, probes, stop commands and tini mode's
// CMD are all started here, by libtend's spawn of the exec helper (native/tend-exec.c) —
// clone3 straight into the service's cgroup leaf, else posix_spawn —, which becomes the
// process: its pid is the service's pid, and the reaper thread is the only one that waits
// for it. Where none of the helper's steps needs libc (no user:, group:,
// runtime_directory:, no v1 limit leaves), libtend does them in its clone3 child and execs
// the command itself: the same steps, the same report, one exec instead of two. The child's output comes through
// pipes tend makes (pipe2), so /dev/stdout, /dev/stderr and /proc/self/fd/1 open in the
// service as they do under Docker; its exit comes from the reaper (reaper.ts), never from
// a pipe closing.
import { closeSync, existsSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { coreDumped, errnoName, exitedCode, nativeArtifact, pipe, setPipeSize, signaledSignal, spawnChild } from '../../native/libc';
import { startReaper } from './reaper';
import type { ExitStatus } from '../vocab/exit';
import { errnoText } from '../vocab/errno';
import type { EnvFile } from '../plan/types';

// ---------------------------------------------------------------------------------------
// the spawn contract

export interface SpawnSpec {
  readonly service: string;
  readonly argv: readonly string[];
  /** The service's layer (env_file + env); put over tend's own environment. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Secrets from files (variable → path), read right before the spawn and put over `env`
   * by the supervisor's spawner (src/plan/secrets.ts, withSecretFiles); not read here.
   */
  readonly secretFiles?: Readonly<Record<string, string>>;
  /** env_files read right before the spawn and put under `env` (env-files.ts, withEnvFiles). */
  readonly envFiles?: readonly EnvFile[];
  /** Variables left unset even when an env_file sets them. */
  readonly envCleared?: readonly string[];
  /** The service's own process, not a probe, stop command or hook. */
  readonly serviceProcess?: boolean;
  /** umask(2) in the child (e.g. 0o027); null/absent: tend's own. */
  readonly umask?: number | null;
  /** Made (mode 0755, owned by the user and group the child runs as) just before exec; absent: none. */
  readonly runtimeDirectory?: string | null;
  readonly cwd: string | null;
  /** uid, primary gid, supplementary groups (initgroups), HOME/USER/LOGNAME unless env sets them. */
  readonly user: string | number | null;
  readonly group: string | number | null;
  readonly stdin: 'null' | 'inherit';
  /** stdout and stderr. */
  readonly output: 'pipe' | 'inherit' | 'null';
  /** Give the child the write end of a pipe on this fd (s6-style readiness). */
  readonly notifyFd: number | null;
  /** cgroup v2 leaf directory the process is born in (clone3), or joins before exec. */
  readonly cgroup: string | null;
  /** limits.memory/cpu/pids: the composition root turns them into leaves to join (process/limits.ts). */
  readonly cgroupLimits?: { readonly memory: number | null; readonly cpu: number | null; readonly pids: number | null };
  /** More cgroup directories to join before exec (the v1 hierarchies that carry limits). */
  readonly joins?: readonly string[];
  /** RLIMIT_NOFILE and RLIMIT_CORE (bytes, -1 unlimited), soft = hard; null/absent: inherited. */
  readonly nofile?: number | null;
  readonly core?: number | null;
  /** /proc/PID/oom_score_adj, -1000..1000; null/absent: inherited. */
  readonly oomScoreAdj?: number | null;
  /**
   * new: setsid (services) | foreground: own group in tend's session, terminal foreground
   * (tini) | caller: stays in the caller's process group and session (`tend exec`: the
   * terminal's job control treats it and the waiting client as one job).
   */
  readonly session: 'new' | 'foreground' | 'caller';
  /** Variables the exec helper sets to the service's own pid before exec (WATCHDOG_PID). */
  readonly pidVariables?: readonly string[];
  /** Listening sockets (tend's fds) the service gets as fds 3, 4, ... (socket activation). */
  readonly listenFds?: readonly number[];
  /** A command run for the service that is not its own process (absent: its own): no activated sockets, no NOTIFY_SOCKET. */
  readonly role?: 'stop_command' | 'pre_start' | 'post_stop';
}

export interface SpawnContext {
  readonly instance: string;
  readonly socket: string | null;
  /** Add TEND_SERVICE / TEND_INSTANCE (default true; tini mode leaves CMD's env alone). */
  readonly markers?: boolean;
  /** The whole environment, as is (`tend exec`: the one tend computed for the service); spec.env is then ignored. */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface Spawned {
  /** The service's pid; 0 when nothing could be started at all (exit is then 'failed'). */
  readonly pid: number;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly notify: Readable | null;
  /** Resolves when the process has been reaped (ChildProcess 'exit'), never on pipe close. */
  readonly exit: Promise<ExitStatus>;
  /**
   * Resolves once the exec helper is done: true when it exec'd the command, false when it
   * reported why it could not (then `exit` says why). Absent: the command runs at once.
   */
  readonly execed?: Promise<boolean>;
}

// ---------------------------------------------------------------------------------------
// the exec helper

let helperPath: string | null | undefined;

/** native/build/tend-exec, or null when it was not built. */
export function execHelper(): string | null {
  if (helperPath === undefined) helperPath = nativeArtifact('tend-exec');
  return helperPath;
}

// ---------------------------------------------------------------------------------------
// spawnProcess

const USER_ENV = ['HOME', 'USER', 'LOGNAME'] as const;
/**
 * What a service manager above tend (systemd, podman --sdnotify) told tend about itself:
 * they address tend's pid, not its services'. A service gets tend's own values where it
 * uses them (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_* in its spec), else none. Tini mode passes
 * CMD the environment unchanged, as tini does.
 */
const MANAGER_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const;

/** The environment a process of the spec gets: tend's, the service's layer over it, the markers. */
export function serviceEnvironment(spec: SpawnSpec, context: SpawnContext): Record<string, string> {
  if (context.environment !== undefined) return { ...context.environment };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  // With user:, HOME/USER/LOGNAME come from the passwd entry unless the service sets them:
  // tend's own (root's) must not leak through.
  if (spec.user !== null) for (const key of USER_ENV) delete env[key];
  if (context.markers !== false) for (const key of MANAGER_ENV) delete env[key];
  Object.assign(env, spec.env);
  if (context.markers !== false) {
    env.TEND_SERVICE = spec.service;
    env.TEND_INSTANCE = context.instance;
  }
  if (context.socket !== null) env.TEND_SOCKET = context.socket;
  return env;
}

function failedStatus(code: 126 | 127, reason: string): ExitStatus {
  return { kind: 'failed', code, reason };
}


function resourceText(code: string): string {
  switch (code) {
    case 'EMFILE': return "tend has too many open files (EMFILE); raise tend's limit (ulimit -n, docker run --ulimit nofile=)";
    case 'ENFILE': return 'the system has too many open files (ENFILE)';
    case 'EAGAIN': return 'no more processes allowed (EAGAIN); raise the pids limit';
    default: return 'out of memory (ENOMEM)';
  }
}

/** The message for an exec that failed with `code` (an errno name). */
function execFailure(command: string, code: string, cwd: string | null): ExitStatus {
  if (code === 'ENOENT') {
    // ENOENT from execve for a file that exists means its #! interpreter is missing.
    if (command.includes('/') && existsSync(resolve(cwd ?? '.', command))) {
      return failedStatus(127, `cannot execute ${command}: its interpreter was not found`);
    }
    return failedStatus(127, `command not found: ${command}`);
  }
  if (code === 'EACCES') return failedStatus(126, `permission denied: ${command}`);
  if (code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN' || code === 'ENOMEM') {
    // tend itself is out of a resource (fds, processes, memory): nothing is wrong with the command.
    return { kind: 'failed', code: 126, reason: `cannot start ${command}: ${resourceText(code)}`, transient: true };
  }
  return failedStatus(126, `cannot execute ${command}: ${errnoText(code)}`);
}

const errnoByNumber: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 8: 'ENOEXEC', 13: 'EACCES', 17: 'EEXIST', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL',
  26: 'ETXTBSY', 28: 'ENOSPC', 30: 'EROFS', 36: 'ENAMETOOLONG', 40: 'ELOOP',
};

/** Turns the helper's report line ("<step> <errno> <detail>") into a status. */
function helperFailure(report: string, spec: SpawnSpec, helperCode: number): ExitStatus | null {
  const match = /^(\S+) (\d+) ?(.*)$/.exec(report.trim());
  if (match === null) return null;
  const [, step, errnoDigits, detail] = match as unknown as [string, string, string, string];
  const errno = Number(errnoDigits);
  const code = errnoByNumber[errno] ?? `errno ${errno}`;
  const command = spec.argv[0] ?? '';
  const fallbackCode: 126 | 127 = helperCode === 127 ? 127 : 126;
  switch (step) {
    case 'exec': return execFailure(command, code, spec.cwd);
    // An unknown user or group is a configuration the kernel cannot run: 126, like a file
    // that cannot be executed (docker run reports "unable to find user" likewise as 126).
    case 'user': return failedStatus(126, `unknown user: ${detail}`);
    case 'group': return failedStatus(126, `unknown group: ${detail}`);
    case 'chdir': return failedStatus(126, `cannot change directory to ${detail}: ${errnoText(code)}`);
    case 'runtime_directory': return failedStatus(126, `cannot make runtime_directory ${detail}: ${errnoText(code)}`);
    case 'initgroups':
    case 'setgroups':
    case 'setgid':
    case 'setuid':
      // Switching users needs root (CAP_SETUID, CAP_SETGID): say so rather than only "operation not permitted".
      if (code === 'EPERM') return failedStatus(126, `cannot switch to user ${detail}: tend runs as uid ${process.getuid?.() ?? '?'}, and user:/group: need root (${step} failed: operation not permitted)`);
      return failedStatus(fallbackCode, `cannot start ${command}: ${step} failed: ${errnoText(code)}`);
    case 'cgroup': return failedStatus(126, `cannot join cgroup ${detail}: ${errnoText(code)}`);
    // Raising a hard rlimit or lowering oom_score_adj needs CAP_SYS_RESOURCE; EPERM for
    // nofile also means above /proc/sys/fs/nr_open.
    case 'nofile':
    case 'core':
      return failedStatus(126, `cannot set limits.${step} to ${detail}: ${errnoText(code)}${code === 'EPERM' ? (step === 'nofile' ? ' (above /proc/sys/fs/nr_open, or tend lacks CAP_SYS_RESOURCE to raise its own hard limit)' : ' (tend lacks CAP_SYS_RESOURCE to raise its own hard limit)') : ''}`);
    case 'oom_score_adj':
      return failedStatus(126, `cannot set oom_score_adj to ${detail}: ${errnoText(code)}${code === 'EACCES' || code === 'EPERM' ? ' (lowering it needs CAP_SYS_RESOURCE)' : ''}`);
    default: return failedStatus(fallbackCode, `cannot start ${command}: ${step} failed: ${errnoText(code)}`);
  }
}

let devNull: number | null = null;

/** /dev/null, opened once (close-on-exec) and moved onto a child's fd where asked. */
function nullFd(): number {
  devNull ??= openSync('/dev/null', 'r+');
  return devNull;
}

/**
 * net.Socket under a class of tend's own, for every pipe tend reads. The start-up snapshot
 * (bin/tend-snapshot.cjs) builds one bare net.Socket, which fixes the in-object room of
 * net.Socket's instances to that socket's fields; a pipe reader sets more (onread's, its
 * fd's), stored by symbol (keyed stores), and went to dictionary mode: 1.6 KiB of property
 * dictionary per socket, two per service (heap snapshots, 1,000 services), and slower
 * property access. A subclass gets an instance layout of its own, made at run time by the
 * first pipe reader, so every reader keeps fast properties, snapshot or not.
 */
class PipeReader extends Socket {}

/** Where a pipe's read end becomes a stream on the loop (libuv reads it non-blocking). */
function readerOf(fd: number): Socket {
  return new PipeReader({ fd, readable: true, writable: false });
}

/**
 * A service's output pipe, read into one buffer every such pipe shares: libuv's reads
 * would otherwise allocate 64 KiB each, garbage a moment later, and under a service that
 * logs as fast as it can those piled up by tens of MiB between collections. A read is
 * handed to `onChunk` and is valid only during that call: whoever keeps bytes copies them
 * (src/log/output.ts). Without `onChunk`, 'data' listeners get copies; with neither,
 * reads are kept (copied) for the first `onChunk`. pause(), resume(), 'end', 'close' and
 * 'error' work as on any socket.
 *
 * A pipe whose read fills the buffer (the service writes faster than tend reads) is grown
 * to BUSY_SIZE and read 256 KiB at a time from then on, into a second shared buffer:
 * a quarter of the reads, wake-ups of the writer and turns of the event loop per byte
 * (measured: tend's CPU for 1 GiB of 100-byte lines -15 to -25 %). Only busy pipes grow:
 * a pipe's pages are the kernel's memory, charged to the container, and a pipe tend has
 * paused (its output backed up) fills to its capacity; an unprivileged user's pipes are
 * also bounded in total (fs.pipe-user-pages-soft).
 */
export type OutputReader = Socket & {
  onChunk: ((chunk: Buffer) => void) | null;
  /** Sets `onChunk` after handing it what was kept meanwhile. */
  handTo(onChunk: (chunk: Buffer) => void): void;
};

/** The native line kernel the output router prefixes these reads with (null: not built). */
export { lineKernel } from '../../native/lines';

const READ_SIZE = 64 * 1024;
const BUSY_SIZE = 256 * 1024;
let sharedRead: Buffer | null = null;
let sharedBusyRead: Buffer | null = null;

/**
 * Grows a pipe tend writes its console to (docker's, `| cat`) to BUSY_SIZE, for the same
 * reason: the supervisor hands it to the console writer. False when the kernel refused.
 */
export function growOutputPipe(fd: number): boolean {
  return setPipeSize(fd, BUSY_SIZE) >= BUSY_SIZE;
}

/**
 * Which shared buffer the next read of the pipe just read goes to: set by `onOutputRead`
 * for its pipe, then read at once by `outputBuffer`, which Node calls right after it (as a
 * plain function: it cannot tell the pipes apart itself).
 */
let nextBusy = false;

function outputBuffer(): Buffer {
  return nextBusy ? (sharedBusyRead ??= Buffer.allocUnsafeSlow(BUSY_SIZE)) : (sharedRead ??= Buffer.allocUnsafeSlow(READ_SIZE));
}

/** A read of an output pipe; Node calls it on the pipe's socket (`this`). */
function onOutputRead(this: OutputPipe, bytes: number, buffer: Uint8Array): boolean {
  const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
  if (this.onChunk !== null) this.onChunk(chunk);
  // A plain reader (tests, tools): 'data' events with copies, as any socket gives.
  else if (this.listenerCount('data') > 0) this.emit('data', Buffer.from(chunk));
  else {
    (this.early ??= []).push(Buffer.from(chunk));
    this.earlyBytes += bytes;
    // Nobody reads yet: stop at a read's worth, as a socket stops at its high-water mark.
    if (this.earlyBytes >= READ_SIZE) this.pause();
  }
  // The kernel may refuse (the user's pipe pages are used up): reads stay small then.
  if (!this.busy && bytes === READ_SIZE) this.busy = setPipeSize(this.pipeFd, BUSY_SIZE) >= BUSY_SIZE;
  nextBusy = this.busy;
  return true;
}

/**
 * `onread` is a net.Socket option since Node 12 (missing from @types/node's constructor
 * options); a function `buffer` is asked for the buffer of each next read. One object and
 * two functions for every pipe: per-pipe closures (and their contexts) were ~0.5 KiB a
 * service with 1,000 services.
 */
const ONREAD = { buffer: outputBuffer, callback: onOutputRead };

class OutputPipe extends PipeReader implements OutputReader {
  onChunk: ((chunk: Buffer) => void) | null = null;
  /** Reads kept (copied) until the first `onChunk`. */
  early: Buffer[] | null = null;
  earlyBytes = 0;
  busy = false;

  constructor(readonly pipeFd: number) {
    super({ fd: pipeFd, readable: true, writable: false, onread: ONREAD } as ConstructorParameters<typeof Socket>[0]);
  }

  handTo(onChunk: (chunk: Buffer) => void): void {
    const kept = this.early ?? [];
    this.early = null;
    const paused = this.earlyBytes >= READ_SIZE;
    this.earlyBytes = 0;
    for (const chunk of kept) onChunk(chunk);
    this.onChunk = onChunk;
    if (paused) this.resume();
  }
}

function outputReaderOf(fd: number): OutputReader {
  // The first buffer is asked for while the socket is made: a new pipe is not busy.
  nextBusy = false;
  return new OutputPipe(fd);
}

/**
 * The exec helper's report: empty when exec succeeded (the pipe is close-on-exec), else one
 * line "<step> <errno> <detail>" written just before it exits 126 or 127. Read in a scope
 * of its own: the socket is garbage once the pipe closes, where a variable of spawnProcess
 * was kept by the exit watch's closure for as long as the service ran (~1 KiB a service).
 */
function readReport(fd: number): Promise<string> {
  let text = '';
  const stream = readerOf(fd);
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => { if (text.length < 8192) text += chunk; });
  // An unread report must not hold the loop open on its own: the exit is what matters.
  stream.unref();
  return new Promise<string>((done) => {
    stream.once('close', () => done(text));
    stream.once('error', () => done(text));
  });
}

function environmentList(env: Readonly<Record<string, string>>): string[] {
  const list: string[] = [];
  // A NUL cannot cross execve: such an entry could only be cut short, so it is left out.
  for (const [key, value] of Object.entries(env)) if (!key.includes('\0') && !value.includes('\0')) list.push(`${key}=${value}`);
  return list;
}

/**
 * Starts a process as the spec says. Never throws for a command that cannot run, an
 * unknown user or a bad cwd: `exit` resolves as 'failed' (127 not found, 126 otherwise).
 */
export function spawnProcess(spec: SpawnSpec, context: SpawnContext): Spawned {
  const failed = (status: ExitStatus): Spawned => ({ pid: 0, stdout: null, stderr: null, notify: null, exit: Promise.resolve(status) });
  const helper = execHelper();
  if (helper === null) return failed(failedStatus(126, `cannot start ${spec.argv[0] ?? ''}: tend's exec helper native/build/tend-exec is missing (npm ci builds it)`));
  const reaper = startReaper();

  const args: string[] = [];
  // The v2 leaf goes to libtend, which starts the helper in it (or adds -c for the helper to join it).
  for (const dir of spec.joins ?? []) args.push('-j', dir);
  if (spec.nofile != null) args.push('-N', String(spec.nofile));
  if (spec.core != null) args.push('-C', spec.core < 0 ? 'unlimited' : String(spec.core));
  if (spec.oomScoreAdj != null) args.push('-O', String(spec.oomScoreAdj));
  if (spec.user !== null) args.push('-u', String(spec.user), '-H');
  if (spec.group !== null) args.push('-g', String(spec.group));
  if (spec.session !== 'caller') args.push(spec.session === 'new' ? '-s' : '-f');
  if (spec.notifyFd !== null) args.push('-n', String(spec.notifyFd));
  if (spec.cwd !== null) args.push('-d', spec.cwd);
  if (spec.umask != null) args.push('-m', spec.umask.toString(8).padStart(4, '0'));
  if (spec.runtimeDirectory != null) args.push('-R', spec.runtimeDirectory);
  for (const name of spec.pidVariables ?? []) args.push('-P', name);
  const listening = spec.listenFds ?? [];
  if (listening.length > 0) args.push('-L', String(listening.length));
  args.push('--', ...spec.argv);

  // The child's fds 0-4: stdin, stdout, stderr, the helper's report pipe, the readiness pipe.
  const childEnds: number[] = [];
  const readEnds: number[] = [];
  const pipeFor = (): [number, number] => {
    const ends = pipe();
    readEnds.push(ends[0]);
    childEnds.push(ends[1]);
    return ends;
  };
  let stdout: number | null = null;
  let stderr: number | null = null;
  let report: number;
  let notify: number | null = null;
  const fds: number[] = [];
  try {
    fds.push(spec.stdin === 'inherit' ? 0 : nullFd());
    for (const [target, inherited] of [[1, 1], [2, 2]] as const) {
      if (spec.output === 'pipe') {
        const [read, write] = pipeFor();
        if (target === 1) stdout = read;
        else stderr = read;
        fds.push(write);
      } else fds.push(spec.output === 'inherit' ? inherited : nullFd());
    }
    [report] = pipeFor();
    fds.push(childEnds[childEnds.length - 1] ?? -1);
    if (spec.notifyFd !== null) {
      [notify] = pipeFor();
      fds.push(childEnds[childEnds.length - 1] ?? -1);
    }
    // Listening sockets on fds 5..; the helper moves them to 3.. once its pipes are parked.
    if (listening.length > 0) {
      if (fds.length === 4) fds.push(-1);
      fds.push(...listening);
    }
  } catch (error) {
    for (const fd of [...readEnds, ...childEnds]) closeSync(fd);
    const code = (error as { code?: string }).code ?? 'EMFILE';
    return failed(execFailure(spec.argv[0] ?? '', code, spec.cwd));
  }

  // argv0 of the helper is the service's command, so ps shows something meaningful during
  // the microseconds before exec.
  // libtend does the helper's steps itself and execs the command directly where none needs
  // libc (one exec per start instead of two); TEND_SPAWN_DIRECT=0 sends every start
  // through the helper (read per spawn: a module-level read would be the snapshot's).
  const path = process.env.TEND_SPAWN_DIRECT === '0' ? 'helper' : 'direct';
  const pid = spawnChild(helper, [spec.argv[0] ?? 'tend-exec', ...args], environmentList(serviceEnvironment(spec, context)), fds, spec.session === 'new' ? 'session' : spec.session === 'foreground' ? 'group' : 'caller', spec.cgroup, path);
  // The child has its copies (or nothing started): the parent's write ends must go, or
  // the read ends would never see EOF.
  for (const fd of childEnds) closeSync(fd);
  if (pid < 0) {
    for (const fd of readEnds) closeSync(fd);
    const code = errnoName(-pid);
    if (code === 'ENOENT' || code === 'EACCES') return failed(failedStatus(126, `cannot start ${spec.argv[0] ?? ''}: tend's exec helper ${helper} cannot be run (${code})`));
    return failed(execFailure(spec.argv[0] ?? '', code, spec.cwd));
  }

  const reportDone = readReport(report);
  // The report pipe is close-on-exec: its end of file with nothing in it is the exec.
  const execed = reportDone.then((text) => text === '');

  const exit = new Promise<ExitStatus>((settle) => {
    reaper.watch(pid, (status) => {
      const signal = signaledSignal(status);
      if (signal !== null) {
        settle({ kind: 'signaled', signal, ...(coreDumped(status) ? { core: true as const } : {}) });
        return;
      }
      const code = exitedCode(status) ?? 0;
      if (code !== 126 && code !== 127) {
        settle({ kind: 'exited', code });
        return;
      }
      // The helper wrote its report before exiting and nothing else holds the pipe, so
      // its EOF is already on its way: this wait is bounded by the loop, not by time.
      void reportDone.then((text) => settle(text !== '' ? helperFailure(text, spec, code) ?? { kind: 'exited', code } : { kind: 'exited', code }));
    });
  });
  return {
    pid,
    stdout: stdout === null ? null : outputReaderOf(stdout),
    stderr: stderr === null ? null : outputReaderOf(stderr),
    notify: notify === null ? null : readerOf(notify),
    exit,
    execed,
  };
}

/** An adopted process's raw wait status as an ExitStatus (no exec helper report here). */
function statusOf(raw: number): ExitStatus {
  const signal = signaledSignal(raw);
  return signal !== null ? { kind: 'signaled', signal, ...(coreDumped(raw) ? { core: true as const } : {}) } : { kind: 'exited', code: exitedCode(raw) ?? 0 };
}

/**
 * Waits for a process tend did not start but that is its child now: a forking service's
 * daemon, re-parented to tend once its start program exited. Its exit comes from the
 * reaper like a spawned process's, with its own status. `reason` when it cannot be
 * waited for (it is not tend's child, or there is no such process).
 */
export function adoptProcess(pid: number): { readonly exit: Promise<ExitStatus> } | { readonly reason: string } {
  const reaper = startReaper();
  let settle!: (status: ExitStatus) => void;
  const exit = new Promise<ExitStatus>((resolve) => { settle = resolve; });
  const refused = reaper.adopt(pid, (raw) => settle(statusOf(raw)));
  if (refused !== null) return { reason: refused === 'ECHILD' ? `pid ${pid} is not a child of tend (no such process, or its parent still runs)` : `pid ${pid} cannot be waited for (${refused})` };
  return { exit };
}
