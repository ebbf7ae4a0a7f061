// The single entry the rest of tend uses: a manifest file → a frozen Plan, or every
// problem with it. Expected failures are values; only bugs throw.
import { loadManifest, type IncludeMatch, type LoadedManifest, type LoadOptions } from '../config/load';
import { duration } from '../vocab/format';
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
  const plan = buildPlan(loaded);
  return { ok: true, plan, warnings: [...loaded.warnings, ...planWarnings(plan, loaded)], files: loaded.files, includes: loaded.includes };
}

/** What only the defaulted plan shows: a stop_timeout the shutdown deadline cuts short. */
function planWarnings(plan: Plan, loaded: LoadedManifest): ConfigIssue[] {
  const deadline = plan.settings.shutdownTimeout;
  return plan.services.filter((service) => service.stopTimeout > deadline).map((service) => {
    const written = loaded.manifest.services[service.name]?.stop_timeout !== undefined;
    const at = written || loaded.manifest.settings?.shutdown_timeout === undefined
      ? loaded.at(['services', service.name, 'stop_timeout'])
      : loaded.at(['settings', 'shutdown_timeout']);
    return {
      ...at,
      message: `${service.name}'s stop_timeout (${duration(service.stopTimeout)}) is longer than settings.shutdown_timeout (${duration(deadline)}): at shutdown it is killed with SIGKILL at the deadline, before its stop_timeout is over; raise shutdown_timeout`,
    };
  });
}

export { buildPlan } from './build';
export { startWaves, stopWaves, dependencyClosure, dependentsOf } from './graph';
export { DEFAULTS, defaultRestartPolicy } from './defaults';
export { redactedPlan, shownCommand, shownArgv, commandRedactor, REDACTED } from './redact';
export { formatIssue, type ConfigIssue } from '../config/issues';
export { resolveManifestPath, type ManifestPath } from '../config/manifest-path';
export type { LoadOptions, IncludeMatch } from '../config/load';
export type * from './types';
