// One accepted client: bytes → lines → requests → replies and events, within limits.
// Nothing a client sends may crash or stall tend, so every input path ends in an error
// reply or a closed connection:
//   - a line over the limit: `too_large`, then close (we never buffer more than that);
//   - bad UTF-8, bad JSON, a wrong shape, an unknown command: an error reply;
//   - a flood of requests: at most `batch` lines per turn of the event loop, the socket
//     paused meanwhile (the kernel then pushes back on the client), and at most
//     `maxPending` requests in flight;
//   - output waits in user space only up to `maxBufferedBytes`. A follower (logs -f,
//     events) that reads slower than lines come skips lines meanwhile and is told how
//     many (`{"event":{"skipped":N}}`) once it has caught up: it is never dropped while
//     it reads. A client that reads nothing for `slowReaderMs` with output waiting is
//     closed with a `slow_reader` line (delivered if it ever reads again);
//   - a client that asks nothing (partial lines do not count) for `idleMs`: closed.
import type { Socket } from 'node:net';
import type { PeerCredentials } from '../../native/libc';
import type { Access } from './access';
import type { ControlHandler, ErrorCode, Unsubscribe } from './api';
import { dispatch, replyError, type Dispatched } from './dispatch';
import { duration } from '../vocab/format';
import { LineSplitter } from './lines';
import { parseRequest, READ_COMMANDS, type Reply, type Request, type RequestId } from './protocol';

export interface ConnectionLimits {
  readonly maxLineBytes: number;
  /** Requests in flight on one connection (waits, starts); more get `busy`. */
  readonly maxPending: number;
  /** Unsent output held for one client; a `logs` reply is cut to fit in it. */
  readonly maxBufferedBytes: number;
  /** A client that reads nothing for this long while output waits is closed. */
  readonly slowReaderMs: number;
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
  /** Whether this connection may start following (wait, events, logs -f); else why not. */
  mayFollow(connection: Connection): string | null;
  /** Whether a reply of this many bytes may be held for this connection; else why not. */
  mayBuffer(connection: Connection, bytes: number): string | null;
}

/** Commands that keep a connection busy until something happens. */
function follows(request: Request): boolean {
  return request.cmd === 'wait' || request.cmd === 'events' || (request.cmd === 'logs' && request.args.follow === true);
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
  /** Lines waiting for the socket to drain, oldest first. */
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  /** When the socket last took output (or the connection opened). */
  private lastProgress = Date.now();
  private stallTimer: NodeJS.Timeout | null = null;
  /** Events left out for a follower that reads slower than they come, by stream id. */
  private readonly skipped = new Map<RequestId, number>();
  private waits = 0;

  constructor(
    private readonly socket: Socket,
    readonly peer: PeerCredentials,
    private readonly access: Access,
    private readonly accessWhy: string,
    /** For messages and notices: `uid 65534 (nobody) pid 123`. */
    readonly who: string,
    private readonly host: ConnectionHost,
    /** Root or tend's own uid. */
    readonly privileged: boolean = false,
  ) {
    this.splitter = new LineSplitter(host.limits.maxLineBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.flushOutbox());
    socket.on('end', () => this.onEnd());
    // ECONNRESET, EPIPE: the 'close' that follows does the cleaning up.
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    this.settle();
  }

  /** Nothing in flight, nothing followed, nothing queued: may be evicted or timed out. */
  isIdle(): boolean {
    // Output the client has not read yet counts as activity: closing it then would only
    // move the memory to a lingering socket and let the next one in.
    return this.pending === 0 && this.streams.size === 0 && !this.watchingExit && this.head === this.queue.length
      && this.outbox.length === 0 && this.socket.writableLength === 0;
  }

  /** Holds a wait or a stream. */
  isFollowing(): boolean {
    return this.waits > 0 || this.streams.size > 0;
  }

  /** Access the peer was granted. */
  get accessLevel(): Access {
    return this.access;
  }

  /** Output held in tend for this client (ours and the socket's). */
  buffered(): number {
    return this.outboxBytes + this.socket.writableLength;
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

  /**
   * The client reads nothing while output waits: drop what waits, send the reason, and
   * keep the socket for `slowReaderMs` more, so a client that was only stalled (a
   * stopped `tend logs -f`) still reads why it ends.
   */
  private dropSlowReader(): void {
    if (this.closing) return;
    const buffered = this.buffered();
    this.host.notice({ kind: 'slow_reader', peer: this.who, buffered });
    this.outbox = [];
    this.outboxBytes = 0;
    this.closing = true;
    this.release();
    const line = replyError(null, 'slow_reader', `${this.who} does not read what tend sends (${buffered} bytes waiting for ${duration(this.host.limits.slowReaderMs)}); closing the connection`);
    this.socket.end(`${JSON.stringify(line)}\n`, () => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), Math.max(this.host.limits.lingerMs, this.host.limits.slowReaderMs)).unref();
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
    if (follows(request)) {
      const refused = this.host.mayFollow(this);
      if (refused !== null) {
        this.write(replyError(request.id, 'busy', refused));
        return;
      }
    }
    this.pending += 1;
    if (request.cmd === 'wait') this.waits += 1;
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
        maxReplyBytes: this.host.limits.maxBufferedBytes,
      });
      this.deliver(request.id, dispatched);
    } catch (error) {
      this.host.notice({ kind: 'handler_error', peer: this.who, cmd: request.cmd, error });
      this.write(replyError(request.id, 'internal', `internal error in ${request.cmd}: ${error instanceof Error ? error.message : String(error)}`));
    } finally {
      this.pending -= 1;
      if (request.cmd === 'wait') this.waits -= 1;
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
      if (this.closing || this.socket.destroyed) return;
      if (this.outbox.length > 0 && (this.skipped.has(id) || this.outboxBytes >= this.host.limits.maxBufferedBytes)) {
        // Behind: leave this one out, count it, and say so once caught up.
        this.skipped.set(id, (this.skipped.get(id) ?? 0) + 1);
        this.checkStalled();
        return;
      }
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
    if (line.length > 4096 && reply.id !== null) {
      const refused = this.host.mayBuffer(this, line.length);
      if (refused !== null) line = JSON.stringify(replyError(reply.id, 'busy', refused));
    }
    if (this.outboxBytes + line.length > this.host.limits.maxBufferedBytes && this.outbox.length > 0) {
      // Replies pile up unread (pipelined requests, never read): this client is gone or stuck.
      this.dropSlowReader();
      return;
    }
    this.writeLine(line);
  }

  private writeLine(line: string): void {
    if (this.closing || this.socket.destroyed) return;
    // A Buffer, not the string: for a string the socket sets aside 3 bytes per character
    // (UTF-8's worst case) while the write is under way — a 1 MiB reply held 3 MiB.
    const text = Buffer.from(`${line}\n`);
    if (this.outbox.length === 0 && !this.socket.writableNeedDrain) {
      this.socket.write(text);
      this.lastProgress = Date.now();
      return;
    }
    this.outbox.push(text);
    this.outboxBytes += text.length;
    this.checkStalled();
  }

  /** The socket took what it had: hand it more, then tell followers what they missed. */
  private flushOutbox(): void {
    this.lastProgress = Date.now();
    while (this.outbox.length > 0 && !this.socket.writableNeedDrain && !this.closing) {
      const text = this.outbox.shift()!;
      this.outboxBytes -= text.length;
      this.socket.write(text);
    }
    if (this.outbox.length === 0 && this.skipped.size > 0 && !this.closing) {
      const skipped = [...this.skipped];
      this.skipped.clear();
      for (const [id, count] of skipped) this.socket.write(`${JSON.stringify({ id, event: { skipped: count } })}\n`);
    }
    if (this.outbox.length === 0 && this.stallTimer !== null) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
    this.settle();
  }

  /** Output waits: drop the client if it has taken nothing for slowReaderMs. */
  private checkStalled(): void {
    const waited = Date.now() - this.lastProgress;
    if (waited >= this.host.limits.slowReaderMs) {
      this.dropSlowReader();
      return;
    }
    if (this.stallTimer === null) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = null;
        if (this.outbox.length > 0 || this.skipped.size > 0) this.checkStalled();
      }, this.host.limits.slowReaderMs - waited);
      this.stallTimer.unref();
    }
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
        this.closeWith('idle_timeout', `no request for ${duration(this.host.limits.idleMs)}; closing the connection`);
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
    if (this.stallTimer !== null) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
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
