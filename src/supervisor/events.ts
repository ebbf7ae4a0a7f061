// Everything that can happen to the supervisor, as data. Requests come from outside
// (signals to tend, the control socket, tend's own start-up); facts come from the
// process layer, the probes and the timers the loop armed. The core's transition
// function takes one event at a time; nothing else changes its state.
import type { Plan } from '../plan/types';
import type { ExitStatus } from '../process/spawn';

export type Request =
  /** tend's own start-up: every autostart service, in dependency order; schedules armed. */
  | { readonly kind: 'boot' }
  /** `tend start`: the services and their unmet dependencies. */
  | { readonly kind: 'start'; readonly names: readonly string[] }
  /** `tend stop`: the services and every process they own; they stay down. */
  | { readonly kind: 'stop'; readonly names: readonly string[] }
  | { readonly kind: 'restart'; readonly names: readonly string[] }
  /** `tend signal` (every process it owns, or only its own with `mainOnly`); SIGUSR1/2 and SIGWINCH to main. */
  | { readonly kind: 'signal'; readonly name: string; readonly signal: number; readonly mainOnly: boolean }
  /** An already validated Plan to apply (SIGHUP, `tend reload`). */
  | { readonly kind: 'reload'; readonly plan: Plan }
  /**
   * `ordered`: the ordered shutdown (SIGTERM, `tend shutdown`); `requested` when someone
   * asked for it, rather than main ending. `at-once`: a second TERM/INT/QUIT — SIGKILL to
   * everything.
   */
  | { readonly kind: 'shutdown'; readonly how: 'ordered'; readonly reason: string; readonly requested: boolean }
  | { readonly kind: 'shutdown'; readonly how: 'at-once' };

/** The timers the core arms; the loop delivers each as a `timer` fact unless cancelled first. */
export type TimerName =
  /** A service's restart delay. */
  | 'backoff'
  /** A service's ready probe timeout. */
  | 'ready'
  /** A service's stop_timeout: SIGKILL what is left. */
  | 'grace'
  /** 2 s after a service's SIGKILL: count it stopped whatever is left. */
  | 'stuck'
  /** shutdown_delay, before anything is stopped. */
  | 'shutdown-delay'
  /** shutdown_timeout: SIGKILL everything left. */
  | 'shutdown-deadline'
  /** The sweep's grace between its SIGTERM and its SIGKILL. */
  | 'sweep-grace'
  /** 2 s after the sweep's SIGKILL: give up on what is left. */
  | 'sweep-stuck';

export type Fact =
  /** The process layer spawned a service's process. */
  | { readonly kind: 'spawned'; readonly service: string; readonly pid: number }
  /** Nothing could be spawned at all (no pid): the status says why. */
  | { readonly kind: 'spawn-failed'; readonly service: string; readonly status: ExitStatus }
  /** A service's own process was reaped. */
  | { readonly kind: 'exited'; readonly service: string; readonly pid: number; readonly status: ExitStatus }
  /** A service's stop_command was reaped. */
  | { readonly kind: 'stop-command-exited'; readonly service: string; readonly status: ExitStatus }
  /** One ready or health check result, for the run with this pid. */
  | { readonly kind: 'probe-passed'; readonly service: string; readonly probe: 'ready' | 'health'; readonly pid: number }
  | { readonly kind: 'probe-failed'; readonly service: string; readonly probe: 'ready' | 'health'; readonly pid: number; readonly reason: string }
  /** A timer fired; `service` null for tend's own (shutdown) timers. */
  | { readonly kind: 'timer'; readonly timer: TimerName; readonly service: string | null }
  /** A scheduled oneshot's time has come. */
  | { readonly kind: 'scheduled'; readonly service: string }
  /** Every process the service owns is gone; `service` null: every descendant of tend (the sweep). */
  | { readonly kind: 'gone'; readonly service: string | null }
  /** The sweep's signal went out to these pids (empty: nothing was left). */
  | { readonly kind: 'swept'; readonly signal: number; readonly pids: readonly number[] }
  /** A bug in tend (an exception): logged, then the ordered shutdown, exit 70. */
  | { readonly kind: 'fault'; readonly detail: string };

export type Event = Request | Fact;

/** Every event kind, requests then facts: docs/ARCHITECTURE.md lists them, checked by a test. */
export const REQUEST_KINDS = ['boot', 'start', 'stop', 'restart', 'signal', 'reload', 'shutdown'] as const satisfies readonly Request['kind'][];
export const FACT_KINDS = [
  'spawned', 'spawn-failed', 'exited', 'stop-command-exited', 'probe-passed', 'probe-failed', 'timer', 'scheduled', 'gone', 'swept', 'fault',
] as const satisfies readonly Fact['kind'][];
