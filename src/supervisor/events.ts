// Everything that can happen to the supervisor, as data. Requests come from outside
// (signals to tend, the control socket, tend's own start-up); facts come from the
// process layer, the probes and the timers the loop armed. The core's transition
// function takes one event at a time; nothing else changes its state.
import type { Plan } from '../plan/types';
import type { ExitStatus } from '../vocab/exit';

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
  /** An already validated Plan to apply (SIGHUP, `tend reload`); `envChanged`: services whose env_files now give something else than their running process got. */
  | { readonly kind: 'reload'; readonly plan: Plan; readonly envChanged?: readonly string[] }
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
  /** A service's ready probe timeout (forking: its start program and daemon too). */
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
  | 'sweep-stuck'
  /** A service's watchdog: no WATCHDOG=1 for this long means it hangs. */
  | 'watchdog'
  /** A service's pre_start (its start timeout) or post_stop (its stop_timeout) ran too long: SIGKILL it. */
  | 'hook'
  /** A oneshot run's `timeout`: stop it, counted as failed. */
  | 'timeout'
  /** The earliest deadline among a job's detached runs (concurrency: allow): their timeout, then SIGKILL. */
  | 'run-timeout';

export type Fact =
  /** The exec helper runs as the service's process (`pid`); `spawned` follows once it has exec'd the command, or its exit says why it could not. */
  | { readonly kind: 'forked'; readonly service: string; readonly pid: number }
  /** The service's command runs: the exec helper exec'd it. */
  | { readonly kind: 'spawned'; readonly service: string; readonly pid: number }
  /** Nothing could be spawned at all (no pid): the status says why. */
  | { readonly kind: 'spawn-failed'; readonly service: string; readonly status: ExitStatus }
  /** A service's own process was reaped. */
  | { readonly kind: 'exited'; readonly service: string; readonly pid: number; readonly status: ExitStatus }
  /** A forking service's daemon was found (pid_file or the tracked set) and is waited for; its exit comes as `exited`. */
  | { readonly kind: 'daemon-found'; readonly service: string; readonly pid: number }
  /** No daemon yet: with a pid_file, why (tend keeps looking until the start timeout); without, the service owns no process. */
  | { readonly kind: 'daemon-missing'; readonly service: string; readonly reason: string }
  /**
   * An sd_notify message from `pid`, a process the service owns (the sender's credentials
   * said so): its fields in order (READY=1, STATUS=..., MAINPID=..., WATCHDOG=1...).
   */
  | { readonly kind: 'notified'; readonly service: string; readonly pid: number; readonly fields: readonly (readonly [string, string])[] }
  /** MAINPID= named a process tend cannot wait for (not its child): the previous main process stays. */
  | { readonly kind: 'main-refused'; readonly service: string; readonly pid: number; readonly previous: number; readonly reason: string }
  /** A service's stop_command was reaped. */
  | { readonly kind: 'stop-command-exited'; readonly service: string; readonly status: ExitStatus }
  /** A service's pre_start or post_stop was reaped. */
  | { readonly kind: 'hook-exited'; readonly service: string; readonly hook: 'pre_start' | 'post_stop'; readonly status: ExitStatus }
  /** One ready or health check result, for the run with this pid. */
  | { readonly kind: 'probe-passed'; readonly service: string; readonly probe: 'ready' | 'health'; readonly pid: number }
  | { readonly kind: 'probe-failed'; readonly service: string; readonly probe: 'ready' | 'health'; readonly pid: number; readonly reason: string }
  /** A timer fired; `service` null for tend's own (shutdown) timers. */
  | { readonly kind: 'timer'; readonly timer: TimerName; readonly service: string | null }
  /** A scheduled oneshot's time has come. */
  | { readonly kind: 'scheduled'; readonly service: string }
  /** Every process the service owns is gone; `service` null: every descendant of tend (the sweep). */
  | { readonly kind: 'gone'; readonly service: string | null }
  /** tend's own memory check: the service's processes together hold more than limits.memory (no memory controller). */
  | { readonly kind: 'memory-exceeded'; readonly service: string; readonly bytes: number; readonly limit: number }
  /** The sweep's signal went out to these pids (empty: nothing was left). */
  | { readonly kind: 'swept'; readonly signal: number; readonly pids: readonly number[] }
  /** A bug in tend (an exception): logged, then the ordered shutdown, exit 70. */
  | { readonly kind: 'fault'; readonly detail: string };

export type Event = Request | Fact;

/**
 * What each event means, one line each. A Record over the union: adding an event without
 * saying what it is fails to compile. docs/ARCHITECTURE.md lists them, checked by a test.
 */
export const REQUESTS: Readonly<Record<Request['kind'], string>> = {
  boot: "tend's own start-up: every autostart service in dependency order; schedules armed",
  start: '`tend start`: the services and their unmet dependencies',
  stop: '`tend stop`: the services and every process they own; they stay down',
  restart: '`tend restart`: stop, then start again (a service that is not up just starts)',
  signal: '`tend signal`, and SIGUSR1/SIGUSR2/SIGWINCH forwarded to main',
  reload: 'SIGHUP or `tend reload`: an already validated Plan to apply',
  shutdown: 'SIGTERM/INT/QUIT or `tend shutdown`: the ordered shutdown; a second one: SIGKILL to everything at once',
};

export const FACTS: Readonly<Record<Fact['kind'], string>> = {
  forked: "the exec helper runs as the service's process (its pid); `spawned` follows once it exec'd the command, or its exit says why it could not",
  spawned: "the service's command runs (the exec helper exec'd it)",
  'spawn-failed': 'nothing could be started at all (no pid): the status says why',
  exited: "a service's own process was reaped, with its exact status",
  'daemon-found': "a forking service's daemon was found (pid_file or the tracked set); its exit comes as `exited`",
  'daemon-missing': 'no daemon yet: with a pid_file, why (looked for until the start timeout); without one, the service owns no process',
  notified: 'an sd_notify message (READY=1, STATUS=, MAINPID=, WATCHDOG=1...) from a process the service owns',
  'main-refused': 'MAINPID= named a process tend cannot wait for (not its child): the previous main process stays',
  'stop-command-exited': "a service's stop_command was reaped",
  'hook-exited': "a service's pre_start or post_stop was reaped, with its status",
  'probe-passed': 'one ready or health check passed, for the run with this pid',
  'probe-failed': 'one ready or health check failed, with the reason',
  timer: 'a timer the core armed fired (it is never delivered once cancelled)',
  scheduled: "a scheduled oneshot's time has come",
  gone: 'every process a service owns is gone (or, for the sweep, every descendant of tend)',
  swept: "the sweep's signal went out to these pids",
  'memory-exceeded': "tend's own memory check (where no memory controller is): the service's processes together are above limits.memory",
  fault: 'an exception escaped somewhere in tend: logged, then the ordered shutdown, exit 70',
};

export const TIMERS: Readonly<Record<TimerName, string>> = {
  backoff: "a service's restart delay",
  ready: "a service's ready probe timeout",
  grace: "a service's stop_timeout: SIGKILL what is left",
  stuck: "2 s after a service's SIGKILL: count it stopped whatever is left",
  'shutdown-delay': 'shutdown_delay, before anything is stopped',
  'shutdown-deadline': 'shutdown_timeout: SIGKILL everything left',
  'sweep-grace': "the sweep's grace between its SIGTERM and its SIGKILL (at most 1 s)",
  'sweep-stuck': "2 s after the sweep's SIGKILL: give up on what is left",
  watchdog: "a service's watchdog: no WATCHDOG=1 (sd_notify) for that long after ready — it hangs",
  hook: "a service's pre_start ran past its start timeout, or its post_stop past stop_timeout: SIGKILL to it",
  timeout: "a oneshot run's `timeout`: stop it; the run counts as failed",
  'run-timeout': "the next deadline among a scheduled job's detached runs (concurrency: allow): the stop signal at its timeout, SIGKILL stop_timeout later",
};
