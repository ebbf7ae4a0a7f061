// Restart decisions, pure: given a service's plan, how its run ended and its recent
// history, say whether it restarts, after how long, or gives up. No timers, no clock:
// `now` and `random` are parameters so the table tests in test/supervisor are exact.
import type { ServicePlan, Backoff } from '../plan/types';
import type { ExitStatus } from '../vocab/exit';
import { duration } from '../log/messages';

export interface RestartHistory {
  /** Consecutive restarts since the backoff last reset. */
  readonly attempt: number;
  /** When each restart within the limit's window happened (ms timestamps). */
  readonly recent: readonly number[];
}

export const NO_HISTORY: RestartHistory = { attempt: 0, recent: [] };

export type RestartDecision =
  | { readonly kind: 'restart'; readonly delay: number; readonly history: RestartHistory }
  | { readonly kind: 'stay-down' }
  | { readonly kind: 'give-up'; readonly reason: string };

/** Did the run succeed by the service's own definition (`success_exit_codes`)? */
export function succeeded(service: Pick<ServicePlan, 'successExitCodes'>, exit: ExitStatus): boolean {
  // A run tend stopped above its memory limit failed, however it exited.
  return exit.kind === 'exited' && exit.limit === undefined && service.successExitCodes.includes(exit.code);
}

/** The policy alone: does this ending call for a restart? */
export function policyRestarts(service: ServicePlan, exit: ExitStatus): boolean {
  switch (service.restart.policy) {
    case 'always':
      return true;
    case 'on-failure':
      return !succeeded(service, exit);
    case 'never':
      return false;
  }
}

/** The delay before restart number `attempt` (0-based), jittered by `random` in [0, 1). */
export function backoffDelay(backoff: Backoff, attempt: number, random: number): number {
  const base = Math.min(backoff.max, backoff.initial * Math.pow(backoff.factor, attempt));
  const jittered = base * (1 + backoff.jitter * (2 * random - 1));
  return Math.max(0, Math.round(Math.min(jittered, backoff.max * (1 + backoff.jitter))));
}

export interface RestartInput {
  readonly service: ServicePlan;
  readonly exit: ExitStatus;
  /** How long the run that just ended stayed up. */
  readonly uptime: number;
  readonly history: RestartHistory;
  readonly now: number;
  readonly random: number;
}

export function decideRestart({ service, exit, uptime, history, now, random }: RestartInput): RestartDecision {
  if (!policyRestarts(service, exit)) return { kind: 'stay-down' };
  const { backoff, limit } = service.restart;
  // A run that stayed up long enough proves the service healthy again: start over.
  const attempt = uptime >= backoff.resetAfter ? 0 : history.attempt;
  const recent = limit === null ? [] : history.recent.filter((at) => now - at < limit.window);
  if (limit !== null && recent.length >= limit.count) {
    return { kind: 'give-up', reason: `restarted ${recent.length} times within ${duration(limit.window)}` };
  }
  return {
    kind: 'restart',
    delay: backoffDelay(backoff, attempt, random),
    history: { attempt: attempt + 1, recent: limit === null ? [] : [...recent, now] },
  };
}
