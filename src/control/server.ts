// The control socket's listening side: claims the path (replacing a dead tend's stale
// file, never a live one), creates the socket file with its mode, checks every peer's
// credentials, caps the number of clients, and hands each accepted peer to a Connection.
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { peerCredentials as nativePeerCredentials, type PeerCredentials } from '../../native/libc';
import type { SocketGrant } from '../plan/types';
import { decideAccess, describePeer, NO_ACCOUNTS, systemAccounts, type Accounts } from './access';
import type { ControlHandler } from './api';
import { Connection, refuseSocket, type ConnectionLimits, type ControlNotice } from './connection';

export type { ControlNotice } from './connection';

export interface ServerLimits extends ConnectionLimits {
  /** Open client connections; at the cap the longest-idle one is evicted, else the newcomer gets `busy`. */
  readonly maxClients: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxLineBytes: 64 * 1024,
  maxPending: 32,
  maxBufferedBytes: 1024 * 1024,
  idleMs: 60_000,
  batch: 64,
  lingerMs: 500,
  maxClients: 64,
};

export interface ControlServerOptions {
  readonly path: string;
  /** settings.socket_mode; null: 0600, or 0666 when `allow` is not empty. */
  readonly mode: number | null;
  readonly allow: readonly SocketGrant[];
  readonly handler: ControlHandler;
  /** tend's version, for the `version` command. */
  readonly version: string;
  readonly limits?: Partial<ServerLimits>;
  /** Refused peers, slow readers, handler bugs: for tend's log. */
  readonly onNotice?: (notice: ControlNotice) => void;
  // For tests: who tend is, how peers are identified, where accounts come from.
  readonly ownUid?: number;
  readonly credentials?: (socket: Socket) => PeerCredentials;
  readonly accounts?: () => Accounts;
}

export type ListenResult =
  | { readonly ok: true; readonly server: ControlServer }
  | {
      readonly ok: false;
      /** in_use: a live tend holds the path (exit 2). not_a_socket: something else is there. */
      readonly reason: 'in_use' | 'not_a_socket' | 'cannot_listen';
      readonly message: string;
    };

export interface ControlServer {
  readonly path: string;
  /** The mode the socket file was given. */
  readonly mode: number;
  /** Connected, accepted clients. */
  clientCount(): number;
  /**
   * Stops accepting, ends every connection (followers and `shutdown --wait` clients see
   * end of file) and removes the socket file. Call it last in the shutdown, just before
   * tend exits, so that `tend status` keeps working while services stop.
   */
  close(): Promise<void>;
}

export function defaultSocketMode(mode: number | null, allow: readonly SocketGrant[]): number {
  return mode ?? (allow.length > 0 ? 0o666 : 0o600);
}

/** The socket's fd, for SO_PEERCRED. `_handle.fd` is undocumented but stable on Unix (FINDINGS). */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return fd;
}

function defaultCredentials(socket: Socket): PeerCredentials {
  return nativePeerCredentials(socketFd(socket));
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | null)?.code ?? 'error';
}

type Probe = { readonly live: true; readonly pid: number | null } | { readonly live: false } | { readonly error: string };

/** Is someone listening on the socket file? ECONNREFUSED is the only proof it is stale. */
function probe(path: string, credentials: (socket: Socket) => PeerCredentials): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      let pid: number | null = null;
      try {
        pid = credentials(socket).pid;
      } catch {
        // The pid is only for the message.
      }
      socket.destroy();
      resolve({ live: true, pid });
    });
    socket.once('error', (error) => {
      const code = errorCode(error);
      // EAGAIN: the listener's backlog is full — it is alive, just busy.
      if (code === 'EAGAIN') resolve({ live: true, pid: null });
      else if (code === 'ECONNREFUSED') resolve({ live: false });
      else resolve({ error: code });
    });
  });
}

function bind(server: Server, path: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException): void => resolve(error);
    server.once('error', onError);
    // bind() happens synchronously inside listen(); the socket file is created with
    // 0666 & ~umask. A umask of 0177 makes it 0600 from its first instant; the chmod to a
    // wider mode follows. Tightening, never loosening, the process umask for this
    // moment cannot expose anything created concurrently elsewhere in tend.
    const previous = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.removeListener('error', onError);
        resolve(null);
      });
    } finally {
      process.umask(previous);
    }
  });
}

/**
 * Why bind() failed, in words. libuv turns ENOENT from bind() on a Unix socket into
 * EACCES (for Windows' sake), so a missing directory would read "permission denied" —
 * misleading for root, who is never denied. Look at the directory to tell them apart.
 */
function bindFailure(path: string, error: NodeJS.ErrnoException): string {
  const dir = dirname(path);
  if (error.code === 'EACCES' || error.code === 'ENOENT') {
    try {
      if (!statSync(dir).isDirectory()) return `${dir} is not a directory; choose another --socket`;
    } catch {
      return `directory ${dir} does not exist; create it or choose another --socket`;
    }
  }
  if (error.code === 'EROFS') return `${dir} is on a read-only file system; choose a writable directory with --socket`;
  return error.message;
}

/** Claims `path` and starts serving. A live tend on the path is never disturbed. */
export async function listenControl(options: ControlServerOptions): Promise<ListenResult> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const credentials = options.credentials ?? defaultCredentials;
  const mode = defaultSocketMode(options.mode, options.allow);
  const { path } = options;

  try {
    const stat = lstatSync(path);
    if (!stat.isSocket()) {
      return { ok: false, reason: 'not_a_socket', message: `${path} exists and is not a socket; remove it or choose another --socket` };
    }
    const found = await probe(path, credentials);
    if ('error' in found) {
      return { ok: false, reason: 'cannot_listen', message: `cannot tell whether ${path} is in use (connect: ${found.error})` };
    }
    if (found.live) {
      const who = found.pid === null ? 'another process' : `another process (pid ${found.pid})`;
      return { ok: false, reason: 'in_use', message: `${path} is in use: ${who} is listening on it; is another tend running? choose another --socket` };
    }
    // Nobody listens: a dead tend's leftover. Replace it.
    unlinkSync(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') {
      return { ok: false, reason: 'cannot_listen', message: `cannot use ${path}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  const net = createServer({ allowHalfOpen: true, pauseOnConnect: false });
  const bindError = await bind(net, path);
  if (bindError !== null) {
    // EADDRINUSE here: another tend claimed the path between our check and bind.
    const reason = bindError.code === 'EADDRINUSE' ? 'in_use' : 'cannot_listen';
    return { ok: false, reason, message: `cannot listen on ${path}: ${bindFailure(path, bindError)}` };
  }
  try {
    chmodSync(path, mode);
  } catch (error) {
    await new Promise<void>((resolve) => net.close(() => resolve()));
    return { ok: false, reason: 'cannot_listen', message: `cannot set mode ${mode.toString(8)} on ${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { ok: true, server: new ListeningServer(net, path, mode, limits, options, credentials) };
}

class ListeningServer implements ControlServer {
  private readonly connections = new Set<Connection>();
  /** Every open socket, accepted or being refused: bounded, so a connect flood cannot exhaust fds. */
  private readonly sockets = new Set<Socket>();
  private closed: Promise<void> | null = null;
  private readonly ownUid: number;
  private readonly accounts: () => Accounts;
  private readonly notice: (notice: ControlNotice) => void;

  constructor(
    private readonly net: Server,
    readonly path: string,
    readonly mode: number,
    private readonly limits: ServerLimits,
    private readonly options: ControlServerOptions,
    private readonly credentials: (socket: Socket) => PeerCredentials,
  ) {
    this.ownUid = options.ownUid ?? process.getuid?.() ?? 0;
    this.accounts = options.accounts ?? (() => systemAccounts());
    this.notice = (notice) => {
      try {
        options.onNotice?.(notice);
      } catch {
        // A logging hook must not take the socket down.
      }
    };
    // accept() errors (EMFILE, ENFILE) arrive here; without a listener they would crash tend.
    net.on('error', (error) => this.notice({ kind: 'server_error', error }));
    net.on('connection', (socket) => this.accept(socket));
  }

  clientCount(): number {
    return this.connections.size;
  }

  private accept(socket: Socket): void {
    if (this.closed !== null || this.sockets.size >= this.limits.maxClients * 2) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));

    let peer: PeerCredentials;
    try {
      peer = this.credentials(socket);
    } catch (error) {
      const message = `cannot read the peer's credentials (${error instanceof Error ? error.message : String(error)})`;
      this.notice({ kind: 'refused', peer: 'unknown peer', message });
      refuseSocket(socket, 'forbidden', message, this.limits.lingerMs);
      return;
    }
    const accounts = peer.uid === 0 || peer.uid === this.ownUid ? null : this.accounts();
    const who = `${accounts === null ? `uid ${peer.uid}` : describePeer(peer, accounts)} pid ${peer.pid}`;
    const decision = decideAccess(peer, this.ownUid, this.options.allow, accounts ?? NO_ACCOUNTS);
    if (!decision.ok) {
      this.notice({ kind: 'refused', peer: who, message: decision.message });
      refuseSocket(socket, 'forbidden', decision.message, this.limits.lingerMs);
      return;
    }
    if (this.connections.size >= this.limits.maxClients && !this.evictIdlest()) {
      const message = `too many clients (${this.limits.maxClients}), all busy; try again`;
      this.notice({ kind: 'busy', peer: who, message });
      refuseSocket(socket, 'busy', message, this.limits.lingerMs);
      return;
    }
    const connection = new Connection(socket, peer, decision.access, decision.why, who, {
      handler: this.options.handler,
      version: this.options.version,
      limits: this.limits,
      notice: this.notice,
      closed: (c) => this.connections.delete(c),
    });
    this.connections.add(connection);
  }

  /** Makes room by closing the connection that has asked nothing for longest. */
  private evictIdlest(): boolean {
    let idlest: Connection | null = null;
    for (const connection of this.connections) {
      if (connection.isIdle() && (idlest === null || connection.lastActive < idlest.lastActive)) idlest = connection;
    }
    if (idlest === null) return false;
    this.notice({ kind: 'evicted', peer: idlest.who, idleMs: Date.now() - idlest.lastActive });
    this.connections.delete(idlest);
    idlest.closeWith('busy', `closed to make room for a new client (${this.limits.maxClients} at most)`);
    return true;
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      // net.Server.close() stops accepting, resolves once every socket is gone, and
      // (libuv) unlinks the socket file.
      this.net.close(() => resolve());
      for (const connection of this.connections) connection.shutdown();
      for (const socket of this.sockets) {
        socket.end();
        setTimeout(() => socket.destroy(), this.limits.lingerMs).unref();
      }
    });
    return this.closed;
  }
}
