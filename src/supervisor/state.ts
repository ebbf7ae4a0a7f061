// A service's lifecycle as a discriminated union. Each state carries only the data that
// is valid in it — a pid only where a process exists — and the table of allowed
// transitions is the single authority on what may follow what: the core changes a
// service's state only through it, and refuses (and logs) anything else.
import type { ExitStatus } from '../vocab/exit';

/** The state names of the control API (`tend status`, `tend events`, /metrics). */
export type StateName =
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
export type StopIntent = 'stop' | 'restart' | 'shutdown' | 'unhealthy' | 'not-ready' | 'memory-limit' | 'watchdog'
  /** A oneshot run past its `timeout`: it counts as failed, then its policy decides. */
  | 'timeout'
  /** A scheduled run is due (concurrency: replace): the running one stops, then the new one starts. */
  | 'replace';

/**
 * How far a stop has gone. The stop signal goes out (or stop_command runs), SIGKILL
 * follows at stop_timeout, and 2 s after the SIGKILL the stop counts as done whatever
 * is left (a process stuck in the kernel).
 */
export type StopStep =
  /** stop_command runs; whether the stop signal follows depends on its exit. */
  | { readonly id: 'command' }
  /** The stop signal went out (null: stop_command did the asking); SIGKILL at stop_timeout. */
  | { readonly id: 'grace'; readonly signal: number | null }
  /** SIGKILL went out; whatever is left 2 s later is given up on. */
  | { readonly id: 'killing'; readonly signal: number | null }
  /** Every process the service owned is gone (or given up on as stuck). */
  | { readonly id: 'gone' };

export type ServiceState =
  /** Not running. `byHand`: stopped by `tend stop` — stays down until started by hand. */
  | { readonly id: 'stopped'; readonly byHand: boolean }
  /** Wants to run; waits for its dependencies. */
  | { readonly id: 'queued'; readonly since: number }
  /** Dependencies met; stopping what its previous run left behind before it spawns. */
  | { readonly id: 'clearing'; readonly since: number; readonly step: StopStep }
  /** Its pre_start runs (systemd's ExecStartPre); the spawn follows once it exits 0. */
  | { readonly id: 'preparing'; readonly since: number }
  /**
   * Asked the process layer to spawn it. `pid`: the exec helper runs as its process, not
   * yet exec'd (null until the process layer says); an exit now is a spawn failure.
   */
  | { readonly id: 'spawning'; readonly since: number; readonly pid: number | null }
  /**
   * Spawned, waiting for its ready probe; `lastReason`: why the last check failed. A
   * forking service is `awaiting` its start program's exit (`pid`: the start program), then
   * its daemon (`pid` null until the daemon is found); `pid` is the daemon's from then on.
   */
  | { readonly id: 'starting'; readonly pid: number | null; readonly since: number; readonly lastReason: string; readonly awaiting?: 'start-program' | 'daemon' }
  | { readonly id: 'running'; readonly pid: number; readonly since: number }
  | { readonly id: 'ready'; readonly pid: number; readonly since: number }
  /** `pid`: its own process until its exit is seen; null once reaped (or when only leftovers remain). */
  /** `ofRun`: the stop began with its own process (not only what an ended run left): its post_stop follows. */
  | { readonly id: 'stopping'; readonly pid: number | null; readonly since: number; readonly intent: StopIntent; readonly step: StopStep; readonly ofRun?: true }
  /**
   * Its run has ended and its post_stop runs (systemd's ExecStopPost, s6's finish); `then`:
   * the state the run's end decided, entered once post_stop exits (a stop or start meanwhile changes it).
   */
  | { readonly id: 'finishing'; readonly since: number; readonly then: AfterRun }
  | { readonly id: 'backoff'; readonly until: number; readonly delay: number }
  /** A longrun that ended and, by its policy, stays down. */
  | { readonly id: 'exited'; readonly exit: ExitStatus }
  /**
   * Gave up: restart limit reached, readiness never came, or (`cannotStart`) its command
   * could not be started at all (not found, unknown user or group, missing cwd).
   */
  | { readonly id: 'fatal'; readonly reason: string; readonly cannotStart?: true }
  | { readonly id: 'completed'; readonly exit: ExitStatus }
  | { readonly id: 'failed'; readonly reason: string };

/** Where a service goes once its post_stop is done: one of the states below, as they are. */
export type AfterRun =
  | { readonly id: 'backoff'; readonly until: number; readonly delay: number }
  | { readonly id: 'exited'; readonly exit: ExitStatus }
  | { readonly id: 'fatal'; readonly reason: string; readonly cannotStart?: true }
  | { readonly id: 'completed'; readonly exit: ExitStatus }
  | { readonly id: 'failed'; readonly reason: string }
  | { readonly id: 'stopped'; readonly byHand: boolean }
  | { readonly id: 'queued'; readonly since: number };

export type StateId = ServiceState['id'];

export const STATE_IDS: readonly StateId[] = [
  'stopped', 'queued', 'clearing', 'preparing', 'spawning', 'starting', 'running', 'ready', 'stopping', 'finishing', 'backoff', 'exited', 'fatal', 'completed', 'failed',
];

/** What each state means, one line each (docs/ARCHITECTURE.md, checked by a test). */
export const STATE_DOCS: Readonly<Record<StateId, string>> = {
  stopped: 'not running; `byHand` when `tend stop` put it there (it stays down until started by hand)',
  queued: 'wants to run; waits for its dependencies',
  clearing: 'dependencies met; stopping what its previous run left behind before it spawns',
  preparing: 'its pre_start runs; it spawns once that exits 0, else the start failed (restart policy)',
  spawning: 'the spawn is asked for; `pid` once the exec helper runs; the exec (or the reason it failed) is the next fact',
  starting: 'its process runs (`pid`); waiting for its ready probe (`lastReason`: the last failed check); forking: `awaiting` its start program, then its daemon (`pid` null until found)',
  running: 'its process runs (`pid`); it has no ready probe',
  ready: 'its process runs (`pid`) and its ready probe passed',
  stopping: 'being stopped (`intent` says what follows, `step` how far: command, grace, killing, gone); `pid` until its exit is seen',
  finishing: 'its run ended and its post_stop runs (with EXIT_CODE, EXIT_STATUS); then the state the end decided (`then`)',
  backoff: 'waits `delay` before it starts again',
  exited: 'a longrun that ended and, by its policy, stays down (`exit`)',
  fatal: 'gave up: restart limit reached, never ready, or its command cannot be started (`reason`)',
  completed: 'a oneshot that succeeded (`exit`)',
  failed: 'a oneshot that failed (`reason`)',
};

/**
 * Allowed transitions, from → to. A state that moves to itself changes only its data
 * (a stop by hand marks `stopped` as by hand; a failed ready check updates the reason;
 * a stop advances its step or changes its intent).
 */
export const TRANSITIONS: Readonly<Record<StateId, readonly StateId[]>> = {
  // started (by hand, at boot, by a schedule or reload); or its leftovers are stopped
  stopped: ['stopped', 'queued', 'stopping'],
  // dependencies met (spawn, or clear leftovers first); stopped (by hand, at shutdown, a dependency that can never be met)
  queued: ['clearing', 'preparing', 'spawning', 'stopped', 'stopping'],
  // leftovers gone: spawn (or pre_start first); or a stop takes the clearing over
  clearing: ['clearing', 'preparing', 'spawning', 'stopping'],
  // pre_start exited 0: spawn; it failed (policy, or fatal when it cannot run); a stop: of the
  // pre_start (stopping), or of nothing (stopped, post_stop first: finishing)
  preparing: ['spawning', 'backoff', 'exited', 'fatal', 'failed', 'stopped', 'stopping', 'finishing'],
  // to itself: the exec helper's pid; the command runs (with or without a ready probe); or
  // it could not be started; or a stop takes over the helper (stopping) or finds no process (stopped)
  spawning: ['spawning', 'starting', 'running', 'backoff', 'exited', 'fatal', 'failed', 'stopped', 'stopping', 'finishing'],
  // ready; or, forking with no ready probe, running once its daemon is found; queued: a
  // scheduled job's next run is due (concurrency: allow) and this one goes on detached
  starting: ['starting', 'ready', 'running', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'queued', 'finishing'],
  // to itself: a forking service's daemon ended while the service still owns processes (a new main pid)
  running: ['running', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'queued', 'finishing'],
  ready: ['ready', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'queued', 'finishing'],
  // the stop is done: stays down, starts again, or its policy decides (unhealthy, not ready)
  stopping: ['stopping', 'stopped', 'queued', 'backoff', 'exited', 'fatal', 'failed', 'finishing'],
  // post_stop exited: where the run's end (or a stop or start since) said; to itself: a stop
  // or start while post_stop runs changes where it goes
  finishing: ['finishing', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'stopped', 'queued'],
  backoff: ['queued', 'stopped', 'stopping'],
  exited: ['queued', 'stopping', 'stopped'],
  fatal: ['queued', 'stopping', 'stopped'],
  completed: ['queued', 'stopping', 'stopped'],
  failed: ['queued', 'stopping', 'stopped'],
};

export function canTransition(from: StateId, to: StateId): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The name the control API shows: the waiting states before a pid exists read `starting`. */
export function stateName(state: ServiceState): StateName {
  switch (state.id) {
    case 'queued':
    case 'clearing':
    case 'preparing':
    case 'spawning':
      return 'starting';
    case 'finishing':
      return 'stopping';
    case 'stopped':
    case 'starting':
    case 'running':
    case 'ready':
    case 'stopping':
    case 'backoff':
    case 'exited':
    case 'fatal':
    case 'completed':
    case 'failed':
      return state.id;
    default:
      return unreachable(state);
  }
}

/** The service's own process, when it has one. */
export function pidOf(state: ServiceState): number | null {
  switch (state.id) {
    case 'spawning':
    case 'starting':
    case 'running':
    case 'ready':
    case 'stopping':
      return state.pid;
    case 'stopped':
    case 'queued':
    case 'clearing':
    case 'preparing':
    case 'finishing':
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

/** States in which the service is up: its own process runs and is not being stopped. */
export function isUp(state: ServiceState): state is Extract<ServiceState, { id: 'starting' | 'running' | 'ready' }> {
  return state.id === 'starting' || state.id === 'running' || state.id === 'ready';
}

/** States that end a service's run for good (until started by hand, a schedule or a reload). */
export function isSettled(state: ServiceState): boolean {
  switch (state.id) {
    case 'stopped':
    case 'exited':
    case 'fatal':
    case 'completed':
    case 'failed':
      return true;
    case 'queued':
    case 'clearing':
    case 'preparing':
    case 'spawning':
    case 'starting':
    case 'running':
    case 'ready':
    case 'stopping':
    case 'finishing':
    case 'backoff':
      return false;
    default:
      return unreachable(state);
  }
}

export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
