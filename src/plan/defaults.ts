// Every default of the manifest in one table (README: Manifest reference). Durations in ms, sizes in bytes.
// The README's manifest reference (docs/manifest.md) lists the same values.
import type { RestartPolicyName, ServiceType } from './types';

export const DEFAULTS = {
  settings: {
    shutdownTimeout: 9_000,
    shutdownDelay: 0,
    logFormat: 'text',
    logLevel: 'info',
    tracking: 'auto',
    httpStatus: false,
    grantAccess: 'read',
  },
  service: {
    type: 'longrun',
    main: false,
    autostart: true,
    critical: false,
    successExitCodes: [0],
    stopSignal: 15, // SIGTERM
    stopTimeout: 5_000,
    // The stop signal to the service's own process, SIGKILL to everything left: what
    // prefork servers expect, as supervisord and docker stop do (README: stop_mode).
    stopMode: 'mixed',
    stdin: 'null',
  },
  backoff: { initial: 100, max: 30_000, factor: 2, jitter: 0.1, resetAfter: 10_000 },
  ready: { interval: 200, timeout: 60_000 },
  healthcheck: { interval: 10_000, timeout: 2_000, retries: 3, startPeriod: 0 },
  log: { console: 'prefix', maxSize: 10 * 1024 * 1024, keep: 5, compress: false },
} as const;

/**
 * A longrun sidecar restarts `always`; main restarts `never` (its exit ends the
 * container); a oneshot restarts `never` (it is meant to finish).
 */
export function defaultRestartPolicy(role: { main: boolean; type: ServiceType }): RestartPolicyName {
  if (role.main) return 'never';
  return role.type === 'oneshot' ? 'never' : 'always';
}
