// The supervisor's decisions, pure. `step(core, event, seen)` says what follows an event:
// the next state of every service and of the supervisor, and the effects the loop is to
// carry out (spawn, signal, arm or cancel a timer, start or stop a probe, log). It reads no
// clock, arms no timer and touches no process: the time, a random number and which
// processes each service owns come in through `seen`, read by the loop for this one step.
//
// What it decides: when a service starts (its dependencies' conditions), what follows a
// run that ended (restart policy, backoff, limits), how a service stops (stop_command or
// stop signal, SIGKILL at stop_timeout, given up on 2 s later), when the container ends
// (main ended, a critical service gave up, a failed start, nothing left to run), the
// ordered shutdown (the plan's stop waves, shutdown_delay, shutdown_timeout, the sweep),
// and what a reload changes.
import type { Plan, ServicePlan, DependencyCondition } from '../plan/types';
import { dependencyClosure, startWaves, stopWaves } from '../plan/graph';
import type { ExitStatus } from '../vocab/exit';
import { describeExit } from '../vocab/exit';
import { signalName } from '../vocab/signals';
import * as say from '../log/messages';
import type { Event, Fact, Request, TimerName } from './events';
import {
  canTransition, isSettled, isUp, pidOf, stateName, unreachable,
  type AfterRun, type ServiceState, type StateName, type StopIntent, type StopStep,
} from './state';
import { decideRestart, NO_HISTORY, succeeded, type RestartHistory } from './restart';
import { diffPlans, type ReloadDiff } from './reload';
import { Records } from './records';
import { tendExitCode, type RunOutcome } from './exit-code';
import { DEFAULTS } from '../plan/defaults';

/** How long a service may take to get ready: its ready probe's timeout; a forking service's start and daemon too. */
export function startTimeout(plan: ServicePlan): number {
  return plan.ready?.timeout ?? DEFAULTS.ready.timeout;
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
}

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

const SIGTERM = 15;
const SIGABRT = 6;
const SIGKILL = 9;
const SIGCONT = 18;
const STUCK_AFTER_KILL_MS = 2000;
const SWEEP_GRACE_MS = 1000;
/** A service whose stop took longer than this during the shutdown is named in the log. */
const HELD_UP_MS = 1000;

export function initialCore(plan: Plan): CoreState {
  const services = new Map<string, ServiceRecord>();
  for (const service of plan.services) services.set(service.name, freshRecord(service));
  return { plan, services, phase: { id: 'idle' }, schedules: new Set() };
}

function freshRecord(plan: ServicePlan): ServiceRecord {
  return { plan, state: { id: 'stopped', byHand: false }, restarts: 0, lastExit: null, history: NO_HISTORY, health: null, startedAt: null, removed: false };
}

/** The plan's graph in the shapes the core looks things up by, computed once per Plan. */
interface Lookup {
  /** Position in start order (the plan's start waves, flattened). */
  readonly startIndex: ReadonlyMap<string, number>;
  /** The plan's stop waves, flattened. */
  readonly stopOrder: readonly string[];
  /** Who depends on each service directly. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
}

const lookups = new WeakMap<Plan, Lookup>();

/**
 * A shutdown's asked sets that already hold every service. A reload is refused during a
 * shutdown, so no service can join one: once every turn has come, later steps need not
 * look for the next (and a set is only ever replaced by a larger copy).
 */
const askedEveryone = new WeakSet<ReadonlySet<string>>();

function lookupOf(plan: Plan): Lookup {
  let lookup = lookups.get(plan);
  if (lookup === undefined) {
    const dependents = new Map<string, string[]>();
    for (const service of plan.services) {
      for (const dep of service.dependsOn) {
        const list = dependents.get(dep.name) ?? [];
        list.push(service.name);
        dependents.set(dep.name, list);
      }
    }
    lookup = {
      startIndex: new Map(plan.startWaves.flat().map((name, index) => [name, index])),
      stopOrder: plan.stopWaves.flat(),
      dependents,
    };
    lookups.set(plan, lookup);
  }
  return lookup;
}

/** What follows `event`. Pure: `core` is not modified. */
export function step(core: CoreState, event: Event, seen: Seen): StepResult {
  const draft = new Draft(core, seen);
  draft.handle(event);
  draft.settle();
  return draft.result();
}

/** tend's exit status once the shutdown is over (README, "Exit status"). */
export function outcomeOf(core: CoreState, ending: Ending): RunOutcome {
  const main = core.plan.main === null ? undefined : core.services.get(core.plan.main);
  return {
    internalError: ending.internalError,
    startFailed: ending.cause === 'start-failed',
    criticalGaveUp: ending.cause === 'critical',
    hasMain: main !== undefined,
    mainExit: main?.lastExit ?? null,
    allSucceeded: ending.requested || ending.succeededBefore,
  };
}

// ---------------------------------------------------------------------------------------

/** One step's working copy: records are replaced, never mutated; effects collect in order. */
class Draft {
  private plan: Plan;
  private readonly services: Records<ServiceRecord>;
  private phase: Phase;
  private readonly schedules: Set<string>;
  private readonly effects: Effect[] = [];
  private readonly changes: Change[] = [];
  private reply: Reply = { kind: 'none' };
  /** Bumped by every change of a record or of the phase: settle runs until it stays put. */
  private revision = 0;
  private readonly now: number;

  constructor(core: CoreState, private readonly seen: Seen) {
    this.plan = core.plan;
    this.services = Records.draft(core.services);
    this.phase = core.phase;
    this.schedules = new Set(core.schedules);
    this.now = seen.now;
  }

  result(): StepResult {
    return {
      core: { plan: this.plan, services: this.services.done(), phase: this.phase, schedules: this.schedules },
      effects: this.effects,
      changes: this.changes,
      reply: this.reply,
    };
  }

  // ---- small helpers -----------------------------------------------------------------

  private emit(effect: Effect): void {
    this.effects.push(effect);
  }

  private log(level: LogLevel, message: string): void {
    this.effects.push({ kind: 'log', level, message });
  }

  private arm(timer: TimerName, service: string | null, ms: number): void {
    this.effects.push({ kind: 'arm', timer, service, ms: Math.max(0, ms) });
  }

  private cancel(timer: TimerName, service: string | null): void {
    this.effects.push({ kind: 'cancel', timer, service });
  }

  private get shuttingDown(): boolean {
    return this.phase.id === 'shutting-down' || this.phase.id === 'done';
  }

  private record(name: string): ServiceRecord | undefined {
    return this.services.get(name);
  }

  private update(name: string, change: Partial<ServiceRecord>): ServiceRecord {
    const previous = this.services.get(name)!;
    const next = { ...previous, ...change };
    this.services.set(name, next);
    this.revision += 1;
    this.noteHealth(name, previous, next);
    return next;
  }

  private noteHealth(name: string, previous: ServiceRecord, next: ServiceRecord): void {
    const before = previous.health?.status ?? null;
    const after = next.health?.status ?? null;
    if (before !== after && stateName(previous.state) === stateName(next.state)) this.changes.push({ type: 'health', service: name, health: after });
  }

  private setPhase(phase: Phase): void {
    const before = this.phase.id;
    this.phase = phase;
    this.revision += 1;
    if (phase.id !== before && phase.id !== 'idle') this.changes.push({ type: 'phase', phase: phase.id });
  }

  /**
   * The only way a service changes state: the table decides. A refused transition is a
   * bug in tend; it is logged and the service keeps its state.
   */
  private enter(name: string, next: ServiceState, change: Partial<Omit<ServiceRecord, 'state'>> = {}): boolean {
    const record = this.services.get(name)!;
    if (!canTransition(record.state.id, next.id)) {
      this.log('error', say.illegalTransition(name, record.state.id, next.id));
      return false;
    }
    if (this.endsRun(record, next)) {
      this.finish(name, record, next as AfterRun, change);
      return true;
    }
    // Health is a property of a run that is up: it goes when the run does.
    const health = isUp(next) ? (change.health !== undefined ? change.health : record.health) : null;
    const updated = { ...record, ...change, health, state: next };
    this.services.set(name, updated);
    this.revision += 1;
    const from = stateName(record.state);
    const to = stateName(next);
    if (from !== to) this.changes.push({ type: 'state', service: name, from, to, pid: pidOf(next), reason: reasonOf(next) });
    else this.noteHealth(name, record, updated);
    return true;
  }

  private owns(name: string): boolean {
    return this.seen.owned(name).length > 0;
  }

  // ---- events ------------------------------------------------------------------------

  handle(event: Event): void {
    switch (event.kind) {
      case 'boot':
      case 'start':
      case 'stop':
      case 'restart':
      case 'signal':
      case 'reload':
      case 'shutdown':
        this.request(event);
        return;
      case 'forked':
      case 'spawned':
      case 'spawn-failed':
      case 'exited':
      case 'daemon-found':
      case 'daemon-missing':
      case 'notified':
      case 'main-refused':
      case 'stop-command-exited':
      case 'hook-exited':
      case 'probe-passed':
      case 'probe-failed':
      case 'timer':
      case 'scheduled':
      case 'gone':
      case 'swept':
      case 'memory-exceeded':
      case 'fault':
        this.fact(event);
        return;
      default:
        unreachable(event);
    }
  }

  private request(request: Request): void {
    switch (request.kind) {
      case 'boot':
        this.boot();
        return;
      case 'start':
        if (this.refuseWhileShuttingDown()) return;
        for (const name of request.names) this.startByHand(name);
        return;
      case 'stop':
        for (const name of request.names) if (this.services.has(name)) this.stop(name, 'stop');
        return;
      case 'restart':
        if (this.refuseWhileShuttingDown()) return;
        for (const name of request.names) this.restartByHand(name);
        return;
      case 'signal': {
        const record = this.record(request.name);
        if (record === undefined) return;
        if (!request.mainOnly) {
          this.emit({ kind: 'signal', service: request.name, signal: request.signal, cont: false });
          return;
        }
        const pid = pidOf(record.state);
        if (pid !== null) this.emit({ kind: 'signal-pid', pid, signal: request.signal });
        return;
      }
      case 'reload':
        // A reload during the shutdown would start what is being stopped.
        if (this.refuseWhileShuttingDown()) {
          this.log('warn', say.reloadDuringShutdown());
          return;
        }
        this.reload(request.plan, request.envChanged ?? []);
        return;
      case 'shutdown':
        if (request.how === 'at-once') this.killNow();
        else this.beginShutdown(request.reason, request.requested ? 'requested' : 'main-ended', request.requested);
        return;
      default:
        unreachable(request);
    }
  }

  private refuseWhileShuttingDown(): boolean {
    if (!this.shuttingDown) return false;
    this.reply = { kind: 'refused', reason: 'shutting-down' };
    return true;
  }

  private fact(fact: Fact): void {
    switch (fact.kind) {
      case 'forked':
        this.forked(fact.service, fact.pid);
        return;
      case 'spawned':
        this.spawned(fact.service, fact.pid);
        return;
      case 'spawn-failed':
        this.spawnFailed(fact.service, fact.status);
        return;
      case 'exited':
        this.exited(fact.service, fact.pid, fact.status);
        return;
      case 'daemon-found':
        this.daemonFound(fact.service, fact.pid);
        return;
      case 'daemon-missing':
        this.daemonMissing(fact.service, fact.reason);
        return;
      case 'notified':
        this.notified(fact.service, fact.pid, fact.fields);
        return;
      case 'main-refused': {
        const record = this.record(fact.service);
        const state = record?.state;
        if (state === undefined || !isUp(state) || state.pid !== fact.pid) return;
        this.log('warn', say.mainPidUnwatchable(fact.service, fact.pid, fact.reason));
        this.enter(fact.service, { ...state, pid: fact.previous });
        return;
      }
      case 'stop-command-exited':
        this.stopCommandExited(fact.service, fact.status);
        return;
      case 'hook-exited':
        this.hookExited(fact.service, fact.hook, fact.status);
        return;
      case 'probe-passed':
      case 'probe-failed':
        if (fact.probe === 'ready') this.readyResult(fact.service, fact.pid, fact.kind === 'probe-passed' ? null : fact.reason);
        else this.healthResult(fact.service, fact.pid, fact.kind === 'probe-passed' ? null : fact.reason);
        return;
      case 'timer':
        this.timer(fact.timer, fact.service);
        return;
      case 'scheduled':
        this.scheduledRun(fact.service);
        return;
      case 'gone':
        if (fact.service === null) this.sweepGone();
        else this.serviceGone(fact.service);
        return;
      case 'memory-exceeded':
        this.memoryExceeded(fact.service, fact.bytes, fact.limit);
        return;
      case 'swept':
        this.swept(fact.signal, fact.pids);
        return;
      case 'fault':
        this.log('error', say.internalError(fact.detail));
        if (this.phase.id === 'shutting-down') this.phase = { ...this.phase, ending: { ...this.phase.ending, internalError: true } };
        else this.beginShutdown('internal error', 'internal', false);
        return;
      default:
        unreachable(fact);
    }
  }

  // ---- boot, start, restart ------------------------------------------------------------

  private boot(): void {
    if (this.phase.id !== 'idle') return;
    const targets = new Set<string>();
    for (const service of this.plan.services) {
      if (!service.autostart) continue;
      if (service.schedule !== null) {
        this.arrangeSchedule(service);
        continue;
      }
      targets.add(service.name);
      for (const dep of dependencyClosure(this.plan, service.name)) targets.add(dep);
    }
    this.setPhase({ id: 'starting', since: this.now, targets });
    for (const name of this.inStartOrder([...targets])) this.queue(name);
  }

  private arrangeSchedule(service: ServicePlan): void {
    if (service.schedule === null) return;
    this.schedules.add(service.name);
    this.emit({ kind: 'schedule', service: service.name, expression: service.schedule, timeZone: service.job?.timeZone ?? null });
  }

  private dropSchedule(name: string): void {
    if (!this.schedules.delete(name)) return;
    this.emit({ kind: 'unschedule', service: name });
  }

  private inStartOrder(names: readonly string[]): string[] {
    const order = lookupOf(this.plan).startIndex;
    return [...names].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity));
  }

  /** Wants to run: waits in `queued` until its dependencies are met (settle). */
  private queue(name: string): void {
    const record = this.record(name);
    if (record === undefined) return;
    const state = record.state;
    switch (state.id) {
      case 'stopping':
        // A start asked for while a stop by hand is under way wins: the stop completes,
        // then the service starts again (the last command counts).
        if (state.intent === 'stop') this.enter(name, { ...state, intent: 'restart' });
        return;
      case 'queued':
      case 'clearing':
      case 'preparing':
      case 'spawning':
      case 'starting':
      case 'running':
      case 'ready':
        return;
      case 'finishing':
        // Its post_stop finishes first; then it starts.
        if (state.then.id === 'backoff') this.cancel('backoff', name);
        this.enter(name, { ...state, then: { id: 'queued', since: this.now } });
        return;
      case 'backoff':
        this.cancel('backoff', name);
        this.enter(name, { id: 'queued', since: this.now });
        return;
      case 'stopped':
      case 'exited':
      case 'fatal':
      case 'completed':
      case 'failed':
        this.enter(name, { id: 'queued', since: this.now });
        return;
      default:
        unreachable(state);
    }
  }

  private startByHand(name: string): void {
    if (!this.services.has(name)) return;
    for (const dep of [...dependencyClosure(this.plan, name), name]) {
      const record = this.record(dep);
      if (record === undefined) continue;
      if (dep === name || !(isUp(record.state) || record.state.id === 'completed')) {
        // A start by hand forgets the backoff and the restart limit's window.
        if (isSettled(record.state)) this.update(dep, { history: NO_HISTORY });
        this.queue(dep);
      }
    }
  }

  private restartByHand(name: string): void {
    const record = this.record(name);
    if (record === undefined) return;
    if (isUp(record.state)) {
      this.stop(name, 'restart');
      return;
    }
    this.update(name, { history: NO_HISTORY });
    this.queue(name);
  }

  // ---- the run: spawn, ready, health, exit ---------------------------------------------

  /** Dependencies met: spawn — after stopping what the previous run left behind. */
  private launch(name: string): void {
    const record = this.record(name)!;
    // A job's runs going on detached (concurrency: allow) own processes that are no leftovers.
    const leftovers = (record.job?.detached.length ?? 0) > 0 ? [] : this.seen.owned(name);
    if (leftovers.length > 0 && record.plan.stopMode === 'main') {
      // stop_mode main (systemd's KillMode=process): what a run leaves behind is meant to
      // outlive it (sshd's sessions); the next run starts beside it.
      this.log('info', say.leftoversKept(name, leftovers.length));
    } else if (leftovers.length > 0) {
      this.log('info', say.leftovers(name, leftovers.length));
      const step = this.beginStopSequence(record.plan, null, null);
      this.enter(name, { id: 'clearing', since: this.now, step });
      return;
    }
    this.begin(name);
  }

  /** pre_start first, when it has one; else the spawn. */
  private begin(name: string): void {
    const plan = this.record(name)!.plan;
    if (plan.preStart == null) {
      this.spawn(name);
      return;
    }
    if (!this.enter(name, { id: 'preparing', since: this.now })) return;
    this.emit({ kind: 'spawn-hook', service: name, hook: 'pre_start', plan, env: {} });
    this.arm('hook', name, startTimeout(plan));
  }

  /**
   * A run ends (its own process exited, could not start, or was stopped; or its pre_start
   * failed) into a service that has a post_stop: that runs first, with the run's end in
   * EXIT_CODE and EXIT_STATUS, and the state the end decided waits in `finishing`. A stop of
   * what an ended run left behind is no run's end: its post_stop ran when the run ended.
   */
  private endsRun(record: ServiceRecord, next: ServiceState): boolean {
    if (record.plan.postStop == null) return false;
    switch (next.id) {
      case 'backoff':
      case 'exited':
      case 'fatal':
      case 'completed':
      case 'failed':
      case 'stopped':
      case 'queued':
        break;
      default:
        return false;
    }
    const from = record.state;
    switch (from.id) {
      case 'preparing':
      case 'starting':
      case 'running':
      case 'ready':
        return true;
      case 'spawning':
        return next.id !== 'stopped' || from.pid !== null;
      case 'stopping':
        return from.ofRun === true;
      default:
        return false;
    }
  }

  private finish(name: string, record: ServiceRecord, then: AfterRun, change: Partial<Omit<ServiceRecord, 'state'>>): void {
    const next: ServiceState = { id: 'finishing', since: this.now, then };
    const updated = { ...record, ...change, health: null, state: next };
    this.services.set(name, updated);
    this.revision += 1;
    const from = stateName(record.state);
    if (from !== 'stopping') this.changes.push({ type: 'state', service: name, from, to: 'stopping', pid: null, reason: null });
    const exit = updated.lastExit;
    this.emit({ kind: 'spawn-hook', service: name, hook: 'post_stop', plan: record.plan, env: exit === null ? {} : exitVariables(exit) });
    this.arm('hook', name, record.plan.stopTimeout);
  }

  private hookExited(name: string, hook: Hook, status: ExitStatus): void {
    const record = this.record(name);
    if (record === undefined) return;
    const state = record.state;
    const ok = status.kind === 'exited' && status.code === 0;
    if (hook === 'pre_start') {
      if (state.id !== 'preparing') return;
      this.cancel('hook', name);
      if (ok) {
        this.spawn(name);
        return;
      }
      this.update(name, { lastExit: status });
      if (status.kind === 'failed' && status.transient !== true) {
        const reason = `pre_start: ${status.reason}`;
        this.log('error', say.cannotStartCommand(name, reason));
        this.enter(name, record.plan.type === 'oneshot' ? { id: 'failed', reason } : { id: 'fatal', reason, cannotStart: true });
        return;
      }
      this.log('warn', say.preStartFailed(name, describeExit(status)));
      this.afterRun(name, status, 0, null);
      return;
    }
    if (state.id !== 'finishing') return;
    this.cancel('hook', name);
    if (!ok) this.log('warn', say.postStopFailed(name, describeExit(status)));
    const then = state.then;
    if (!this.enter(name, then)) return;
    // Its restart delay ran while post_stop did: what is left of it.
    if (then.id === 'backoff') this.arm('backoff', name, then.until - this.now);
    if (then.id === 'stopped') this.emit({ kind: 'release', service: name });
    if (record.removed && then.id === 'stopped') this.forget(name);
  }

  private spawn(name: string): void {
    const record = this.record(name)!;
    if (!this.enter(name, { id: 'spawning', since: this.now, pid: null }, { startedAt: this.now, statusText: null })) return;
    this.emit({ kind: 'spawn', service: name, plan: record.plan });
  }

  /** The exec helper runs as the service's process: a stop now stops it; its exit now is a spawn failure. */
  private forked(name: string, pid: number): void {
    const record = this.record(name);
    if (record === undefined || record.state.id !== 'spawning' || record.state.pid !== null) {
      // Nobody waits for this process any more (a bug if it happens): do not leave it running unmanaged.
      this.emit({ kind: 'signal-pid', pid, signal: SIGKILL });
      return;
    }
    this.enter(name, { ...record.state, pid });
  }

  private spawned(name: string, pid: number): void {
    const record = this.record(name);
    if (record === undefined || record.state.id !== 'spawning' || (record.state.pid !== null && record.state.pid !== pid)) {
      // A stop took the exec helper over before it exec'd: that stop goes on.
      if (record !== undefined && pidOf(record.state) === pid) return;
      // Nobody waits for this process any more (a bug if it happens): do not leave it running unmanaged.
      this.emit({ kind: 'signal-pid', pid, signal: SIGKILL });
      return;
    }
    const plan = record.plan;
    this.log('info', say.started(name, pid));
    if (plan.type === 'oneshot' && plan.job?.timeout != null) this.arm('timeout', name, plan.job.timeout);
    if (plan.type === 'forking') {
      // The start program runs; the service is up once it has exited 0 and its daemon is found.
      if (!this.enter(name, { id: 'starting', pid, since: this.now, lastReason: `its start program (pid ${pid}) has not exited`, awaiting: 'start-program' })) return;
      this.arm('ready', name, startTimeout(plan));
      return;
    }
    if (plan.ready !== null) {
      const reason = plan.ready.check.kind === 'notify_fd' ? `nothing written to fd ${plan.ready.check.fd}`
        : plan.ready.check.kind === 'sd_notify' ? 'no READY=1 on its NOTIFY_SOCKET'
        : plan.ready.check.kind === 'log' ? `no output line matched /${plan.ready.check.pattern}/`
          : 'no check has passed yet';
      if (!this.enter(name, { id: 'starting', pid, since: this.now, lastReason: reason })) return;
      this.arm('ready', name, plan.ready.timeout);
      this.emit({ kind: 'probe-start', service: name, probe: 'ready', pid, plan });
    } else {
      if (!this.enter(name, { id: 'running', pid, since: this.now })) return;
      this.startHealth(name, pid);
    }
  }

  /**
   * Nothing of the command ran: the spawn failed (no pid), or the exec helper exited before
   * it exec'd. What cannot heal by retrying — a command not found, an unknown user or group,
   * a missing cwd — gives up at once; tend running short of fds or processes is retried.
   */
  private spawnFailed(name: string, status: ExitStatus): void {
    const record = this.record(name);
    if (record === undefined || record.state.id !== 'spawning') return;
    this.update(name, { lastExit: status });
    if (status.kind === 'failed' && status.transient !== true) {
      this.log('error', say.cannotStartCommand(name, status.reason));
      this.enter(name, record.plan.type === 'oneshot' ? { id: 'failed', reason: status.reason } : { id: 'fatal', reason: status.reason, cannotStart: true });
      return;
    }
    this.log('warn', say.exited(name, describeExit(status)));
    this.jobRan(name, 'failure', describeExit(status));
    this.afterRun(name, status, 0, null);
  }

  private startHealth(name: string, pid: number): void {
    const plan = this.record(name)!.plan;
    if (plan.healthcheck === null || plan.type === 'oneshot') return;
    this.update(name, { health: { status: 'starting', failures: 0 } });
    this.emit({ kind: 'probe-start', service: name, probe: 'health', pid, plan });
  }

  private stopProbes(name: string): void {
    const record = this.record(name)!;
    if (record.state.id === 'starting') {
      this.cancel('ready', name);
      this.emit({ kind: 'probe-stop', service: name, probe: 'ready' });
    }
    if (record.health !== null) this.emit({ kind: 'probe-stop', service: name, probe: 'health' });
    if (record.state.id === 'ready' && record.plan.watchdog != null) this.cancel('watchdog', name);
  }

  private readyResult(name: string, pid: number, failure: string | null): void {
    const record = this.record(name);
    if (record === undefined || record.state.id !== 'starting' || record.state.pid !== pid) return;
    if (failure !== null) {
      this.enter(name, { ...record.state, lastReason: failure });
      return;
    }
    this.cancel('ready', name);
    this.emit({ kind: 'probe-stop', service: name, probe: 'ready' });
    this.log('info', say.ready(name, record.startedAt === null ? 0 : this.now - record.startedAt));
    if (this.enter(name, { id: 'ready', pid, since: this.now })) {
      this.startHealth(name, pid);
      const watchdog = record.plan.watchdog ?? null;
      if (watchdog !== null) this.arm('watchdog', name, watchdog);
    }
  }

  private healthResult(name: string, pid: number, failure: string | null): void {
    const record = this.record(name);
    if (record === undefined || record.health === null || pidOf(record.state) !== pid || !isUp(record.state)) return;
    const health = record.health;
    if (failure === null) {
      if (health.status !== 'healthy') this.log('info', say.healthy(name));
      this.update(name, { health: { status: 'healthy', failures: 0 } });
      return;
    }
    const check = record.plan.healthcheck!;
    const failures = health.failures + 1;
    if (failures < check.retries || health.status === 'unhealthy') {
      this.update(name, { health: { status: health.status, failures } });
      return;
    }
    const restarts = record.plan.restart.policy !== 'never';
    this.log('warn', say.unhealthy(name, check.retries, failure, restarts));
    this.update(name, { health: { status: 'unhealthy', failures } });
    // With restart `never` it stays up, unhealthy; checks go on and may find it healthy again.
    if (restarts) this.stop(name, 'unhealthy');
  }

  /** tend's own memory check found the service above limits.memory: a graceful stop, then its policy. */
  private memoryExceeded(name: string, bytes: number, limit: number): void {
    const record = this.record(name);
    if (record === undefined || !isUp(record.state) || this.shuttingDown) return;
    this.log('warn', say.overMemory(name, bytes, limit, record.plan.restart.policy !== 'never'));
    this.stop(name, 'memory-limit');
  }

  private exited(name: string, pid: number, reported: ExitStatus): void {
    const record = this.record(name);
    if (record !== undefined && record.job?.detached.some((run) => run.pid === pid) === true) {
      this.detachedExited(name, pid, reported);
      return;
    }
    if (record === undefined || pidOf(record.state) !== pid) return; // not this run's process
    const state = record.state;
    // Whatever the plan says now: a reload may have dropped the timeout this run was armed with.
    if (record.plan.type === 'oneshot') this.cancel('timeout', name);
    if (state.id === 'spawning') {
      this.spawnFailed(name, reported);
      return;
    }
    const status = classifyExit(reported, {
      tendKilled: ((state.id === 'stopping' || state.id === 'clearing') && state.step.id === 'killing')
        || (this.phase.id === 'shutting-down' && (this.phase.deadlinePassed || this.phase.forced)),
      overMemory: state.id === 'stopping' && state.intent === 'memory-limit',
    });
    // A forking service's start program that exited 0 is no run's end: its status is not the service's.
    if (state.id !== 'stopping' && record.plan.type === 'forking' && this.forkingExited(name, state, status)) return;
    this.update(name, { lastExit: status, ...(status.oom === true ? { oomKills: (record.oomKills ?? 0) + 1 } : {}) });
    if (state.id === 'stopping') {
      this.log('info', say.exited(name, describeExit(status)));
      const mode = record.plan.stopMode;
      if (mode === 'main' && state.step.id !== 'gone') {
        // stop_mode main: its own process was all the stop waited for (a stop_command still
        // running is left to finish; its exit no longer matters).
        if (state.step.id !== 'command') this.cancel(state.step.id === 'grace' ? 'grace' : 'stuck', name);
        this.emit({ kind: 'unwatch-gone', service: name });
        this.enter(name, { ...state, pid: null, step: { id: 'gone' } });
      } else {
        // stop_mode mixed: its own process has gone; what it left behind is asked to stop too.
        if (mode === 'mixed' && state.step.id !== 'killing' && state.step.id !== 'gone' && this.owns(name)) {
          this.emit({ kind: 'signal', service: name, signal: record.plan.stopSignal, cont: true });
        }
        this.enter(name, { ...state, pid: null });
      }
      this.finishStopIfDone(name);
      return;
    }
    this.stopProbes(name);
    const uptime = record.startedAt === null ? 0 : this.now - record.startedAt;
    if (record.plan.type === 'oneshot' && succeeded(record.plan, status)) {
      this.log('info', say.completed(name, uptime));
      this.jobRan(name, 'success', describeExit(status));
      this.enter(name, { id: 'completed', exit: status });
      return;
    }
    this.log(succeeded(record.plan, status) ? 'info' : 'warn', say.exited(name, describeExit(status)));
    if (record.plan.type === 'oneshot') this.jobRan(name, 'failure', describeExit(status));
    this.afterRun(name, status, uptime, null);
  }

  /**
   * A forking service's start program or daemon ended. The start program's exit 0 means
   * "started": the daemon is looked for. Without a pid_file the service runs as long as it
   * owns a process: the daemon that ended hands over to one that is left. True when this
   * handled the exit; false: it ends the run, as any service's exit.
   */
  private forkingExited(name: string, state: ServiceState, status: ExitStatus): boolean {
    const plan = this.record(name)!.plan;
    if (state.id === 'starting' && state.awaiting === 'start-program') {
      if (!(status.kind === 'exited' && status.code === 0)) {
        this.log('warn', say.startProgramFailed(name, describeExit(status)));
        return false;
      }
      const reason = plan.pidFile != null ? `its pid_file ${plan.pidFile} has not appeared` : 'no daemon found';
      this.enter(name, { id: 'starting', pid: null, since: state.since, lastReason: reason, awaiting: 'daemon' });
      this.emit({ kind: 'find-daemon', service: name, plan });
      return true;
    }
    if ((state.id === 'running' || state.id === 'ready' || state.id === 'starting') && plan.pidFile == null && this.owns(name)) {
      this.update(name, { lastExit: status });
      this.log('info', say.daemonHandsOver(name, pidOf(state) ?? 0, describeExit(status)));
      this.emit({ kind: 'find-daemon', service: name, plan });
      return true;
    }
    return false;
  }

  /** No WATCHDOG=1 in time (or WATCHDOG=trigger): the service hangs. SIGABRT to its main process, then the usual stop; its policy decides what follows. */
  private watchdogFired(name: string, triggered: boolean): void {
    const record = this.record(name);
    const state = record?.state;
    if (record === undefined || state === undefined || state.id !== 'ready') return;
    this.log('error', say.watchdogFired(name, record.plan.watchdog ?? 0, state.pid, triggered));
    this.stop(name, 'watchdog');
  }

  private daemonFound(name: string, pid: number): void {
    const record = this.record(name);
    if (record === undefined || record.plan.type !== 'forking') return;
    const state = record.state;
    if ((state.id === 'running' || state.id === 'ready') || (state.id === 'starting' && state.awaiting === undefined)) {
      // The tracked set's new main process, after the previous one ended.
      if (state.pid !== pid) {
        this.log('info', say.daemonFound(name, pid, null));
        this.enter(name, { ...state, pid });
      }
      return;
    }
    if (state.id !== 'starting' || state.awaiting !== 'daemon') return;
    const plan = record.plan;
    this.log('info', say.daemonFound(name, pid, plan.pidFile ?? null));
    if (plan.ready !== null) {
      // The ready timer armed at the spawn goes on: it covers the whole start.
      if (!this.enter(name, { id: 'starting', pid, since: state.since, lastReason: 'no check has passed yet' })) return;
      this.emit({ kind: 'probe-start', service: name, probe: 'ready', pid, plan });
      return;
    }
    this.cancel('ready', name);
    if (!this.enter(name, { id: 'running', pid, since: this.now })) return;
    this.startHealth(name, pid);
  }

  private daemonMissing(name: string, reason: string): void {
    const record = this.record(name);
    if (record === undefined || record.plan.type !== 'forking') return;
    const state = record.state;
    if (state.id !== 'starting' && state.id !== 'running' && state.id !== 'ready') return;
    if (state.id === 'starting' && state.awaiting === 'daemon' && record.plan.pidFile != null) {
      // Looked for again until the start timeout; the reason is what the timeout will say.
      if (state.lastReason !== reason) this.enter(name, { ...state, lastReason: reason });
      return;
    }
    if (state.id === 'starting' && state.awaiting === 'start-program') return;
    // Without a pid_file the tracked set decides: nothing is left, so the run has ended.
    this.stopProbes(name);
    // Its start program's exit 0, or the status of the last daemon that ended.
    const exit = state.id === 'starting' ? { kind: 'exited' as const, code: 0 } : record.lastExit ?? { kind: 'exited' as const, code: 0 };
    this.log(succeeded(record.plan, exit) ? 'info' : 'warn', say.daemonGone(name, reason, describeExit(exit)));
    this.afterRun(name, exit, record.startedAt === null ? 0 : this.now - record.startedAt, null);
  }

  /**
   * An sd_notify message from a process the service owns (the process layer checked the
   * sender's credentials). Fields tend does not know are ignored, as systemd does.
   */
  private notified(name: string, sender: number, fields: readonly (readonly [string, string])[]): void {
    const record = this.record(name);
    if (record === undefined) return;
    // A message from its process is proof that the command runs, should it come before the
    // exec's answer (the two reach the loop on different fds).
    if (record.state.id === 'spawning' && record.state.pid !== null) this.spawned(name, record.state.pid);
    for (const [key, value] of fields) {
      const state = this.record(name)!.state;
      switch (key) {
        case 'STATUS':
          this.update(name, { statusText: value === '' ? null : value });
          break;
        case 'READY':
          if (value === '1' && state.id === 'starting' && state.pid !== null && record.plan.ready?.check.kind === 'sd_notify') this.readyResult(name, state.pid, null);
          break;
        case 'MAINPID': {
          const pid = /^[1-9][0-9]*$/.test(value) ? Number(value) : null;
          if (pid === null || !isUp(state) || state.pid === null || state.pid === pid) break;
          if (!this.seen.owned(name).includes(pid)) {
            this.log('warn', say.mainPidRefused(name, value, sender));
            break;
          }
          this.log('info', say.mainPid(name, pid));
          this.enter(name, { ...state, pid });
          this.emit({ kind: 'adopt-main', service: name, pid, previous: state.pid! });
          break;
        }
        case 'EXTEND_TIMEOUT_USEC': {
          const usec = /^[0-9]+$/.test(value) ? Number(value) : null;
          if (usec === null || state.id !== 'starting') break;
          this.log('info', say.startExtended(name, Math.ceil(usec / 1000)));
          this.arm('ready', name, Math.ceil(usec / 1000));
          break;
        }
        case 'WATCHDOG': {
          const watchdog = record.plan.watchdog ?? null;
          if (watchdog === null || state.id !== 'ready') break;
          if (value === '1') this.arm('watchdog', name, watchdog);
          else if (value === 'trigger') this.watchdogFired(name, true);
          break;
        }
        case 'STOPPING':
          if (value === '1') this.log('info', say.saysStopping(name));
          break;
        case 'RELOADING':
          if (value === '1') this.log('info', say.saysReloading(name));
          break;
        default:
          break;
      }
    }
  }

  /** What follows a run that ended on its own, was unhealthy, or never got ready. */
  private afterRun(name: string, exit: ExitStatus, uptime: number, notReady: string | null): void {
    const record = this.record(name)!;
    const plan = record.plan;
    const stayDown = (): void => {
      if (notReady !== null) this.enter(name, plan.type === 'oneshot' ? { id: 'failed', reason: notReady } : { id: 'fatal', reason: notReady });
      else if (plan.type === 'oneshot') this.enter(name, { id: 'failed', reason: describeExit(exit) });
      else this.enter(name, { id: 'exited', exit });
    };
    // A shutdown cancels restarts: whatever ends now stays down.
    if (this.shuttingDown) {
      stayDown();
      return;
    }
    const decision = decideRestart({ service: plan, exit, uptime, history: record.history, now: this.now, random: this.seen.random() });
    switch (decision.kind) {
      case 'restart': {
        if (!this.enter(name, { id: 'backoff', until: this.now + decision.delay, delay: decision.delay })) return;
        const restarts = record.restarts + 1;
        this.update(name, { history: decision.history, restarts });
        this.log('info', say.restarting(name, decision.delay, restarts));
        this.arm('backoff', name, decision.delay);
        return;
      }
      case 'give-up':
        this.log('error', say.gaveUp(name, decision.reason));
        this.enter(name, plan.type === 'oneshot' ? { id: 'failed', reason: decision.reason } : { id: 'fatal', reason: decision.reason });
        return;
      case 'stay-down':
        stayDown();
        return;
    }
  }

  // ---- stopping ----------------------------------------------------------------------

  /**
   * The first move of a stop: stop_command when set (with MAINPID), else the stop signal
   * and SIGCONT, with SIGKILL armed at stop_timeout. `main`: the service's own process, or
   * null when only what a run left behind is stopped.
   */
  private beginStopSequence(plan: ServicePlan, how: string | null, main: number | null): StopStep {
    if (how !== null) this.log('info', say.stopping(plan.name, plan.stopCommand !== null ? 'stop_command' : signalName(plan.stopSignal)));
    if (plan.stopCommand !== null) {
      this.emit({ kind: 'spawn-stop-command', service: plan.name, plan, mainPid: main });
      return { id: 'command' };
    }
    return this.signalAndWait(plan, plan.stopSignal, main);
  }

  private abortAndWait(plan: ServicePlan, main: number | null): StopStep {
    this.log('info', say.stopping(plan.name, signalName(SIGABRT)));
    return this.signalAndWait(plan, SIGABRT, main);
  }

  /**
   * The stop signal goes where stop_mode says: `group`, to every process the service owns;
   * `main` and `mixed`, to its own process only (a prefork master finishes its workers'
   * jobs, then exits). With no own process to ask, what is left gets it. A `main` stop is
   * done when its own process has exited; the others when every process is gone.
   */
  private signalAndWait(plan: ServicePlan, signal: number | null, main: number | null): StopStep {
    const toMain = plan.stopMode !== 'group' && main !== null;
    if (signal !== null) {
      if (toMain) {
        this.emit({ kind: 'signal-pid', pid: main, signal });
        this.emit({ kind: 'signal-pid', pid: main, signal: SIGCONT });
      } else this.emit({ kind: 'signal', service: plan.name, signal, cont: true });
    }
    this.arm('grace', plan.name, plan.stopTimeout);
    if (!(plan.stopMode === 'main' && main !== null)) this.emit({ kind: 'watch-gone', service: plan.name, rekill: false });
    return { id: 'grace', signal };
  }

  /** Stops the service and everything it owns; `intent` says what follows. */
  private stop(name: string, intent: StopIntent): void {
    const record = this.record(name)!;
    const state = record.state;
    switch (state.id) {
      case 'stopping':
        // A later, stronger request replaces what the stop leads to: a stop by hand or the
        // shutdown wins over a restart.
        if ((intent === 'stop' || intent === 'shutdown') && state.intent !== intent) this.enter(name, { ...state, intent });
        return;
      case 'clearing':
        // Already stopping its leftovers: that stop carries on, towards the new intent.
        this.enter(name, { id: 'stopping', pid: null, since: state.since, intent, step: state.step });
        this.finishStopIfDone(name);
        return;
      case 'starting':
      case 'running':
      case 'ready': {
        this.stopProbes(name);
        // A hung service gets SIGABRT in place of its stop signal (systemd's WatchdogSignal),
        // SIGKILL at stop_timeout: a stop signal sent beside it could end the process first,
        // and the dump or trace the abort asks for would be lost.
        const step = intent === 'watchdog'
          ? this.abortAndWait(record.plan, state.pid)
          : this.beginStopSequence(record.plan, 'log', state.pid);
        this.enter(name, { id: 'stopping', pid: state.pid, since: this.now, intent, step, ofRun: true });
        return;
      }
      case 'preparing':
        this.cancel('hook', name);
        // Its pre_start is one of its processes: stopped like them (stop signal, SIGKILL at
        // stop_timeout), and waited for; the spawn will not come.
        if (this.owns(name)) {
          const step = this.beginStopSequence(record.plan, 'log', null);
          this.enter(name, { id: 'stopping', pid: null, since: this.now, intent, step });
          return;
        }
        this.emit({ kind: 'kill-hook', service: name, signal: record.plan.stopSignal });
        this.enter(name, intent === 'restart' ? { id: 'queued', since: this.now } : { id: 'stopped', byHand: intent === 'stop' });
        if (record.removed && this.record(name)?.state.id === 'stopped') this.forget(name);
        return;
      case 'finishing': {
        // Its post_stop finishes; what follows is now the stop's.
        const then = state.then;
        const next: AfterRun | null = intent === 'stop' ? { id: 'stopped', byHand: true }
          : intent === 'shutdown' ? (then.id === 'stopped' && then.byHand ? then : { id: 'stopped', byHand: false })
          : intent === 'restart' ? { id: 'queued', since: this.now }
          : null;
        if (next === null) return;
        if (then.id === 'backoff') this.cancel('backoff', name);
        this.enter(name, { ...state, then: next });
        return;
      }
      case 'spawning': {
        if (state.pid !== null) {
          // The exec helper runs: it is stopped like the command it is about to become.
          const step = this.beginStopSequence(record.plan, 'log', state.pid);
          this.enter(name, { id: 'stopping', pid: state.pid, since: this.now, intent, step, ofRun: true });
          return;
        }
        // No process yet (the fork's answer, or the failure, is on its way): nothing to stop.
        this.enter(name, { id: 'stopped', byHand: intent === 'stop' });
        return;
      }
      case 'queued':
      case 'backoff':
      case 'stopped':
      case 'exited':
      case 'fatal':
      case 'completed':
      case 'failed': {
        if (state.id === 'backoff') this.cancel('backoff', name);
        // Leftovers of a run that ended still need stopping, whatever the state says — but
        // not with stop_mode main, where they are meant to outlive the run.
        if (record.plan.stopMode !== 'main' && this.owns(name)) {
          const step = this.beginStopSequence(record.plan, 'log', null);
          this.enter(name, { id: 'stopping', pid: null, since: this.now, intent, step });
          return;
        }
        const byHand = intent === 'stop';
        if (state.id !== 'stopped' || state.byHand !== byHand) {
          // A stop at shutdown leaves a service stopped by hand as it was.
          if (!(state.id === 'stopped' && !byHand)) this.enter(name, { id: 'stopped', byHand });
        }
        if (record.removed) this.forget(name);
        return;
      }
      default:
        unreachable(state);
    }
  }

  private stopCommandExited(name: string, status: ExitStatus): void {
    const record = this.record(name);
    if (record === undefined) return;
    const state = record.state;
    if ((state.id !== 'stopping' && state.id !== 'clearing') || state.step.id !== 'command') return;
    let signal: number | null = null;
    if (!(status.kind === 'exited' && status.code === 0)) {
      signal = record.plan.stopSignal;
      this.log('warn', say.stopCommandFailed(name, describeExit(status), signalName(signal)));
    }
    this.enter(name, { ...state, step: this.signalAndWait(record.plan, signal, pidOf(state)) });
  }

  private serviceGone(name: string): void {
    const record = this.record(name);
    if (record === undefined) return;
    const state = record.state;
    if ((state.id !== 'stopping' && state.id !== 'clearing') || (state.step.id !== 'grace' && state.step.id !== 'killing')) return;
    this.cancel(state.step.id === 'grace' ? 'grace' : 'stuck', name);
    this.emit({ kind: 'unwatch-gone', service: name });
    this.enter(name, { ...state, step: { id: 'gone' } });
    this.finishStopIfDone(name);
  }

  private timer(timer: TimerName, service: string | null): void {
    switch (timer) {
      case 'backoff': {
        const record = service === null ? undefined : this.record(service);
        if (record?.state.id === 'backoff' && !this.shuttingDown) this.enter(service!, { id: 'queued', since: this.now });
        return;
      }
      case 'ready': {
        const record = service === null ? undefined : this.record(service);
        if (record?.state.id !== 'starting') return;
        this.log('warn', say.notReady(service!, startTimeout(record.plan), record.state.lastReason));
        this.stop(service!, 'not-ready');
        return;
      }
      case 'grace': {
        const record = service === null ? undefined : this.record(service);
        const state = record?.state;
        if (state === undefined || (state.id !== 'stopping' && state.id !== 'clearing') || state.step.id !== 'grace') return;
        const own = pidOf(state);
        const mainOnly = record!.plan.stopMode === 'main' && own !== null;
        const left = mainOnly ? [own] : this.seen.owned(service!);
        if (left.length > 0) {
          const asked = state.step.signal === null ? 'stop_command' : signalName(state.step.signal);
          this.log('warn', say.killedAfterTimeout(service!, asked, record!.plan.stopTimeout, left));
        }
        if (mainOnly) {
          // stop_mode main: only its own process is killed; the rest outlives the run.
          this.emit({ kind: 'signal-pid', pid: own, signal: SIGKILL });
        } else {
          this.emit({ kind: 'kill', service: service! });
          // Repeat the scan until none is found: a process forked between a listing and the kill escaped it.
          this.emit({ kind: 'watch-gone', service: service!, rekill: true });
        }
        this.arm('stuck', service, STUCK_AFTER_KILL_MS);
        this.enter(service!, { ...state, step: { id: 'killing', signal: state.step.signal } });
        return;
      }
      case 'stuck': {
        const record = service === null ? undefined : this.record(service);
        const state = record?.state;
        if (state === undefined || (state.id !== 'stopping' && state.id !== 'clearing') || state.step.id !== 'killing') return;
        const own = pidOf(state);
        const left = record!.plan.stopMode === 'main' && own !== null ? [own] : this.seen.owned(service!);
        if (left.length > 0) this.log('error', say.stuck(service!, left));
        this.emit({ kind: 'unwatch-gone', service: service! });
        this.enter(service!, { ...state, step: { id: 'gone' } });
        this.finishStopIfDone(service!);
        return;
      }
      case 'watchdog':
        if (service !== null) this.watchdogFired(service, false);
        return;
      case 'hook': {
        const record = service === null ? undefined : this.record(service);
        const state = record?.state;
        if (state === undefined || (state.id !== 'preparing' && state.id !== 'finishing')) return;
        const hook = state.id === 'preparing' ? 'pre_start' : 'post_stop';
        this.log('warn', say.hookTimedOut(service!, hook, state.id === 'preparing' ? startTimeout(record!.plan) : record!.plan.stopTimeout));
        this.emit({ kind: 'kill-hook', service: service!, signal: SIGKILL });
        return;
      }
      case 'timeout': {
        const record = service === null ? undefined : this.record(service);
        if (record === undefined || !isUp(record.state) || this.shuttingDown) return;
        this.log('warn', say.runTimedOut(service!, record.plan.job?.timeout ?? 0, pidOf(record.state)));
        // Every run of a job has the same timeout, and detached runs started earlier: by now
        // each of them is past its own deadline too, so stopping all the service owns stops
        // no run that still had time.
        this.stop(service!, 'timeout');
        return;
      }
      case 'run-timeout':
        if (service !== null) this.detachedDeadlines(service);
        return;
      case 'shutdown-delay':
        if (this.phase.id === 'shutting-down' && this.phase.step.id === 'delay') this.beginStopping();
        return;
      case 'shutdown-deadline':
        this.deadline();
        return;
      case 'sweep-grace':
        if (this.phase.id === 'shutting-down' && this.phase.step.id === 'sweep' && this.phase.step.signal === SIGTERM) {
          this.emit({ kind: 'unwatch-gone', service: null });
          this.phase = { ...this.phase, step: { ...this.phase.step, signal: SIGKILL } };
          this.emit({ kind: 'sweep', signal: SIGKILL });
        }
        return;
      case 'sweep-stuck':
        if (this.phase.id === 'shutting-down' && this.phase.step.id === 'sweep') this.endSweep();
        return;
      default:
        unreachable(timer);
    }
  }

  /** A stop is done once every process is gone and the service's own exit has been seen. */
  private finishStopIfDone(name: string): void {
    const record = this.record(name)!;
    const state = record.state;
    if (state.id === 'clearing') {
      if (state.step.id !== 'gone') return;
      if (this.shuttingDown) this.enter(name, { id: 'stopping', pid: null, since: state.since, intent: 'shutdown', step: state.step });
      else {
        this.begin(name);
        return;
      }
    }
    const current = this.record(name)!.state;
    if (current.id !== 'stopping' || current.step.id !== 'gone' || current.pid !== null) return;
    const took = this.now - current.since;
    this.log('info', say.stopped(name, took));
    if (this.phase.id === 'shutting-down' && took > HELD_UP_MS) this.log('info', say.heldShutdownUp(name, took));
    const intent = this.shuttingDown && current.intent !== 'stop' ? 'shutdown' : current.intent;
    switch (intent) {
      case 'timeout': {
        const timeout = record.plan.job?.timeout ?? 0;
        const reason = `timed out after ${say.duration(timeout)}`;
        this.jobRan(name, 'failure', reason);
        this.afterRun(name, record.lastExit ?? { kind: 'signaled', signal: record.plan.stopSignal }, record.startedAt === null ? 0 : current.since - record.startedAt, reason);
        break;
      }
      case 'replace':
        this.jobRan(name, 'replaced', `stopped for the next scheduled run${record.lastExit === null ? '' : ` (${describeExit(record.lastExit)})`}`);
        this.enter(name, { id: 'queued', since: this.now });
        break;
      case 'unhealthy':
      case 'memory-limit':
      case 'watchdog':
      case 'not-ready': {
        const ended: ExitStatus = record.lastExit ?? { kind: 'signaled' as const, signal: record.plan.stopSignal };
        let exit: ExitStatus = intent === 'memory-limit' && ended.oom !== true ? { ...ended, limit: 'memory' } : ended;
        if (intent === 'watchdog') {
          exit = { ...ended, watchdog: true };
          this.update(name, { lastExit: exit });
        }
        const reason = intent === 'not-ready' ? `not ready within ${say.duration(startTimeout(record.plan))}` : null;
        this.afterRun(name, exit, record.startedAt === null ? 0 : current.since - record.startedAt, reason);
        break;
      }
      case 'restart':
        this.enter(name, { id: 'queued', since: this.now });
        break;
      case 'stop':
      case 'shutdown':
        this.emit({ kind: 'release', service: name });
        this.enter(name, { id: 'stopped', byHand: intent === 'stop' });
        break;
      default:
        unreachable(intent);
    }
    if (this.record(name)?.removed === true && this.record(name)?.state.id === 'stopped') this.forget(name);
  }

  /** A service a reload removed has stopped: it is no longer supervised. */
  private forget(name: string): void {
    this.emit({ kind: 'release', service: name });
    this.services.delete(name);
  }

  // ---- schedules ---------------------------------------------------------------------

  /**
   * A scheduled run is due. Nothing running: it starts (its stopped dependencies first).
   * A run still going: `concurrency` decides — forbid skips (counted), replace stops the
   * running one first (it counts as replaced), allow detaches the running one (it goes on,
   * its exit and timeout still watched) and starts the new one as the service's own process.
   * A run about to start or being stopped already takes the due time: the due run is skipped.
   */
  private scheduledRun(name: string): void {
    const record = this.record(name);
    if (record === undefined || this.shuttingDown || !this.schedules.has(name)) return;
    const state = record.state;
    const concurrency = record.plan.job?.concurrency ?? 'forbid';
    const detached = record.job?.detached.length ?? 0;
    const busy = !isSettled(state) || (detached > 0 && concurrency !== 'allow');
    if (!busy) {
      this.log('info', say.scheduledRun(name));
      this.runNow(name);
      return;
    }
    const upNow = isUp(state) || (isSettled(state) && detached > 0);
    if (concurrency === 'replace' && upNow) {
      this.log('info', say.scheduledRunReplaces(name, pidOf(state)));
      this.stop(name, 'replace');
      if (isSettled(this.record(name)!.state)) this.runNow(name); // nothing was left to stop
      return;
    }
    if (concurrency === 'allow' && isUp(state) && state.pid !== null) {
      this.detachRun(name, state.pid);
      this.log('info', say.scheduledRunAlongside(name, state.pid, (this.record(name)!.job?.detached.length ?? 0) + 1));
      return;
    }
    if (concurrency !== 'forbid' && state.id === 'backoff') {
      // A failed run waits to be retried: the due run takes its place now.
      this.log('info', say.scheduledRun(name));
      this.queue(name);
      return;
    }
    this.log('warn', say.scheduledRunSkipped(name, stateName(state)));
    this.jobRan(name, 'skipped', `due while the previous run was ${stateName(state)}`);
  }

  private runNow(name: string): void {
    for (const dep of [...dependencyClosure(this.plan, name), name]) {
      const r = this.record(dep);
      if (r !== undefined && (dep === name || r.state.id === 'stopped')) this.queue(dep);
    }
  }

  /** concurrency: allow — the running run goes on detached; the service queues its next run. */
  private detachRun(name: string, pid: number): void {
    const record = this.record(name)!;
    this.stopProbes(name);
    const timeout = record.plan.job?.timeout ?? null;
    this.cancel('timeout', name);
    const since = record.startedAt ?? this.now;
    const run: DetachedRun = { pid, since, deadline: timeout === null ? null : since + timeout, timedOut: false, killAt: null };
    const job = record.job ?? NO_JOB;
    this.update(name, { job: { ...job, detached: [...job.detached, run] } });
    this.enter(name, { id: 'queued', since: this.now });
    this.armDetachedDeadline(name);
  }

  private armDetachedDeadline(name: string): void {
    const runs = this.record(name)?.job?.detached ?? [];
    let next: number | null = null;
    for (const run of runs) {
      const at = run.timedOut ? run.killAt : run.deadline;
      if (at !== null && (next === null || at < next)) next = at;
    }
    if (next === null) this.cancel('run-timeout', name);
    else this.arm('run-timeout', name, next - this.now);
  }

  /** Detached runs past their timeout get the stop signal; those past stop_timeout after it, SIGKILL. */
  private detachedDeadlines(name: string): void {
    const record = this.record(name);
    if (record === undefined || record.job === undefined) return;
    const plan = record.plan;
    const runs = record.job.detached.map((run): DetachedRun => {
      if (!run.timedOut && run.deadline !== null && run.deadline <= this.now) {
        this.log('warn', say.runTimedOut(name, plan.job?.timeout ?? 0, run.pid));
        this.emit({ kind: 'signal-group', pgid: run.pid, signal: plan.stopSignal });
        this.emit({ kind: 'signal-group', pgid: run.pid, signal: SIGCONT });
        return { ...run, timedOut: true, killAt: this.now + plan.stopTimeout };
      }
      if (run.timedOut && run.killAt !== null && run.killAt <= this.now) {
        this.log('warn', say.earlierRunKilled(name, run.pid));
        this.emit({ kind: 'signal-group', pgid: run.pid, signal: SIGKILL });
        return { ...run, killAt: null };
      }
      return run;
    });
    this.update(name, { job: { ...record.job, detached: runs } });
    this.armDetachedDeadline(name);
  }

  /** A detached run ended: counted by its exit (a timed-out one as failed) unless the service is being stopped. */
  private detachedExited(name: string, pid: number, status: ExitStatus): void {
    const record = this.record(name)!;
    const job = record.job!;
    const run = job.detached.find((r) => r.pid === pid)!;
    this.update(name, { job: { ...job, detached: job.detached.filter((r) => r.pid !== pid) } });
    this.armDetachedDeadline(name);
    const stopping = record.state.id === 'stopping' && record.state.intent !== 'replace' && record.state.intent !== 'timeout';
    const result: JobResult = run.timedOut || !succeeded(record.plan, status) ? 'failure' : 'success';
    const detail = run.timedOut ? `timed out after ${say.duration(record.plan.job?.timeout ?? 0)}` : describeExit(status);
    this.log(result === 'success' ? 'info' : 'warn', say.earlierRunEnded(name, pid, stopping ? 'stopped' : result, detail));
    if (!stopping) this.jobRan(name, result, detail);
  }

  /** Counts how a scheduled job's run ended (services without a schedule keep no job record). */
  private jobRan(name: string, result: JobResult, detail: string): void {
    const record = this.record(name);
    if (record === undefined || record.plan.schedule === null) return;
    const job = record.job ?? NO_JOB;
    this.changes.push({ type: 'job', service: name, result, detail });
    this.update(name, {
      job: {
        ...job,
        counts: { ...job.counts, [result]: job.counts[result] + 1 },
        last: result === 'skipped' ? job.last : { result, at: this.now, detail },
        lastSuccess: result === 'success' ? this.now : job.lastSuccess,
      },
    });
  }

  // ---- reload ------------------------------------------------------------------------

  /** Applies an already validated Plan (README, "Reload"). */
  private reload(next: Plan, envChanged: readonly string[]): void {
    const diff = diffPlans(this.plan, next, envChanged);
    const mainName = this.plan.main;
    const pending = [...diff.pending];
    // A second main cannot join a running container: an added service marked main runs
    // as a sidecar until the next start, and the change is reported as pending.
    const incoming = next.services.map((service) => {
      if (!service.main || mainName === null || !diff.added.includes(service.name)) return service;
      pending.push(`services.${service.name}.main (the container already has main ${mainName})`);
      return { ...service, main: false };
    });
    const byName = new Map(incoming.map((s) => [s.name, s]));
    // Keep manifest order for the new plan, but main and its pending changes stay as they run.
    const kept: ServicePlan[] = [];
    for (const service of incoming) {
      const running = this.record(service.name);
      if (running !== undefined && !running.removed && (running.plan.main || service.main) && !diff.added.includes(service.name)) kept.push(running.plan);
      else kept.push(service);
    }
    if (mainName !== null && !byName.has(mainName)) kept.push(this.record(mainName)!.plan);
    // The graph is the plan's: recomputed for the services that now make it up.
    this.plan = {
      ...next, main: mainName, services: kept, startWaves: startWaves(kept), stopWaves: stopWaves(kept),
      settings: { ...this.plan.settings, logLevel: next.settings.logLevel },
    };

    for (const name of diff.removed) {
      this.dropSchedule(name);
      this.update(name, { removed: true });
      this.stop(name, 'shutdown');
    }
    for (const name of diff.changed) {
      const service = byName.get(name)!;
      const record = this.update(name, { plan: service });
      this.dropSchedule(name);
      if (service.schedule !== null && service.autostart) this.arrangeSchedule(service);
      if (record.state.id === 'stopped' && record.state.byHand) continue;
      // A run on its way with the old definition — its pre_start running, or its exec helper
      // not yet past exec — is restarted like one that is up; a reload must not leave it be.
      const state = record.state;
      if (isUp(state) || state.id === 'preparing' || (state.id === 'spawning' && state.pid !== null)) this.stop(name, 'restart');
      else if (service.autostart && service.schedule === null) {
        // Exited, fatal or backing off: the new definition gets a fresh start (the usual
        // reason to reload is to fix the service that kept failing).
        this.update(name, { history: NO_HISTORY });
        this.queue(name);
      }
    }
    for (const name of diff.added) {
      const service = byName.get(name)!;
      const retiring = this.record(name);
      if (retiring !== undefined) {
        // Removed by an earlier reload and still stopping: the new definition takes the
        // record over, and starts once that stop is done — never two of one name at once.
        this.update(name, { plan: service, removed: false, history: NO_HISTORY });
        const state = retiring.state;
        if (state.id === 'stopping' && service.autostart && service.schedule === null) this.enter(name, { ...state, intent: 'restart' });
        else if (state.id === 'stopping' && service.autostart && service.schedule !== null) this.arrangeSchedule(service);
        else if (state.id !== 'stopping') this.startAdded(service);
        continue;
      }
      this.services.set(name, freshRecord(service));
      this.startAdded(service);
    }
    // Records in manifest order; those still stopping after their removal at the end.
    const ordered = new Map<string, ServiceRecord>();
    for (const service of kept) ordered.set(service.name, this.services.get(service.name)!);
    for (const [name, record] of this.services) if (!ordered.has(name)) ordered.set(name, record);
    this.services.clear();
    for (const [name, record] of ordered) this.services.set(name, record);
    this.reply = { kind: 'reloaded', diff: { ...diff, pending } };
  }

  private startAdded(service: ServicePlan): void {
    if (!service.autostart) return;
    if (service.schedule !== null) this.arrangeSchedule(service);
    else this.queue(service.name);
  }

  // ---- settle: dependencies, phase, endings ------------------------------------------

  /** Looks at every service and does what the states now call for, until nothing changes. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      const before = this.effects.length;
      const revision = this.revision;
      if (this.phase.id === 'shutting-down') this.advanceShutdown();
      else if (this.phase.id === 'starting' || this.phase.id === 'running') {
        const queued: string[] = [];
        for (const [name, record] of this.services) if (record.state.id === 'queued') queued.push(name);
        for (const name of this.inStartOrder(queued)) {
          if (this.record(name)?.state.id === 'queued') this.tryLaunch(name);
        }
        if (this.phase.id === 'starting' && [...this.phase.targets].every((name) => this.reachedTarget(name))) {
          const since = this.phase.since;
          this.setPhase({ id: 'running' });
          this.log('info', say.allStarted(this.now - since));
        }
        this.checkEndings();
      }
      if (this.effects.length === before && this.revision === revision) return;
    }
    throw new Error('the supervisor did not settle in 1000 rounds');
  }

  private conditionMet(dep: ServiceRecord, condition: DependencyCondition): boolean {
    const state = dep.state;
    switch (condition) {
      case 'started':
        // A forking service has started once its daemon is found, not while its start program runs.
        if (state.id === 'starting' && state.awaiting !== undefined) return false;
        return isUp(state) || state.id === 'completed' || (state.id === 'exited' && dep.startedAt !== null);
      case 'ready':
        return state.id === 'ready' || (dep.plan.ready === null && state.id === 'running');
      case 'completed':
        return state.id === 'completed';
    }
  }

  /** A dependency that has settled without meeting its condition never will by itself. */
  private conditionImpossible(dep: ServiceRecord, condition: DependencyCondition): string | null {
    const state = dep.state;
    const name = dep.plan.name;
    switch (state.id) {
      case 'fatal':
        return `${name} gave up (${state.reason})`;
      case 'failed':
        return `${name} failed (${state.reason})`;
      case 'exited':
        return condition === 'started' ? null : `${name} exited before it was ${condition}`;
      case 'stopped':
        return state.byHand ? `${name} was stopped by hand` : null;
      default:
        return null;
    }
  }

  private tryLaunch(name: string): void {
    const record = this.record(name)!;
    for (const dependency of record.plan.dependsOn) {
      const dep = this.record(dependency.name);
      if (dep === undefined || dep.removed) continue; // removed by a reload: nothing to wait for
      if (this.conditionMet(dep, dependency.condition)) continue;
      const impossible = this.conditionImpossible(dep, dependency.condition);
      if (impossible !== null) {
        this.cannotStart(name, `${name} needs ${dependency.name} ${dependency.condition}, but ${impossible}`);
        return;
      }
      if (dep.state.id === 'stopped') this.queue(dependency.name); // pulled in: a dependency starts first
      return;
    }
    this.launch(name);
  }

  private cannotStart(name: string, chain: string): void {
    this.enter(name, { id: 'stopped', byHand: false });
    this.log('error', say.cannotStart(chain));
    if (this.phase.id === 'starting' && this.phase.targets.has(name)) this.beginShutdown(`the start failed: ${chain}`, 'start-failed', false);
  }

  private reachedTarget(name: string): boolean {
    const record = this.record(name);
    if (record === undefined) return true;
    const state = record.state;
    if (record.plan.type === 'oneshot') return state.id === 'completed';
    return state.id === 'ready' || (state.id === 'running' && record.plan.ready === null) || isSettled(state);
  }

  /** Main's end, a critical service giving up, a failed start, or nothing left to run. */
  private checkEndings(): void {
    if (this.phase.id !== 'starting' && this.phase.id !== 'running') return;
    const main = this.plan.main === null ? undefined : this.record(this.plan.main);
    if (main !== undefined) {
      const state = main.state;
      if (state.id === 'exited' || state.id === 'fatal' || state.id === 'failed' || state.id === 'completed') {
        // A main that could not be started at all ends the container with its 127 or 126.
        const fatal = state.id === 'fatal' && state.cannotStart !== true;
        const how = state.id === 'fatal' ? (fatal ? `gave up (${state.reason})` : `cannot be started (${state.reason})`) : 'ended';
        this.beginShutdown(`main service ${main.plan.name} ${how}`, fatal ? 'critical' : 'main-ended', false);
        return;
      }
    }
    for (const record of this.services.values()) {
      const state = record.state;
      // critical acts on any final failure, whatever the restart policy: it gave up, a
      // oneshot failed, or a longrun its policy leaves down ended badly.
      const failure = !record.plan.critical ? null
        : state.id === 'fatal' ? `gave up (${state.reason})`
        : state.id === 'failed' ? `failed (${state.reason})`
        : state.id === 'exited' && !succeeded(record.plan, state.exit) ? `ended: ${describeExit(state.exit)}`
        : null;
      if (failure !== null) {
        this.beginShutdown(`critical service ${record.plan.name} ${failure}`, 'critical', false);
        return;
      }
      if (state.id === 'failed' && this.phase.id === 'starting' && this.phase.targets.has(record.plan.name)) {
        this.beginShutdown(`the start failed: oneshot ${record.plan.name} failed (${state.reason})`, 'start-failed', false);
        return;
      }
    }
    if (main === undefined && this.phase.id !== 'starting' && this.schedules.size === 0) {
      // A service stopped by hand is a decision, not an ending: tend stays up until asked to stop.
      const busy = [...this.services.entries()].some(([name, r]) => !isSettled(r.state) || (r.state.id === 'stopped' && r.state.byHand) || this.owns(name));
      if (!busy) this.beginShutdown('nothing is left to run', 'idle', false);
    }
  }

  // ---- the ordered shutdown ----------------------------------------------------------

  private beginShutdown(reason: string, cause: Ending['cause'], requested: boolean): void {
    if (this.phase.id === 'shutting-down') {
      if (requested && !this.phase.ending.requested) this.phase = { ...this.phase, ending: { ...this.phase.ending, requested: true } };
      return;
    }
    if (this.phase.id === 'done') return;
    // Judged before the shutdown stops anything: with no main, tend's status says whether
    // every service that ran, ran well.
    const succeededBefore = [...this.services.values()].every((r) =>
      r.state.id !== 'fatal' && r.state.id !== 'failed' && (r.lastExit === null || succeeded(r.plan, r.lastExit)));
    const ending: Ending = { cause, requested, internalError: cause === 'internal', succeededBefore };
    this.log('info', say.shutdownBegins(reason));
    // A shutdown cancels pending starts, probes, backoffs and schedules.
    for (const name of [...this.schedules]) this.dropSchedule(name);
    for (const [name, record] of this.services) {
      if (record.state.id === 'backoff') this.cancel('backoff', name);
      if (isUp(record.state)) this.stopProbes(name);
    }
    this.setPhase({ id: 'shutting-down', ending, step: { id: 'delay' }, deadlinePassed: false, forced: false });
    const delay = this.plan.settings.shutdownDelay;
    if (delay > 0) {
      this.log('info', say.shutdownDelay(delay));
      this.arm('shutdown-delay', null, delay);
    } else {
      this.beginStopping();
    }
  }

  private beginStopping(): void {
    if (this.phase.id !== 'shutting-down') return;
    this.arm('shutdown-deadline', null, this.plan.settings.shutdownTimeout);
    this.phase = { ...this.phase, step: { id: 'stopping', started: this.now, asked: new Set() } };
  }

  /** Services still stopping for the shutdown, for the log. */
  private stillStopping(): string[] {
    if (this.phase.id !== 'shutting-down' || this.phase.step.id !== 'stopping') return [];
    const asked = this.phase.step.asked;
    return [...this.services.entries()].filter(([name, r]) => asked.has(name) && r.state.id === 'stopping').map(([name]) => name);
  }

  /**
   * Reverse dependency order, in the plan's stop waves: a service's turn comes once every
   * service that depends on it has stopped; independent services stop in parallel.
   */
  private advanceShutdown(): void {
    const phase = this.phase;
    if (phase.id !== 'shutting-down' || phase.step.id !== 'stopping') return;
    // Runs in every round of every step of a shutdown: it allocates only when a service's
    // turn comes (the asked set is copied once, on the first addition — the previous state
    // keeps its own), so a shutdown of N services stays linear in N per step.
    const before = phase.step.asked;
    let asked: Set<string> | null = null;
    const started = phase.step.started;
    const done = (name: string): boolean => {
      const record = this.record(name);
      return record === undefined || ((asked ?? before).has(name) && record.state.id === 'stopped');
    };
    const lookup = lookupOf(this.plan);
    const consider = (name: string): void => {
      const record = this.record(name);
      if (record === undefined || (asked ?? before).has(name)) return;
      if (record.state.id === 'spawning' && record.state.pid === null) return; // its fork's answer is on its way
      const dependents = record.removed ? [] : lookup.dependents.get(name) ?? [];
      if (!dependents.every(done)) return;
      asked ??= new Set(before);
      asked.add(name);
      // The phase records the turn before the stop, which may settle the service at once.
      if (this.phase.id === 'shutting-down') this.phase = { ...this.phase, step: { id: 'stopping', started, asked } };
      this.stop(name, 'shutdown');
    };
    if (!askedEveryone.has(before)) {
      // Services a reload removed, still stopping, depend on nothing in the plan: first.
      for (const name of this.services.keys()) if (!lookup.startIndex.has(name)) consider(name);
      for (const name of lookup.stopOrder) consider(name);
      const now = asked ?? before;
      let everyone = true;
      for (const name of this.services.keys()) {
        if (!now.has(name)) {
          everyone = false;
          break;
        }
      }
      if (everyone) askedEveryone.add(now);
    }
    if (asked !== null) this.revision += 1;
    let all = true;
    for (const name of this.services.keys()) {
      if (!done(name)) {
        all = false;
        break;
      }
    }
    if (all) this.beginSweep();
  }

  /** After the services: SIGTERM to whatever is left, a grace of at most 1 s, SIGKILL, reap. */
  private beginSweep(): void {
    if (this.phase.id !== 'shutting-down' || this.phase.step.id !== 'stopping') return;
    this.phase = { ...this.phase, step: { id: 'sweep', started: this.phase.step.started, signal: SIGTERM, terminated: null, killed: null } };
    this.emit({ kind: 'sweep', signal: SIGTERM });
  }

  private swept(signal: number, pids: readonly number[]): void {
    if (this.phase.id !== 'shutting-down' || this.phase.step.id !== 'sweep') return;
    const sweep = this.phase.step;
    if (signal === SIGTERM && sweep.terminated === null) {
      this.phase = { ...this.phase, step: { ...sweep, terminated: pids } };
      if (pids.length === 0) {
        this.finishShutdown();
        return;
      }
      const remaining = Math.max(0, this.plan.settings.shutdownTimeout - (this.now - sweep.started));
      this.arm('sweep-grace', null, Math.min(SWEEP_GRACE_MS, remaining));
      this.emit({ kind: 'watch-gone', service: null, rekill: false });
      return;
    }
    if (signal === SIGKILL && sweep.killed === null) {
      this.phase = { ...this.phase, step: { ...sweep, killed: pids } };
      this.arm('sweep-stuck', null, STUCK_AFTER_KILL_MS);
      this.emit({ kind: 'watch-gone', service: null, rekill: true });
    }
  }

  private sweepGone(): void {
    if (this.phase.id !== 'shutting-down' || this.phase.step.id !== 'sweep' || this.phase.step.terminated === null) return;
    this.endSweep();
  }

  private endSweep(): void {
    if (this.phase.id !== 'shutting-down' || this.phase.step.id !== 'sweep') return;
    const sweep = this.phase.step;
    this.emit({ kind: 'unwatch-gone', service: null });
    this.cancel('sweep-grace', null);
    this.cancel('sweep-stuck', null);
    this.emit({ kind: 'reap' });
    const killed = sweep.killed ?? [];
    if ((sweep.terminated ?? []).length > 0 || killed.length > 0) this.log('warn', say.swept((sweep.terminated ?? []).length, killed));
    this.finishShutdown();
  }

  private finishShutdown(): void {
    if (this.phase.id !== 'shutting-down' || this.phase.step.id !== 'sweep') return;
    this.cancel('shutdown-deadline', null);
    if (!this.phase.deadlinePassed) this.log('info', say.allStopped(this.now - this.phase.step.started));
    const code = tendExitCode(outcomeOf({ plan: this.plan, services: this.services, phase: this.phase, schedules: this.schedules }, this.phase.ending));
    this.setPhase({ id: 'done', code });
    this.emit({ kind: 'finish', code });
  }

  /** shutdown_timeout has passed: SIGKILL to everything left; the services' stops then end. */
  private deadline(): void {
    if (this.phase.id !== 'shutting-down' || this.phase.deadlinePassed) return;
    this.log('warn', say.shutdownTimeout(this.plan.settings.shutdownTimeout, this.stillStopping()));
    this.phase = { ...this.phase, deadlinePassed: true };
    this.emit({ kind: 'kill-everything' });
  }

  /** A second TERM/INT/QUIT: SIGKILL to everything at once. */
  private killNow(): void {
    if (this.phase.id === 'done') return;
    if (this.phase.id === 'shutting-down' && this.phase.forced) return;
    this.log('warn', say.forceKill());
    this.emit({ kind: 'kill-everything' });
    if (this.phase.id !== 'shutting-down') {
      this.beginShutdown('killed at once', 'requested', true);
    }
    if (this.phase.id === 'shutting-down') {
      this.phase = { ...this.phase, forced: true };
      // Nothing is left to drain traffic for.
      if (this.phase.step.id === 'delay') {
        this.cancel('shutdown-delay', null);
        this.beginStopping();
      }
    }
  }
}

/**
 * What a reaped status means. The process layer marks a SIGKILL `oom` when the OOM-kill
 * count of the service's (or the container's) memory cgroup rose during the run; that
 * holds only if tend did not send a SIGKILL itself (a stop past stop_timeout, the
 * shutdown's deadline or a second TERM). A run tend stopped above its memory limit is
 * marked `limit`, whatever it exited with.
 */
export function classifyExit(status: ExitStatus, context: { readonly tendKilled: boolean; readonly overMemory: boolean }): ExitStatus {
  let result = status;
  if (result.oom === true && (context.tendKilled || result.kind !== 'signaled' || result.signal !== SIGKILL)) {
    const { oom: _dropped, ...rest } = result;
    result = rest as ExitStatus;
  }
  if (context.overMemory && result.oom !== true) result = { ...result, limit: 'memory' };
  return result;
}

/**
 * A run's end as systemd gives ExecStopPost=: EXIT_CODE exited | killed | dumped (a core
 * was written), EXIT_STATUS the code or the signal's name without SIG. A command that could
 * not start reads as exited with its 126 or 127.
 */
export function exitVariables(exit: ExitStatus): Record<string, string> {
  switch (exit.kind) {
    case 'exited':
    case 'failed':
      return { EXIT_CODE: 'exited', EXIT_STATUS: String(exit.code) };
    case 'signaled':
      return { EXIT_CODE: exit.core === true ? 'dumped' : 'killed', EXIT_STATUS: signalName(exit.signal).replace(/^SIG/, '') };
  }
}
