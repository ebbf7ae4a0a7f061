// The supervisor: one event loop over every service. It decides when each service
// starts (dependency conditions), reacts to what runners report (main's exit, a
// critical service giving up, a failed oneshot during the start), runs the ordered
// shutdown, and applies reloads. Runners do the work for one service each.
import type { Plan, ServicePlan, DependencyCondition } from '../plan/types';
import { ServiceRunner, type RunnerContext } from './service';
import { isUp, isSettled, type ServiceState } from './state';
import { diffPlans, type ReloadDiff } from './reload';
import { tendExitCode, type RunOutcome } from './exit-code';
import { succeeded } from './restart';
import * as say from '../log/messages';
import { Scheduler } from './schedule';

export type Phase = 'starting' | 'running' | 'shutting-down' | 'done';

export interface SupervisorHooks extends Omit<RunnerContext, 'changed'> {
  /** Every process tend's services own, and the orphans: for the final sweep and forced kills. */
  readonly killEverything: () => void;
  /** SPEC §3 sweep of whatever is left; resolves when nothing is left or the grace ran out. */
  readonly sweep: (grace: number) => Promise<void>;
  /** Emitted after each state change, for `tend events` and metrics. */
  readonly onEvent?: (event: SupervisorEvent) => void;
}

export type SupervisorEvent =
  | { readonly type: 'state'; readonly service: string; readonly from: ServiceState['id']; readonly to: ServiceState['id']; readonly time: number }
  | { readonly type: 'health'; readonly service: string; readonly health: string | null; readonly time: number }
  | { readonly type: 'phase'; readonly phase: Phase; readonly time: number };

function conditionMet(runner: ServiceRunner, condition: DependencyCondition): boolean {
  const state = runner.state;
  switch (condition) {
    case 'started':
      return isUp(state) || state.id === 'completed' || (state.id === 'exited' && runner.startedAt !== null);
    case 'ready':
      return state.id === 'ready' || (runner.plan.ready === null && state.id === 'running');
    case 'completed':
      return state.id === 'completed';
  }
}

/** A dependency that has settled without meeting its condition never will by itself. */
function conditionImpossible(runner: ServiceRunner, condition: DependencyCondition): string | null {
  const state = runner.state;
  switch (state.id) {
    case 'fatal':
      return `${runner.name} gave up (${state.reason})`;
    case 'failed':
      return `${runner.name} failed (${state.reason})`;
    case 'exited':
      return condition === 'started' ? null : `${runner.name} exited before it was ${condition}`;
    case 'stopped':
      return state.byHand ? `${runner.name} was stopped by hand` : null;
    case 'completed':
    case 'starting':
    case 'running':
    case 'ready':
    case 'stopping':
    case 'backoff':
      return null;
  }
}

export class Supervisor {
  phase: Phase = 'starting';
  plan: Plan;
  readonly runners = new Map<string, ServiceRunner>();
  private startFailed = false;
  private criticalGaveUp = false;
  private internalError = false;
  private shutdownRequested = false;
  private succeededWhenShutdownBegan = true;
  private evaluationQueued = false;
  private shutdownPromise: Promise<void> | null = null;
  private forced = false;
  private readonly scheduler: Scheduler;
  private finished!: (code: number) => void;
  readonly done: Promise<number> = new Promise((resolve) => { this.finished = resolve; });
  /** Services that must reach their start target before the start phase ends. */
  private bootTargets = new Set<string>();
  /** Changed services held until the current run stops (reload). */

  constructor(plan: Plan, private readonly hooks: SupervisorHooks) {
    this.plan = plan;
    for (const service of plan.services) this.runners.set(service.name, this.makeRunner(service));
    this.scheduler = new Scheduler((name) => this.scheduledRun(name), hooks.log);
  }

  private makeRunner(service: ServicePlan): ServiceRunner {
    return new ServiceRunner(service, { ...this.hooks, changed: (runner, previous) => this.changed(runner, previous) });
  }

  get main(): ServiceRunner | null {
    return this.plan.main === null ? null : this.runners.get(this.plan.main) ?? null;
  }

  /** Starts every autostart service in dependency order and arms the schedules. */
  private startedAt = 0;

  start(): void {
    this.startedAt = this.hooks.now();
    this.emit({ type: 'phase', phase: 'starting', time: this.hooks.now() });
    for (const service of this.plan.services) {
      if (!service.autostart) continue;
      if (service.schedule !== null) {
        this.scheduler.add(service.name, service.schedule);
        continue;
      }
      for (const name of this.closure(service.name)) this.bootTargets.add(name);
    }
    for (const name of this.bootTargets) this.runners.get(name)?.queue();
    this.evaluate();
  }

  /** The service and every service it depends on, transitively. */
  private closure(name: string, into = new Set<string>()): Set<string> {
    if (into.has(name)) return into;
    into.add(name);
    for (const dependency of this.runners.get(name)?.plan.dependsOn ?? []) this.closure(dependency.name, into);
    return into;
  }

  private dependentsOf(name: string): ServiceRunner[] {
    return [...this.runners.values()].filter((r) => r.plan.dependsOn.some((d) => d.name === name));
  }

  private changed(runner: ServiceRunner, previous: ServiceState): void {
    const time = this.hooks.now();
    if (previous.id !== runner.state.id) this.emit({ type: 'state', service: runner.name, from: previous.id, to: runner.state.id, time });
    else if (previous === runner.state) this.emit({ type: 'health', service: runner.name, health: runner.health, time });
    // Reacting synchronously inside a runner's transition would re-enter it: defer, and
    // fold a burst of changes (200 services starting) into one look at the whole.
    if (this.evaluationQueued) return;
    this.evaluationQueued = true;
    queueMicrotask(() => {
      this.evaluationQueued = false;
      this.evaluate();
    });
  }

  /** Looks at every service and does what the current states call for. */
  private evaluate(): void {
    if (this.phase === 'done') return;
    if (this.phase === 'shutting-down') return;
    for (const runner of this.runners.values()) {
      if (runner.waiting) this.tryLaunch(runner);
    }
    if (this.phase === 'starting' && [...this.bootTargets].every((name) => this.reachedTarget(name))) {
      this.phase = 'running';
      this.emit({ type: 'phase', phase: 'running', time: this.hooks.now() });
      this.hooks.log.info(say.allStarted(this.hooks.now() - this.startedAt));
    }
    this.checkEndings();
  }

  private reachedTarget(name: string): boolean {
    const runner = this.runners.get(name);
    if (runner === undefined) return true;
    const state = runner.state;
    if (runner.plan.type === 'oneshot') return state.id === 'completed';
    return state.id === 'ready' || (state.id === 'running' && runner.plan.ready === null) || isSettled(state);
  }

  private tryLaunch(runner: ServiceRunner): void {
    for (const dependency of runner.plan.dependsOn) {
      const dep = this.runners.get(dependency.name);
      if (dep === undefined) continue; // removed by a reload: nothing to wait for
      if (conditionMet(dep, dependency.condition)) continue;
      const impossible = conditionImpossible(dep, dependency.condition);
      if (impossible !== null) {
        this.cannotStart(runner, `${runner.name} needs ${dependency.name} ${dependency.condition}, but ${impossible}`);
        return;
      }
      if (dep.state.id === 'stopped') dep.queue(); // pulled in: a dependency starts first
      return;
    }
    void runner.launch().catch((error: unknown) => this.fail(error));
  }

  private cannotStart(runner: ServiceRunner, chain: string): void {
    runner.cancelPending();
    this.hooks.log.error(say.cannotStart(chain));
    if (this.phase === 'starting' && this.bootTargets.has(runner.name)) {
      this.startFailed = true;
      void this.shutdown(`the start failed: ${chain}`);
    }
  }

  /** Main's exit, a critical service giving up, a failed start, or nothing left to run. */
  private checkEndings(): void {
    const main = this.main;
    if (main !== null) {
      const state = main.state;
      if (state.id === 'exited' || state.id === 'fatal' || state.id === 'failed' || state.id === 'completed') {
        if (state.id === 'fatal') this.criticalGaveUp = true;
        void this.shutdown(`main service ${main.name} ${state.id === 'fatal' ? `gave up (${state.reason})` : 'ended'}`);
        return;
      }
    }
    for (const runner of this.runners.values()) {
      if (runner.state.id === 'fatal' && runner.plan.critical) {
        this.criticalGaveUp = true;
        void this.shutdown(`critical service ${runner.name} gave up (${runner.state.reason})`);
        return;
      }
      if (runner.state.id === 'failed' && this.phase === 'starting' && this.bootTargets.has(runner.name)) {
        this.startFailed = true;
        void this.shutdown(`the start failed: oneshot ${runner.name} failed (${runner.state.reason})`);
        return;
      }
    }
    if (main === null && this.phase !== 'starting' && !this.scheduler.active()) {
      const busy = [...this.runners.values()].some((r) => !isSettled(r.state) || this.hooks.tracker.processesOf(r.name).length > 0);
      if (!busy) void this.shutdown('nothing is left to run');
    }
  }

  private scheduledRun(name: string): void {
    const runner = this.runners.get(name);
    if (runner === undefined || this.phase === 'shutting-down' || this.phase === 'done') return;
    if (!isSettled(runner.state)) {
      this.hooks.log.warn(say.scheduledRunSkipped(name, runner.state.id));
      return;
    }
    this.hooks.log.info(say.scheduledRun(name));
    for (const dep of this.closure(name)) {
      const r = this.runners.get(dep);
      if (r !== undefined && (dep === name || r.state.id === 'stopped')) r.queue();
    }
    this.evaluate();
  }

  // ---- commands (signals, control socket) ----

  /** `tend start`: the services and their unmet dependencies. Resolves when each is started (or ready). */
  async startByHand(names: readonly string[]): Promise<void> {
    for (const name of names) {
      for (const dep of this.closure(name)) {
        const runner = this.runners.get(dep);
        if (runner === undefined) continue;
        if (dep === name || !(isUp(runner.state) || runner.state.id === 'completed')) {
          if (isSettled(runner.state)) runner.resetHistory();
          runner.queue();
        }
      }
    }
    this.evaluate();
  }

  async stopByHand(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((name) => this.runners.get(name)?.stop('stop')));
  }

  async restartByHand(names: readonly string[]): Promise<void> {
    await Promise.all(names.map(async (name) => {
      const runner = this.runners.get(name);
      if (runner === undefined) return;
      if (isUp(runner.state)) await runner.stop('restart');
      else {
        runner.resetHistory();
        runner.queue();
      }
    }));
    this.evaluate();
  }

  /** Re-reads nothing itself: applies an already validated Plan (SPEC §6). */
  applyReload(next: Plan): ReloadDiff {
    const diff = diffPlans(this.plan, next);
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
    for (const name of diff.removed) {
      const runner = this.runners.get(name);
      this.scheduler.remove(name);
      void runner?.stop('shutdown').then(() => this.runners.delete(name));
    }
    // Keep manifest order for the new plan, but main and its pending changes stay as they run.
    const kept: ServicePlan[] = [];
    for (const service of incoming) {
      const running = this.runners.get(service.name);
      if (running !== undefined && (running.plan.main || service.main) && !diff.added.includes(service.name)) kept.push(running.plan);
      else kept.push(service);
    }
    if (mainName !== null && !byName.has(mainName)) kept.push(this.runners.get(mainName)!.plan);
    this.plan = { ...next, main: mainName, services: kept, settings: { ...this.plan.settings, logLevel: next.settings.logLevel } };

    for (const name of diff.changed) {
      const runner = this.runners.get(name)!;
      const service = byName.get(name)!;
      const wasStoppedByHand = runner.state.id === 'stopped' && runner.state.byHand;
      this.scheduler.remove(name);
      runner.plan = service;
      if (service.schedule !== null && service.autostart) this.scheduler.add(name, service.schedule);
      if (wasStoppedByHand) continue;
      if (isUp(runner.state)) {
        void runner.stop('restart');
      } else if (service.autostart && service.schedule === null) {
        // Exited, fatal or backing off: the new definition gets a fresh start (the usual
        // reason to reload is to fix the service that kept failing).
        runner.resetHistory();
        runner.queue();
      }
    }
    for (const name of diff.added) {
      const service = byName.get(name)!;
      const runner = this.makeRunner(service);
      this.runners.set(name, runner);
      if (!service.autostart) continue;
      if (service.schedule !== null) this.scheduler.add(name, service.schedule);
      else runner.queue();
    }
    this.evaluate();
    return { ...diff, pending };
  }

  // ---- shutdown ----

  /** Ordered shutdown (SPEC §3). Resolves when everything has stopped. */
  shutdown(reason: string, requested = false): Promise<void> {
    if (requested) this.shutdownRequested = true;
    if (this.shutdownPromise !== null) return this.shutdownPromise;
    // Judged before the shutdown stops anything: with no main, tend's status says
    // whether every service that ran, ran well (SPEC §1).
    this.succeededWhenShutdownBegan = [...this.runners.values()].every((r) =>
      r.state.id !== 'fatal' && r.state.id !== 'failed' && (r.lastExit === null || succeeded(r.plan, r.lastExit)));
    this.phase = 'shutting-down';
    this.emit({ type: 'phase', phase: 'shutting-down', time: this.hooks.now() });
    this.hooks.log.info(say.shutdownBegins(reason));
    this.scheduler.stopAll();
    for (const runner of this.runners.values()) runner.cancelPending();
    this.shutdownPromise = this.runShutdown();
    return this.shutdownPromise;
  }

  /** A second TERM/INT/QUIT: SIGKILL to everything at once. */
  forceKill(): void {
    if (this.forced) return;
    this.forced = true;
    this.hooks.log.warn(say.forceKill());
    this.hooks.killEverything();
  }

  /** An internal error: log it with its stack, shut down in order, exit 70. */
  fail(error: unknown): void {
    this.internalError = true;
    this.hooks.log.error(say.internalError(error instanceof Error ? error.stack ?? error.message : String(error)));
    void this.shutdown('internal error');
  }

  private async runShutdown(): Promise<void> {
    const settings = this.plan.settings;
    if (settings.shutdownDelay > 0 && !this.forced) {
      this.hooks.log.info(say.shutdownDelay(settings.shutdownDelay));
      await new Promise((resolve) => setTimeout(resolve, settings.shutdownDelay));
    }
    const started = this.hooks.now();
    let deadlineHit = false;
    const stillStopping = new Set<string>();
    const deadline = setTimeout(() => {
      deadlineHit = true;
      this.hooks.log.warn(say.shutdownTimeout(settings.shutdownTimeout, [...stillStopping]));
      this.forceKill();
    }, settings.shutdownTimeout);

    // Reverse dependency order: each service stops once every service that depends on it has.
    const stops = new Map<string, Promise<void>>();
    const stopInOrder = (runner: ServiceRunner): Promise<void> => {
      const existing = stops.get(runner.name);
      if (existing !== undefined) return existing;
      const dependents = this.dependentsOf(runner.name);
      const promise = (async () => {
        // A service nothing depends on stops at once, in this very turn of the loop.
        if (dependents.length > 0) await Promise.all(dependents.map(stopInOrder));
        stillStopping.add(runner.name);
        const t0 = this.hooks.now();
        await runner.stop('shutdown');
        stillStopping.delete(runner.name);
        const took = this.hooks.now() - t0;
        if (took > 1000) this.hooks.log.info(say.heldShutdownUp(runner.name, took));
      })();
      stops.set(runner.name, promise);
      return promise;
    };
    await Promise.all([...this.runners.values()].map(stopInOrder));

    const remaining = Math.max(0, settings.shutdownTimeout - (this.hooks.now() - started));
    await this.hooks.sweep(Math.min(1000, remaining));
    clearTimeout(deadline);
    if (!deadlineHit) this.hooks.log.info(say.allStopped(this.hooks.now() - started));
    this.phase = 'done';
    this.emit({ type: 'phase', phase: 'done', time: this.hooks.now() });
    this.finished(tendExitCode(this.outcome()));
  }

  outcome(): RunOutcome {
    const main = this.main;
    const allSucceeded = this.shutdownRequested || this.succeededWhenShutdownBegan;
    return {
      internalError: this.internalError,
      startFailed: this.startFailed,
      criticalGaveUp: this.criticalGaveUp,
      hasMain: main !== null,
      mainExit: main?.lastExit ?? null,
      allSucceeded,
    };
  }

  private emit(event: SupervisorEvent): void {
    this.hooks.onEvent?.(event);
  }
}
