// One service's lifecycle: spawn, readiness, health, exit, restart with backoff, stop.
// The runner owns its timers and watches and changes state only through `enter`, which
// checks the transition table. When and whether to start (dependencies, shutdown) is
// the supervisor's decision, not the runner's.
import type { ServicePlan } from '../plan/types';
import type { ExitStatus, Spawned, SpawnSpec } from '../process/spawn';
import { describeExit } from '../process/spawn';
import { canTransition, isUp, pidOf, type ServiceState, type StopIntent } from './state';
import { decideRestart, NO_HISTORY, succeeded, type RestartHistory } from './restart';
import * as say from '../log/messages';
import { signalName } from '../process/signals';
import { ReadyWatch, HealthWatch, type Health, type Spawner } from './probes';

/** What a runner needs from the world, injected so the supervisor wires it once. */
export interface RunnerContext {
  readonly spawn: Spawner;
  readonly tracker: {
    leafFor(service: string): string | null;
    noteSpawned(service: string, pid: number): void;
    processesOf(service: string): number[];
    stopService(service: string, options: { signal: number | null; timeout: number }): Promise<{ killed: number[]; stuck: number[] }>;
    /** The service has stopped: its cgroup leaf may go. */
    release(service: string): void;
  };
  /** Routes the child's stdout/stderr; calls onLine for every line (log probes). */
  readonly attachOutput: (service: ServicePlan, spawned: Spawned, onLine: (line: string) => void) => void;
  readonly log: {
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
    debug(message: string): void;
  };
  readonly now: () => number;
  readonly random: () => number;
  /** Called after every state change. */
  readonly changed: (runner: ServiceRunner, previous: ServiceState) => void;
}

export class ServiceRunner {
  state: ServiceState = { id: 'stopped', byHand: false };
  restarts = 0;
  lastExit: ExitStatus | null = null;
  health: Health | null = null;
  /** Set once its process has been spawned at least once since the last queue(). */
  startedAt: number | null = null;

  private history: RestartHistory = NO_HISTORY;
  private spawned: Spawned | null = null;
  private readyWatch: ReadyWatch | null = null;
  private healthWatch: HealthWatch | null = null;
  private backoffTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | null = null;
  /** What the stop under way leads to; a later, stronger request (shutdown) replaces a restart. */
  private stopIntent: StopIntent = 'stop';
  /** launch() is stopping leftovers: a second launch must not spawn twice. */
  private launching = false;
  /** Bumped on every spawn, so a stale exit of an earlier run is never mistaken. */
  private generation = 0;

  constructor(public plan: ServicePlan, private readonly ctx: RunnerContext) {}

  get name(): string {
    return this.plan.name;
  }

  /** Wants to run: waits in `starting` until the supervisor calls launch(). */
  queue(): void {
    clearTimeout(this.backoffTimer);
    // A start asked for while a stop by hand is under way wins: the stop completes, then
    // the service starts again (the last command counts, as with stop during a restart).
    if (this.state.id === 'stopping') {
      if (this.stopIntent === 'stop') this.stopIntent = 'restart';
      return;
    }
    if (this.state.id === 'starting' || isUp(this.state)) return;
    this.enter({ id: 'starting', pid: null, since: this.ctx.now() });
  }

  /** Whether the runner waits for the supervisor to launch it. */
  get waiting(): boolean {
    return this.state.id === 'starting' && this.state.pid === null;
  }

  /** Dependencies are met: spawn now — after stopping what the last run left behind. */
  async launch(): Promise<void> {
    if (!this.waiting || this.launching) return;
    this.launching = true;
    try {
      const leftovers = this.ctx.tracker.processesOf(this.name);
      if (leftovers.length > 0) {
        this.ctx.log.info(say.leftovers(this.name, leftovers.length));
        await this.ctx.tracker.stopService(this.name, { signal: this.plan.stopSignal, timeout: this.plan.stopTimeout });
        if (!this.waiting) return; // stopped or shut down meanwhile
      }
      this.spawnNow();
    } finally {
      this.launching = false;
    }
  }

  private spawnNow(): void {
    const plan = this.plan;
    const spec: SpawnSpec = {
      service: plan.name,
      argv: plan.command.argv,
      env: plan.env,
      secretFiles: plan.secretFiles,
      cwd: plan.cwd,
      user: plan.user,
      group: plan.group,
      stdin: plan.stdin,
      output: plan.log.console === 'inherit' ? 'inherit' : 'pipe',
      notifyFd: plan.ready?.check.kind === 'notify_fd' ? plan.ready.check.fd : null,
      cgroup: this.ctx.tracker.leafFor(plan.name),
      session: 'new',
    };
    const spawned = this.ctx.spawn(spec);
    const generation = ++this.generation;
    this.spawned = spawned;
    this.startedAt = this.ctx.now();
    if (spawned.pid > 0) this.ctx.tracker.noteSpawned(plan.name, spawned.pid);
    this.ctx.attachOutput(plan, spawned, (line) => this.readyWatch?.line(line));
    void spawned.exit.then((exit) => {
      if (generation === this.generation) this.exited(exit);
    });
    if (spawned.pid <= 0) return; // could not spawn at all: the exit promise says why

    this.ctx.log.info(say.started(plan.name, spawned.pid));
    if (plan.ready !== null) {
      this.enter({ id: 'starting', pid: spawned.pid, since: this.ctx.now() });
      this.readyWatch = new ReadyWatch(plan.ready, plan, spawned, this.ctx.spawn, {
        onReady: () => this.becameReady(),
        onTimeout: (reason) => {
          this.ctx.log.warn(say.notReady(plan.name, plan.ready?.timeout ?? 0, reason));
          void this.stop('not-ready');
        },
      });
    } else {
      this.enter({ id: 'running', pid: spawned.pid, since: this.ctx.now() });
      this.startHealth();
    }
  }

  private becameReady(): void {
    this.readyWatch = null;
    if (this.state.id !== 'starting' || this.state.pid === null) return;
    this.ctx.log.info(say.ready(this.name, this.startedAt === null ? 0 : this.ctx.now() - this.startedAt));
    this.enter({ id: 'ready', pid: this.state.pid, since: this.ctx.now() });
    this.startHealth();
  }

  private startHealth(): void {
    const check = this.plan.healthcheck;
    if (check === null || this.plan.type === 'oneshot') return;
    this.health = 'starting';
    this.healthWatch = new HealthWatch(check, this.plan, this.ctx.spawn, {
      onChange: (health, reason) => {
        this.health = health;
        if (health === 'unhealthy') this.ctx.log.warn(say.unhealthy(this.name, check.retries, reason ?? 'no reason', this.plan.restart.policy !== 'never'));
        else this.ctx.log.info(say.healthy(this.name));
        this.ctx.changed(this, this.state);
      },
      onUnhealthy: () => {
        if (this.plan.restart.policy !== 'never') void this.stop('unhealthy');
      },
    });
  }

  private cancelWatches(): void {
    this.readyWatch?.cancel();
    this.readyWatch = null;
    this.healthWatch?.cancel();
    this.healthWatch = null;
  }

  /** The service's own process was reaped. */
  private exited(exit: ExitStatus): void {
    this.lastExit = exit;
    this.spawned = null;
    this.cancelWatches();
    const description = describeExit(exit);
    if (this.state.id === 'stopping') {
      this.ctx.log.info(say.exited(this.name, description));
      return; // stop() decides what follows, once every process it owns is gone
    }
    const uptime = this.startedAt === null ? 0 : this.ctx.now() - this.startedAt;
    if (this.plan.type === 'oneshot' && succeeded(this.plan, exit)) {
      this.ctx.log.info(say.completed(this.name, uptime));
      this.enter({ id: 'completed', exit });
      return;
    }
    const level = succeeded(this.plan, exit) ? 'info' : 'warn';
    this.ctx.log[level](say.exited(this.name, description));
    this.afterRun(exit, uptime, null);
  }

  /** What follows a run that ended on its own, was unhealthy, or never got ready. */
  private afterRun(exit: ExitStatus, uptime: number, notReady: string | null): void {
    const decision = decideRestart({
      service: this.plan, exit, uptime, history: this.history, now: this.ctx.now(), random: this.ctx.random(),
    });
    switch (decision.kind) {
      case 'restart': {
        this.history = decision.history;
        this.restarts += 1;
        this.ctx.log.info(say.restarting(this.name, decision.delay, this.restarts));
        this.enter({ id: 'backoff', until: this.ctx.now() + decision.delay, delay: decision.delay });
        this.backoffTimer = setTimeout(() => {
          if (this.state.id === 'backoff') this.enter({ id: 'starting', pid: null, since: this.ctx.now() });
        }, decision.delay);
        return;
      }
      case 'give-up': {
        const reason = decision.reason;
        this.ctx.log.error(say.gaveUp(this.name, reason));
        if (this.plan.type === 'oneshot') this.enter({ id: 'failed', reason });
        else this.enter({ id: 'fatal', reason });
        return;
      }
      case 'stay-down':
        if (notReady !== null) {
          this.enter(this.plan.type === 'oneshot' ? { id: 'failed', reason: notReady } : { id: 'fatal', reason: notReady });
        } else if (this.plan.type === 'oneshot') {
          this.enter({ id: 'failed', reason: describeExit(exit) });
        } else {
          this.enter({ id: 'exited', exit });
        }
        return;
    }
  }

  /**
   * Stops the service and everything it owns (SPEC §3): stop_command, or the stop
   * signal + SIGCONT; SIGKILL after stop_timeout. Resolves when it has stopped.
   */
  stop(intent: StopIntent): Promise<void> {
    if (this.stopping !== null) {
      if (intent === 'stop' || intent === 'shutdown') this.stopIntent = intent;
      return this.stopping;
    }
    this.stopIntent = intent;
    clearTimeout(this.backoffTimer);
    const byHand = intent === 'stop';
    if (this.waiting || this.state.id === 'backoff') {
      this.enter({ id: 'stopped', byHand });
      return Promise.resolve();
    }
    // Leftovers of a run that ended still need stopping; nothing at all: done at once.
    if (!isUp(this.state) && this.ctx.tracker.processesOf(this.name).length === 0) {
      if (this.state.id !== 'stopped') this.enter({ id: 'stopped', byHand });
      else if (byHand) this.state = { id: 'stopped', byHand };
      return Promise.resolve();
    }
    const since = this.ctx.now();
    const startedAt = this.startedAt;
    const pid = pidOf(this.state);
    const exitSeen = this.spawned?.exit ?? Promise.resolve(this.lastExit);
    this.cancelWatches();
    // The signal goes out first (runStop's synchronous part); the bookkeeping follows.
    const stopped = this.runStop();
    this.enter({ id: 'stopping', pid, since, intent });
    this.ctx.log.info(say.stopping(this.name, this.plan.stopCommand !== null ? 'stop_command' : signalName(this.plan.stopSignal)));
    this.stopping = stopped.then(async () => {
      await exitSeen;
      this.stopping = null;
      const intent = this.stopIntent;
      const byHand = intent === 'stop';
      const took = this.ctx.now() - since;
      this.ctx.log.info(say.stopped(this.name, took));
      if (intent === 'unhealthy' || intent === 'not-ready') {
        const exit = this.lastExit ?? { kind: 'signaled' as const, signal: this.plan.stopSignal };
        const reason = intent === 'not-ready' ? `not ready within ${say.duration(this.plan.ready?.timeout ?? 0)}` : null;
        this.afterRun(exit, startedAt === null ? 0 : since - startedAt, reason);
      } else if (intent === 'restart') {
        this.enter({ id: 'starting', pid: null, since: this.ctx.now() });
      } else {
        this.ctx.tracker.release(this.name);
        this.enter({ id: 'stopped', byHand });
      }
    });
    return this.stopping;
  }

  private async runStop(): Promise<void> {
    const plan = this.plan;
    let signal: number | null = plan.stopSignal;
    if (plan.stopCommand !== null) {
      const command = this.ctx.spawn({
        service: plan.name, argv: plan.stopCommand.argv, env: plan.env, secretFiles: plan.secretFiles, cwd: plan.cwd, user: plan.user,
        group: plan.group, stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
      });
      const exit = await command.exit;
      if (exit.kind === 'exited' && exit.code === 0) signal = null;
      else this.ctx.log.warn(say.stopCommandFailed(plan.name, describeExit(exit), signalName(plan.stopSignal)));
    }
    const { killed, stuck } = await this.ctx.tracker.stopService(plan.name, { signal, timeout: plan.stopTimeout });
    if (killed.length > 0) {
      this.ctx.log.warn(say.killedAfterTimeout(plan.name, signal === null ? 'stop_command' : signalName(signal), plan.stopTimeout, killed));
    }
    if (stuck.length > 0) {
      this.ctx.log.error(say.stuck(plan.name, stuck));
    }
  }

  /** Forget the backoff and restart counters (a start by hand). */
  resetHistory(): void {
    this.history = NO_HISTORY;
  }

  /** Cancels timers and watches without touching processes (shutdown, reload removal). */
  cancelPending(): void {
    clearTimeout(this.backoffTimer);
    this.cancelWatches();
    if (this.waiting || this.state.id === 'backoff') this.enter({ id: 'stopped', byHand: false });
  }

  private enter(next: ServiceState): void {
    const previous = this.state;
    if (previous !== next && !canTransition(previous.id, next.id)) {
      this.ctx.log.error(say.illegalTransition(this.name, previous.id, next.id));
      return;
    }
    this.state = next;
    if (!isUp(next)) this.health = null;
    this.ctx.changed(this, previous);
  }
}
