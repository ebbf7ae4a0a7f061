// The only importer of ffi-rs: the handful of libc calls Node does not expose, as thin
// typed wrappers that surface errno, and libtend (native/libtend.c), tend's spawner, reaper
// and child signaller. Every call is synchronous and non-blocking (a spawn returns as
// soon as the child has exec'd the helper; the reaper blocks in its own thread), so
// nothing here can stall the event loop.
//
// ffi-rs is loaded lazily, on the first call, so that modes of tend that never need it
// (client commands, `tend check`) do not pay its ~15 ms import. `assertNative()` lets
// main fail early, with one line, when it cannot load: tend never runs half-correct.
//
// Calls go through `load()` rather than `define()` wrappers: `define()` measured at twice
// the cost per call. Every call is declared `errno: true` so errno is read right
// after the call, inside ffi-rs — reading `__errno_location()` later is unreliable.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as FFI from 'ffi-rs';

type FfiModule = typeof FFI;

const LIBRARY = 'tend-libc';

/** Thrown when ffi-rs or libc cannot be loaded; `message` is one line, fit for stderr. */
export class NativeUnavailableError extends Error {
  override readonly name = 'NativeUnavailableError';
}

/** A libc call failed; `code` is the errno name (ESRCH, ECHILD...), `errno` its number. */
export class ErrnoError extends Error {
  override readonly name = 'ErrnoError';
  constructor(readonly syscall: string, readonly errno: number, readonly code: string, detail: string) {
    super(`${syscall}: ${code} (${detail})`);
  }
}

let ffi: FfiModule | null = null;
let loadError: NativeUnavailableError | null = null;

function native(): FfiModule {
  if (ffi !== null) return ffi;
  if (loadError !== null) throw loadError;
  try {
    // A plain require: the esbuild bundle keeps ffi-rs external (it ships a .node binary).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = withCheapLibcCheck(() => require('ffi-rs') as FfiModule);
    // An empty path dlopens the running program itself, whose symbol table includes libc.
    module.open({ library: LIBRARY, path: '' });
    ffi = module;
    return module;
  } catch (error) {
    const why = error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
    loadError = new NativeUnavailableError(
      `cannot load ffi-rs, which tend needs for reaping and process tracking (${why}); reinstall with \`npm ci\` on this platform`,
    );
    throw loadError;
  }
}

/**
 * ffi-rs picks its glibc or musl binary by asking `process.report.getReport()` for
 * glibcVersionRuntime — a full diagnostic report that costs 6–15 ms of tend's start-up.
 * The same answer is in our own memory map: a musl process maps ld-musl. Answer from
 * there while ffi-rs loads, then put the real getReport back.
 */
function withCheapLibcCheck<T>(load: () => T): T {
  const report = process.report as { getReport?: unknown } | undefined;
  const original = report?.getReport;
  if (report === undefined || typeof original !== 'function') return load();
  let musl: boolean;
  try {
    musl = readFileSync('/proc/self/maps', 'utf8').includes('ld-musl');
  } catch {
    return load();
  }
  report.getReport = () => ({ header: { glibcVersionRuntime: musl ? undefined : 'from /proc/self/maps' } });
  try {
    return load();
  } finally {
    report.getReport = original;
  }
}

/**
 * Loads ffi-rs now; throws NativeUnavailableError with a one-line message when it cannot.
 * Then puts every thread's malloc in one arena (see oneMallocArena).
 */
export function assertNative(): void {
  native();
  oneMallocArena();
}

const M_ARENA_MAX = -8;

/**
 * mallopt(M_ARENA_MAX, 1): glibc gives each thread that calls malloc an arena of its own,
 * and V8's worker threads (optimizing compiles, garbage collection) each kept 1-1.5 MiB
 * in theirs once tend's log path got hot: 4-6 MiB of tend's peak RSS while a service
 * logged as fast as it can (measured with MALLOC_ARENA_MAX=1: 64-68 -> 61-64 MiB, the
 * CPU the same). One arena is enough for a process whose JavaScript runs on one thread.
 * Only arenas made from now on are affected: called at start-up, before the log path
 * runs. Not glibc (musl has one heap anyway): nothing to do.
 */
function oneMallocArena(): void {
  try {
    call('mallopt', [native().DataType.I32, native().DataType.I32], [M_ARENA_MAX, 1]);
  } catch {
    // No mallopt in this C library.
  }
}

// errno numbers for Linux (asm-generic/errno-base.h), the ones callers branch on.
export const ESRCH = 3;
export const EINTR = 4;
export const ECHILD = 10;
export const EPERM = 1;
export const EACCES = 13;
export const EINVAL = 22;

const errnoNames: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 9: 'EBADF', 10: 'ECHILD', 11: 'EAGAIN', 12: 'ENOMEM',
  13: 'EACCES', 14: 'EFAULT', 17: 'EEXIST', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 23: 'ENFILE', 24: 'EMFILE', 36: 'ENAMETOOLONG', 88: 'ENOTSOCK', 92: 'ENOPROTOOPT',
  30: 'EROFS', 7: 'E2BIG', 16: 'EBUSY', 19: 'ENODEV', 38: 'ENOSYS', 95: 'EOPNOTSUPP', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 111: 'ECONNREFUSED',
};

export function errnoName(errno: number): string {
  return errnoNames[errno] ?? `errno ${errno}`;
}

interface Result { value: number; errnoCode: number; errnoMessage: string }

function call(funcName: string, paramsType: FFI.FieldType[], paramsValue: unknown[]): Result {
  const module = native();
  return module.load({
    library: LIBRARY,
    funcName,
    retType: module.DataType.I32,
    paramsType,
    paramsValue,
    errno: true,
  }) as Result;
}

function fail(syscall: string, result: Result): never {
  throw new ErrnoError(syscall, result.errnoCode, errnoName(result.errnoCode), result.errnoMessage.replace(/ \(os error \d+\)$/, ''));
}

// ---------------------------------------------------------------------------------------
// prctl

const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;

/**
 * Makes orphaned descendants re-parent to this process instead of to the namespace's
 * init (PR_SET_CHILD_SUBREAPER, Linux 3.4+). Needed when tend is not PID 1, so that a
 * daemon that double-forks out of a service still comes back to tend to be reaped.
 */
export function prctlSetChildSubreaper(): void {
  const t = native().DataType;
  const result = call('prctl', [t.I32, t.U64, t.U64, t.U64, t.U64], [PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0]);
  if (result.value !== 0) fail('prctl(PR_SET_CHILD_SUBREAPER)', result);
}

/** Whether this process is a child subreaper. */
export function prctlGetChildSubreaper(): boolean {
  const t = native().DataType;
  const out = Buffer.alloc(4);
  const result = call('prctl', [t.I32, t.U8Array, t.U64, t.U64, t.U64], [PR_GET_CHILD_SUBREAPER, out, 0, 0, 0]);
  if (result.value !== 0) fail('prctl(PR_GET_CHILD_SUBREAPER)', result);
  return out.readInt32LE(0) !== 0;
}

// ---------------------------------------------------------------------------------------
// wait status decoding (the glibc W* macros)

export interface WaitResult {
  readonly pid: number;
  /** The raw wait status; decode with exitedCode / signaledSignal. */
  readonly status: number;
}

/** WIFEXITED ? WEXITSTATUS : null */
export function exitedCode(status: number): number | null {
  return (status & 0x7f) === 0 ? (status >> 8) & 0xff : null;
}

/** WIFSIGNALED ? WTERMSIG : null */
export function signaledSignal(status: number): number | null {
  const sig = status & 0x7f;
  return sig !== 0 && sig !== 0x7f ? sig : null;
}

/** WCOREDUMP: the kernel wrote a core dump for the signal that ended it. */
export function coreDumped(status: number): boolean {
  return signaledSignal(status) !== null && (status & 0x80) !== 0;
}

// ---------------------------------------------------------------------------------------
// process groups and sessions

/** The process group of `pid` (0: this process), or null when it does not exist (ESRCH). */
export function getpgid(pid: number): number | null {
  const result = call('getpgid', [native().DataType.I32], [pid]);
  if (result.value >= 0) return result.value;
  if (result.errnoCode === ESRCH) return null;
  fail('getpgid', result);
}

/**
 * The session of `pid` (0: this process), or null when it does not exist (ESRCH).
 * EPERM (a process in another session, on some kernels) is also reported as null.
 */
export function getsid(pid: number): number | null {
  const result = call('getsid', [native().DataType.I32], [pid]);
  if (result.value >= 0) return result.value;
  if (result.errnoCode === ESRCH || result.errnoCode === EPERM) return null;
  fail('getsid', result);
}

/** The foreground process group of the terminal on `fd`, or null when fd is not a terminal. */
export function tcgetpgrp(fd: number): number | null {
  const result = call('tcgetpgrp', [native().DataType.I32], [fd]);
  return result.value >= 0 ? result.value : null;
}

/**
 * kill(pid, sig) with errno as a value: 0 on success, else the errno (ESRCH: gone, EPERM).
 * process.kill throws instead and refuses pid -1 semantics on some versions; the sweep
 * needs kill(-1, sig) exactly.
 */
export function kill(pid: number, signal: number): number {
  const t = native().DataType;
  const result = call('kill', [t.I32, t.I32], [pid, signal]);
  return result.value === 0 ? 0 : result.errnoCode;
}

// ---------------------------------------------------------------------------------------
// sockets

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * The credentials of the process at the other end of a connected Unix socket, as the
 * kernel recorded them at connect() (SO_PEERCRED: struct ucred { pid_t; uid_t; gid_t }).
 * For a net.Socket the fd is `socket._handle.fd`. Throws ErrnoError (EBADF, ENOTSOCK...).
 */
export function peerCredentials(fd: number): PeerCredentials {
  const t = native().DataType;
  const cred = Buffer.alloc(12);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(12, 0);
  const result = call('getsockopt', [t.I32, t.I32, t.I32, t.U8Array, t.U8Array], [fd, SOL_SOCKET, SO_PEERCRED, cred, length]);
  if (result.value !== 0) fail('getsockopt(SO_PEERCRED)', result);
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

// ---------------------------------------------------------------------------------------
// pipes

const O_CLOEXEC = 0o2000000;

/**
 * pipe2(O_CLOEXEC): [read end, write end]. Both ends are close-on-exec, so no process
 * tend starts inherits one unless libtend's spawn moves it onto a numbered fd.
 */
export function pipe(): [number, number] {
  const t = native().DataType;
  const fds = Buffer.alloc(8);
  const result = call('pipe2', [t.U8Array, t.I32], [fds, O_CLOEXEC]);
  if (result.value !== 0) fail('pipe2', result);
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

const F_SETPIPE_SZ = 1031;

/**
 * fcntl(F_SETPIPE_SZ): sets a pipe's capacity (the kernel rounds it up to a power of two
 * of pages; /proc/sys/fs/pipe-max-size bounds it without CAP_SYS_RESOURCE). Returns the
 * capacity set, or a negative errno.
 */
export function setPipeSize(fd: number, bytes: number): number {
  const t = native().DataType;
  const result = call('fcntl', [t.I32, t.I32, t.I32], [fd, F_SETPIPE_SZ, bytes]);
  return result.value < 0 ? -result.errnoCode : result.value;
}

// ---------------------------------------------------------------------------------------
// native/libtend.c, built beside the exec helper: spawning, the reaper thread, signalling
// tend's own children, the /proc listing

const LIBTEND = 'libtend';
let libtendOpen = false;

/**
 * A file native/build.mjs made (libtend.so, tend-exec), or null. This module runs from
 * native/ (sources), dist/ (the bundles) or one folder deeper (test drivers): the build
 * folder is looked for at each depth.
 */
export function nativeArtifact(name: string): string | null {
  for (const base of [__dirname, join(__dirname, '..'), join(__dirname, '..', '..')]) {
    for (const path of [join(base, 'native', 'build', name), join(base, 'build', name)]) {
      if (existsSync(path)) return path;
    }
  }
  return null;
}

/** libtend.so, opened once. */
function libtend(): FfiModule {
  const module = native();
  if (libtendOpen) return module;
  const path = nativeArtifact('libtend.so');
  if (path === null) throw new NativeUnavailableError('native/build/libtend.so is missing; build it with `npm ci` (it needs a C compiler)');
  module.open({ library: LIBTEND, path });
  libtendOpen = true;
  return module;
}

function callLibtend(funcName: string, retType: FFI.DataType, paramsType: FFI.FieldType[], paramsValue: unknown[]): number {
  return libtend().load({ library: LIBTEND, funcName, retType, paramsType, paramsValue }) as number;
}


/**
 * Starts `path` (the exec helper) with argv and env; fds[i] becomes the child's fd i
 * (-1: closed); the child leads a new session or a new process group in tend's. `leaf`:
 * the service's cgroup v2 leaf, where the child is born (clone3 with CLONE_INTO_CGROUP),
 * or, where the kernel or a seccomp profile refuses that, which the helper joins
 * (libtend adds `-c LEAF` after argv[0]). `helper`: 'direct' or 'helper' when argv is
 * the exec helper's (native/tend-exec.c's options, `--`, the command) and fds are laid
 * out as it expects; with 'direct', where none of its steps needs libc (no user or group,
 * no runtime directory, no join), libtend does them in the child and execs the command
 * itself: one exec per start. 'helper' always execs the helper (counted as such).
 * Returns the pid, or a negative errno when nothing started (ENOENT, EAGAIN, ENOMEM...).
 * The pid is tend's child from then on: its exit reaches the event loop through
 * reaperDrain, never anyone else's waitpid.
 */
export function spawnChild(path: string, argv: readonly string[], env: readonly string[], fds: readonly number[], group: 'session' | 'group' | 'caller', leaf: string | null = null, helper: 'direct' | 'helper' | null = null): number {
  const t = native().DataType;
  const strings = Buffer.from([path, ...argv, ...env].join('\0') + '\0');
  // TEND_SPAWN_SESSION, TEND_SPAWN_GROUP, or the caller's group; TEND_SPAWN_STEPS
  // (a helper argv), TEND_SPAWN_DIRECT (which may be done in the child).
  const flags = (group === 'session' ? 1 : group === 'group' ? 2 : 0) | (helper !== null ? 8 : 0) | (helper === 'direct' ? 16 : 0);
  return callLibtend('tend_spawn', t.I32, [t.U8Array, t.I32, t.I32, t.I32Array, t.I32, t.I32, t.String], [strings, argv.length, env.length, fds.length > 0 ? [...fds] : [-1], fds.length, flags, leaf ?? '']);
}

export interface SpawnStats {
  /** Whether clone3 still starts children in their leaf (false once it was refused). */
  readonly clone3: boolean;
  /** The errno name that turned clone3 off (ENOSYS: a seccomp profile or an old kernel), or null. */
  readonly refusal: string | null;
  /** Children born in their leaf by clone3. */
  readonly bornInLeaf: number;
  /** Children with a leaf started by posix_spawn, the helper joining the leaf. */
  readonly joinedLeaf: number;
  /** clone3 calls that started nothing (the spawn then fell back). */
  readonly clone3Failures: number;
  /** Spawns of a helper argv done in the child with one exec (no helper). */
  readonly direct: number;
  /** Spawns of a helper argv that went through the helper. */
  readonly viaHelper: number;
  /** Whether the direct path is still usable (false once a plain clone3 was refused). */
  readonly directUsable: boolean;
}

/** How libtend has started its children (native/libtend.c tend_spawn_stats). */
export function spawnStats(): SpawnStats {
  const out = Buffer.alloc(8 * 8);
  callLibtend('tend_spawn_stats', native().DataType.Void, [native().DataType.U8Array], [out]);
  const refusal = out.readDoubleLE(8);
  return {
    clone3: out.readDoubleLE(0) === 1, refusal: refusal === 0 ? null : errnoName(refusal), bornInLeaf: out.readDoubleLE(16), joinedLeaf: out.readDoubleLE(24), clone3Failures: out.readDoubleLE(32),
    direct: out.readDoubleLE(40), viaHelper: out.readDoubleLE(48), directUsable: out.readDoubleLE(56) === 1,
  };
}

/** Starts the reaper thread (idempotent); the fd the event loop reads to learn of exits. */
export function reaperStart(): number {
  const fd = callLibtend('tend_reaper_start', native().DataType.I32, [], []);
  if (fd < 0) throw new ErrnoError('tend_reaper_start', -fd, errnoName(-fd), 'cannot start the reaper thread');
  return fd;
}

/** A SIGCHLD came: wakes the reaper thread if it sleeps for want of children. */
export function reaperKick(): void {
  callLibtend('tend_reaper_kick', native().DataType.Void, [], []);
}

export interface Drained {
  /** Exits of the processes tend started, in the order they were reaped. */
  readonly exits: WaitResult[];
  /** Pids of the newest orphans reaped (at most ORPHAN_BATCH). */
  readonly orphans: number[];
  /** How many orphans were reaped since the last drain (≥ orphans.length). */
  readonly orphanCount: number;
  /** More exits are queued: drain again. */
  readonly more: boolean;
}

const DRAIN_EXITS = 1024;
const ORPHAN_BATCH = 4096;
let drainExits: Buffer | null = null;
let drainOrphans: Buffer | null = null;
const drainCounts = Buffer.alloc(12);

/** What the reaper thread has reaped since the last call (native/libtend.c tend_reaper_drain). */
export function reaperDrain(): Drained {
  const t = native().DataType;
  drainExits ??= Buffer.alloc(DRAIN_EXITS * 8);
  drainOrphans ??= Buffer.alloc(ORPHAN_BATCH * 4);
  callLibtend('tend_reaper_drain', t.I32, [t.U8Array, t.I32, t.U8Array, t.I32, t.U8Array], [drainExits, DRAIN_EXITS, drainOrphans, ORPHAN_BATCH, drainCounts]);
  const count = drainCounts.readInt32LE(0);
  const orphanCount = drainCounts.readInt32LE(4);
  const exits: WaitResult[] = [];
  for (let i = 0; i < count; i++) exits.push({ pid: drainExits.readInt32LE(8 * i), status: drainExits.readInt32LE(8 * i + 4) });
  const orphans: number[] = [];
  for (let i = 0; i < Math.min(orphanCount, ORPHAN_BATCH); i++) orphans.push(drainOrphans.readInt32LE(4 * i));
  return { exits, orphans, orphanCount, more: drainCounts.readInt32LE(8) > 0 };
}

/**
 * kill(pid, signal) for a process tend started, refused (ESRCH) once it has been reaped,
 * so the signal can never reach a process that reused its pid. 0 or the errno.
 */
export function signalChild(pid: number, signal: number): number {
  const t = native().DataType;
  const result = callLibtend('tend_signal_child', t.I32, [t.I32, t.I32], [pid, signal]);
  return result === 0 ? 0 : -result;
}

let procListOut: Buffer | null = null;

/**
 * /proc's pid directories as (pid, inode) pairs, flat: [pid0, ino0, pid1, ino1, ...]
 * (native/libtend.c tend_proc_list: an unchanged pair is the same process). null when
 * /proc cannot be read: the caller reads every stat.
 */
export function procList(): Uint32Array | null {
  const t = native().DataType;
  procListOut ??= Buffer.alloc(8192 * 8);
  for (;;) {
    const max = procListOut.length / 8;
    const count = callLibtend('tend_proc_list', t.I32, [t.U8Array, t.I32], [procListOut, max]);
    if (count < 0) return null;
    if (count <= max) return new Uint32Array(procListOut.buffer, procListOut.byteOffset, count * 2).slice();
    procListOut = Buffer.alloc(procListOut.length * 2);
  }
}

export type Adopted =
  /** Its exit will come through reaperDrain, as for a process tend started. */
  | { readonly kind: 'adopted' }
  /** It had already ended and been reaped as an orphan: its raw wait status. */
  | { readonly kind: 'ended'; readonly status: number }
  /** Not tend's child (its parent is alive) or no such process: ECHILD, or another errno. */
  | { readonly kind: 'refused'; readonly errno: string };

const adoptStatus = Buffer.alloc(4);

/**
 * Makes `pid`, a child tend did not start (a daemon re-parented to tend), one whose exit
 * the reaper queues with its status (native/libtend.c tend_reaper_adopt).
 */
export function reaperAdopt(pid: number): Adopted {
  const t = native().DataType;
  const result = callLibtend('tend_reaper_adopt', t.I32, [t.I32, t.U8Array], [pid, adoptStatus]);
  if (result === 0) return { kind: 'adopted' };
  if (result === 1) return { kind: 'ended', status: adoptStatus.readInt32LE(0) };
  return { kind: 'refused', errno: errnoName(-result) };
}

/** One datagram (sd_notify or syslog), with the sender's credentials as the kernel gave them (pid 0: none). */
export interface Datagram {
  readonly pid: number;
  readonly uid: number;
  /** The sender's parents as /proc showed them when the message came, nearest first. */
  readonly ancestors: readonly number[];
  /** The bytes kept (the first 4 KiB of an sd_notify message, 64 KiB of a syslog one), as UTF-8 (invalid bytes: U+FFFD). */
  readonly text: string;
  /** Bytes kept and bytes the sender sent: `sent` is more when the datagram was cut. */
  readonly kept: number;
  readonly sent: number;
  /** The sender's cgroup id (its cgroup v2 directory's inode) as the kernel kept it, even after its exit; 0: not known. */
  readonly cgroup: number;
}

/** What a receiver does when the event loop falls behind: sd_notify drops (and counts), syslog holds the senders back. */
export type DatagramKind = 'notify' | 'syslog';

/**
 * Opens a Unix datagram socket at `path` ("@name": abstract) and starts its receiver
 * thread (native/dgram.c): the receiver's number and the fd the event loop reads to learn
 * that messages wait. The same path opened again gives the same receiver. `cgroupMount`
 * (syslog): where cgroup v2 is mounted, to read each sender's cgroup while it lives. A syslog path
 * that exists and is not a socket (EEXIST) or has a live receiver (EADDRINUSE) is left alone.
 */
export function datagramOpen(path: string, kind: DatagramKind, cgroupMount: string | null = null): { id: number; fd: number } {
  const t = native().DataType;
  const id = callLibtend('tend_dgram_open', t.I32, [t.String, t.I32, t.String], [path, kind === 'syslog' ? 1 : 0, cgroupMount ?? '']);
  if (id < 0) throw new ErrnoError('tend_dgram_open', -id, errnoName(-id), `cannot open the ${kind === 'syslog' ? 'syslog' : 'sd_notify'} socket ${path}`);
  const fd = callLibtend('tend_dgram_fd', t.I32, [t.I32], [id]);
  return { id, fd };
}

let datagramOut: Buffer | null = null;
const datagramCounts = Buffer.alloc(16);
/** Bytes a drained message needs at most in datagramOut: its header, 8 ancestors, 64 KiB. */
const DATAGRAM_MAX = 32 + 4 * 8 + 64 * 1024;

export interface DatagramBatch {
  readonly messages: Datagram[];
  /** Messages still queued after this batch: drain again (on a later turn of the loop). */
  readonly waiting: number;
  /** Dropped for want of room (sd_notify only) and cut to what is kept, since the last batch. */
  readonly dropped: number;
  readonly cut: number;
}

/**
 * Decodes the whole records in `bytes` from `from` to `to` (native/dgram.c's layout: six
 * int32 — pid, uid, bytes kept, bytes sent, ancestors, 0 —, the cgroup id as a uint64,
 * the ancestors, the bytes) into `into`. Returns where the first incomplete record starts
 * (`to` when none): a syslog stream's chunk may end inside one.
 */
export function decodeDatagrams(bytes: Buffer, from: number, to: number, into: Datagram[]): number {
  let at = from;
  while (to - at >= 32) {
    const length = bytes.readInt32LE(at + 8);
    const count = bytes.readInt32LE(at + 16);
    const text = at + 32 + 4 * count;
    if (text + length > to) break;
    const ancestors: number[] = [];
    for (let i = 0; i < count; i++) ancestors.push(bytes.readInt32LE(at + 32 + 4 * i));
    into.push({
      pid: bytes.readInt32LE(at), uid: bytes.readInt32LE(at + 4), ancestors, text: bytes.toString('utf8', text, text + length),
      kept: length, sent: bytes.readInt32LE(at + 12), cgroup: Number(bytes.readBigUInt64LE(at + 24)),
    });
    at = text + length;
  }
  return at;
}

/** At most `max` of the messages the receiver holds (copied: they stay valid). */
export function datagramDrain(id: number, max: number): DatagramBatch {
  const t = native().DataType;
  // ffi-rs copies the whole buffer on each call, used or not: 128 KiB holds ~800 syslog
  // lines of 100 bytes (a batch) and the largest datagram kept, and costs little to copy.
  datagramOut ??= Buffer.alloc(128 * 1024);
  const messages: Datagram[] = [];
  let dropped = 0;
  let cut = 0;
  let waiting = 0;
  while (messages.length < max) {
    const used = callLibtend('tend_dgram_drain', t.I32, [t.I32, t.U8Array, t.I32, t.I32, t.U8Array], [id, datagramOut, datagramOut.length, max - messages.length, datagramCounts]);
    if (used < 0) throw new ErrnoError('tend_dgram_drain', -used, errnoName(-used), 'no such receiver');
    dropped += datagramCounts.readInt32LE(8);
    cut += datagramCounts.readInt32LE(12);
    waiting = datagramCounts.readInt32LE(4);
    decodeDatagrams(datagramOut, 0, used, messages);
    // One more call only when the buffer, not `max`, ended this one.
    if (waiting === 0 || datagramCounts.readInt32LE(0) === 0 || used + DATAGRAM_MAX <= datagramOut.length) break;
  }
  return { messages, waiting, dropped, cut };
}

/** A listening TCP socket (native/sockets.c), blocking and close-on-exec: the fd, or the errno name (EADDRINUSE...). */
export function listenTcp(host: string, port: number, backlog: number): number | string {
  const t = native().DataType;
  const fd = callLibtend('tend_listen_tcp', t.I32, [t.String, t.I32, t.I32], [host, port, backlog]);
  return fd >= 0 ? fd : errnoName(-fd);
}

/** A listening Unix stream socket at `path` with `mode` (-1: the umask's): the fd, or the errno name. */
export function listenUnix(path: string, backlog: number, mode: number): number | string {
  const t = native().DataType;
  const fd = callLibtend('tend_listen_unix', t.I32, [t.String, t.I32, t.I32], [path, backlog, mode]);
  return fd >= 0 ? fd : errnoName(-fd);
}

/** The pipe native/oom.c writes the 4-byte token of each v1 OOM notification to (its thread started once), or the errno name. */
export function oomPipe(): number | string {
  const fd = callLibtend('tend_oom_pipe', native().DataType.I32, [], []);
  return fd >= 0 ? fd : errnoName(-fd);
}

/** OOM notifications of the v1 memory cgroup `dir` send `token` down oomPipe(): a handle for oomUnwatch, or the errno name. */
export function oomWatchV1(dir: string, token: number): number | string {
  const t = native().DataType;
  const handle = callLibtend('tend_oom_watch_v1', t.I32, [t.String, t.I32], [dir, token]);
  return handle >= 0 ? handle : errnoName(-handle);
}

export function oomUnwatch(handle: number): void {
  const t = native().DataType;
  callLibtend('tend_oom_unwatch', t.Void, [t.I32], [handle]);
}

/** Orphans libtend's reaper thread has reaped since it started. */
export function reaperOrphansTotal(): number {
  return callLibtend('tend_reaper_orphans_total', native().DataType.Double, [], []);
}

let readPidsOut: Buffer | null = null;
let readPidsCounts: Buffer | null = null;

/**
 * The pids listed by each of the open cgroup.procs files `fds` (an Int32 each, `n` of them),
 * every one read from offset 0 in one call (native/libtend.c tend_read_pids): `pids` holds
 * them leaf after leaf, `counts[i]` how many are the i-th leaf's, or -errno when it could
 * not be read (ENODEV: the leaf is gone).
 */
export function readPidsOf(fds: Buffer, n: number): { readonly pids: Int32Array; readonly counts: Int32Array } {
  const t = native().DataType;
  // ffi-rs copies each buffer both ways on every call: sized to the leaves, not beyond.
  if (readPidsCounts === null || readPidsCounts.length < n * 4) readPidsCounts = Buffer.alloc(Math.max(n, 64) * 4);
  if (readPidsOut === null || readPidsOut.length < (n + 64) * 4) readPidsOut = Buffer.alloc((n * 2 + 64) * 4);
  for (;;) {
    const max = readPidsOut.length / 4;
    const total = callLibtend('tend_read_pids', t.I32, [t.U8Array, t.I32, t.U8Array, t.I32, t.U8Array], [fds, n, readPidsOut, max, readPidsCounts]);
    if (total <= max) {
      return {
        pids: new Int32Array(readPidsOut.buffer, readPidsOut.byteOffset, total),
        counts: new Int32Array(readPidsCounts.buffer, readPidsCounts.byteOffset, n),
      };
    }
    readPidsOut = Buffer.alloc(readPidsOut.length * 2);
  }
}

let childrenOut: Buffer | null = null;

/**
 * The children of every thread of `pid` (tend's own by default), in one call
 * (native/libtend.c tend_children); null when its task directory cannot be listed (it is
 * gone).
 */
export function childrenOfProcess(pid = 0): Int32Array | null {
  const t = native().DataType;
  childrenOut ??= Buffer.alloc(1024 * 4);
  for (;;) {
    const max = childrenOut.length / 4;
    const total = callLibtend('tend_children', t.I32, [t.I32, t.U8Array, t.I32], [pid, childrenOut, max]);
    if (total < 0) return null;
    if (total <= max) return new Int32Array(childrenOut.buffer, childrenOut.byteOffset, total);
    childrenOut = Buffer.alloc(childrenOut.length * 2);
  }
}
