// Secrets from files: `env: { DB_PASSWORD: { file: /run/secrets/db } }` is that file's
// content, read at each start of the service (a rotated secret is picked up by the next
// start), with one trailing newline removed. The value goes into the child's environment
// and nowhere else: never into the plan, a message, a log line or a reply. Messages name
// the variable and the path, never the content.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Spawned, SpawnSpec } from './spawn';
import type { ExitStatus } from '../vocab/exit';
import { errnoText } from '../vocab/errno';

/**
 * Linux refuses a single environment string over MAX_ARG_STRLEN (32 pages, 128 KiB) with
 * E2BIG at exec; a bigger file is refused here, with its name, instead.
 */
export const MAX_SECRET_BYTES = 128 * 1024 - 1;

export type SecretFilesResult =
  | { readonly ok: true; readonly env: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly message: string };

function errnoWords(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== undefined) return errnoText(code);
  return error instanceof Error ? error.message : String(error);
}

/**
 * A small regular file's content, read now on this thread, or why it cannot be read — in
 * words about `subject` (the file's role and path), never its content. `limit` is said
 * in the message when the file is larger than `maxBytes`.
 */
export function readStartFile(subject: string, path: string, maxBytes: number, limit: string): { ok: true; text: string } | { ok: false; missing: boolean; message: string } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer, which would stall
    // tend's event loop (reaping included); it is refused below as not a regular file.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return { ok: false, missing: (error as NodeJS.ErrnoException).code === 'ENOENT', message: `cannot read ${subject}: ${errnoWords(error)}` };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { ok: false, missing: false, message: `cannot read ${subject}: not a regular file` };
    if (stat.size > maxBytes) return { ok: false, missing: false, message: `${subject} is ${stat.size} bytes: over ${limit}` };
    const buffer = Buffer.alloc(stat.size);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break; // truncated while we read: what is there is the content
      length += read;
    }
    return { ok: true, text: buffer.subarray(0, length).toString('utf8') };
  } catch (error) {
    return { ok: false, missing: false, message: `cannot read ${subject}: ${errnoWords(error)}` };
  } finally {
    closeSync(fd);
  }
}

/** One secret file's content, or why it cannot be a variable's value. */
function readSecret(key: string, path: string): SecretFilesResult | string {
  const subject = `secret ${key} (file ${path})`;
  const read = readStartFile(subject, path, MAX_SECRET_BYTES + 2, `the ${MAX_SECRET_BYTES + 1}-byte limit of an environment variable`);
  if (!read.ok) return { ok: false, message: read.message };
  let text = read.text;
  if (text.endsWith('\r\n')) text = text.slice(0, -2);
  else if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text.includes('\0')) return { ok: false, message: `${subject} contains a NUL byte, which an environment variable cannot hold` };
  if (Buffer.byteLength(text) > MAX_SECRET_BYTES) return { ok: false, message: `${subject} is over the ${MAX_SECRET_BYTES + 1}-byte limit of an environment variable` };
  return text;
}

/**
 * Reads every secret file (variable → absolute path) now. The first that cannot be read
 * fails the whole start: a service must not run with a secret missing.
 */
export function resolveSecretFiles(files: Readonly<Record<string, string>>): SecretFilesResult {
  const env: Record<string, string> = {};
  for (const [key, path] of Object.entries(files)) {
    const value = readSecret(key, path);
    if (typeof value !== 'string') return value;
    env[key] = value;
  }
  return { ok: true, env };
}

/**
 * Wraps the supervisor's spawner: a spec's `secretFiles` are read right before each spawn
 * and put over its `env`; when one cannot be read nothing is started and the spawn fails
 * like a command that cannot run (126), with the message as its reason.
 */
export function withSecretFiles(spawn: (spec: SpawnSpec) => Spawned): (spec: SpawnSpec) => Spawned {
  return (spec) => {
    const files = spec.secretFiles;
    if (files === undefined || Object.keys(files).length === 0) return spawn(spec);
    const secrets = resolveSecretFiles(files);
    if (!secrets.ok) {
      const exit: ExitStatus = { kind: 'failed', code: 126, reason: secrets.message };
      return { pid: 0, stdout: null, stderr: null, notify: null, exit: Promise.resolve(exit) };
    }
    return spawn({ ...spec, env: { ...spec.env, ...secrets.env } });
  };
}
