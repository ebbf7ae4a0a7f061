// Where the control socket lives (README: Command line): `--socket`, else $TEND_SOCKET, else
// settings.socket, else /run/tend.sock when tend may create it, else
// /tmp/tend-$UID/tend.sock in a private directory. Every choice carries where it came
// from, so that "cannot reach" messages can say which rule picked the path.
import { accessSync, constants, chmodSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type SocketSource =
  | { readonly kind: 'flag' }
  | { readonly kind: 'env' }
  | { readonly kind: 'settings'; readonly file: string | null }
  | { readonly kind: 'default' }
  | { readonly kind: 'fallback' };

export interface SocketChoice {
  readonly path: string;
  readonly source: SocketSource;
}

/** For messages: `--socket`, `TEND_SOCKET`, `settings.socket in /etc/tend/tend.yaml`, `default path`. */
export function describeSource(source: SocketSource): string {
  switch (source.kind) {
    case 'flag':
      return '--socket';
    case 'env':
      return 'TEND_SOCKET';
    case 'settings':
      return source.file === null ? 'settings.socket' : `settings.socket in ${source.file}`;
    case 'default':
      return 'default path';
    case 'fallback':
      return 'fallback path';
  }
}

/** Chosen by the user (flag or environment): used as given, never second-guessed. */
export function isExplicit(source: SocketSource): boolean {
  return source.kind === 'flag' || source.kind === 'env';
}

export const DEFAULT_RUN_DIR = '/run';
export const DEFAULT_TMP_DIR = '/tmp';
export const SOCKET_NAME = 'tend.sock';

export interface PathInputs {
  readonly flag: string | null;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid: number;
  /** Overridable for tests. */
  readonly runDir?: string;
  readonly tmpDir?: string;
}

/** The private fallback directory for a uid: /tmp/tend-$UID. */
export function fallbackDir(uid: number, tmpDir = DEFAULT_TMP_DIR): string {
  return join(tmpDir, `tend-${uid}`);
}

/** True when this process may create files in `dir`. */
function writableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export type DirResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * Creates `dir` mode 0700 or accepts an existing one that is a real directory (not a
 * symlink) owned by `uid`. In a shared /tmp anyone could have created the name first:
 * a directory of someone else's, or a symlink to one, would let them replace our socket.
 */
export function ensurePrivateDir(dir: string, uid: number): DirResult {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      return { ok: false, message: `cannot create ${dir}: ${(error as Error).message}` };
    }
  }
  let stat;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    return { ok: false, message: `cannot inspect ${dir}: ${(error as Error).message}` };
  }
  if (stat.isSymbolicLink()) return { ok: false, message: `${dir} is a symlink; refusing to put the control socket there (remove it, or set --socket)` };
  if (!stat.isDirectory()) return { ok: false, message: `${dir} is not a directory; refusing to put the control socket there (remove it, or set --socket)` };
  if (stat.uid !== uid) return { ok: false, message: `${dir} belongs to uid ${stat.uid}, not ${uid}; refusing to put the control socket there (remove it, or set --socket)` };
  if ((stat.mode & 0o077) !== 0) {
    // Ours, but opened up (by hand, or an old umask): close it again rather than refuse.
    try {
      chmodSync(dir, 0o700);
    } catch (error) {
      return { ok: false, message: `cannot make ${dir} private: ${(error as Error).message}` };
    }
  }
  return { ok: true };
}

export type ServerPath = ({ readonly ok: true } & SocketChoice) | { readonly ok: false; readonly message: string };

/** The server's path: the first rule that applies; the fallback directory is created here. */
export function serverSocketPath(inputs: PathInputs & { readonly settingsSocket: string | null; readonly manifest: string | null }): ServerPath {
  const picked = explicitChoice(inputs);
  if (picked !== null) return { ok: true, ...picked };
  if (inputs.settingsSocket !== null) return { ok: true, path: inputs.settingsSocket, source: { kind: 'settings', file: inputs.manifest } };
  const runDir = inputs.runDir ?? DEFAULT_RUN_DIR;
  if (writableDir(runDir)) return { ok: true, path: join(runDir, SOCKET_NAME), source: { kind: 'default' } };
  const dir = fallbackDir(inputs.uid, inputs.tmpDir);
  const made = ensurePrivateDir(dir, inputs.uid);
  if (!made.ok) return made;
  return { ok: true, path: join(dir, SOCKET_NAME), source: { kind: 'fallback' } };
}

function explicitChoice(inputs: PathInputs): SocketChoice | null {
  if (inputs.flag !== null && inputs.flag !== '') return { path: inputs.flag, source: { kind: 'flag' } };
  const env = inputs.env.TEND_SOCKET;
  if (env !== undefined && env !== '') return { path: env, source: { kind: 'env' } };
  return null;
}

/**
 * The client's candidates, in order. An explicit path is the only candidate; otherwise
 * settings.socket (when a manifest can be read), the default, and the fallback — of
 * which the client uses the first that exists as a socket.
 */
export function clientSocketCandidates(inputs: PathInputs & { readonly settings: { readonly socket: string; readonly file: string } | null }): SocketChoice[] {
  const picked = explicitChoice(inputs);
  if (picked !== null) return [picked];
  const candidates: SocketChoice[] = [];
  if (inputs.settings !== null) candidates.push({ path: inputs.settings.socket, source: { kind: 'settings', file: inputs.settings.file } });
  candidates.push({ path: join(inputs.runDir ?? DEFAULT_RUN_DIR, SOCKET_NAME), source: { kind: 'default' } });
  candidates.push({ path: join(fallbackDir(inputs.uid, inputs.tmpDir), SOCKET_NAME), source: { kind: 'fallback' } });
  return candidates;
}

/** The first candidate that exists as a socket; null when none does. */
export function firstExistingSocket(candidates: readonly SocketChoice[]): SocketChoice | null {
  for (const candidate of candidates) {
    try {
      if (statSync(candidate.path).isSocket()) return candidate;
    } catch {
      // Missing or unreadable: try the next one.
    }
  }
  return null;
}

/**
 * settings.socket of the manifest tend would read (`$TEND_CONFIG`, ./tend.yaml,
 * /etc/tend/tend.yaml), for a client given no path. Best effort: a manifest that cannot
 * be read or parsed simply contributes no candidate — the client is not `tend check`.
 */
export function manifestSocket(
  env: Readonly<Record<string, string | undefined>>,
  parse: (text: string) => unknown,
  expand: (text: string) => string | null,
  files: readonly string[] = [env.TEND_CONFIG ?? '', 'tend.yaml', '/etc/tend/tend.yaml'],
): { socket: string; file: string } | null {
  for (const file of files) {
    if (file === '') continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    try {
      const doc = parse(text) as { settings?: { socket?: unknown } } | null;
      const socket = doc?.settings?.socket;
      if (typeof socket !== 'string' || socket === '') return null;
      const expanded = expand(socket);
      return expanded === null || expanded === '' ? null : { socket: expanded, file };
    } catch {
      return null;
    }
  }
  return null;
}
