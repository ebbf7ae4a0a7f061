// The supervisor's side of the control socket: ControlHandler over the Supervisor.
// Snapshots out, commands in; waiting is done on the event stream, never by polling.
import { signalName } from '../vocab/signals';
import { byHand, execRequested } from '../log/messages';
import type { ExitStatus } from '../vocab/exit';
import {
  fail, ok,
  type JobStatus, type ExecPlan,
  type ActionOutcome, type ActionResult, type CallContext, type ControlHandler, type HealthDocument, type HealthName, type LastExit,
  type LogLine, type ProcessInfo, type ReloadSummary, type Result, type ServiceStatus, type ShutdownResult,
  type SignalResult, type StatusDocument, type TendEvent, type Unsubscribe, type WaitCondition, type WaitResult,
} from './api';
import { waitFor } from './wait';
import { isUp, isSettled, nextRunAfter, pidOf, reasonOf, stateName, type ServiceRecord, type SupervisorEvent, type SupervisorLoop } from '../supervisor';

export interface HandlerDeps {
  readonly supervisor: SupervisorLoop;
  readonly tracker: {
    processesOf(service: string): number[];
    orphans(): number[];
    /** The two above for one request, each kernel listing read once. */
    view?(): { processesOf(service: string): number[]; orphans(): number[] };
    /** A process's command line (secrets from tend's environment redacted) and whether it left `session`, the sid of the service's own process. */
    describe?(pid: number, session: number | null): { command: string | null; escaped: boolean } | null;
    /** Memory and CPU time of the service, read when asked (never polled). */
    usage?(service: string, pids: readonly number[]): { memoryBytes: number | null; cpuSeconds: number | null; oomKills?: number | null };
    /** How each cgroup limit is carried, by controller (empty: no service has one). */
    limitBackends?(): Readonly<Record<string, string>>;
  };
  readonly logs: {
    recent(service: string, lines: number | null): readonly LogLine[];
    follow(service: string, listener: (line: LogLine) => void): Unsubscribe;
  };
  readonly reload: () => Promise<{ ok: true; summary: ReloadSummary } | { ok: false; problems: string[]; shuttingDown?: boolean }>;
  readonly log: { info(message: string): void };
  /**
   * The launch plan of the service's processes as the spawner would make it now (its
   * secrets read, its cgroups ready), for `tend exec`; a string says why there is none.
   */
  readonly execPlan?: (name: string) => ExecPlan | string;
}

export function lastExitOf(exit: ExitStatus | null): LastExit | null {
  if (exit === null) return null;
  switch (exit.kind) {
    case 'exited':
      return { code: exit.code, ...(exit.limit === 'memory' ? { reason: 'memory limit' as const } : {}), ...(exit.watchdog === true ? { reason: 'watchdog' as const } : {}) };
    case 'signaled':
      return { signal: signalName(exit.signal), ...(exit.oom === true ? { oom: true as const } : {}), ...(exit.limit === 'memory' ? { reason: 'memory limit' as const } : {}), ...(exit.watchdog === true ? { reason: 'watchdog' as const } : {}) };
    case 'failed':
      return { code: exit.code };
  }
}


/** Has the service reached what `start` waits for: ready (with a probe), completed (oneshot), else up? */
function started(runner: ServiceRecord): boolean {
  const state = runner.state;
  if (runner.plan.type === 'oneshot') return state.id === 'completed';
  if (runner.plan.ready !== null) return state.id === 'ready';
  return state.id === 'running' || state.id === 'ready';
}

function conditionHolds(runner: ServiceRecord, until: WaitCondition): boolean {
  switch (until) {
    case 'running':
      return (isUp(runner.state) && runner.state.id !== 'starting') || runner.state.id === 'completed';
    case 'ready':
      return started(runner);
    case 'stopped':
      return isSettled(runner.state);
  }
}

/** The condition can no longer be met without a new command. */
function conditionLost(runner: ServiceRecord, until: WaitCondition): string | null {
  if (until === 'stopped') return null;
  const state = runner.state;
  const name = runner.plan.name;
  if (state.id === 'fatal' || state.id === 'failed') return `${name} is ${state.id}: ${state.reason}`;
  if (state.id === 'exited') return `${name} exited (${JSON.stringify(lastExitOf(state.exit))})`;
  if (state.id === 'stopped') return `${name} is stopped`;
  return null;
}

function shuttingDown(supervisor: SupervisorLoop): boolean {
  const phase = supervisor.state.phase.id;
  return phase === 'shutting-down' || phase === 'done';
}

function healthOf(runner: ServiceRecord): HealthName {
  return runner.plan.healthcheck === null ? 'none' : runner.health?.status ?? 'none';
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class SupervisorHandler implements ControlHandler {
  private readonly listeners = new Set<(event: TendEvent) => void>();

  constructor(private readonly deps: HandlerDeps) {}

  /** Fed every supervisor event (wired in run.ts). */
  publish(event: SupervisorEvent | TendEvent): void {
    let out: TendEvent | null = null;
    switch (event.type) {
      case 'state': {
        // The record as it is after the step: what `tend top` shows next to the transition.
        const runner = this.deps.supervisor.record(event.service);
        out = {
          type: 'state', time: event.time, service: event.service, from: event.from, to: event.to, pid: event.pid, reason: event.reason,
          ...(runner === undefined ? {} : { restarts: runner.restarts, last_exit: lastExitOf(runner.lastExit), health: healthOf(runner) }),
        };
        break;
      }
      case 'health':
        out = { type: 'health', time: event.time, service: event.service, health: event.health === null ? 'none' : event.health as 'starting' | 'healthy' | 'unhealthy' };
        break;
      case 'phase':
        if (event.phase === 'shutting-down') out = { type: 'shutdown', time: event.time, reason: 'shutdown begins' };
        break;
      default:
        out = event;
    }
    if (out === null) return;
    for (const listener of [...this.listeners]) listener(out);
  }

  private unknown(names: readonly string[]): Result<never> | null {
    const runners = this.deps.supervisor.state.services;
    const missing = names.filter((name) => !runners.has(name));
    if (missing.length === 0) return null;
    const known = [...runners.keys()].join(', ');
    return fail('unknown_service', `unknown service${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} (known: ${known})`);
  }

  private serviceStatus(runner: ServiceRecord, now: number, listing: { processesOf(service: string): number[] }, detail: boolean): ServiceStatus {
    const state = runner.state;
    const pid = pidOf(state);
    const processes = listing.processesOf(runner.plan.name);
    const since = 'since' in state ? state.since : null;
    const info: ProcessInfo[] | undefined = !detail || this.deps.tracker.describe === undefined ? undefined
      : processes.map((p) => ({ pid: p, command: null, escaped: false, ...this.deps.tracker.describe?.(p, pid) }));
    const status: Mutable<ServiceStatus> = {
      name: runner.plan.name,
      type: runner.plan.type,
      main: runner.plan.main,
      state: stateName(state),
      pid,
      since,
      uptime_ms: pid !== null && runner.startedAt !== null ? now - runner.startedAt : null,
      restarts: runner.restarts,
      last_exit: lastExitOf(runner.lastExit),
      health: healthOf(runner),
      processes,
    };
    // Assigned only when there (no spread of an empty object per service: a status lists 1,000).
    if (info !== undefined) status.process_info = info;
    status.reason = reasonOf(runner.state);
    status.next_start = state.id === 'backoff' ? state.until : null;
    status.status_text = runner.statusText ?? null;
    if (detail) Object.assign(status, this.usageOf(runner, processes, now));
    else if (runner.oomKills !== undefined) status.oom_kills = runner.oomKills;
    if (runner.plan.schedule !== null) Object.assign(status, this.jobOf(runner, now));
    return status;
  }

  private jobOf(runner: ServiceRecord, now: number): { job?: JobStatus } {
    const plan = runner.plan;
    if (plan.schedule === null) return {};
    const job = runner.job;
    const armed = this.deps.supervisor.state.schedules.has(plan.name);
    const timeZone = plan.job?.timeZone ?? null;
    return {
      job: {
        schedule: plan.schedule,
        time_zone: timeZone,
        concurrency: plan.job?.concurrency ?? 'forbid',
        timeout_ms: plan.job?.timeout ?? null,
        next_run: armed ? nextRunAfter({ expression: plan.schedule, timeZone }, now) : null,
        last_run: job?.last ?? null,
        last_success: job?.lastSuccess ?? null,
        runs: { success: 0, failure: 0, skipped: 0, replaced: 0, ...job?.counts },
        running: (job?.detached.length ?? 0) + (pidOf(runner.state) === null ? 0 : 1),
      },
    };
  }

  private limitsOf(): { limits?: Readonly<Record<string, string>> } {
    const backends = this.deps.tracker.limitBackends?.();
    return backends === undefined || Object.keys(backends).length === 0 ? {} : { limits: backends };
  }

  /** CPU samples of the previous status request, per service: CPU % is the change since. */
  private readonly cpuSamples = new Map<string, { seconds: number; at: number }>();

  private usageOf(runner: ServiceRecord, processes: readonly number[], now: number): Partial<ServiceStatus> {
    if (this.deps.tracker.usage === undefined) return runner.oomKills === undefined ? {} : { oom_kills: runner.oomKills };
    const name = runner.plan.name;
    const usage = this.deps.tracker.usage(name, processes);
    // The leaf counts every OOM kill among the service's processes (a worker under a master
    // too); the core counts the runs that ended by one. The larger is the truth.
    const kills = Math.max(runner.oomKills ?? 0, usage.oomKills ?? 0);
    const oom = runner.oomKills === undefined && (usage.oomKills ?? null) === null ? {} : { oom_kills: kills };
    let percent: number | null = null;
    if (usage.cpuSeconds !== null) {
      const previous = this.cpuSamples.get(name);
      const base = previous !== undefined && previous.seconds <= usage.cpuSeconds ? previous
        : runner.startedAt !== null && processes.length > 0 ? { seconds: 0, at: runner.startedAt } : null;
      if (base !== null && now > base.at) percent = Math.round(((usage.cpuSeconds - base.seconds) / ((now - base.at) / 1000)) * 1000) / 10;
      this.cpuSamples.set(name, { seconds: usage.cpuSeconds, at: now });
    }
    return { ...oom, memory_bytes: usage.memoryBytes, cpu_seconds: usage.cpuSeconds, cpu_percent: percent };
  }

  status(names: readonly string[], options: { readonly detail?: boolean } = {}): Result<StatusDocument> {
    const unknown = this.unknown(names);
    if (unknown !== null) return unknown;
    const now = Date.now();
    const wanted = names.length === 0 ? null : new Set(names);
    const runners = [...this.deps.supervisor.state.services.values()].filter((r) => wanted === null || wanted.has(r.plan.name));
    const listing = this.deps.tracker.view?.() ?? this.deps.tracker;
    return ok({
      services: runners.map((r) => this.serviceStatus(r, now, listing, options.detail === true)),
      orphans: listing.orphans(),
      shutting_down: shuttingDown(this.deps.supervisor),
      ...this.limitsOf(),
    });
  }

  /**
   * main runs, its ready probe (and every other ready probe of a running service) passes, no
   * shutdown. A ready probe gates a start only once; afterwards the healthcheck is what
   * notices that a service stopped serving, so an unhealthy main, or an unhealthy service
   * with a ready probe, is not ready either (/readyz 503, `tend health` non-zero) until
   * its healthcheck passes again (/readyz: 503 when a ready probe fails, 200 when it recovers).
   */
  health(): HealthDocument {
    const supervisor = this.deps.supervisor;
    if (shuttingDown(supervisor)) return { healthy: false, reason: 'shutting down', shutting_down: true };
    const core = supervisor.state;
    const main = core.plan.main === null ? null : core.services.get(core.plan.main) ?? null;
    if (main !== null && !started(main)) {
      return { healthy: false, reason: `main ${main.plan.name} is ${stateName(main.state)}`, shutting_down: false };
    }
    if (main !== null && main.health?.status === 'unhealthy') {
      return { healthy: false, reason: `main ${main.plan.name} is unhealthy (its healthcheck fails)`, shutting_down: false };
    }
    for (const runner of core.services.values()) {
      if (runner.plan.ready === null || runner.plan.type === 'oneshot' || !runner.plan.autostart) continue;
      if (runner.state.id === 'stopped' && runner.state.byHand) continue;
      if (runner.state.id !== 'ready') return { healthy: false, reason: `${runner.plan.name} is not ready (${stateName(runner.state)})`, shutting_down: false };
      if (runner.health?.status === 'unhealthy') return { healthy: false, reason: `${runner.plan.name} is unhealthy (its healthcheck fails)`, shutting_down: false };
    }
    return { healthy: true, reason: main === null ? 'all ready probes pass' : `main ${main.plan.name} is ${stateName(main.state)}`, shutting_down: false };
  }

  private outcomes(names: readonly string[], before: Map<string, string>): ActionResult {
    const services: ActionOutcome[] = names.map((name) => {
      const record = this.deps.supervisor.record(name);
      const state = record === undefined ? 'stopped' : stateName(record.state);
      return { name, state, changed: before.get(name) !== state };
    });
    return { services };
  }

  private snapshot(names: readonly string[]): Map<string, string> {
    return new Map(names.map((n) => {
      const record = this.deps.supervisor.record(n);
      return [n, record === undefined ? 'stopped' : stateName(record.state)];
    }));
  }

  private refuseWhileShuttingDown(): Result<never> | null {
    return shuttingDown(this.deps.supervisor) ? fail('shutting_down', 'tend is shutting down') : null;
  }

  async start(names: readonly string[], options: { readonly wait: boolean }, context: CallContext): Promise<Result<ActionResult>> {
    const refused = this.unknown(names) ?? this.refuseWhileShuttingDown();
    if (refused !== null) return refused;
    const before = this.snapshot(names);
    this.deps.log.info(byHand('start', names, context.caller.pid));
    this.deps.supervisor.submit({ kind: 'start', names });
    if (options.wait) {
      for (const name of names) {
        const waited = await this.wait(name, 'ready', context);
        if (!waited.ok) return waited.reason === 'failed' ? fail('failed', `${name} did not start: ${waited.message}`) : waited;
      }
    }
    return ok(this.outcomes(names, before));
  }

  async stop(names: readonly string[], options: { readonly wait: boolean }, context: CallContext): Promise<Result<ActionResult>> {
    const refused = this.unknown(names);
    if (refused !== null) return refused;
    const supervisor = this.deps.supervisor;
    const main = supervisor.state.plan.main;
    if (main !== null && names.includes(main)) {
      // Stopping main ends the container: it is the ordered shutdown.
      this.shutdown(context);
      if (options.wait) await this.wait(main, 'stopped', context);
      return ok({ services: this.outcomes(names, new Map()).services.map((outcome) => ({ ...outcome, changed: true })) });
    }
    const before = this.snapshot(names);
    this.deps.log.info(byHand('stop', names, context.caller.pid));
    supervisor.submit({ kind: 'stop', names });
    if (options.wait) await Promise.all(names.map((name) => supervisor.stopped(name)));
    return ok(this.outcomes(names, before));
  }

  async restart(names: readonly string[], options: { readonly wait: boolean }, context: CallContext): Promise<Result<ActionResult>> {
    const refused = this.unknown(names) ?? this.refuseWhileShuttingDown();
    if (refused !== null) return refused;
    const before = this.snapshot(names);
    this.deps.log.info(byHand('restart', names, context.caller.pid));
    const supervisor = this.deps.supervisor;
    supervisor.submit({ kind: 'restart', names });
    if (options.wait) {
      await Promise.all(names.map((name) => supervisor.stopped(name)));
      for (const name of names) {
        const waited = await this.wait(name, 'ready', context);
        if (!waited.ok) return waited.reason === 'failed' ? fail('failed', `${name} did not come back: ${waited.message}`) : waited;
      }
    }
    // A restart always changes the service, even when it ends in the state it began in.
    return ok({ services: this.outcomes(names, before).services.map((outcome) => ({ ...outcome, changed: true })) });
  }

  signal(name: string, signal: number, options: { readonly mainOnly: boolean }, context: CallContext): Result<SignalResult> {
    const refused = this.unknown([name]);
    if (refused !== null) return refused;
    this.deps.log.info(byHand(`signal ${signalName(signal)} to`, [options.mainOnly ? `${name}'s own process` : name], context.caller.pid));
    const reply = this.deps.supervisor.submit({ kind: 'signal', name, signal, mainOnly: options.mainOnly });
    return ok({ name, signal: signalName(signal), pids: [...reply.pids] });
  }

  wait(name: string, until: WaitCondition, context: CallContext): Promise<Result<WaitResult>> {
    const refused = this.unknown([name]);
    if (refused !== null) return Promise.resolve(refused);
    const check = (): Result<WaitResult> | null => {
      const runner = this.deps.supervisor.record(name);
      if (runner === undefined) return fail('unknown_service', `${name} was removed by a reload`);
      if (conditionHolds(runner, until)) return ok({ name, state: stateName(runner.state) });
      // A service waiting in `starting` for a start by hand has not lost anything yet.
      const lost = conditionLost(runner, until);
      return lost === null ? null : fail('failed', lost);
    };
    // A restart passes through stopping and backoff: each state change re-checks.
    return waitFor(check, (listener) => this.subscribe(listener), context.signal, `${name} to be ${until}`);
  }

  logs(name: string, lines: number | null): Result<readonly LogLine[]> {
    const refused = this.unknown([name]);
    return refused ?? ok(this.deps.logs.recent(name, lines));
  }

  followLogs(name: string, listener: (line: LogLine) => void): Result<Unsubscribe> {
    const refused = this.unknown([name]);
    return refused ?? ok(this.deps.logs.follow(name, listener));
  }

  async reload(context: CallContext): Promise<Result<ReloadSummary>> {
    const refused = this.refuseWhileShuttingDown();
    if (refused !== null) return refused;
    this.deps.log.info(`reload requested by pid ${context.caller.pid}`);
    const result = await this.deps.reload();
    if (!result.ok && result.shuttingDown === true) return fail('shutting_down', 'tend is shutting down');
    if (!result.ok) return fail('invalid_manifest', `the manifest has ${result.problems.length} problem(s); nothing changed`, result.problems);
    return ok(result.summary);
  }

  shutdown(context: CallContext): Result<ShutdownResult> {
    const supervisor = this.deps.supervisor;
    const already = shuttingDown(supervisor);
    if (!already) supervisor.submit({ kind: 'shutdown', how: 'ordered', reason: `requested over the control socket by pid ${context.caller.pid}`, requested: true });
    return ok({ already });
  }

  /**
   * `tend exec`: a running service's launch plan. Only while it is up — the new process
   * joins its run, and stops with it; a service that is not running has no run to join
   * (and its next start would stop the process as a leftover of the last one).
   */
  execPlan(name: string, context: CallContext): Promise<Result<ExecPlan>> {
    const refused = this.unknown([name]) ?? this.refuseWhileShuttingDown();
    if (refused !== null) return Promise.resolve(refused);
    const runner = this.deps.supervisor.record(name)!;
    if (!isUp(runner.state)) {
      const state = stateName(runner.state);
      const why = runner.state.id === 'backoff' ? ' (waiting to restart)' : reasonOf(runner.state) === null ? '' : ` (${reasonOf(runner.state)})`;
      return Promise.resolve(fail('failed', `${name} is ${state}${why}: tend exec joins a running service; start it first (tend start ${name})`));
    }
    if (this.deps.execPlan === undefined) return Promise.resolve(fail('failed', 'tend exec is not available in this tend'));
    const plan = this.deps.execPlan(name);
    if (typeof plan === 'string') return Promise.resolve(fail('failed', `cannot exec in ${name}: ${plan}`));
    this.deps.log.info(execRequested(name, context.caller.pid, context.caller.uid));
    return Promise.resolve(ok(plan));
  }

  subscribe(listener: (event: TendEvent) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
