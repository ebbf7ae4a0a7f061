// A service's lifecycle as a discriminated union. Each state carries only the data
// that is valid in it; the table of allowed transitions is the single authority on
// what may follow what, and the supervisor refuses (and logs) anything else.
import type { ExitStatus } from '../process/spawn';

/** The state names are part of the control API (SPEC §4). */
export type StateId =
  | 'stopped'
  | 'starting'
  | 'running'
  | 'ready'
  | 'stopping'
  | 'backoff'
  | 'exited'
  | 'fatal'
  | 'completed'
  | 'failed';

/** Why a service is stopping; decides what follows `stopping`. */
export type StopIntent = 'stop' | 'restart' | 'shutdown' | 'unhealthy' | 'not-ready';

export type ServiceState =
  /** Not running. `byHand`: stopped by `tend stop` — stays down until started by hand. */
  | { readonly id: 'stopped'; readonly byHand: boolean }
  /** Waiting for dependencies (pid null), or spawned and waiting for its ready probe. */
  | { readonly id: 'starting'; readonly pid: number | null; readonly since: number }
  | { readonly id: 'running'; readonly pid: number; readonly since: number }
  | { readonly id: 'ready'; readonly pid: number; readonly since: number }
  | { readonly id: 'stopping'; readonly pid: number | null; readonly since: number; readonly intent: StopIntent }
  | { readonly id: 'backoff'; readonly until: number; readonly delay: number }
  /** A longrun that ended and, by its policy, stays down. */
  | { readonly id: 'exited'; readonly exit: ExitStatus }
  /** Gave up: restart limit reached, readiness never came, or it could not be run. */
  | { readonly id: 'fatal'; readonly reason: string }
  | { readonly id: 'completed'; readonly exit: ExitStatus }
  | { readonly id: 'failed'; readonly reason: string };

/**
 * Allowed transitions, from → to. `starting → starting` is the step from "waiting for
 * dependencies" to "spawned, waiting to be ready".
 */
export const TRANSITIONS: Readonly<Record<StateId, readonly StateId[]>> = {
  stopped: ['starting'],
  starting: ['starting', 'running', 'ready', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'stopped'],
  running: ['ready', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed'],
  ready: ['stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed'],
  stopping: ['stopped', 'starting', 'backoff', 'exited', 'fatal', 'failed'],
  backoff: ['starting', 'stopped'],
  exited: ['starting', 'stopping', 'stopped'],
  fatal: ['starting', 'stopping', 'stopped'],
  completed: ['starting', 'stopping', 'stopped'],
  failed: ['starting', 'stopping', 'stopped'],
};

export function canTransition(from: StateId, to: StateId): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The service's own process, when it has one. */
export function pidOf(state: ServiceState): number | null {
  switch (state.id) {
    case 'starting':
    case 'stopping':
      return state.pid;
    case 'running':
    case 'ready':
      return state.pid;
    case 'stopped':
    case 'backoff':
    case 'exited':
    case 'fatal':
    case 'completed':
    case 'failed':
      return null;
    default:
      return unreachable(state);
  }
}

/** States in which the service is up: its process runs. */
export function isUp(state: ServiceState): boolean {
  return state.id === 'running' || state.id === 'ready' || (state.id === 'starting' && state.pid !== null);
}

/** States that end a service's run for good (until started by hand or by reload). */
export function isSettled(state: ServiceState): boolean {
  switch (state.id) {
    case 'stopped':
    case 'exited':
    case 'fatal':
    case 'completed':
    case 'failed':
      return true;
    case 'starting':
    case 'running':
    case 'ready':
    case 'stopping':
    case 'backoff':
      return false;
    default:
      return unreachable(state);
  }
}

export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
