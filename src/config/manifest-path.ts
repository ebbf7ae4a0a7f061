// README: Command line: -c FILE, else $TEND_CONFIG, else ./tend.yaml, else /etc/tend/tend.yaml.
// An explicit choice (-c or $TEND_CONFIG) is used even when it does not exist, so
// the error names what the user asked for rather than silently falling back.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export type ManifestPath =
  | { readonly ok: true; readonly path: string; readonly from: '-c' | 'TEND_CONFIG' | './tend.yaml' | '/etc/tend/tend.yaml' }
  | { readonly ok: false; readonly message: string };

export function resolveManifestPath(
  flag: string | null,
  env: Readonly<Record<string, string | undefined>>,
  { cwd = process.cwd(), exists = existsSync }: { cwd?: string; exists?: (path: string) => boolean } = {},
): ManifestPath {
  if (flag !== null && flag !== '') return { ok: true, path: flag, from: '-c' };
  const fromEnv = env.TEND_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return { ok: true, path: fromEnv, from: 'TEND_CONFIG' };
  if (exists(resolve(cwd, 'tend.yaml'))) return { ok: true, path: 'tend.yaml', from: './tend.yaml' };
  if (exists('/etc/tend/tend.yaml')) return { ok: true, path: '/etc/tend/tend.yaml', from: '/etc/tend/tend.yaml' };
  return {
    ok: false,
    message: `no manifest found: looked for -c FILE, $TEND_CONFIG, ${resolve(cwd, 'tend.yaml')} and /etc/tend/tend.yaml`,
  };
}
