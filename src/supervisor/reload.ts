// What a reload changes, pure: compare the running Plan with the new one.
import { isDeepStrictEqual } from 'node:util';
import type { Plan, ServicePlan, SettingsPlan } from '../plan/types';

export interface ReloadDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Changed services that will be restarted. */
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  /** Changes that take effect only at the next start of tend (main, socket, http…). */
  readonly pending: readonly string[];
  /** settings.log_level, applied at once; null when unchanged. */
  readonly logLevel: SettingsPlan['logLevel'] | null;
}

/** Settings that need a restart of tend to change. */
const RESTART_SETTINGS: readonly (keyof SettingsPlan)[] = ['socket', 'socketMode', 'socketAllow', 'http', 'httpStatus', 'tracking', 'logFormat', 'syslog'];

const SETTING_KEYS: Partial<Record<keyof SettingsPlan, string>> = {
  socket: 'socket', socketMode: 'socket_mode', socketAllow: 'socket_allow', http: 'http',
  httpStatus: 'http_status', tracking: 'tracking', logFormat: 'log_format', syslog: 'syslog',
};

/**
 * Dependencies are compared apart: "a changed dependency does not restart its
 * dependents", but a change to a service's own depends_on list is a change of it.
 */
function sameService(a: ServicePlan, b: ServicePlan): boolean {
  return isDeepStrictEqual(a, b);
}

/** `envChanged`: services whose env_files give something else now than their run got (read at each start, so not in the Plan). */
export function diffPlans(current: Plan, next: Plan, envChanged: readonly string[] = []): ReloadDiff {
  const before = new Map(current.services.map((s) => [s.name, s]));
  const after = new Map(next.services.map((s) => [s.name, s]));
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  const pending: string[] = [];

  for (const [name, service] of after) {
    const old = before.get(name);
    if (old === undefined) added.push(name);
    else if (sameService(old, service) && !envChanged.includes(name)) unchanged.push(name);
    else if (old.main || service.main) pending.push(`services.${name} (main is not restarted by a reload)`);
    else changed.push(name);
  }
  for (const [name, old] of before) {
    if (after.has(name)) continue;
    if (old.main) pending.push(`services.${name} removed (main is not stopped by a reload)`);
    else removed.push(name);
  }
  for (const key of RESTART_SETTINGS) {
    if (!isDeepStrictEqual(current.settings[key], next.settings[key])) pending.push(`settings.${SETTING_KEYS[key] ?? key}`);
  }
  const logLevel = current.settings.logLevel === next.settings.logLevel ? null : next.settings.logLevel;
  return { added, removed, changed, unchanged, pending, logLevel };
}
