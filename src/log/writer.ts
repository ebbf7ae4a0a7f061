// AsyncWriter: tend's only way to write to its stdout or stderr.
//
// process.stdout on a pipe is synchronous on Linux: a `docker logs` reader
// that stops reading would freeze tend's event loop — reaping and signal handling
// included. So tend never writes to fd 1/2 through process.stdout, and never with a
// blocking write() on the event loop thread.
//
// How each kind of fd is written:
// - pipe / FIFO: reopened through /proc/self/fd/N. That gives tend its *own* open file
//   description of the same pipe, which it sets O_NONBLOCK (libuv does, in uv_pipe_open)
//   and writes through a net.Socket: libuv writes until EAGAIN, then waits for epoll.
//   O_NONBLOCK lives on the open file description, so setting it on fd 1 itself would
//   also hand it to every service started with `console: inherit` — and most programs
//   fail on EAGAIN ("write error: Resource temporarily unavailable").
// - tty: reopened the same way and written through a tty.WriteStream switched back to
//   non-blocking (Node makes ttys blocking to keep interactive output whole).
// - socket (systemd's journal stdout, some runtimes): cannot be reopened through /proc
//   (ENXIO), so fd N itself is set non-blocking. Services sharing it with `console:
//   inherit` then see a non-blocking socket.
// - regular file, /dev/null, other character devices: fs.write in libuv's threadpool on
//   fd N itself (a private description of a file would have its own offset and write
//   over what the services sharing the fd write). These do not block indefinitely.
// The fallback when /proc cannot be opened (EACCES: a pipe created by another uid, as
// with USER in a Dockerfile) is the socket case.
//
// A threadpool write() on a stalled pipe would be worse than it looks: libuv joins its
// threadpool threads at exit, so tend could never exit. Hence the non-blocking paths.
//
// When the reader is gone (EPIPE; Node ignores SIGPIPE) or the fd is bad (EBADF), the
// writer marks itself closed, counts what it is given and discards it, and never again
// reports backpressure: services keep running rather than blocking on a dead sink.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tty from 'node:tty';
import type { Writable } from 'node:stream';
import { remainder } from './batch';
import { isConsoleBinding, NativeConsole, type ConsoleTargetListener } from './console';

export interface AsyncWriterOptions {
  /** Queued bytes above which write() returns false. */
  readonly highWaterMark?: number;
  /**
   * Hard cap on queued bytes: writes beyond it are discarded and counted. Callers that
   * honour write()'s false never reach it; it bounds memory against ones that do not.
   */
  readonly maxQueued?: number;
  /**
   * Given a pipe the writer writes to (its own description of it): sets the pipe's
   * capacity (the supervisor hands in F_SETPIPE_SZ; log/ imports no native code). A
   * service logging as fast as it can is prefixed into ~256 KiB chunks, and a reader on a
   * 64 KiB pipe (docker's, `| cat`) takes each in five write/wake-up rounds: measured
   * through `| cat`, 570-670 MB/s with 64 KiB, 1,100-1,300 with 256 KiB.
   */
  readonly growPipe?: (fd: number) => void;
  /**
   * The native console reader's functions (native/reader.c, handed in by the supervisor):
   * openConsole then has its thread write the console (pipes, ttys, files, /dev/null; not
   * sockets), and the output router has it read the pipes of services whose output goes
   * there as text. Absent: libuv writes it, as without the addon.
   */
  readonly native?: unknown;
}

/** A console fd the native thread writes: its own description of a pipe or tty, or fd N itself. */
interface NativeTargetSpec {
  readonly console: NativeConsole;
  readonly target: number;
  readonly kind: WriterKind;
}

export type WriterKind = 'pipe' | 'tty' | 'socket' | 'file';

// 1 MiB: 256 KiB cost ~15% of prefixed throughput in pause/resume round trips (bench/logs.mjs).
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const DEFAULT_MAX_QUEUED = 16 * 1024 * 1024;

/**
 * Non-blocking writer for one fd. Events: 'drain' (after write() returned false, once the
 * queue is below the high-water mark again — also when the fd goes away) and 'closed'
 * (the fd is gone: an error code such as 'EPIPE').
 */
export class AsyncWriter extends EventEmitter {
  readonly fd: number;
  readonly kind: WriterKind;
  readonly highWaterMark: number;
  private readonly maxQueued: number;
  private readonly backend: Backend;
  private needDrain = false;
  private closedCode: string | null = null;
  /** Bytes discarded because the fd was gone or the hard cap was reached. */
  discardedBytes = 0;
  /** write() calls discarded because the fd was gone or the hard cap was reached. */
  discardedWrites = 0;

  /** The native console's target this writer writes through (0 or 1), or null. */
  readonly nativeTarget: number | null;

  constructor(fd: number, options: AsyncWriterOptions = {}, native: NativeTargetSpec | null = null) {
    super();
    // Many paused service streams wait on one writer's 'drain'.
    this.setMaxListeners(0);
    this.fd = fd;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.maxQueued = Math.max(options.maxQueued ?? DEFAULT_MAX_QUEUED, this.highWaterMark);
    const events: BackendEvents = {
      drained: () => this.onDrained(),
      failed: (code) => this.onFailed(code),
    };
    const opened = native !== null ? new NativeBackend(native.kind, native.console, native.target, this.highWaterMark, events) : openBackend(fd, this.highWaterMark, events, options.growPipe);
    this.nativeTarget = native !== null ? native.target : null;
    this.backend = opened;
    this.kind = opened.kind;
  }

  /** Bytes accepted and not yet written. */
  get queued(): number {
    return this.closedCode === null ? this.backend.queued() : 0;
  }

  /** True while the queue is over the high-water mark. */
  get backedUp(): boolean {
    return this.queued >= this.highWaterMark;
  }

  /** The error code that closed the fd (EPIPE, EBADF...), or null while it is usable. */
  get closed(): string | null {
    return this.closedCode;
  }

  /**
   * Queues a chunk. Returns false when the queue is over the high-water mark: the caller
   * should stop producing until 'drain'. Never throws, never blocks.
   */
  write(chunk: Buffer | string, release?: () => void): boolean {
    const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (length === 0) {
      release?.();
      return !this.needDrain;
    }
    if (this.closedCode !== null || this.backend.queued() + length > this.maxQueued) {
      this.discardedBytes += length;
      this.discardedWrites += 1;
      release?.();
      return this.closedCode !== null || !this.needDrain;
    }
    const below = this.backend.write(chunk, release);
    if (!below) this.needDrain = true;
    return below;
  }

  /**
   * Resolves once everything queued is written, or the fd is gone: true when the queue is
   * empty. With a timeout (used at exit: a stalled reader must not hold tend forever) it
   * resolves false when the time runs out first.
   */
  flush(timeoutMs = Infinity): Promise<boolean> {
    if (this.queued === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        if (this.queued > 0 && this.closedCode === null) return;
        done(this.queued === 0);
      };
      const done = (ok: boolean) => {
        if (timer) clearTimeout(timer);
        this.backend.offEmpty(check);
        this.off('closed', check);
        resolve(ok);
      };
      this.backend.onEmpty(check);
      this.on('closed', check);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => done(this.queued === 0), timeoutMs);
        timer.unref();
      }
    });
  }

  /** Closes the writer's own descriptor (not fd N itself unless it writes through it). */
  close(): void {
    if (this.closedCode === null) this.closedCode = 'closed';
    this.backend.close();
  }

  private onDrained(): void {
    if (!this.needDrain) return;
    this.needDrain = false;
    this.emit('drain');
  }

  private onFailed(code: string): void {
    if (this.closedCode !== null) return;
    this.closedCode = code;
    this.emit('closed', code);
    // Wake every producer paused on us: from now on their output is discarded.
    this.needDrain = true;
    this.onDrained();
  }
}

/**
 * tend's two console writers. When fd 1 and fd 2 are the same pipe, tty, socket or file
 * (`2>&1`, `docker run -t`), they share one writer: two writers would each reopen the
 * pipe, and a chunk one of them could write only in part (non-blocking, over PIPE_BUF)
 * could have the other's chunk land inside it — mixing lines mid-line.
 */
export function openConsole(options: AsyncWriterOptions = {}, fds: readonly [number, number] = [1, 2]): { stdout: AsyncWriter; stderr: AsyncWriter; native: NativeConsole | null } {
  const same = sameFile(fds[0], fds[1]);
  const targets = isConsoleBinding(options.native) ? [nativeFd(fds[0], options.growPipe), same ? null : nativeFd(fds[1], options.growPipe)] : [null, null];
  let native: NativeConsole | null = null;
  if (isConsoleBinding(options.native) && (targets[0] !== null || targets[1] !== null)) {
    native = NativeConsole.start(options.native, [targets[0]?.fd ?? -1, targets[1]?.fd ?? -1]);
    if (native === null) for (const target of targets) if (target?.own) fs.closeSync(target.fd);
  }
  const spec = (i: number): NativeTargetSpec | null => (native !== null && targets[i] ? { console: native, target: i, kind: targets[i]!.kind } : null);
  const stdout = new AsyncWriter(fds[0], options, spec(0));
  return { stdout, stderr: same ? stdout : new AsyncWriter(fds[1], options, spec(1)), native };
}

/**
 * The fd the native thread would write for console fd `fd`: for a pipe or tty its own
 * description (reopened as the stream backend does, so O_NONBLOCK stays off fd N, which
 * `console: inherit` services share; the thread waits in poll() when it is full), for a
 * file or /dev/null fd N itself. Null for a socket, or when /proc refuses: libuv then.
 */
function nativeFd(fd: number, growPipe?: (fd: number) => void): { fd: number; own: boolean; kind: WriterKind } | null {
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    return null;
  }
  if (stat.isSocket()) return null;
  if (stat.isFIFO() || stat.isCharacterDevice() && tty.isatty(fd)) {
    const own = reopen(fd);
    if (own === null) return null;
    if (stat.isFIFO()) growQuietly(growPipe, own);
    return { fd: own, own: true, kind: stat.isFIFO() ? 'pipe' : 'tty' };
  }
  return { fd, own: false, kind: 'file' };
}

function sameFile(a: number, b: number): boolean {
  try {
    const x = fs.fstatSync(a);
    const y = fs.fstatSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

interface Backend {
  readonly kind: WriterKind;
  queued(): number;
  /**
   * Returns false when queued bytes are at or over the high-water mark. `release` is called
   * once the chunk is no longer needed (written, or dropped with the fd): its buffer may
   * then be reused.
   */
  write(chunk: Buffer | string, release?: () => void): boolean;
  onEmpty(listener: () => void): void;
  offEmpty(listener: () => void): void;
  close(): void;
}

interface BackendEvents {
  drained(): void;
  failed(code: string): void;
}

function openBackend(fd: number, highWaterMark: number, events: BackendEvents, growPipe?: (fd: number) => void): Backend {
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch (error) {
    // fd 1 or 2 may be closed (`tend >&-`): behave as a writer whose reader is gone.
    const backend = new FileBackend(fd, highWaterMark, events);
    queueMicrotask(() => events.failed(errorCode(error)));
    return backend;
  }
  if (stat.isFIFO() || stat.isCharacterDevice() && tty.isatty(fd)) {
    const own = reopen(fd);
    if (own !== null) {
      if (stat.isFIFO()) {
        growQuietly(growPipe, own);
        return new StreamBackend('pipe', new net.Socket({ fd: own, readable: false, writable: true }), highWaterMark, events, true);
      }
      const stream = new tty.WriteStream(own);
      // tty.WriteStream makes the tty blocking; this description is tend's own, so undo it.
      (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle?.setBlocking?.(false);
      return new StreamBackend('tty', stream, highWaterMark, events, true);
    }
  }
  if (stat.isFIFO() || stat.isSocket()) {
    if (stat.isFIFO()) growQuietly(growPipe, fd);
    return new StreamBackend('socket', new net.Socket({ fd, readable: false, writable: true }), highWaterMark, events, false);
  }
  return new FileBackend(fd, highWaterMark, events);
}

/** A pipe that cannot grow (the user's pipe pages are used up) is written as it is. */
function growQuietly(growPipe: ((fd: number) => void) | undefined, fd: number): void {
  try {
    growPipe?.(fd);
  } catch {
    // Its capacity stays: only the number of write rounds changes.
  }
}

/** A private open file description of fd's pipe or tty, or null when /proc refuses. */
function reopen(fd: number): number | null {
  try {
    // O_NONBLOCK here also keeps open() itself from waiting for a FIFO reader: with
    // none left it fails with ENXIO, and the writer then learns EPIPE on fd N itself.
    return fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch {
    return null;
  }
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/** Pipes, ttys and sockets: libuv writes what fits now and waits on epoll for the rest. */
class StreamBackend implements Backend {
  private readonly emptyListeners = new Set<() => void>();

  constructor(
    readonly kind: WriterKind,
    private readonly stream: Writable & { destroy(): void },
    private readonly highWaterMark: number,
    private readonly events: BackendEvents,
    private readonly ownsFd: boolean,
  ) {
    stream.on('error', (error) => events.failed(errorCode(error)));
    stream.on('close', () => events.failed('closed'));
    stream.on('drain', () => {
      events.drained();
      this.checkEmpty();
    });
  }

  queued(): number {
    return this.stream.writableLength;
  }

  write(chunk: Buffer | string, release?: () => void): boolean {
    // The stream's own answer uses its highWaterMark (16 KiB); ours is the writer's.
    this.stream.write(chunk, release === undefined ? this.afterWrite : () => {
      release();
      this.afterWrite();
    });
    return this.stream.writableLength < this.highWaterMark;
  }

  private readonly afterWrite = () => {
    const queued = this.stream.writableLength;
    if (queued < this.highWaterMark) this.events.drained();
    if (queued === 0) this.checkEmpty();
  };

  private checkEmpty(): void {
    if (this.stream.writableLength === 0) for (const listener of [...this.emptyListeners]) listener();
  }

  onEmpty(listener: () => void): void {
    this.emptyListeners.add(listener);
  }

  offEmpty(listener: () => void): void {
    this.emptyListeners.delete(listener);
  }

  close(): void {
    // Never close fd 1 or 2 themselves: services started with `console: inherit` share them.
    if (this.ownsFd) this.stream.destroy();
  }
}

/** Regular files and character devices: fs.writev in libuv's threadpool, one call at a time. */
class FileBackend implements Backend {
  readonly kind = 'file';
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private failed = false;
  /** Bytes ever queued and ever written: a chunk's release is due once written passes its end. */
  private enqueuedTotal = 0;
  private writtenTotal = 0;
  private releases: { readonly end: number; readonly release: () => void }[] = [];
  private readonly emptyListeners = new Set<() => void>();

  constructor(
    private readonly fd: number,
    private readonly highWaterMark: number,
    private readonly events: BackendEvents,
  ) {}

  queued(): number {
    return this.queuedBytes;
  }

  write(chunk: Buffer | string, release?: () => void): boolean {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.failed) {
      release?.();
      return this.queuedBytes < this.highWaterMark;
    }
    this.queue.push(buffer);
    this.queuedBytes += buffer.length;
    this.enqueuedTotal += buffer.length;
    if (release !== undefined) this.releases.push({ end: this.enqueuedTotal, release });
    if (!this.writing) this.next();
    return this.queuedBytes < this.highWaterMark;
  }

  private next(): void {
    if (this.failed || this.queue.length === 0) {
      this.writing = false;
      return;
    }
    this.writing = true;
    // writev takes at most IOV_MAX (1024) buffers at once.
    const batch = this.queue.length <= 1024 ? this.queue : this.queue.slice(0, 1024);
    this.queue = batch === this.queue ? [] : this.queue.slice(1024);
    fs.writev(this.fd, batch, (error, written) => {
      if (error) {
        this.failed = true;
        this.queue = [];
        this.queuedBytes = 0;
        this.writing = false;
        for (const { release } of this.releases.splice(0)) release();
        this.events.failed(errorCode(error));
        this.notifyEmpty();
        return;
      }
      this.queuedBytes -= written;
      this.writtenTotal += written;
      let due = 0;
      while (due < this.releases.length && this.releases[due]!.end <= this.writtenTotal) due += 1;
      if (due > 0) for (const { release } of this.releases.splice(0, due)) release();
      const rest = remainder(batch, written);
      if (rest.length > 0) this.queue = rest.concat(this.queue);
      if (this.queuedBytes < this.highWaterMark) this.events.drained();
      if (this.queuedBytes === 0) this.notifyEmpty();
      this.next();
    });
  }

  private notifyEmpty(): void {
    for (const listener of [...this.emptyListeners]) listener();
  }

  onEmpty(listener: () => void): void {
    this.emptyListeners.add(listener);
  }

  offEmpty(listener: () => void): void {
    this.emptyListeners.delete(listener);
  }

  close(): void {
    // The fd is fd N itself (shared with services): leave it open.
  }
}


/**
 * The native console thread writes (native/reader.c): write() copies the chunk into its
 * queue, in order with the output of the service pipes it reads, and the thread's count of
 * bytes written says what is still queued. It blocks on a stalled console; this never does.
 */
class NativeBackend implements Backend, ConsoleTargetListener {
  private failedCode: string | null = null;
  private readonly emptyListeners = new Set<() => void>();

  constructor(
    readonly kind: WriterKind,
    private readonly console: NativeConsole,
    private readonly target: number,
    private readonly highWaterMark: number,
    private readonly events: BackendEvents,
  ) {
    console.listen(target, this);
  }

  queued(): number {
    return this.console.queued(this.target);
  }

  write(chunk: Buffer | string, release?: () => void): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.console.write(this.target, bytes);
    release?.();
    const below = this.queued() < this.highWaterMark;
    if (!below) this.console.want(this.target, false);
    return below;
  }

  /** The thread's event: the queue drained (or emptied), or the console failed. */
  onStatus(): void {
    const code = this.failedCode === null ? this.console.failed(this.target) : null;
    if (code !== null) {
      this.failedCode = code;
      this.events.failed(code);
    }
    const queued = this.queued();
    if (queued < this.highWaterMark) this.events.drained();
    else this.console.want(this.target, false);
    if (queued === 0) for (const listener of [...this.emptyListeners]) listener();
    else if (this.emptyListeners.size > 0) this.console.want(this.target, true);
  }

  onEmpty(listener: () => void): void {
    this.emptyListeners.add(listener);
    this.console.want(this.target, true);
  }

  offEmpty(listener: () => void): void {
    this.emptyListeners.delete(listener);
  }

  close(): void {
    // The thread may be writing the fd: it stays open until tend exits.
  }
}
