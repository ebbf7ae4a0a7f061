// tend's sd_notify socket, as the event loop sees it: native/dgram.c receives each
// datagram with the sender's credentials in its own thread and wakes the loop through a
// pipe; this module drains what came and hands over each message as its fields.
import { Socket } from 'node:net';
import { datagramDrain, datagramOpen } from '../../native/libc';

export interface NotifyMessage {
  /** The sender's pid as the kernel gave it (0: no credentials came with it). */
  readonly pid: number;
  readonly uid: number;
  /** The sender's parents when the message came, nearest first (the sender may be gone by now). */
  readonly ancestors: readonly number[];
  /** KEY=VALUE lines, in order; lines without `=` are left out. */
  readonly fields: readonly (readonly [string, string])[];
}

export interface NotifySocket {
  /** What NOTIFY_SOCKET says: a path, or `@name` for Linux's abstract namespace. */
  readonly path: string;
  /** Messages the receiver had no room for (the loop fell far behind). */
  readonly overflowed: number;
}

/** `READY=1\nSTATUS=Serving\n` → [['READY', '1'], ['STATUS', 'Serving']]. */
export function notifyFields(text: string): [string, string][] {
  const fields: [string, string][] = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) fields.push([line.slice(0, at), line.slice(at + 1)]);
  }
  return fields;
}

/** Opens the socket (once per process) and calls `onMessage` for each datagram. Throws an ErrnoError when it cannot. */
export function openNotifySocket(path: string, onMessage: (message: NotifyMessage) => void): NotifySocket {
  const { id, fd } = datagramOpen(path, 'notify');
  const socket = { path, overflowed: 0 };
  const wakeups = new Socket({ fd, readable: true, writable: false });
  // Messages matter only while services run; the socket must not keep tend alive by itself.
  wakeups.unref();
  wakeups.on('data', () => {
    for (;;) {
      const batch = datagramDrain(id, 1024);
      socket.overflowed += batch.dropped;
      for (const message of batch.messages) onMessage({ pid: message.pid, uid: message.uid, ancestors: message.ancestors, fields: notifyFields(message.text) });
      if (batch.waiting === 0 || batch.messages.length === 0) break;
    }
  });
  wakeups.on('error', (error) => process.nextTick(() => { throw error; }));
  return socket;
}
