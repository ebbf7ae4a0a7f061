// The core's shapes: what a state holds (a record per service, the supervisor's phase),
// what a step returns (effects for the loop, changes for observers, a reply), and what the
// loop reads for a step (`Seen`). Data only, and the few pure readings of it that others
// share (`startTimeout`, `reasonOf`); every module of the core and the loop speak these.
// They live apart from the decisions so that each concern's module can import them without
// importing another concern.
import type { Plan, ServicePlan } from '../../plan/types';
import type { ExitStatus } from '../../vocab/exit';
import type { TimerName } from '../events';
import type { ServiceState, StateName } from '../state';
import type { RestartHistory } from '../restart';
import type { ReloadDiff } from '../reload';
import { DEFAULTS } from '../../plan/defaults';

/** How long a service may take to get ready: its ready probe's timeout; a forking service's start and daemon too. */
export function startTimeout(plan: ServicePlan): number {
  return plan.ready?.timeout ?? DEFAULTS.ready.timeout;
}

/** How long its last run had lasted at `until` (0: it never ran). */
export function ranFor(record: Pick<ServiceRecord, 'startedAt'>, until: number): number {
  return record.startedAt === null ? 0 : until - record.startedAt;
}

export type Health = 'starting' | 'healthy' | 'unhealthy';

/** Liveness, while the service is up and has a healthcheck. */
export interface HealthView {
  readonly status: Health;
  /** Consecutive failed checks. */
  readonly failures: number;
}

export interface ServiceRecord {
  readonly plan: ServicePlan;
  readonly state: ServiceState;
  /** Restarts by policy since tend started. */
  readonly restarts: number;
  readonly lastExit: ExitStatus | null;
  readonly history: RestartHistory;
  readonly health: HealthView | null;
  /** When its process was last spawned (null: never). */
  readonly startedAt: number | null;
  /** Taken out of the manifest by a reload: forgotten once its stop is done. */
  readonly removed: boolean;
  /** The last STATUS= the service sent on its sd_notify socket (null: none this run). */
  readonly statusText?: string | null;
  /** Runs ended by the kernel's OOM killer since tend started. */
  readonly oomKills?: number;
  /** A scheduled job's runs: results counted, the last one, and runs going on detached (allow). */
  readonly job?: JobRecord;
}

/** How a scheduled job's run ended, as `tend_job_runs_total{result}` counts it; `skipped`: due while the last one ran (forbid). */
export type JobResult = 'success' | 'failure' | 'skipped' | 'replaced';
export const JOB_RESULTS: readonly JobResult[] = ['success', 'failure', 'skipped', 'replaced'];

/** A run of a scheduled job that goes on while a later run is the service's own process (concurrency: allow). */
export interface DetachedRun {
  readonly pid: number;
  readonly since: number;
  /** When its `timeout` passes (null: none). */
  readonly deadline: number | null;
  /** Past its timeout: the stop signal went out, SIGKILL at `killAt` (null once sent). */
  readonly timedOut: boolean;
  readonly killAt: number | null;
}

export interface JobRecord {
  readonly counts: Readonly<Record<JobResult, number>>;
  /** The last run that ended (skips are not runs): its result, when, and how. */
  readonly last: { readonly result: Exclude<JobResult, 'skipped'>; readonly at: number; readonly detail: string } | null;
  readonly lastSuccess: number | null;
  readonly detached: readonly DetachedRun[];
}

export const NO_JOB: JobRecord = { counts: { success: 0, failure: 0, skipped: 0, replaced: 0 }, last: null, lastSuccess: null, detached: [] };

/** Why the container ends; the first cause wins, `requested` and `internalError` accumulate. */
export interface Ending {
  readonly cause: 'requested' | 'main-ended' | 'critical' | 'start-failed' | 'internal' | 'idle';
  readonly requested: boolean;
  readonly internalError: boolean;
  /** With no main: every service that ran, ran well — judged before the shutdown stopped anything. */
  readonly succeededBefore: boolean;
}

export type ShutdownStep =
  | { readonly id: 'delay' }
  /** Services stop in reverse dependency order; `asked`: those whose turn has come. */
  | { readonly id: 'stopping'; readonly started: number; readonly asked: ReadonlySet<string> }
  /** The sweep: SIGTERM to what is left (null until the process layer says what it reached), then SIGKILL. */
  | { readonly id: 'sweep'; readonly started: number; readonly signal: number; readonly terminated: readonly number[] | null; readonly killed: readonly number[] | null };

export type Phase =
  | { readonly id: 'idle' }
  /** Booting: the start ends when every target has reached its start target. */
  | { readonly id: 'starting'; readonly since: number; readonly targets: ReadonlySet<string> }
  | { readonly id: 'running' }
  | { readonly id: 'shutting-down'; readonly ending: Ending; readonly step: ShutdownStep; readonly deadlinePassed: boolean; readonly forced: boolean }
  | { readonly id: 'done'; readonly code: number };

export interface CoreState {
  readonly plan: Plan;
  /** Every service, in manifest order; services removed by a reload stay until stopped. */
  readonly services: ReadonlyMap<string, ServiceRecord>;
  readonly phase: Phase;
  /** Services whose schedule is armed. */
  readonly schedules: ReadonlySet<string>;
  /**
   * How many services may be mid-start at once (`spawning`: asked for, their exec helper
   * not exec'd yet); a queued service whose dependencies are met waits for a slot.
   * Infinity: no cap.
   */
  readonly startSlots: number;
  /** How many services are in the states the start scheduler counts (kept by the Draft's writes). */
  readonly tally: Tally;
}

/**
 * Counts the start scheduler (core/start.ts) reads on every step, kept as records change
 * rather than counted over every service per step (O(services) per event, thousands of
 * events in a start).
 */
export interface Tally {
  /** In `queued`. */
  readonly queued: number;
  /** In `queued` with dependencies: each step must look at these (one may be pulled in, or never can start). */
  readonly waiting: number;
  /** In `spawning`: mid-start. */
  readonly spawning: number;
  /** In `exited`, `fatal` or `failed`: only these can end the container as critical or failed (shutdown.ts). */
  readonly down: number;
}

export const NO_TALLY: Tally = { queued: 0, waiting: 0, spawning: 0, down: 0 };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  /** Spawn the service's process; the loop answers with `spawned` or `spawn-failed`, later `exited`. */
  | { readonly kind: 'spawn'; readonly service: string; readonly plan: ServicePlan }
  /** Find a forking service's daemon (pid_file or the tracked set) and wait for it; answered with `daemon-found` or `daemon-missing`. */
  | { readonly kind: 'find-daemon'; readonly service: string; readonly plan: ServicePlan }
  /** Wait for `pid`, the service's main process from now on (MAINPID=); its exit comes as `exited`, or `main-refused`. */
  | { readonly kind: 'adopt-main'; readonly service: string; readonly pid: number; readonly previous: number }
  /** Run its stop_command (MAINPID: `mainPid`, when it has one); the loop answers with `stop-command-exited`. */
  | { readonly kind: 'spawn-stop-command'; readonly service: string; readonly plan: ServicePlan; readonly mainPid: number | null }
  /** Run its pre_start or post_stop with these variables over its environment; answered with `hook-exited`. */
  | { readonly kind: 'spawn-hook'; readonly service: string; readonly hook: Hook; readonly plan: ServicePlan; readonly env: Readonly<Record<string, string>> }
  /** The signal to its running pre_start or post_stop. */
  | { readonly kind: 'kill-hook'; readonly service: string; readonly signal: number }
  /** The signal to every process the service owns (then SIGCONT with `cont`), or to its own process only. */
  | { readonly kind: 'signal'; readonly service: string; readonly signal: number; readonly cont: boolean }
  | { readonly kind: 'signal-pid'; readonly pid: number; readonly signal: number }
  /** The signal to the process group `pgid` leads (a job's detached run: it and what it forked, not the service's later run). */
  | { readonly kind: 'signal-group'; readonly pgid: number; readonly signal: number }
  /** SIGKILL to every process the service owns. */
  | { readonly kind: 'kill'; readonly service: string }
  /** SIGKILL to every process of every service, and to the orphans. */
  | { readonly kind: 'kill-everything' }
  /** The sweep's signal (kill -1 as PID 1, else tend's descendants); the loop answers with `swept`. */
  | { readonly kind: 'sweep'; readonly signal: number }
  /** Tell the core (`gone`) once the service (null: tend) owns no process; `rekill`: SIGKILL newcomers meanwhile. */
  | { readonly kind: 'watch-gone'; readonly service: string | null; readonly rekill: boolean }
  | { readonly kind: 'unwatch-gone'; readonly service: string | null }
  | { readonly kind: 'arm'; readonly timer: TimerName; readonly service: string | null; readonly ms: number }
  | { readonly kind: 'cancel'; readonly timer: TimerName; readonly service: string | null }
  | { readonly kind: 'probe-start'; readonly service: string; readonly probe: 'ready' | 'health'; readonly pid: number; readonly plan: ServicePlan }
  | { readonly kind: 'probe-stop'; readonly service: string; readonly probe: 'ready' | 'health' }
  | { readonly kind: 'schedule'; readonly service: string; readonly expression: string; readonly timeZone: string | null }
  | { readonly kind: 'unschedule'; readonly service: string }
  /** The service has stopped for good: its cgroup leaf and its root pids may go. */
  | { readonly kind: 'release'; readonly service: string }
  /** Reap now (the end of the sweep). */
  | { readonly kind: 'reap' }
  | { readonly kind: 'log'; readonly level: LogLevel; readonly message: string }
  /** The shutdown is over: tend exits with this status. */
  | { readonly kind: 'finish'; readonly code: number };

export type Hook = 'pre_start' | 'post_stop';

export type Reply =
  | { readonly kind: 'none' }
  | { readonly kind: 'refused'; readonly reason: 'shutting-down' }
  | { readonly kind: 'reloaded'; readonly diff: ReloadDiff };

/** What the loop read for this step: the time, randomness for jitter, and ownership. */
export interface Seen {
  readonly now: number;
  readonly random: () => number;
  /** The live processes the service owns (its own, its descendants, its leftovers). */
  readonly owned: (service: string) => readonly number[];
}

/** What observers are told, in the order it happened within the step. */
export type Change =
  | { readonly type: 'state'; readonly service: string; readonly from: StateName; readonly to: StateName; readonly pid: number | null; readonly reason: string | null }
  | { readonly type: 'health'; readonly service: string; readonly health: Health | null }
  | { readonly type: 'phase'; readonly phase: 'starting' | 'running' | 'shutting-down' | 'done' }
  /** A scheduled job's run ended (or a due run was skipped): what `tend_job_runs_total` counts. */
  | { readonly type: 'job'; readonly service: string; readonly result: JobResult; readonly detail: string };

export interface StepResult {
  readonly core: CoreState;
  readonly effects: readonly Effect[];
  readonly changes: readonly Change[];
  readonly reply: Reply;
}

/** Why a service is in its state, when the state has a reason worth showing. */
export function reasonOf(state: ServiceState): string | null {
  switch (state.id) {
    case 'fatal':
    case 'failed':
      return state.reason;
    case 'stopped':
      return state.byHand ? 'stopped by hand' : null;
    default:
      return null;
  }
}
