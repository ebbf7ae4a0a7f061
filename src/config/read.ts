// Reads a manifest or an env_file. A regular file is read synchronously: it is small, and
// tend's start-up should not pay for node:fs/promises and the thread pool's first spin-up.
//
// Anything else must never block a thread — neither the event loop (reaping and signal
// forwarding run there) nor a libuv thread-pool thread: open(2) of a FIFO without a writer
// waits inside the thread doing it, the pool has only 4 threads that every log-file write
// and open shares, and process.exit joins them, so one stuck open meant tend could never
// exit. So the file is opened here with O_NONBLOCK (which returns at once for a FIFO), and
// a pipe or socket is read by the event loop's own poller, under a size cap and a timeout.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { Socket } from 'node:net';
import { errnoText } from '../vocab/errno';

export interface ReadOptions {
  /** Give up on a pipe whose writer has not finished after this long. */
  readonly timeoutMs?: number;
  /** Refuse a pipe or device that sends more than this. */
  readonly maxBytes?: number;
}

/** How long a reload waits for a FIFO's writer: a generator writes at once, or never. */
export const PIPE_TIMEOUT_MS = 10_000;
/** Far more than any manifest; a cap so /dev/zero or a runaway generator cannot fill memory. */
export const PIPE_MAX_BYTES = 4 * 1024 * 1024;

function failure(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

export async function readConfigFile(path: string, options: ReadOptions = {}): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? PIPE_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? PIPE_MAX_BYTES;
  // Errors (ENOENT, EACCES, ...) reject with their errno code, as a read would. (libuv adds
  // O_CLOEXEC itself.)
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let owned = true;
  try {
    // fstat of the opened fd, not stat of the path: the path may be swapped in between.
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw failure('EISDIR', `${path} is a directory`);
    if (stat.isFile()) return readFileSync(fd);
    if (stat.isFIFO() || stat.isSocket()) {
      owned = false; // the socket closes it
      return await readPipe(fd, path, timeoutMs, maxBytes);
    }
    return readDevice(fd, path, maxBytes);
  } finally {
    if (owned) closeSync(fd);
  }
}

/** A FIFO or socket, through the event loop's poller: no thread ever waits on it. */
function readPipe(fd: number, path: string, timeoutMs: number, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: NodeJS.ErrnoException | null) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const timer = setTimeout(() => finish(failure('ETIMEDOUT', `${path}: no writer finished within ${timeoutMs / 1000}s`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) finish(failure('EFBIG', `${path} sends more than ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    socket.once('end', () => finish(null));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error));
  });
}

/**
 * A character device (/dev/null, a terminal): read on this thread while it has data; with
 * O_NONBLOCK a device with nothing to give answers EAGAIN instead of waiting.
 */
function readDevice(fd: number, path: string, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let count: number;
    try {
      count = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') throw failure('EAGAIN', `${path} has nothing to read (a terminal?)`);
      throw error;
    }
    if (count === 0) return Buffer.concat(chunks, size);
    size += count;
    if (size > maxBytes) throw failure('EFBIG', `${path} sends more than ${maxBytes} bytes`);
    chunks.push(chunk.subarray(0, count));
  }
}

/** Why a read failed, in a few words for "cannot read …: <why>". */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ETIMEDOUT': return `it is a pipe and no writer finished within ${PIPE_TIMEOUT_MS / 1000}s`;
    case 'EFBIG': return `it sends more than ${PIPE_MAX_BYTES / 1024 / 1024} MiB`;
    case 'EAGAIN': return 'it is a device with nothing to read';
    default: return code === undefined ? String(error) : errnoText(code);
  }
}
