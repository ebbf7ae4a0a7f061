// The only module that imports child_process. Services, probes, stop commands and tini
// mode's CMD are all started here, through the exec helper (native/tend-exec.c) when it
// is built, else through plain child_process with what libuv can do.
//
// It also keeps the set of pids libuv waits for. libuv reaps the children it spawned with
// waitpid(pid, WNOHANG), one pid at a time; if anyone else reaps such a pid first, libuv
// drops the exit silently and the ChildProcess never emits 'exit'. The reaper therefore
// skips every pid in this set. Wrapping ChildProcess.prototype.spawn catches spawn, exec,
// execFile and fork alike, whoever calls them (tend or any library it loads).
import { ChildProcess, execFile, spawn, type StdioOptions } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { signalName } from './signals';

// ---------------------------------------------------------------------------------------
// pids libuv owns

const libuvPids = new Set<number>();
const WRAPPED = Symbol.for('tend.spawnWrapped');

function wrapChildProcessSpawn(): void {
  const proto = ChildProcess.prototype as ChildProcess & { [WRAPPED]?: true; spawn: (options: unknown) => unknown };
  if (proto[WRAPPED]) return;
  const original = proto.spawn;
  proto.spawn = function wrappedSpawn(this: ChildProcess, options: unknown) {
    const result = original.call(this, options);
    const pid = this.pid;
    if (pid !== undefined) {
      libuvPids.add(pid);
      // 'exit' is emitted right after libuv's waitpid succeeded, in the same tick: from
      // then on the pid may be reused by the kernel and is fair game for the reaper.
      this.once('exit', () => libuvPids.delete(pid));
    }
    return result;
  };
  proto[WRAPPED] = true;
}
wrapChildProcessSpawn();

/** Whether libuv waits for this pid (the reaper must not touch it). */
export function isLibuvChild(pid: number): boolean {
  return libuvPids.has(pid);
}

/** The pids libuv currently waits for. */
export function libuvChildren(): ReadonlySet<number> {
  return libuvPids;
}

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
  readonly cwd: string | null;
  /** uid, primary gid, supplementary groups (initgroups), HOME/USER/LOGNAME unless env sets them. */
  readonly user: string | number | null;
  readonly group: string | number | null;
  readonly stdin: 'null' | 'inherit';
  /** stdout and stderr. */
  readonly output: 'pipe' | 'inherit' | 'null';
  /** Give the child the write end of a pipe on this fd (s6-style readiness). */
  readonly notifyFd: number | null;
  /** cgroup v2 leaf directory to join before exec. */
  readonly cgroup: string | null;
  /** new: setsid (services) | foreground: own group in tend's session, terminal foreground (tini). */
  readonly session: 'new' | 'foreground';
}

export interface SpawnContext {
  readonly instance: string;
  readonly socket: string | null;
  /** Add TEND_SERVICE / TEND_INSTANCE (default true; tini mode leaves CMD's env alone). */
  readonly markers?: boolean;
}

export type ExitStatus =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signaled'; readonly signal: number }
  | { readonly kind: 'failed'; readonly code: 126 | 127; readonly reason: string };

export interface Spawned {
  /** The service's pid; 0 when nothing could be started at all (exit is then 'failed'). */
  readonly pid: number;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly notify: Readable | null;
  /** Resolves when the process has been reaped (ChildProcess 'exit'), never on pipe close. */
  readonly exit: Promise<ExitStatus>;
}

/** tend's exit code for a status: the code, 128+signal, or 126/127. */
export function exitCodeOf(status: ExitStatus): number {
  switch (status.kind) {
    case 'exited': return status.code;
    case 'signaled': return 128 + status.signal;
    case 'failed': return status.code;
  }
}

/** "exited with 3", "killed by SIGKILL", "command not found: foo". */
export function describeExit(status: ExitStatus): string {
  switch (status.kind) {
    case 'exited': return `exited with ${status.code}`;
    case 'signaled': return `killed by ${signalName(status.signal)}`;
    case 'failed': return status.reason;
  }
}

// ---------------------------------------------------------------------------------------
// the exec helper

let helperPath: string | null | undefined;
const lossListeners: Array<(message: string) => void> = [];
let lossReported = false;

function findHelper(): string | null {
  const override = process.env.TEND_EXEC_HELPER;
  if (override === 'none') return null;
  if (override !== undefined && override !== '') return override;
  // dist/tend.cjs and src/process/spawn.ts sit at different depths under the package root.
  for (const base of [join(__dirname, '..'), join(__dirname, '..', '..')]) {
    const candidate = join(base, 'native', 'build', 'tend-exec');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The exec helper tend uses, or null when it falls back to plain child_process. */
export function execHelper(): string | null {
  if (helperPath === undefined) helperPath = findHelper();
  return helperPath;
}

/** Overrides the helper (tests and benchmarks): a path, or null for the fallback. */
export function setExecHelper(path: string | null): void {
  helperPath = path;
  lossReported = false;
}

/** What the fallback cannot do, said once: the listener is tend's logger. */
export const FALLBACK_LOSS =
  'exec helper native/build/tend-exec not built: services run through plain child_process — ' +
  'no supplementary groups for user:, the cgroup is joined by moving tend around spawn(), ' +
  'and tini mode cannot give CMD its own process group or the terminal';

/** Registers the listener told (once) that the fallback is in use. */
export function onFallbackLoss(listener: (message: string) => void): void {
  lossListeners.push(listener);
}

function reportFallback(): void {
  if (lossReported) return;
  lossReported = true;
  if (lossListeners.length === 0) process.stderr.write(`tend: ${FALLBACK_LOSS}\n`);
  for (const listener of lossListeners) listener(FALLBACK_LOSS);
}

// ---------------------------------------------------------------------------------------
// spawnProcess

const USER_ENV = ['HOME', 'USER', 'LOGNAME'] as const;

function environment(spec: SpawnSpec, context: SpawnContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  // With user:, HOME/USER/LOGNAME come from the passwd entry unless the service sets them:
  // tend's own (root's) must not leak through.
  if (spec.user !== null) for (const key of USER_ENV) delete env[key];
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

function errnoText(code: string, detail: string): string {
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': return 'permission denied';
    case 'EPERM': return 'operation not permitted';
    case 'ENOEXEC': return 'exec format error';
    case 'ENOTDIR': return 'not a directory';
    default: return detail || code;
  }
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
    return failedStatus(126, `cannot start ${command}: ${resourceText(code)}`);
  }
  return failedStatus(126, `cannot execute ${command}: ${errnoText(code, code)}`);
}

const errnoByNumber: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 8: 'ENOEXEC', 13: 'EACCES', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL',
  26: 'ETXTBSY', 30: 'EROFS', 36: 'ENAMETOOLONG', 40: 'ELOOP',
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
    case 'chdir': return failedStatus(126, `cannot change directory to ${detail}: ${errnoText(code, code)}`);
    case 'initgroups':
    case 'setgroups':
    case 'setgid':
    case 'setuid':
      // Switching users needs root (CAP_SETUID, CAP_SETGID): say so rather than only "operation not permitted".
      if (code === 'EPERM') return failedStatus(126, `cannot switch to user ${detail}: tend runs as uid ${process.getuid?.() ?? '?'}, and user:/group: need root (${step} failed: operation not permitted)`);
      return failedStatus(fallbackCode, `cannot start ${command}: ${step} failed: ${errnoText(code, code)}`);
    case 'cgroup': return failedStatus(126, `cannot join cgroup ${detail}: ${errnoText(code, code)}`);
    default: return failedStatus(fallbackCode, `cannot start ${command}: ${step} failed: ${errnoText(code, code)}`);
  }
}

function stdioFor(spec: SpawnSpec, withHelper: boolean): StdioOptions {
  const output = spec.output === 'null' ? 'ignore' : spec.output;
  const stdio: Array<'pipe' | 'inherit' | 'ignore'> = [spec.stdin === 'inherit' ? 'inherit' : 'ignore', output, output];
  if (withHelper) {
    stdio.push('pipe'); // fd 3: the helper's report pipe
    if (spec.notifyFd !== null) stdio.push('pipe'); // fd 4: moved onto notifyFd by the helper
  } else if (spec.notifyFd !== null) {
    while (stdio.length < spec.notifyFd) stdio.push('ignore');
    stdio[spec.notifyFd] = 'pipe';
  }
  return stdio;
}

/**
 * Starts a process as the spec says. Never throws for a command that cannot run, an
 * unknown user or a bad cwd: `exit` resolves as 'failed' (127 not found, 126 otherwise).
 */
export function spawnProcess(spec: SpawnSpec, context: SpawnContext): Spawned {
  const helper = execHelper();
  if (helper === null) return spawnFallback(spec, context);

  const args: string[] = [];
  if (spec.cgroup !== null) args.push('-c', spec.cgroup);
  if (spec.user !== null) args.push('-u', String(spec.user), '-H');
  if (spec.group !== null) args.push('-g', String(spec.group));
  args.push(spec.session === 'new' ? '-s' : '-f');
  if (spec.notifyFd !== null) args.push('-n', String(spec.notifyFd));
  if (spec.cwd !== null) args.push('-d', spec.cwd);
  args.push('--', ...spec.argv);

  // argv0 of the helper is the service's command, so ps shows something meaningful during
  // the microseconds before exec.
  const child = spawn(helper, args, { env: environment(spec, context), stdio: stdioFor(spec, true), argv0: spec.argv[0] ?? 'tend-exec' });
  return wrap(child, spec, true);
}

function wrap(child: ChildProcess, spec: SpawnSpec, viaHelper: boolean): Spawned {
  let report = '';
  // When spawn() fails before the fork (EMFILE, ENFILE: no fds left for the pipes), Node
  // returns a ChildProcess with no stdio at all — not even an array — and reports the
  // error asynchronously: every stream is then absent, and `exit` says why.
  const stdio = child.stdio ?? [];
  const reportPipe = viaHelper ? ((stdio[3] ?? null) as Readable | null) : null;
  const reportDone = reportPipe === null
    ? Promise.resolve()
    : new Promise<void>((done) => {
      reportPipe.setEncoding('utf8');
      reportPipe.on('data', (text: string) => { if (report.length < 8192) report += text; });
      reportPipe.on('close', () => done());
      reportPipe.on('error', () => done());
    });
  const notify = spec.notifyFd === null ? null : ((stdio[viaHelper ? 4 : spec.notifyFd] ?? null) as Readable | null);

  const exit = new Promise<ExitStatus>((settle) => {
    let spawnError: NodeJS.ErrnoException | null = null;
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Only a failed spawn matters here; a listener must stay so no 'error' goes unhandled.
      if (child.pid === undefined) {
        spawnError = error;
        settle(execFailure(spec.argv[0] ?? '', error.code ?? 'EIO', spec.cwd));
      }
    });
    child.once('exit', (code, signal) => {
      if (spawnError !== null) return;
      if (signal !== null) {
        settle({ kind: 'signaled', signal: signalNumberOf(signal) });
        return;
      }
      const exitCode = code ?? 0;
      if (reportPipe !== null && (exitCode === 126 || exitCode === 127)) {
        // The helper wrote its report before exiting; the pipe closes with the process
        // (nothing else holds it), so this wait is bounded by the event loop, not by time.
        void reportDone.then(() => settle(report !== '' ? helperFailure(report, spec, exitCode) ?? { kind: 'exited', code: exitCode } : { kind: 'exited', code: exitCode }));
        return;
      }
      settle({ kind: 'exited', code: exitCode });
    });
  });
  return {
    pid: child.pid ?? 0,
    stdout: child.stdout ?? null,
    stderr: child.stderr ?? null,
    notify,
    exit,
  };
}

function signalNumberOf(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

// ---------------------------------------------------------------------------------------
// the fallback: plain child_process

function cgroupOf(pid: number | 'self'): string | null {
  // The cgroup v2 line is "0::/path".
  const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? null : line.slice(3);
}

function spawnFallback(spec: SpawnSpec, context: SpawnContext): Spawned {
  reportFallback();
  const failed = (status: ExitStatus): Spawned => ({ pid: 0, stdout: null, stderr: null, notify: null, exit: Promise.resolve(status) });
  if (spec.cwd !== null) {
    try {
      if (!statSync(spec.cwd).isDirectory()) return failed(failedStatus(126, `cannot change directory to ${spec.cwd}: not a directory`));
    } catch {
      return failed(failedStatus(126, `cannot change directory to ${spec.cwd}: no such file or directory`));
    }
  }
  let uid: number | undefined;
  let gid: number | undefined;
  if (spec.user !== null) {
    const entry = lookupUser(spec.user);
    if (entry === null) return failed(failedStatus(126, `unknown user: ${spec.user}`));
    uid = entry.uid;
    gid = entry.gid;
  }
  if (spec.group !== null) {
    const found = lookupGroup(spec.group);
    if (found === null) return failed(failedStatus(126, `unknown group: ${spec.group}`));
    gid = found;
  }
  const env = environment(spec, context);
  if (spec.user !== null) {
    const entry = lookupUser(spec.user);
    if (entry !== null) {
      env.HOME ??= entry.home;
      if (entry.name !== null) {
        env.USER ??= entry.name;
        env.LOGNAME ??= entry.name;
      }
    }
  }

  // Children inherit the cgroup at fork: move tend into the leaf around the synchronous
  // spawn() call and back, so the child is inside before it runs its first instruction.
  let home: string | null = null;
  const mount = spec.cgroup === null ? null : cgroupMountOf(spec.cgroup);
  if (spec.cgroup !== null && mount !== null) {
    home = cgroupOf('self');
    writeFileSync(join(spec.cgroup, 'cgroup.procs'), String(process.pid));
  }
  let child: ChildProcess;
  try {
    child = spawn(spec.argv[0] ?? '', spec.argv.slice(1), {
      env,
      cwd: spec.cwd ?? undefined,
      stdio: stdioFor(spec, false),
      // detached: setsid in the child. tini mode ('foreground') cannot get a group of its
      // own without a new session here, so it stays in tend's group.
      detached: spec.session === 'new',
      uid,
      gid,
    });
  } finally {
    if (home !== null && mount !== null) writeFileSync(join(mount, home, 'cgroup.procs'), String(process.pid));
  }
  return wrap(child, spec, false);
}

function cgroupMountOf(leaf: string): string | null {
  // The leaf lives under the v2 mount; tend's own cgroup path is relative to that mount.
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(' - cgroup2 ') && leaf.startsWith(l.split(' ')[4] ?? '\0'));
  return line === undefined ? null : (line.split(' ')[4] ?? null);
}

// ---------------------------------------------------------------------------------------
// passwd and group, for the fallback (the helper asks libc, which also consults NSS)

interface UserEntry { readonly uid: number; readonly gid: number; readonly name: string | null; readonly home: string }

function readTable(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function lookupUser(user: string | number): UserEntry | null {
  const numeric = typeof user === 'number' ? user : /^\d+$/.test(user) ? Number(user) : null;
  for (const fields of readTable('/etc/passwd')) {
    const [name, , uid, gid, , home] = fields;
    if ((numeric !== null && Number(uid) === numeric) || (numeric === null && name === user)) {
      return { uid: Number(uid), gid: Number(gid), name: name ?? null, home: home || '/' };
    }
  }
  // A numeric uid with no passwd entry is allowed: tend's own gid, HOME=/.
  return numeric === null ? null : { uid: numeric, gid: process.getgid?.() ?? 0, name: null, home: '/' };
}

function lookupGroup(group: string | number): number | null {
  if (typeof group === 'number' || /^\d+$/.test(group)) return Number(group);
  for (const [name, , gid] of readTable('/etc/group')) if (name === group) return Number(gid);
  return null;
}

// ---------------------------------------------------------------------------------------
// small commands tend runs for itself

/** Runs a command to completion and returns its output (routed here: one child_process importer). */
export function runCommand(file: string, args: readonly string[], options: { timeout?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((settle) => {
    execFile(file, [...args], { timeout: options.timeout ?? 10_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null;
      settle({ code, stdout, stderr });
    });
  });
}
