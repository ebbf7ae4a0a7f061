// The single entry the rest of tend uses: a manifest file → a frozen Plan, or every
// problem with it. Expected failures are values; only bugs throw.
import { loadManifest, type IncludeMatch, type LoadOptions } from '../config/load';
import type { ConfigIssue } from '../config/issues';
import type { Env } from '../config/interpolate';
import { buildPlan } from './build';
import type { Plan } from './types';

export type LoadResult =
  | {
      readonly ok: true;
      readonly plan: Plan;
      readonly warnings: readonly ConfigIssue[];
      /** Every manifest file read (the manifest, then what `include:` matched), and each include's matches. */
      readonly files: readonly string[];
      readonly includes: readonly IncludeMatch[];
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

/** Reads, interpolates (with `env`, tend's environment), validates and defaults a manifest. */
export async function loadPlan(file: string, env: NodeJS.ProcessEnv | Env, options: LoadOptions = {}): Promise<LoadResult> {
  const result = await loadManifest(file, env, options);
  if (!result.ok) return result;
  const { loaded } = result;
  return { ok: true, plan: buildPlan(loaded), warnings: loaded.warnings, files: loaded.files, includes: loaded.includes };
}

export { buildPlan } from './build';
export { startWaves, stopWaves, dependencyClosure, dependentsOf } from './graph';
export { DEFAULTS, defaultRestartPolicy } from './defaults';
export { redactedPlan, shownCommand, shownArgv, REDACTED } from './redact';
export { formatIssue, type ConfigIssue } from '../config/issues';
export { resolveManifestPath, type ManifestPath } from '../config/manifest-path';
export type { LoadOptions, IncludeMatch } from '../config/load';
export type * from './types';
