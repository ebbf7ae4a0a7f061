// A raw socket for tests: send arbitrary bytes, read whatever lines come back.
import { connect, type Socket } from 'node:net';

export interface Raw {
  readonly socket: Socket;
  readonly lines: unknown[];
  /** Resolves with the next line not yet taken (waiting for it if need be). */
  next(timeoutMs?: number): Promise<unknown>;
  send(data: string | Buffer): void;
  /** Resolves once the server has closed the connection. */
  readonly closed: Promise<void>;
}

export function raw(path: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines: unknown[] = [];
    let taken = 0;
    let buffer = '';
    let wake: (() => void) | null = null;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(buffer.slice(0, newline)));
        buffer = buffer.slice(newline + 1);
      }
      wake?.();
    });
    const closed = new Promise<void>((done) => socket.on('close', () => {
      done();
      wake?.();
    }));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({
      socket,
      lines,
      closed,
      send: (data) => socket.write(data),
      next: async (timeoutMs = 5000) => {
        const deadline = Date.now() + timeoutMs;
        while (taken >= lines.length) {
          if (socket.destroyed && taken >= lines.length) throw new Error('connection closed with no further line');
          if (Date.now() > deadline) throw new Error('no line within deadline');
          // Woken by the next line or the close; the timer only bounds the wait.
          await new Promise<void>((r) => {
            const timer = setTimeout(r, deadline - Date.now());
            wake = () => {
              clearTimeout(timer);
              r();
            };
          });
          wake = null;
        }
        return lines[taken++];
      },
    }));
    socket.once('error', reject);
  });
}
