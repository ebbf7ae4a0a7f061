// Step 5: each service's own environment layer — its env_files in order, then env — with
// `null` taking the value from tend's environment. `{ file: PATH }` values are not read
// here: they are secrets read at each start (src/plan/secrets.ts). Values are strings. The values are
// never put into a message: they may be secrets.
import { readConfigFile, readFailure } from './read';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { ConfigIssue } from './issues';
import { joinPath } from './issues';
import { locate, type Source } from './source';
import type { ServiceConfig } from './schema';
import { own, type Env } from './interpolate';

export type EnvResult = { readonly ok: true; readonly env: Record<string, string> } | { readonly ok: false; readonly issues: ConfigIssue[] };

export async function serviceEnv(name: string, service: ServiceConfig, dir: string, tendEnv: Env, source: Source): Promise<EnvResult> {
  const issues: ConfigIssue[] = [];
  const env: Record<string, string> = {};
  const files = service.env_file === undefined ? [] : typeof service.env_file === 'string' ? [service.env_file] : service.env_file;
  for (const [index, file] of files.entries()) {
    const path = typeof service.env_file === 'string' ? ['services', name, 'env_file'] : ['services', name, 'env_file', index];
    const absolute = resolve(dir, file);
    try {
      Object.assign(env, parseDotenv(await readConfigFile(absolute)));
    } catch (error) {
      const why = readFailure(error);
      issues.push({ file: source.file, ...locate(source, path), path: joinPath(path), message: `cannot read env_file ${absolute}: ${why}` });
    }
  }
  for (const [key, value] of Object.entries(service.env ?? {})) {
    if (value !== null && typeof value === 'object') {
      // A secret from a file ({ file: PATH }): read at each start, not now (the plan's
      // secretFiles). It replaces an env_file value of the same name.
      delete env[key];
    } else if (value === null) {
      // `KEY: null` (or `KEY:`) passes tend's own value through; unset stays unset.
      const inherited = own(tendEnv, key);
      if (inherited === undefined) delete env[key];
      else env[key] = inherited;
    } else {
      env[key] = String(value);
    }
  }
  return issues.length === 0 ? { ok: true, env } : { ok: false, issues };
}
