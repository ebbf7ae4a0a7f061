// env_file: dotenv files read at each start of a service — its own process, and its probes,
// stop command and hooks alike — as secret files are (secrets.ts): a setup oneshot can
// write one that a later service reads, and a changed file is picked up by the next start.
// A required file that cannot be read fails that start, like a command that cannot run
// (126), naming the file and never a value; an optional one (`required: false`) that is
// missing is skipped.
import { parse as parseDotenv } from 'dotenv';
import type { EnvFile } from '../plan/types';
import type { Spawned, SpawnSpec } from './spawn';
import type { ExitStatus } from '../vocab/exit';
import { readStartFile } from './secrets';

/** Far more than any environment can hold (execve refuses more than ARG_MAX, ~2 MiB, in all). */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;

export type EnvFilesResult =
  | { readonly ok: true; readonly env: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly message: string };

/** Every env_file in order, later ones over earlier ones; `cleared` variables left out. */
export function readEnvFiles(files: readonly EnvFile[], cleared: readonly string[] = []): EnvFilesResult {
  const env: Record<string, string> = {};
  for (const file of files) {
    const read = readStartFile(`env_file ${file.path}`, file.path, MAX_ENV_FILE_BYTES, `the ${MAX_ENV_FILE_BYTES / 1024 / 1024} MiB tend reads of an env_file`);
    if (!read.ok) {
      if (read.missing && !file.required) continue;
      return { ok: false, message: read.message };
    }
    Object.assign(env, parseDotenv(read.text));
  }
  for (const key of cleared) delete env[key];
  return { ok: true, env };
}

/** What a service's env_files give now, as a digest (for a reload: did they change since its start?); null when they cannot be read. */
export function envFilesDigest(files: readonly EnvFile[], cleared: readonly string[] = []): string | null {
  if (files.length === 0) return '';
  const read = readEnvFiles(files, cleared);
  return read.ok ? digest(read.env) : null;
}

/**
 * The variables themselves, as one string: node:crypto would cost tend's start-up more than
 * comparing these (they were in the Plan itself when env_files were read at load).
 */
function digest(env: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(env));
}

/**
 * Wraps the supervisor's spawner: a spec's env_files are read right before each spawn and
 * put under its `env`; when a required one cannot be read nothing is started and the spawn
 * fails (126) with the reason. `started` hears each spawn of a service's own process (not a
 * probe's or a stop command's) with the digest of what it got, so a reload can tell whether
 * the files changed since.
 */
export function withEnvFiles(
  spawn: (spec: SpawnSpec) => Spawned,
  started: (spec: SpawnSpec, digest: string) => void = () => {},
): (spec: SpawnSpec) => Spawned {
  return (spec) => {
    const files = spec.envFiles ?? [];
    if (files.length === 0) {
      if (spec.serviceProcess === true) started(spec, '');
      return spawn(spec);
    }
    const read = readEnvFiles(files, spec.envCleared);
    if (!read.ok) {
      const exit: ExitStatus = { kind: 'failed', code: 126, reason: read.message };
      return { pid: 0, stdout: null, stderr: null, notify: null, exit: Promise.resolve(exit) };
    }
    if (spec.serviceProcess === true) started(spec, digest(read.env));
    return spawn({ ...spec, env: { ...read.env, ...spec.env } });
  };
}
