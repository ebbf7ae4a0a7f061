// tend's syslog socket (settings.syslog, typically /dev/log), as the event loop sees it:
// native/dgram.c receives each datagram with the sender's credentials in its own thread
// and writes it, as a record, into a pipe; this module reads that pipe as a stream and
// hands the datagrams over a chunk at a time (at most 64 KiB: a few hundred messages), one
// chunk per turn of the loop, so a flood never keeps it from timers, exits and the control
// socket.
//
// Flow control: while the consumer says its writers are backed up, the pipe is not read;
// it fills, the receiver thread waits, the socket's queue fills and the senders' send()
// waits — as for a busy syslogd. Nothing is lost in tend.
import { Socket } from 'node:net';
import { datagramOpen, decodeDatagrams, type Datagram } from '../../native/libc';

export type { Datagram } from '../../native/libc';

export interface SyslogSocket {
  readonly path: string;
  /** Datagrams handed over since the start. */
  readonly received: number;
}

/**
 * Opens the socket and calls `onBatch` with each batch of datagrams (`cgroupMount`: where
 * cgroup v2 is mounted, so each sender's cgroup is read while it lives). When `onBatch`
 * returns a promise, nothing more is read until it settles (the writers are backed up).
 * Throws an ErrnoError when the socket cannot be opened: EEXIST (a file that is not a
 * socket), EADDRINUSE (another receiver on it), ENOENT (no such directory), EACCES...
 */
export function openSyslogSocket(path: string, onBatch: (batch: readonly Datagram[]) => Promise<void> | null, cgroupMount: string | null = null): SyslogSocket {
  const { fd } = datagramOpen(path, 'syslog', cgroupMount);
  const state = { path, received: 0 };
  const stream = new Socket({ fd, readable: true, writable: false });
  // Messages matter only while services run; the socket must not keep tend alive by itself.
  stream.unref();
  let rest: Buffer | null = null; // a record the last chunk ended inside
  stream.on('data', (chunk: Buffer) => {
    const bytes = rest === null ? chunk : Buffer.concat([rest, chunk]);
    const batch: Datagram[] = [];
    const end = decodeDatagrams(bytes, 0, bytes.length, batch);
    rest = end === bytes.length ? null : Buffer.from(bytes.subarray(end));
    state.received += batch.length;
    // One chunk per turn of the loop: libuv reads a readable pipe up to 32 times in a row,
    // and a flood would otherwise keep the loop on syslog for ~100 ms at a time.
    stream.pause();
    const resume = (): void => void setImmediate(() => stream.resume());
    if (batch.length === 0) return resume();
    const wait = onBatch(batch);
    if (wait === null) return resume();
    void wait.then(resume, resume);
  });
  stream.on('error', (error) => process.nextTick(() => { throw error; }));
  return state;
}
