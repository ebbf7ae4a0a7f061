// A service's environment as the manifest gives it: the `env:` layer now (values, and `null`
// taken from tend's environment), and its env_files checked. The env_files themselves are
// read at each start (src/process/start-files.ts), so that a setup oneshot can write one for
// a later service; here only a required file that is missing, or one that cannot be read,
// is reported — located — and a missing one only as a warning when a oneshot the service
// depends on could create it first.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { resolve } from 'node:path';
import { readFailure } from './read';
import type { ConfigIssue } from './issues';
import { joinPath } from './issues';
import { locate, type Source } from './source';
import type { ServiceConfig } from './schema';
import { own, type Env } from './interpolate';

/** An env_file entry as written, normalized: `path` relative to the manifest, `required` defaulted. */
export interface EnvFileEntry {
  readonly path: string;
  readonly required: boolean;
}

export function envFileEntries(config: ServiceConfig['env_file']): EnvFileEntry[] {
  if (config === undefined) return [];
  const list = Array.isArray(config) ? config : [config];
  return list.map((entry) => (typeof entry === 'string' ? { path: entry, required: true } : { path: entry.path, required: entry.required ?? true }));
}

/** The `env:` layer: strings as written, `null` from tend's environment (unset stays unset), secrets left to each start. */
export function serviceEnv(service: ServiceConfig, tendEnv: Env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.env ?? {})) {
    // A secret from a file ({ file: PATH }) is read at each start, never here.
    if (value !== null && typeof value === 'object') continue;
    if (value === null) {
      // `KEY: null` (or `KEY:`) passes tend's own value through.
      const inherited = own(tendEnv, key);
      if (inherited !== undefined) env[key] = inherited;
    } else {
      env[key] = String(value);
    }
  }
  return env;
}

export interface EnvFileCheck {
  readonly issues: ConfigIssue[];
  readonly warnings: ConfigIssue[];
  /** What the files that can be read give now (for `tend check`'s look at the machine: a PATH they set). */
  readonly now: Record<string, string>;
}

/**
 * Each env_file as it is now. `creators`: the oneshots the service depends on, directly or
 * through other services — they run before it starts, so one of them may write the file.
 */
export function checkEnvFiles(name: string, service: ServiceConfig, dir: string, source: Source, creators: readonly string[]): EnvFileCheck {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const now: Record<string, string> = {};
  const single = service.env_file !== undefined && !Array.isArray(service.env_file);
  for (const [index, entry] of envFileEntries(service.env_file).entries()) {
    const path = single ? ['services', name, 'env_file'] : ['services', name, 'env_file', index];
    const at = { file: source.file, ...locate(source, path), path: joinPath(path) };
    const absolute = resolve(dir, entry.path);
    const problem = fileProblem(absolute, now);
    if (problem === null) continue;
    if (problem.code !== 'ENOENT') {
      issues.push({ ...at, message: `cannot read env_file ${absolute}: ${problem.text}` });
    } else if (!entry.required) {
      continue;
    } else if (creators.length > 0) {
      const who = creators.map((c) => `"${c}"`).join(', ');
      warnings.push({ ...at, message: `env_file ${absolute} does not exist yet; it is read at each start, after ${who} (a oneshot "${name}" depends on) has run` });
    } else {
      issues.push({ ...at, message: `cannot read env_file ${absolute}: no such file; if a oneshot writes it, make "${name}" depend on that oneshot (depends_on: { NAME: { condition: completed } }), or if it may be missing, write { path: ${entry.path}, required: false }` });
    }
  }
  return { issues, warnings, now };
}

/**
 * Why the file cannot be an env_file now, or null — its variables then added to `into`.
 * Opened without blocking (a FIFO must not stall the load).
 */
function fileProblem(path: string, into: Record<string, string>): { code: string; text: string } | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code ?? 'EIO', text: readFailure(error) };
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return { code: 'EISDIR', text: 'it is a directory' };
    if (!stat.isFile()) return { code: 'EINVAL', text: 'not a regular file (env files are read at each start, and only regular files can be read without waiting)' };
    Object.assign(into, parseDotenv(readFileSync(fd)));
    return null;
  } finally {
    closeSync(fd);
  }
}
