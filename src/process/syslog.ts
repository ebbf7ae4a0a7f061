// tend's syslog socket (settings.syslog, typically /dev/log), as the event loop sees it:
// native/dgram.c receives each datagram with the sender's credentials in its own thread
// and wakes the loop through a pipe; this module hands the datagrams over in bounded
// batches, one batch per turn of the loop, so a flood never keeps the loop from timers,
// exits and the control socket.
//
// Flow control: while the consumer says its writers are backed up, nothing is drained; the
// receiver's queue fills, then the kernel's, and the senders' send() waits — as for a busy
// syslogd. Nothing is lost in tend.
import { Socket } from 'node:net';
import { datagramDrain, datagramOpen, type Datagram } from '../../native/libc';

export type { Datagram } from '../../native/libc';

/** Datagrams handed over per turn of the event loop. */
export const SYSLOG_BATCH = 1024;

export interface SyslogSocket {
  readonly path: string;
  /** Datagrams longer than what is kept (64 KiB), kept cut; counted since the start. */
  readonly cut: number;
  /** Datagrams handed over since the start. */
  readonly received: number;
}

/**
 * Opens the socket and calls `onBatch` with each batch of datagrams. When `onBatch`
 * returns a promise, nothing more is drained until it settles (the writers are backed
 * up). Throws an ErrnoError when the socket cannot be opened: EEXIST (a file that is not a
 * socket), EADDRINUSE (another receiver on it), ENOENT (no such directory), EACCES...
 */
export function openSyslogSocket(path: string, onBatch: (batch: readonly Datagram[]) => Promise<void> | null): SyslogSocket {
  const { id, fd } = datagramOpen(path, 'syslog');
  const state = { path, cut: 0, received: 0 };
  let busy = false; // a batch is being handled, or a later turn is already asked for
  let woken = false; // a wake-up came meanwhile: what it announced may not be in the batch
  const drain = (): void => {
    const batch = datagramDrain(id, SYSLOG_BATCH);
    state.cut += batch.cut;
    state.received += batch.messages.length;
    const wait = batch.messages.length > 0 ? onBatch(batch.messages) : null;
    // More waiting: on a later turn (setImmediate runs after the I/O callbacks queued now).
    const next = (): void => {
      if (batch.waiting > 0 || woken) {
        woken = false;
        setImmediate(drain);
      } else busy = false;
    };
    if (wait === null) next();
    else void wait.then(next, next);
  };
  const wakeups = new Socket({ fd, readable: true, writable: false });
  // Messages matter only while services run; the socket must not keep tend alive by itself.
  wakeups.unref();
  wakeups.on('data', () => {
    if (busy) {
      woken = true;
      return;
    }
    busy = true;
    drain();
  });
  wakeups.on('error', (error) => process.nextTick(() => { throw error; }));
  return state;
}
