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
import { MAX_LINE_BYTES } from './protocol';

export type { ControlNotice } from './connection';

/**
 * Client slots. Root and tend's own uid ("privileged") always find room: other peers —
 * whom `socket_allow` let in, possibly for reading only — share fewer slots, read peers
 * fewer still, and may hold only so many followers (`wait`, `events`, `logs -f`, which
 * are never idle, so never evicted). At the cap a newcomer replaces the longest-idle
 * connection of its class; a privileged one replaces, failing that, the oldest
 * connection of another peer, busy or not.
 */
export interface ServerLimits extends ConnectionLimits {
  /** Open client connections in all. */
  readonly maxClients: number;
  /** Connections of peers other than root and tend's uid. */
  readonly maxUnprivileged: number;
  /** Of those, connections with read access only. */
  readonly maxReadClients: number;
  /** Followers (wait, events, logs -f) held by peers other than root and tend's uid. */
  readonly maxFollowers: number;
  /** Sockets being refused at once, each given its reason; more are closed without one. */
  readonly maxRefusing: number;
  /** Refusals of one uid are described once per this window; the rest are counted. */
  readonly refusalReportMs: number;
  /** Large replies held for all clients of other peers together; over it, `busy`. */
  readonly maxTotalBufferedBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxLineBytes: MAX_LINE_BYTES,
  maxPending: 32,
  maxBufferedBytes: 1024 * 1024,
  slowReaderMs: 10_000,
  idleMs: 60_000,
  batch: 64,
  lingerMs: 500,
  maxClients: 64,
  maxUnprivileged: 48,
  maxReadClients: 32,
  maxFollowers: 16,
  maxRefusing: 16,
  refusalReportMs: 10_000,
  maxTotalBufferedBytes: 16 * 1024 * 1024,
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

/** The socket's fd, for SO_PEERCRED. `_handle.fd` is undocumented but stable on Unix. */
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

/**
 * Refusals, one log line per uid per window: the first is described, the rest of the
 * window is counted and summed up in one line when it ends (a connect flood made one
 * WARN line per attempt: 48,000 in 12 s).
 */
class RefusalLog {
  private readonly windows = new Map<string, { count: number; timer: NodeJS.Timeout }>();

  constructor(private readonly windowMs: number, private readonly notice: (notice: ControlNotice) => void) {}

  report(key: string, notice: ControlNotice & { kind: 'refused' | 'busy' }, peerUid: string): void {
    const open = this.windows.get(key);
    if (open !== undefined) {
      open.count += 1;
      return;
    }
    this.notice(notice);
    this.open(key, notice, peerUid);
  }

  /** While refusals go on, one summary line per window; the window closes after a quiet one. */
  private open(key: string, notice: ControlNotice & { kind: 'refused' | 'busy' }, peerUid: string): void {
    const window = { count: 0, timer: setTimeout(() => {
      this.windows.delete(key);
      if (window.count === 0) return;
      const seconds = Math.max(1, Math.round(this.windowMs / 1000));
      this.notice({ ...notice, peer: peerUid, message: `${window.count} more ${window.count === 1 ? 'connection' : 'connections'} from it ${notice.kind === 'busy' ? 'turned away (busy)' : 'refused'} in the last ${seconds}s` });
      this.open(key, notice, peerUid);
    }, this.windowMs) };
    window.timer.unref();
    this.windows.set(key, window);
  }

  clear(): void {
    for (const window of this.windows.values()) clearTimeout(window.timer);
    this.windows.clear();
  }
}

class ListeningServer implements ControlServer {
  private readonly connections = new Set<Connection>();
  /** Every open socket, accepted or being refused: bounded, so a connect flood cannot exhaust fds. */
  private readonly sockets = new Set<Socket>();
  /** Sockets being refused, each lingering to deliver its reason. */
  private readonly refusing = new Set<Socket>();
  private readonly refusals: RefusalLog;
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
    this.refusals = new RefusalLog(limits.refusalReportMs, this.notice);
    // accept() errors (EMFILE, ENFILE) arrive here; without a listener they would crash tend.
    net.on('error', (error) => this.notice({ kind: 'server_error', error }));
    net.on('connection', (socket) => this.accept(socket));
  }

  clientCount(): number {
    return this.connections.size;
  }

  private accept(socket: Socket): void {
    if (this.closed !== null) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {});
    // Who it is comes first (one getsockopt): root and tend's uid are never turned away
    // because others flood the socket.
    let peer: PeerCredentials;
    try {
      peer = this.credentials(socket);
    } catch (error) {
      const message = `cannot read the peer's credentials (${error instanceof Error ? error.message : String(error)})`;
      this.refuse(socket, 'unknown', 'unknown peer', 'forbidden', message);
      return;
    }
    const privileged = peer.uid === 0 || peer.uid === this.ownUid;
    if (!privileged && this.sockets.size >= this.limits.maxClients * 2) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));

    const accounts = privileged ? null : this.accounts();
    const who = `${accounts === null ? `uid ${peer.uid}` : describePeer(peer, accounts)} pid ${peer.pid}`;
    const uid = accounts === null ? `uid ${peer.uid}` : describePeer(peer, accounts);
    const decision = decideAccess(peer, this.ownUid, this.options.allow, accounts ?? NO_ACCOUNTS);
    if (!decision.ok) {
      this.refuse(socket, `refused ${peer.uid}`, who, 'forbidden', decision.message, uid);
      return;
    }
    const full = this.roomFor(privileged, decision.access);
    if (full !== null) {
      this.refuse(socket, `busy ${peer.uid}`, who, 'busy', full, uid);
      return;
    }
    const connection = new Connection(socket, peer, decision.access, decision.why, who, {
      handler: this.options.handler,
      version: this.options.version,
      limits: this.limits,
      notice: this.notice,
      closed: (c) => this.connections.delete(c),
      mayFollow: (c) => this.mayFollow(c),
      mayBuffer: (c, bytes) => this.mayBuffer(c, bytes),
    }, privileged);
    this.connections.add(connection);
  }

  /** Makes room for a newcomer of this class; null when there is room, else why not. */
  private roomFor(privileged: boolean, access: 'read' | 'control'): string | null {
    const { maxClients, maxUnprivileged, maxReadClients } = this.limits;
    const busy = `too many clients (${maxClients}), all busy; try again`;
    if (privileged) {
      if (this.connections.size < maxClients) return null;
      if (this.evict((c) => c.isIdle()) || this.evict((c) => !c.privileged, true)) return null;
      return busy;
    }
    let others = 0;
    let readers = 0;
    for (const c of this.connections) {
      if (c.privileged) continue;
      others += 1;
      if (c.accessLevel === 'read') readers += 1;
    }
    if (access === 'read' && readers >= maxReadClients && !this.evict((c) => !c.privileged && c.accessLevel === 'read' && c.isIdle())) {
      return `too many read-only clients (${maxReadClients}), all busy; try again`;
    }
    if ((others >= maxUnprivileged || this.connections.size >= maxClients) && !this.evict((c) => !c.privileged && c.isIdle())) {
      return busy;
    }
    return null;
  }

  private mayFollow(connection: Connection): string | null {
    if (connection.privileged || connection.isFollowing()) return null;
    let followers = 0;
    for (const c of this.connections) if (!c.privileged && c.isFollowing()) followers += 1;
    if (followers < this.limits.maxFollowers) return null;
    return `too many clients are following or waiting (${this.limits.maxFollowers} at most, besides root's and tend's uid's); try again later`;
  }

  private mayBuffer(connection: Connection, bytes: number): string | null {
    if (connection.privileged) return null;
    let total = bytes;
    for (const c of this.connections) if (!c.privileged) total += c.buffered();
    if (total <= this.limits.maxTotalBufferedBytes) return null;
    return `tend holds ${Math.round(total / 1024 / 1024)} MiB of replies for clients that do not read them; try again later`;
  }

  /**
   * Closes one connection to make room: the longest idle among those `which` selects, or
   * (`oldest`) the one that has been there longest, busy or not.
   */
  private evict(which: (connection: Connection) => boolean, oldest = false): boolean {
    let chosen: Connection | null = null;
    for (const connection of this.connections) {
      if (!which(connection)) continue;
      if (oldest) {
        chosen = connection; // a Set iterates in insertion order
        break;
      }
      if (chosen === null || connection.lastActive < chosen.lastActive) chosen = connection;
    }
    if (chosen === null) return false;
    this.notice({ kind: 'evicted', peer: chosen.who, idleMs: Date.now() - chosen.lastActive });
    this.connections.delete(chosen);
    chosen.closeWith('busy', `closed to make room for a new client (${this.limits.maxClients} at most)`);
    return true;
  }

  /** Refuses a peer: its reason if few are being refused, logged once per uid and window. */
  private refuse(socket: Socket, key: string, who: string, code: 'forbidden' | 'busy', message: string, uid = who): void {
    this.refusals.report(key, { kind: code === 'busy' ? 'busy' : 'refused', peer: who, message }, uid);
    if (this.refusing.size >= this.limits.maxRefusing) {
      socket.destroy();
      return;
    }
    this.refusing.add(socket);
    socket.once('close', () => this.refusing.delete(socket));
    refuseSocket(socket, code, message, this.limits.lingerMs);
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      // net.Server.close() stops accepting, resolves once every socket is gone, and
      // (libuv) unlinks the socket file.
      this.net.close(() => resolve());
      this.refusals.clear();
      for (const connection of this.connections) connection.shutdown();
      for (const socket of this.sockets) {
        socket.end();
        setTimeout(() => socket.destroy(), this.limits.lingerMs).unref();
      }
    });
    return this.closed;
  }
}
