// One accepted client: bytes → lines → requests → replies and events, within limits.
// Nothing a client sends may crash or stall tend, so every input path ends in an error
// reply or a closed connection:
//   - a line over the limit: `too_large`, then close (we never buffer more than that);
//   - bad UTF-8, bad JSON, a wrong shape, an unknown command: an error reply;
//   - a flood of requests: at most `batch` lines per turn of the event loop, the socket
//     paused meanwhile (the kernel then pushes back on the client), and at most
//     `maxPending` requests in flight;
//   - a client that does not read what we send: disconnected once `maxBufferedBytes`
//     wait in user space, instead of growing tend's heap;
//   - a client that asks nothing (partial lines do not count) for `idleMs`: closed.
import type { Socket } from 'node:net';
import type { PeerCredentials } from '../../native/libc';
import type { Access } from './access';
import type { ControlHandler, ErrorCode, Unsubscribe } from './api';
import { dispatch, formatMs, replyError, type Dispatched } from './dispatch';
import { LineSplitter } from './lines';
import { parseRequest, READ_COMMANDS, type Reply, type Request, type RequestId } from './protocol';

export interface ConnectionLimits {
  readonly maxLineBytes: number;
  /** Requests in flight on one connection (waits, starts); more get `busy`. */
  readonly maxPending: number;
  /** Unsent output that makes a client a slow reader, to be disconnected. */
  readonly maxBufferedBytes: number;
  /** A connection with no request in flight and nothing followed is closed after this. */
  readonly idleMs: number;
  /** Lines handled per turn of the event loop before yielding to everything else. */
  readonly batch: number;
  /** How long a closing connection may take to flush its last line before it is destroyed. */
  readonly lingerMs: number;
}

/** Things worth a line in tend's log; the server passes them to its onNotice. */
export type ControlNotice =
  | { readonly kind: 'refused'; readonly peer: string; readonly message: string }
  | { readonly kind: 'busy'; readonly peer: string; readonly message: string }
  | { readonly kind: 'evicted'; readonly peer: string; readonly idleMs: number }
  | { readonly kind: 'too_large'; readonly peer: string }
  | { readonly kind: 'slow_reader'; readonly peer: string; readonly buffered: number }
  | { readonly kind: 'handler_error'; readonly peer: string; readonly cmd: string; readonly error: unknown }
  | { readonly kind: 'server_error'; readonly error: unknown };

export interface ConnectionHost {
  readonly handler: ControlHandler;
  readonly version: string;
  readonly limits: ConnectionLimits;
  notice(notice: ControlNotice): void;
  closed(connection: Connection): void;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Writes one error line (id null) and closes: for peers refused before any request. */
export function refuseSocket(socket: Socket, code: ErrorCode, message: string, lingerMs: number): void {
  socket.on('error', () => {});
  socket.end(`${JSON.stringify(replyError(null, code, message))}\n`);
  drainUntilClosed(socket, lingerMs);
}

/**
 * After our last line: keep reading (and dropping) until the peer closes its side, or
 * `lingerMs`. Closing a Unix stream socket while the peer's bytes still sit unread in it
 * makes the kernel reset the peer (ECONNRESET), and the peer then loses the very line
 * that says why it was refused (seen: `tend status` as a refused uid printed "tend closed
 * the socket before replying" most of the time).
 */
function drainUntilClosed(socket: Socket, lingerMs: number): void {
  socket.on('data', () => {});
  socket.once('end', () => socket.destroy());
  socket.resume();
  setTimeout(() => socket.destroy(), lingerMs).unref();
}

export class Connection {
  private readonly splitter: LineSplitter;
  private readonly queue: Buffer[] = [];
  private head = 0;
  private pumpScheduled = false;
  private pending = 0;
  private readonly streams = new Set<Unsubscribe>();
  private watchingExit = false;
  private readEnded = false;
  private closing = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly aborter = new AbortController();
  /** When the last complete request line arrived (or the connection opened). */
  lastActive = Date.now();

  constructor(
    private readonly socket: Socket,
    readonly peer: PeerCredentials,
    private readonly access: Access,
    private readonly accessWhy: string,
    /** For messages and notices: `uid 65534 (nobody) pid 123`. */
    readonly who: string,
    private readonly host: ConnectionHost,
  ) {
    this.splitter = new LineSplitter(host.limits.maxLineBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    // ECONNRESET, EPIPE: the 'close' that follows does the cleaning up.
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    this.settle();
  }

  /** Nothing in flight, nothing followed, nothing queued: may be evicted or timed out. */
  isIdle(): boolean {
    return this.pending === 0 && this.streams.size === 0 && !this.watchingExit && this.head === this.queue.length;
  }

  /** The server is closing (tend exits): flush what is written and go. */
  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    this.release();
    this.socket.end(() => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), this.host.limits.lingerMs).unref();
  }

  /** Sends a last error line (id null) and closes. */
  closeWith(code: ErrorCode, message: string): void {
    if (this.closing) return;
    this.write(replyError(null, code, message));
    this.shutdown();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const { lines, tooLarge } = this.splitter.push(chunk);
    if (tooLarge) {
      this.host.notice({ kind: 'too_large', peer: this.who });
      this.closeWith('too_large', `request line over ${this.host.limits.maxLineBytes} bytes; closing the connection`);
      return;
    }
    for (const line of lines) this.queue.push(line);
    this.pump();
  }

  private pump(): void {
    let handled = 0;
    while (this.head < this.queue.length && handled < this.host.limits.batch && !this.closing) {
      const line = this.queue[this.head]!;
      this.head += 1;
      handled += 1;
      this.handleLine(line);
    }
    if (this.head < this.queue.length && !this.closing) {
      // Let timers, child exits and other clients run before the rest of this flood.
      this.socket.pause();
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        setImmediate(() => {
          this.pumpScheduled = false;
          this.pump();
        });
      }
      return;
    }
    this.queue.length = 0;
    this.head = 0;
    if (!this.closing) this.socket.resume();
    this.settle();
  }

  private handleLine(bytes: Buffer): void {
    this.lastActive = Date.now();
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      this.write(replyError(null, 'bad_request', 'request is not valid UTF-8'));
      return;
    }
    const parsed = parseRequest(text);
    if (!parsed.ok) {
      this.write(replyError(parsed.id, parsed.code, parsed.message));
      return;
    }
    const { request } = parsed;
    if (this.access === 'read' && !READ_COMMANDS.has(request.cmd)) {
      this.write(replyError(request.id, 'forbidden', `${this.who} has read access only (${this.accessWhy}); "${request.cmd}" needs control access`));
      return;
    }
    if (this.pending >= this.host.limits.maxPending) {
      this.write(replyError(request.id, 'busy', `${this.pending} requests already in flight on this connection; wait for their replies`));
      return;
    }
    this.pending += 1;
    this.disarmIdle();
    void this.run(request);
  }

  private async run(request: Request): Promise<void> {
    try {
      const dispatched = await dispatch(request, {
        handler: this.host.handler,
        version: this.host.version,
        caller: this.peer,
        signal: this.aborter.signal,
      });
      this.deliver(request.id, dispatched);
    } catch (error) {
      this.host.notice({ kind: 'handler_error', peer: this.who, cmd: request.cmd, error });
      this.write(replyError(request.id, 'internal', `internal error in ${request.cmd}: ${error instanceof Error ? error.message : String(error)}`));
    } finally {
      this.pending -= 1;
      this.settle();
    }
  }

  private deliver(id: RequestId, dispatched: Dispatched): void {
    if (this.closing) return;
    if (dispatched.kind === 'reply') {
      this.write(dispatched.reply);
      if (dispatched.watchExit === true) this.watchingExit = true;
      return;
    }
    // Events that arrive while `open` runs wait until the reply is out.
    let early: unknown[] | null = [];
    const emit = (event: unknown): void => {
      if (early !== null) early.push(event);
      else this.writeEvent(id, event);
    };
    const { reply, unsubscribe } = dispatched.open(emit);
    this.write(reply);
    const queued = early;
    early = null;
    for (const event of queued) this.writeEvent(id, event);
    if (unsubscribe === null) return;
    if (this.closing) unsubscribe();
    else this.streams.add(unsubscribe);
  }

  private writeEvent(id: RequestId, event: unknown): void {
    // Called from the supervisor's own code paths: must never throw back into them.
    try {
      this.writeLine(JSON.stringify({ id, event }));
    } catch (error) {
      this.host.notice({ kind: 'handler_error', peer: this.who, cmd: 'event', error });
    }
  }

  private write(reply: Reply): void {
    let line: string;
    try {
      line = JSON.stringify(reply);
    } catch (error) {
      this.host.notice({ kind: 'handler_error', peer: this.who, cmd: 'reply', error });
      line = JSON.stringify(replyError(reply.id, 'internal', 'internal error: the reply could not be encoded'));
    }
    this.writeLine(line);
  }

  private writeLine(line: string): void {
    if (this.closing || this.socket.destroyed) return;
    const buffered = this.socket.writableLength;
    if (buffered > this.host.limits.maxBufferedBytes) {
      // The kernel's socket buffer is full and this much more waits in our heap: the
      // client is not reading. Drop it rather than let it grow tend's memory.
      this.host.notice({ kind: 'slow_reader', peer: this.who, buffered });
      this.closing = true;
      this.release();
      this.socket.destroy();
      return;
    }
    this.socket.write(`${line}\n`);
  }

  /** Re-evaluates idleness after any change: arms or clears the idle timer, ends half-closed sockets. */
  private settle(): void {
    if (this.closing) return;
    if (!this.isIdle()) {
      this.disarmIdle();
      return;
    }
    if (this.readEnded) {
      // The client sent EOF and everything it asked for is answered.
      this.shutdown();
      return;
    }
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.closeWith('idle_timeout', `no request for ${formatMs(this.host.limits.idleMs)}; closing the connection`);
      }, this.host.limits.idleMs);
      this.idleTimer.unref();
    }
  }

  private disarmIdle(): void {
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /** Stops everything this connection holds in the supervisor: waits, follows. */
  private release(): void {
    this.disarmIdle();
    this.aborter.abort();
    for (const unsubscribe of this.streams) {
      try {
        unsubscribe();
      } catch (error) {
        this.host.notice({ kind: 'handler_error', peer: this.who, cmd: 'unsubscribe', error });
      }
    }
    this.streams.clear();
  }

  /**
   * End of file from the client. A Unix socket cannot tell a half-close from a client
   * that is gone (Ctrl-C on `tend logs -f`), and a gone client must not hold a waiter,
   * a subscription or a client slot: release them now, let replies already being
   * computed go out, and close after `lingerMs` at the latest.
   */
  private onEnd(): void {
    this.readEnded = true;
    this.release();
    this.watchingExit = false;
    this.settle();
    if (!this.closing) setTimeout(() => this.shutdown(), this.host.limits.lingerMs).unref();
  }

  private onClose(): void {
    this.closing = true;
    this.release();
    this.host.closed(this);
  }
}
