// A service's log file, rotated by size, written asynchronously, never fatal.
//
// - Opened with O_NOFOLLOW: tend usually runs as root and the log directory may be
//   writable by the service's user, who could otherwise replace web.log by a symlink to
//   /etc/shadow and have root append to it. A symlink is refused (ELOOP) and reported.
//   O_NONBLOCK keeps the open of a FIFO without a reader from pinning a threadpool
//   thread (it fails with ENXIO instead); it does nothing to regular files.
// - Rotation renames web.log → web.log.1 → … → web.log.KEEP (logrotate's scheme, so
//   the usual tools and habits apply) and reopens. rename() never follows a symlink at
//   the target name, so planted links among the rotated names are simply replaced.
//   Writes are cut only at line ends, so no line is split across two files; a single
//   line longer than max_size gets a file to itself.
// - Rotated files are gzipped in the background (zlib in libuv's threadpool) when
//   `compress` is set; the next rotation waits for the previous compression.
// - ENOSPC, EIO and friends are reported once per episode, the lines meanwhile are
//   dropped and counted, and writing is retried after a pause. When it works again a
//   'resumed' report says how many lines were lost. A write the full disk cut inside a
//   line is truncated back to the line end, so no fragment is left standing as a line.
//   Nothing here throws at the caller.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { remainder } from './batch';

export interface RotatingFileOptions {
  /** Rotate before a write would take the file past this many bytes. */
  readonly maxSize: number;
  /** Rotated files kept (web.log.1 … web.log.KEEP); 0 keeps none. */
  readonly keep: number;
  /** Gzip rotated files (web.log.1.gz …). */
  readonly compress: boolean;
  /**
   * Queued bytes above which write() returns false (default 256 KiB: what is queued is
   * tend's memory while a service logs faster than the disk takes it; 1 MiB cost ~2 MiB of
   * peak RSS and no throughput).
   */
  readonly highWaterMark?: number;
  /** After a failure, lines are dropped for this long before writing is tried again. */
  readonly retryAfterMs?: number;
  /** The clock the retry pause is measured on (tests move it past the pause instead of sleeping). */
  readonly now?: () => number;
  /** Mode of a newly created file. */
  readonly mode?: number;
  /** Problems and recoveries, for the supervisor to log (see messages.ts). */
  readonly onReport?: (report: FileSinkReport) => void;
}

export type FileSinkReport =
  | { readonly kind: 'failed'; readonly path: string; readonly code: string; readonly message: string }
  | { readonly kind: 'symlink'; readonly path: string }
  | { readonly kind: 'resumed'; readonly path: string; readonly droppedLines: number }
  | { readonly kind: 'rotate-failed'; readonly path: string; readonly code: string; readonly message: string }
  | { readonly kind: 'compress-failed'; readonly path: string; readonly code: string; readonly message: string };

const NL = 0x0a;
const NEWLINE = Buffer.from('\n');
const OPEN_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
/** Bytes handed to one writev (and at most IOV_MAX buffers). */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_BUFFERS = 1024;

/** Events: 'drain' after write() returned false, once the queue is below the mark. */
export class RotatingFile extends EventEmitter {
  readonly path: string;
  /** Lines dropped since the file was created (disk full, symlink, I/O errors). */
  droppedLines = 0;

  private readonly maxSize: number;
  private readonly keep: number;
  private readonly compress: boolean;
  private readonly highWaterMark: number;
  private readonly retryAfterMs: number;
  private readonly now: () => number;
  private readonly mode: number;
  private readonly onReport: (report: FileSinkReport) => void;

  private fd: number | null = null;
  private size = 0;
  private rotatable = false;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private working = false;
  private needDrain = false;
  private closing = false;
  /** Set while writing fails: lines are dropped until retryAt. */
  private failure: { retryAt: number; dropped: number } | null = null;
  /** A write stopped inside a line: the next one starts with '\n' to end it. */
  private midLine = false;
  private rotateRetryAt = 0;
  private compressing: Promise<void> = Promise.resolve();
  private idleListeners: (() => void)[] = [];
  /**
   * Bytes ever queued, and the release of each block that came with one, due once the
   * bytes up to its end have left the queue (written or dropped). The queue is first in,
   * first out — a batch's unwritten rest goes back to its front, and a failure drops all
   * of it — so a running total is enough to tell when a block is no longer needed.
   */
  private enqueuedTotal = 0;
  private releases: { readonly end: number; readonly release: () => void }[] = [];

  constructor(path: string, options: RotatingFileOptions) {
    super();
    this.setMaxListeners(0);
    this.path = path;
    this.maxSize = Math.max(1, options.maxSize);
    this.keep = Math.max(0, Math.floor(options.keep));
    this.compress = options.compress;
    this.highWaterMark = options.highWaterMark ?? 256 * 1024;
    this.retryAfterMs = options.retryAfterMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.mode = options.mode ?? 0o640;
    this.onReport = options.onReport ?? (() => {});
  }

  get queued(): number {
    return this.queuedBytes;
  }

  /**
   * Queues whole lines (a block ending in '\n'). Returns false when the queue is over
   * the high-water mark: pause the producer until 'drain'. While writing fails the lines
   * are dropped and counted instead, and the producer is never held up. `release` is
   * called once the block is no longer needed (written or dropped): its buffer may then
   * be reused — the router copies a service's reads into recycled buffers this way.
   */
  write(block: Buffer, release?: () => void): boolean {
    if (block.length === 0) {
      release?.();
      return true;
    }
    if (this.closing || (this.failure !== null && this.now() < this.failure.retryAt)) {
      this.drop([block]);
      release?.();
      return true;
    }
    this.queue.push(block);
    this.queuedBytes += block.length;
    this.enqueuedTotal += block.length;
    if (release !== undefined) this.releases.push({ end: this.enqueuedTotal, release });
    if (!this.working) void this.pump();
    if (this.queuedBytes < this.highWaterMark) return true;
    this.needDrain = true;
    return false;
  }

  /** Resolves when everything queued is written (or dropped): false if the timeout hit first. */
  flush(timeoutMs = Infinity): Promise<boolean> {
    if (!this.working && this.queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => resolve(false), timeoutMs) : undefined;
      timer?.unref();
      this.idleListeners.push(() => {
        if (timer) clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Flushes, waits for a running compression, closes the file. Later writes are dropped. */
  async close(timeoutMs = Infinity): Promise<void> {
    await this.flush(timeoutMs);
    this.closing = true;
    await this.compressing;
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      await closeQuietly(fd);
    }
  }

  private async pump(): Promise<void> {
    this.working = true;
    try {
      while (this.queue.length > 0) {
        if (this.fd === null && !(await this.open())) break;
        if (this.rotatable && this.size > 0 && this.size + firstLineLength(this.queue) > this.maxSize) {
          await this.rotate();
          continue;
        }
        const batch = this.takeBatch();
        if (this.midLine) batch.unshift(NEWLINE);
        const ok = await this.writeBatch(batch);
        // Nothing is in flight now: what is not queued is written or dropped.
        this.releaseConsumed();
        if (!ok) break;
      }
    } catch (error) {
      // Only a bug gets here; a log file must still never take tend down with it.
      this.fail(error, []);
    }
    // A failed open drops the queue and leaves the loop without a batch.
    this.releaseConsumed();
    this.working = false;
    if (this.queuedBytes < this.highWaterMark && this.needDrain) {
      this.needDrain = false;
      this.emit('drain');
    }
    if (this.queue.length === 0) {
      const listeners = this.idleListeners;
      this.idleListeners = [];
      for (const listener of listeners) listener();
    }
  }

  /** Takes whole lines that fit in the current file (at least one line when it is empty). */
  private takeBatch(): Buffer[] {
    const room = this.rotatable ? this.maxSize - this.size : Infinity;
    const batch: Buffer[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < BATCH_BUFFERS && bytes < BATCH_BYTES) {
      const next = this.queue[0]!;
      if (bytes + next.length <= room) {
        batch.push(next);
        bytes += next.length;
        this.queue.shift();
        continue;
      }
      // Cut at the last line end that still fits; a first line too long for an empty
      // file goes in whole (a line is never split).
      // (lastIndexOf with a negative start would count from the end: guard it.)
      let cut = room - bytes > 0 ? next.lastIndexOf(NL, room - bytes - 1) + 1 : 0;
      if (cut === 0 && bytes === 0 && this.size === 0) cut = next.indexOf(NL) + 1 || next.length;
      if (cut > 0) {
        batch.push(next.subarray(0, cut));
        bytes += cut;
        this.queue[0] = next.subarray(cut);
      }
      break;
    }
    this.queuedBytes -= bytes;
    return batch;
  }

  private async writeBatch(batch: Buffer[]): Promise<boolean> {
    // When midLine was set, batch[0] is the '\n' that ends the torn line.
    const mending = this.midLine;
    let written: number;
    try {
      written = await writev(this.fd!, batch);
    } catch (error) {
      this.fail(error, mending ? batch.slice(1) : batch);
      return false;
    }
    this.size += written;
    if (this.failure !== null && written > 0) this.recovered();
    const total = batch.reduce((sum, buffer) => sum + buffer.length, 0);
    if (written >= total) {
      this.midLine = false;
      return true;
    }
    // A short write: the disk filled up mid-batch. Requeue the rest; the next write fails
    // with ENOSPC (and drops it) or goes through if space came back.
    let rest: Buffer[];
    if (written === 0) {
      rest = mending ? batch.slice(1) : batch;
    } else if (lastByte(batch, written) !== NL && this.rotatable) {
      // Cut inside a line. A regular file is truncated back to its last line end, so the
      // first part of that line never stands in the file as a line of its own; the line
      // itself is dropped (and counted) with the rest, as the disk is full.
      const partial = written - lastLineEnd(batch, written);
      if (await truncate(this.fd!, this.size - partial)) {
        this.size -= partial;
        this.midLine = false;
        this.fail(Object.assign(new Error('no space left on device (a write was cut short)'), { code: 'ENOSPC' }), remainder(batch, written - partial));
        return false;
      }
      rest = remainder(batch, written);
      this.midLine = true;
    } else {
      rest = remainder(batch, written);
      this.midLine = lastByte(batch, written) !== NL;
    }
    this.queue = rest.concat(this.queue);
    this.queuedBytes += rest.reduce((sum, buffer) => sum + buffer.length, 0);
    return true;
  }

  private async open(): Promise<boolean> {
    try {
      const fd = await new Promise<number>((resolve, reject) =>
        fs.open(this.path, OPEN_FLAGS, this.mode, (error, fd) => (error ? reject(error) : resolve(fd))),
      );
      const stat = await new Promise<fs.Stats>((resolve, reject) =>
        fs.fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats))),
      );
      this.fd = fd;
      this.size = stat.size;
      // Only regular files rotate: renaming /dev/null away would be a disaster.
      this.rotatable = stat.isFile();
      return true;
    } catch (error) {
      this.fail(error, []);
      return false;
    }
  }

  private async rotate(): Promise<void> {
    if (this.now() < this.rotateRetryAt) {
      // Rotation failed recently: write on into the current file meanwhile.
      this.rotatable = false;
      setTimeout(() => {
        this.rotatable = true;
      }, this.retryAfterMs).unref();
      return;
    }
    const fd = this.fd!;
    this.fd = null;
    await closeQuietly(fd);
    try {
      await this.compressing;
      if (this.keep === 0) {
        await ignoreMissing(fs.promises.unlink(this.path));
      } else {
        await ignoreMissing(fs.promises.unlink(`${this.path}.${this.keep}`));
        await ignoreMissing(fs.promises.unlink(`${this.path}.${this.keep}.gz`));
        for (let i = this.keep - 1; i >= 1; i--) {
          await ignoreMissing(fs.promises.rename(`${this.path}.${i}`, `${this.path}.${i + 1}`));
          await ignoreMissing(fs.promises.rename(`${this.path}.${i}.gz`, `${this.path}.${i + 1}.gz`));
        }
        await fs.promises.rename(this.path, `${this.path}.1`);
        if (this.compress) this.compressing = this.gzip(`${this.path}.1`);
      }
    } catch (error) {
      this.rotateRetryAt = this.now() + this.retryAfterMs;
      const { code, message } = describe(error);
      this.onReport({ kind: 'rotate-failed', path: this.path, code, message });
    }
    // The next loop turn opens the (new or, after a failure, same) file.
  }

  private async gzip(source: string): Promise<void> {
    const target = `${source}.gz`;
    const temp = `${target}.tmp`;
    try {
      await ignoreMissing(fs.promises.unlink(temp));
      // O_EXCL with O_NOFOLLOW: create a fresh file, never write through a planted link.
      const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
      const output = await fs.promises.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, this.mode);
      const input = await fs.promises.open(source, O_RDONLY | O_NOFOLLOW).catch(async (error: unknown) => {
        await output.close();
        throw error;
      });
      // The streams close their handles when the pipeline ends or fails.
      // Required on first use: most services never compress, and start-up should not pay
      // for zlib. (require, not import(): the bundle runs from a vm.Script, see main.ts.)
      const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
      const zlib = require('node:zlib') as typeof import('node:zlib');
      await pipeline(input.createReadStream(), zlib.createGzip(), output.createWriteStream());
      await fs.promises.rename(temp, target);
      await fs.promises.unlink(source);
    } catch (error) {
      await ignoreMissing(fs.promises.unlink(temp)).catch(() => {});
      const { code, message } = describe(error);
      this.onReport({ kind: 'compress-failed', path: source, code, message });
    }
  }

  /** Writing failed: report once per episode, drop what is queued, retry after a pause. */
  private fail(error: unknown, taken: Buffer[]): void {
    const { code, message } = describe(error);
    if (this.fd !== null && code !== 'ENOSPC' && code !== 'EDQUOT') {
      // EIO, EBADF, a FIFO's EAGAIN: reopen on the retry rather than trust this fd.
      void closeQuietly(this.fd);
      this.fd = null;
    }
    const first = this.failure === null;
    this.failure ??= { retryAt: 0, dropped: 0 };
    this.failure.retryAt = this.now() + this.retryAfterMs;
    this.drop(taken);
    this.drop(this.queue);
    this.queue = [];
    this.queuedBytes = 0;
    if (first) {
      this.onReport(code === 'ELOOP' ? { kind: 'symlink', path: this.path } : { kind: 'failed', path: this.path, code, message });
    }
  }

  /** Calls the releases of blocks whose bytes have all left the queue. Only between batches. */
  private releaseConsumed(): void {
    const consumed = this.enqueuedTotal - this.queuedBytes;
    let due = 0;
    while (due < this.releases.length && this.releases[due]!.end <= consumed) due += 1;
    if (due > 0) for (const { release } of this.releases.splice(0, due)) release();
  }

  private recovered(): void {
    const dropped = this.failure?.dropped ?? 0;
    this.failure = null;
    this.onReport({ kind: 'resumed', path: this.path, droppedLines: dropped });
  }

  private drop(buffers: readonly Buffer[]): void {
    let lines = 0;
    for (const buffer of buffers) lines += countLines(buffer);
    this.droppedLines += lines;
    if (this.failure !== null) this.failure.dropped += lines;
  }
}

function writev(fd: number, buffers: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.writev(fd, buffers, (error, written) => (error ? reject(error) : resolve(written))),
  );
}

/** ftruncate; false when it failed (the torn line is then mended with a newline). */
function truncate(fd: number, length: number): Promise<boolean> {
  return new Promise((resolve) => fs.ftruncate(fd, length, (error) => resolve(error === null || error === undefined)));
}

/** How many of the first `written` bytes of `batch` end with its last complete line. */
function lastLineEnd(batch: readonly Buffer[], written: number): number {
  let offset = 0;
  let end = 0;
  for (const buffer of batch) {
    const within = Math.min(buffer.length, written - offset);
    if (within <= 0) break;
    const nl = buffer.lastIndexOf(NL, within - 1);
    if (nl !== -1) end = offset + nl + 1;
    offset += buffer.length;
  }
  return end;
}

function closeQuietly(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

async function ignoreMissing(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function describe(error: unknown): { code: string; message: string } {
  const e = error as NodeJS.ErrnoException;
  return { code: typeof e?.code === 'string' ? e.code : 'EIO', message: e?.message ?? String(error) };
}

/** Length of the first line queued (up to and with its '\n'), or everything if none ends. */
function firstLineLength(queue: readonly Buffer[]): number {
  let length = 0;
  for (const buffer of queue) {
    const nl = buffer.indexOf(NL);
    if (nl !== -1) return length + nl + 1;
    length += buffer.length;
  }
  return length;
}

function countLines(buffer: Buffer): number {
  let count = 0;
  for (let at = buffer.indexOf(NL); at !== -1; at = buffer.indexOf(NL, at + 1)) count += 1;
  return count;
}


/** The last byte written of `batch` after `written` bytes, or NL when none was. */
function lastByte(batch: readonly Buffer[], written: number): number {
  let skip = written;
  for (const buffer of batch) {
    if (skip <= buffer.length) return skip === 0 ? NL : buffer[skip - 1]!;
    skip -= buffer.length;
  }
  return NL;
}
