// The only importer of ffi-rs: the handful of libc calls Node does not expose, as thin
// typed wrappers that surface errno. Every call is synchronous and non-blocking (WNOHANG,
// getsockopt on an accepted socket, getpgid...), so nothing here can stall the event loop.
//
// ffi-rs is loaded lazily, on the first call, so that modes of tend that never need it
// (client commands, `tend check`) do not pay its ~15 ms import. `assertNative()` lets
// main fail early, with one line, when it cannot load: tend never runs half-correct.
//
// Calls go through `load()` rather than `define()` wrappers: FINDINGS measured `define()`
// at twice the cost per call. Every call is declared `errno: true` so errno is read right
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

/** Loads ffi-rs now; throws NativeUnavailableError with a one-line message when it cannot. */
export function assertNative(): void {
  native();
}

// errno numbers for Linux (asm-generic/errno-base.h), the ones callers branch on.
export const ESRCH = 3;
export const EINTR = 4;
export const ECHILD = 10;
export const EPERM = 1;
export const EACCES = 13;
export const EINVAL = 22;

const errnoNames: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 9: 'EBADF', 10: 'ECHILD', 13: 'EACCES',
  14: 'EFAULT', 22: 'EINVAL', 88: 'ENOTSOCK', 92: 'ENOPROTOOPT',
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
// waitpid and wait status decoding (the glibc W* macros)

const WNOHANG = 1;

export interface WaitResult {
  readonly pid: number;
  /** The raw wait status; decode with exitedCode / signaledSignal. */
  readonly status: number;
}

/**
 * waitpid(pid, &status, WNOHANG): reaps `pid` if it has ended. Returns null when it has
 * not ended yet (0) or when it is not our child (ECHILD: already reaped by someone else,
 * or never ours) — for the reaper both mean "nothing to reap here". Other errors throw.
 * Never call this on a pid libuv spawned: libuv would lose its exit status.
 */
export function waitpidNoHang(pid: number): WaitResult | null {
  const t = native().DataType;
  const status = Buffer.alloc(4);
  for (;;) {
    const result = call('waitpid', [t.I32, t.U8Array, t.I32], [pid, status, WNOHANG]);
    if (result.value > 0) return { pid: result.value, status: status.readInt32LE(0) };
    if (result.value === 0) return null;
    if (result.errnoCode === ECHILD) return null;
    if (result.errnoCode === EINTR) continue; // a signal arrived during the call: retry
    fail('waitpid', result);
  }
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

const P_ALL = 0;
const WEXITED = 4;
const WNOWAIT = 0x01000000;

/**
 * waitid(P_ALL, 0, &info, WEXITED|WNOHANG|WNOWAIT): the pid of some child that has ended,
 * without reaping it, or null when none has. A cheap "is there anything at all" check;
 * it shows only the first zombie, so a managed one libuv has not reaped yet hides the rest.
 */
export function waitidPeek(): number | null {
  const t = native().DataType;
  const info = Buffer.alloc(128); // siginfo_t is 128 bytes on Linux
  const result = call('waitid', [t.I32, t.I32, t.U8Array, t.I32], [P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT]);
  if (result.value !== 0) {
    if (result.errnoCode === ECHILD) return null;
    fail('waitid', result);
  }
  const pid = info.readInt32LE(16); // si_pid follows si_signo, si_errno, si_code and padding
  return pid > 0 ? pid : null;
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
// native/libtend.c, built beside the exec helper: batched reaping and the /proc listing

const LIBTEND = 'libtend';
const REAP_BLOCKED = 0x40000000;
const REAP_BATCH = 4096;
let reapOut: Buffer | null = null;
let libtendAvailable: boolean | undefined;

/**
 * libtend.so, opened once: dist/ and native/ sit at different depths under the package
 * root. TEND_REAP_LIBRARY=none leaves it unopened (tests of the pid-by-pid fallback).
 */
function openLibtend(): boolean {
  if (libtendAvailable !== undefined) return libtendAvailable;
  libtendAvailable = false;
  if (process.env.TEND_REAP_LIBRARY === 'none') return false;
  const module = native();
  for (const path of [join(__dirname, '..', 'native', 'build', 'libtend.so'), join(__dirname, 'build', 'libtend.so')]) {
    if (!existsSync(path)) continue;
    module.open({ library: LIBTEND, path });
    reapOut = Buffer.alloc(REAP_BATCH * 8);
    libtendAvailable = true;
    break;
  }
  return libtendAvailable;
}

export interface ReapBatch {
  readonly reaped: WaitResult[];
  /** A zombie of libuv's hid the rest: call again with tend's direct children listed. */
  readonly blocked: boolean;
  /** The batch filled its buffer: more zombies may be waiting. */
  readonly full: boolean;
}

/**
 * Reaps, in one ffi call, every ended child whose pid is not in `skip` (libuv's): see
 * native/libtend.c. With `children` empty it only peeks; a `blocked` answer asks for the
 * children list. null when libtend.so was not built: the caller reaps pid by pid.
 */
export function reapBatch(skip: readonly number[], children: readonly number[]): ReapBatch | null {
  if (!openLibtend() || reapOut === null) return null;
  const module = native();
  const t = module.DataType;
  // A one-element array for an empty list: the count passed beside it is what C reads.
  const value = module.load({
    library: LIBTEND,
    funcName: 'tend_reap',
    retType: t.I32,
    paramsType: [t.I32Array, t.I32, t.I32Array, t.I32, t.U8Array, t.I32],
    paramsValue: [skip.length > 0 ? skip : [0], skip.length, children.length > 0 ? children : [0], children.length, reapOut, REAP_BATCH],
  }) as number;
  const count = value & ~REAP_BLOCKED;
  const reaped: WaitResult[] = [];
  for (let i = 0; i < count; i++) reaped.push({ pid: reapOut.readInt32LE(8 * i), status: reapOut.readInt32LE(8 * i + 4) });
  return { reaped, blocked: (value & REAP_BLOCKED) !== 0, full: count >= REAP_BATCH };
}

let procListOut: Buffer | null = null;
let procListAvailable = true;

/**
 * /proc's pid directories as (pid, inode) pairs, flat: [pid0, ino0, pid1, ino1, ...]
 * (native/libtend.c tend_proc_list: an unchanged pair is the same process). null when
 * libtend.so was not built or /proc cannot be read: the caller reads every stat.
 */
export function procList(): Uint32Array | null {
  if (!procListAvailable || !openLibtend()) return null;
  const module = native();
  const t = module.DataType;
  procListOut ??= Buffer.alloc(8192 * 8);
  for (;;) {
    const max = procListOut.length / 8;
    let count: number;
    try {
      count = module.load({
        library: LIBTEND,
        funcName: 'tend_proc_list',
        retType: t.I32,
        paramsType: [t.U8Array, t.I32],
        paramsValue: [procListOut, max],
      }) as number;
    } catch {
      // A libtend.so built before tend_proc_list existed: full scans, as without it.
      procListAvailable = false;
      return null;
    }
    if (count < 0) return null;
    if (count <= max) return new Uint32Array(procListOut.buffer, procListOut.byteOffset, count * 2).slice();
    procListOut = Buffer.alloc(procListOut.length * 2);
  }
}
