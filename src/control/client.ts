// The client end of the control protocol: connect (checking who serves the socket when
// the path was not given explicitly), send requests, route replies and events by id.
// Every outcome is a value; nothing here prints or exits.
import { statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { peerCredentials, type PeerCredentials } from '../../native/libc';
import { LineSplitter } from './lines';
import type { ArgsOf, Command, RequestId, ResultOf } from './protocol';
import { resultSchemas, serverLineSchema } from './replies';
import { describeSource, isExplicit, type SocketChoice } from './socketpath';

/** A failed request or connection. `code` is a protocol error code, or one of the client's own below. */
export interface ClientFailure {
  readonly ok: false;
  /** Protocol codes, plus: unreachable, untrusted_server, closed, no_reply, bad_reply. */
  readonly code: string;
  readonly message: string;
  readonly problems?: readonly string[];
}

export type ClientResult<T> = { readonly ok: true; readonly value: T } | ClientFailure;

function failure(code: string, message: string, problems?: readonly string[]): ClientFailure {
  return problems === undefined ? { ok: false, code, message } : { ok: false, code, message, problems };
}

// Replies can be big (logs backlogs, status of many services); this only stops a
// runaway server from filling the client's memory.
const MAX_REPLY_BYTES = 64 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 5_000;

const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  ECONNREFUSED: 'nothing is listening (a stale socket file)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTSOCK: 'not a socket',
  ENOTDIR: 'a parent is not a directory',
  EAGAIN: 'tend is not accepting connections (backlog full)',
  ETIMEDOUT: `no answer within ${CONNECT_TIMEOUT_MS / 1000}s`,
};

/** `cannot reach /run/tend.sock (default path): no such file — is tend running? set --socket or TEND_SOCKET` */
export function unreachableMessage(tried: readonly SocketChoice[], code: string): string {
  const paths = tried.map((c) => `${c.path} (${describeSource(c.source)})`).join(' or ');
  const why = ERRNO_WORDS[code] ?? code;
  return `cannot reach ${paths}: ${why} — is tend running? set --socket or TEND_SOCKET`;
}

export interface ConnectOptions {
  /** The client's uid: a discovered server must run as root or as this uid. */
  readonly uid: number;
  /** How to read the server's credentials; by default SO_PEERCRED through native/libc. */
  readonly credentials?: (socket: Socket) => PeerCredentials;
}

function serverUid(socket: Socket, choice: SocketChoice, credentials: ConnectOptions['credentials']): number | null {
  try {
    if (credentials !== undefined) return credentials(socket).uid;
    // native/libc loads ffi-rs on this first call only: explicit paths never pay for it.
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return peerCredentials(fd).uid;
  } catch {
    // No native layer: the socket file's owner is the uid that bound it.
  }
  try {
    return statSync(choice.path).uid;
  } catch {
    return null;
  }
}

/** Connects to `choice`. A path that was not explicit must be served by root or by us. */
export function connectControl(choice: SocketChoice, options: ConnectOptions): Promise<ClientResult<ControlClient>> {
  return new Promise((resolve) => {
    const socket = connect(choice.path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(failure('unreachable', unreachableMessage([choice], 'ETIMEDOUT')));
    }, CONNECT_TIMEOUT_MS);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(failure('unreachable', unreachableMessage([choice], error.code ?? error.message)));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      if (!isExplicit(choice.source)) {
        const uid = serverUid(socket, choice, options.credentials);
        if (uid !== 0 && uid !== options.uid) {
          socket.destroy();
          const by = uid === null ? 'an unknown uid' : `uid ${uid}`;
          resolve(failure('untrusted_server', `refusing ${choice.path} (${describeSource(choice.source)}): served by ${by}, neither root nor you (uid ${options.uid}); set --socket to use it anyway`));
          return;
        }
      }
      resolve({ ok: true, value: new ControlClient(socket, choice) });
    });
  });
}

interface Pending {
  readonly cmd: Command;
  readonly resolve: (result: ClientResult<unknown>) => void;
  readonly onEvent: ((event: unknown) => void) | null;
  /** Set once the reply came; following commands stay registered for their events. */
  replied: boolean;
}

export interface RequestOptions {
  /** For logs with follow and events: called for each event after the reply. */
  readonly onEvent?: (event: unknown) => void;
  /** No reply within this long: `no_reply`. Absent: wait as long as it takes. */
  readonly timeoutMs?: number;
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly splitter = new LineSplitter(MAX_REPLY_BYTES);
  /** Why the server ended the connection, when it said (idle_timeout, forbidden, busy). */
  private lastWords: ClientFailure | null = null;
  /** Resolves when the connection is gone, for whatever reason. */
  readonly closed: Promise<void>;

  constructor(private readonly socket: Socket, readonly choice: SocketChoice) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        const why = this.lastWords ?? failure('closed', `tend closed ${choice.path} before replying`);
        for (const entry of this.pending.values()) if (!entry.replied) entry.resolve(why);
        this.pending.clear();
        resolve();
      });
    });
  }

  /** Sends one request; resolves with its reply, validated against the command's result schema. */
  request<C extends Command>(cmd: C, args: ArgsOf<C>, options: RequestOptions = {}): Promise<ClientResult<ResultOf[C]>> {
    if (this.socket.destroyed) return Promise.resolve(this.lastWords ?? failure('closed', `connection to ${this.choice.path} is closed`));
    const id = this.nextId++;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const entry: Pending = {
        cmd,
        onEvent: options.onEvent ?? null,
        replied: false,
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result as ClientResult<ResultOf[C]>);
        },
      };
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.pending.delete(id);
          resolve(failure('no_reply', `no reply from tend on ${this.choice.path} within ${Math.round(options.timeoutMs! / 1000)}s`));
        }, options.timeoutMs);
      }
      this.pending.set(id, entry);
      this.socket.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  /** Why tend ended the connection, when it said (slow_reader, idle_timeout, busy); null when it just closed. */
  closeReason(): ClientFailure | null {
    return this.lastWords;
  }

  private onData(chunk: Buffer): void {
    const { lines, tooLarge } = this.splitter.push(chunk);
    for (const line of lines) this.onLine(line.toString('utf8'));
    if (tooLarge) {
      this.lastWords = failure('bad_reply', `a reply from ${this.choice.path} is over ${MAX_REPLY_BYTES} bytes`);
      this.socket.destroy();
    }
  }

  private onLine(text: string): void {
    let parsed;
    try {
      parsed = serverLineSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = null;
    }
    if (parsed === null || !parsed.success) {
      this.lastWords = failure('bad_reply', `tend sent something that is not a reply on ${this.choice.path}: ${text.slice(0, 80)}`);
      this.socket.destroy();
      return;
    }
    const line = parsed.data;
    if ('event' in line) {
      this.pending.get(line.id)?.onEvent?.(line.event);
      return;
    }
    const entry = line.id === null ? undefined : this.pending.get(line.id);
    if (entry === undefined) {
      // id null: about the connection itself (refused peer, idle timeout, too many clients).
      if (!line.ok) this.lastWords = failure(line.error.code, line.error.message, line.error.problems);
      return;
    }
    entry.replied = true;
    if (entry.onEvent === null || !line.ok) this.pending.delete(line.id!);
    if (!line.ok) {
      entry.resolve(failure(line.error.code, line.error.message, line.error.problems));
      return;
    }
    const checked = resultSchemas[entry.cmd].safeParse(line.result);
    entry.resolve(checked.success
      ? { ok: true, value: line.result }
      : failure('bad_reply', `tend's reply to ${entry.cmd} has an unexpected shape (a different version?): ${checked.error.issues[0]?.message ?? ''}`));
  }
}
