// The one loop: events in, one at a time, through the pure core; effects out, carried out
// here and nowhere else. It owns every timer, every watch, every handle on a running
// process, and turns what the process layer, the probes and the clock report into facts.
// Facts the process layer answers at once (a pid after a spawn, the pids a sweep reached)
// are handled before any other event, so the core never sees the world half-way through
// its own decision.
import type { Plan, ServicePlan } from '../plan/types';
import type { Spawned, SpawnSpec } from '../process/spawn';
import type { ExitStatus } from '../vocab/exit';
import type { Event, Fact, Request, TimerName } from './events';
import { initialCore, step, type Change, type CoreState, type Effect, type Reply, type ServiceRecord } from './core';
import type { AttachOutput, Clock, ProbeRunner, ProcessPort, ScheduleClock, SupervisorLog, TimerHandle } from './port';
import { SIGKILL } from '../vocab/signals';

/** What observers (the control socket, metrics) are told: each change of a step, in order, timed. */
export type SupervisorEvent = Change & { readonly time: number };

export interface LoopDeps {
  readonly port: ProcessPort;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: SupervisorLog;
  readonly probes: ProbeRunner;
  readonly schedule: ScheduleClock;
  readonly attachOutput: AttachOutput;
  /**
   * How many services may be mid-start at once (spawned, their exec helper not exec'd
   * yet); absent: no cap (the composition root reads TEND_START_SLOTS).
   */
  readonly startSlots?: number;
}

/** A reply to a request: the core's, plus the pids a signal reached. */
export type LoopReply = Reply & { readonly pids: readonly number[] };

/** A stop by hand is done once the service is out of these (its post_stop included). */
function stopUnderWay(id: ServiceRecord['state']['id']): boolean {
  return id === 'stopping' || id === 'clearing' || id === 'finishing';
}

function timerKey(timer: TimerName, service: string | null): string {
  return service === null ? timer : `${timer}\0${service}`;
}

/** The spawn spec of a service's own process (its stop_command's is `stopCommandSpec`). */
export function serviceSpec(plan: ServicePlan, cgroup: string | null): SpawnSpec {
  return {
    service: plan.name,
    argv: plan.command.argv,
    ...environmentOf(plan),
    serviceProcess: true,
    runtimeDirectory: plan.runtimeDirectory,
    cwd: plan.cwd,
    user: plan.user,
    group: plan.group,
    stdin: plan.stdin,
    output: plan.log.console === 'inherit' ? 'inherit' : 'pipe',
    notifyFd: plan.ready?.check.kind === 'notify_fd' ? plan.ready.check.fd : null,
    cgroup,
    session: 'new',
    cgroupLimits: { memory: plan.limits.memory, cpu: plan.limits.cpu, pids: plan.limits.pids },
    nofile: plan.limits.nofile,
    core: plan.limits.core,
    oomScoreAdj: plan.oomScoreAdj,
  };
}

/**
 * What every process of a service gets — its own, its probes', its stop command's: the env
 * layer (over its env_files and under its secret files, both read at each spawn), $RUNTIME_DIRECTORY
 * as systemd sets it, and its umask.
 */
export function environmentOf(plan: ServicePlan): Pick<SpawnSpec, 'env' | 'envFiles' | 'envCleared' | 'secretFiles' | 'umask'> {
  return {
    env: plan.runtimeDirectory === null ? plan.env : { RUNTIME_DIRECTORY: plan.runtimeDirectory, ...plan.env },
    envFiles: plan.envFiles,
    envCleared: plan.envCleared,
    secretFiles: plan.secretFiles,
    umask: plan.umask,
  };
}

/**
 * The spawn spec of a stop_command: the service's user, environment and cwd, its output
 * through the service's own (prefixed, in `tend logs`), and MAINPID — the service's own
 * process — as systemd gives ExecStop=, when it has one.
 */
export function stopCommandSpec(plan: ServicePlan, mainPid: number | null): SpawnSpec {
  const environment = environmentOf(plan);
  return {
    service: plan.name, argv: plan.stopCommand?.argv ?? [], ...environment, env: mainPid === null ? environment.env : { ...environment.env, MAINPID: String(mainPid) },
    cwd: plan.cwd, user: plan.user, group: plan.group, stdin: 'null',
    output: plan.log.console === 'inherit' ? 'inherit' : 'pipe', notifyFd: null, cgroup: null, session: 'new', role: 'stop_command',
  };
}

/**
 * The spawn spec of a pre_start or post_stop: as the service's processes run (environment,
 * user, cwd, umask), its output the service's own. The runtime directory is made before
 * pre_start, as systemd makes RuntimeDirectory= before ExecStartPre=; pre_start joins the
 * service's cgroup leaf (`cgroup`), so that a stop while it runs stops it like the service.
 */
export function hookSpec(plan: ServicePlan, hook: 'pre_start' | 'post_stop', env: Readonly<Record<string, string>>, cgroup: string | null = null): SpawnSpec {
  const command = hook === 'pre_start' ? plan.preStart : plan.postStop;
  const environment = environmentOf(plan);
  return {
    service: plan.name, argv: command?.argv ?? [], ...environment, env: { ...environment.env, ...env },
    ...(hook === 'pre_start' ? { runtimeDirectory: plan.runtimeDirectory } : {}),
    cwd: plan.cwd, user: plan.user, group: plan.group, stdin: 'null', output: plan.log.console === 'inherit' ? 'inherit' : 'pipe',
    notifyFd: null, cgroup, session: 'new', role: hook,
  };
}

export class SupervisorLoop {
  private core: CoreState;
  /** Events that arrived while a step ran, in order. */
  private readonly queue: Event[] = [];
  /** Facts the process layer answered at once, handled before anything queued. */
  private readonly immediate: Fact[] = [];
  private running = false;
  private readonly timers = new Map<string, TimerHandle>();
  private readonly watches = new Map<string, () => void>();
  private readonly schedules = new Map<string, () => void>();
  private readonly listeners = new Set<(event: SupervisorEvent) => void>();
  private readonly stopWaiters = new Map<string, Array<() => void>>();
  /** Pids reached by the signal effects of the request being submitted. */
  private reached: number[] | null = null;
  private finished!: (code: number) => void;
  readonly done: Promise<number> = new Promise((resolve) => { this.finished = resolve; });

  constructor(plan: Plan, private readonly deps: LoopDeps) {
    this.core = initialCore(plan, deps.startSlots ?? Infinity);
  }

  /** The current state: immutable, safe to keep. */
  get state(): CoreState {
    return this.core;
  }

  record(name: string): ServiceRecord | undefined {
    return this.core.services.get(name);
  }

  subscribe(listener: (event: SupervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    this.submit({ kind: 'boot' });
  }

  /** Handles a request (and whatever it sets off at once); returns the core's reply. */
  submit(request: Request): LoopReply {
    const reached: number[] = [];
    const outer = this.reached;
    this.reached = reached;
    let reply: Reply = { kind: 'none' };
    try {
      reply = this.run(request);
    } finally {
      this.reached = outer;
    }
    return { ...reply, pids: reached };
  }

  /** An exception escaped somewhere in tend: the core shuts down in order and exits 70. */
  fault(error: unknown): void {
    const detail = error instanceof Error ? error.stack ?? error.message : String(error);
    this.deliver({ kind: 'fault', detail });
  }

  /** Resolves once the service is not stopping any more (a stop by hand is done). */
  stopped(name: string): Promise<void> {
    const record = this.record(name);
    if (record === undefined || !stopUnderWay(record.state.id)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.stopWaiters.get(name) ?? [];
      list.push(resolve);
      this.stopWaiters.set(name, list);
    });
  }

  /** A fact from a callback (exit, probe, timer): handled now, or after the step under way. */
  deliver(fact: Fact): void {
    this.run(fact);
  }

  // -------------------------------------------------------------------------------------

  private run(first: Event): Reply {
    if (this.running) {
      this.queue.push(first);
      return { kind: 'none' };
    }
    this.running = true;
    let reply: Reply = { kind: 'none' };
    try {
      reply = this.handle(first);
      for (;;) {
        const next = this.immediate.shift() ?? this.queue.shift();
        if (next === undefined) break;
        this.handle(next);
      }
    } finally {
      this.running = false;
    }
    return reply;
  }

  private handle(event: Event): Reply {
    const before = this.core;
    const owned = new Map<string, readonly number[]>();
    let result;
    try {
      result = step(before, event, {
        now: this.deps.clock.now(),
        random: this.deps.random,
        owned: (service) => {
          let pids = owned.get(service);
          if (pids === undefined) owned.set(service, pids = this.deps.port.processesOf(service));
          return pids;
        },
      });
    } catch (error) {
      // A bug in the core. The fault takes the ordered shutdown; a fault that fails too
      // is only logged, never looped on.
      if (event.kind === 'fault') {
        this.deps.log.error(`internal error while handling an internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        return { kind: 'none' };
      }
      this.immediate.unshift({ kind: 'fault', detail: error instanceof Error ? error.stack ?? error.message : String(error) });
      return { kind: 'none' };
    }
    this.core = result.core;
    for (const effect of result.effects) {
      try {
        this.carryOut(effect);
      } catch (error) {
        this.immediate.push({ kind: 'fault', detail: error instanceof Error ? error.stack ?? error.message : String(error) });
      }
    }
    this.publish(result.changes);
    return result.reply;
  }

  private publish(changes: readonly Change[]): void {
    const time = this.deps.clock.now();
    for (const [name, waiters] of [...this.stopWaiters]) {
      const record = this.core.services.get(name);
      if (record !== undefined && stopUnderWay(record.state.id)) continue;
      this.stopWaiters.delete(name);
      for (const resolve of waiters) resolve();
    }
    for (const change of changes) {
      const event: SupervisorEvent = { ...change, time };
      for (const listener of [...this.listeners]) listener(event);
    }
  }

  private carryOut(effect: Effect): void {
    const { port, log } = this.deps;
    switch (effect.kind) {
      case 'spawn':
        this.spawn(effect.service, effect.plan);
        return;
      case 'find-daemon':
        this.findDaemon(effect.service, effect.plan);
        return;
      case 'adopt-main': {
        const adopted = port.adopt(effect.service, effect.pid);
        if ('reason' in adopted) {
          this.immediate.push({ kind: 'main-refused', service: effect.service, pid: effect.pid, previous: effect.previous, reason: adopted.reason });
          return;
        }
        this.watchMain(effect.service, effect.pid, adopted.exit);
        return;
      }
      case 'spawn-stop-command': {
        const command = port.spawn(stopCommandSpec(effect.plan, effect.mainPid));
        this.deps.attachOutput(effect.plan, command, () => undefined);
        void command.exit.then((status) => this.deliver({ kind: 'stop-command-exited', service: effect.service, status }));
        return;
      }
      case 'spawn-hook': {
        const preStart = effect.hook === 'pre_start';
        const hook = port.spawn(hookSpec(effect.plan, effect.hook, effect.env, preStart ? port.leafFor(effect.service) : null));
        // pre_start is one of the service's processes while it runs: a stop reaches it, and waits for it.
        if (preStart && hook.pid > 0) port.noteSpawned(effect.service, hook.pid);
        this.deps.attachOutput(effect.plan, hook, () => undefined);
        this.hooks.set(effect.service, hook);
        void hook.exit.then((status) => {
          if (this.hooks.get(effect.service) === hook) this.hooks.delete(effect.service);
          this.deliver({ kind: 'hook-exited', service: effect.service, hook: effect.hook, status });
        });
        return;
      }
      case 'kill-hook': {
        const hook = this.hooks.get(effect.service);
        if (hook !== undefined && hook.pid > 0) port.signalPid(hook.pid, effect.signal);
        return;
      }
      case 'signal': {
        const pids = port.signalService(effect.service, effect.signal);
        if (effect.cont) for (const pid of pids) port.signalPid(pid, 18);
        this.reached?.push(...pids);
        return;
      }
      case 'signal-pid':
        if (port.signalPid(effect.pid, effect.signal)) this.reached?.push(effect.pid);
        return;
      case 'signal-group':
        port.signalGroup(effect.pgid, effect.signal);
        return;
      case 'kill':
        port.killService(effect.service);
        return;
      case 'kill-everything':
        for (const name of this.core.services.keys()) port.killService(name);
        for (const pid of port.orphans()) port.signalPid(pid, SIGKILL);
        return;
      case 'sweep': {
        const pids = port.sweep(effect.signal);
        this.immediate.push({ kind: 'swept', signal: effect.signal, pids });
        return;
      }
      case 'watch-gone': {
        const key = effect.service ?? '\0tend';
        this.watches.get(key)?.();
        let active = true;
        const cancel = port.watchGone(effect.service, effect.rekill, () => {
          if (!active) return;
          active = false;
          this.watches.delete(key);
          this.deliver({ kind: 'gone', service: effect.service });
        });
        if (active) {
          this.watches.set(key, () => {
            active = false;
            cancel();
          });
        } else {
          cancel();
        }
        return;
      }
      case 'unwatch-gone': {
        const key = effect.service ?? '\0tend';
        this.watches.get(key)?.();
        this.watches.delete(key);
        return;
      }
      case 'arm': {
        const key = timerKey(effect.timer, effect.service);
        const existing = this.timers.get(key);
        if (existing !== undefined) this.deps.clock.clearTimer(existing);
        const handle = this.deps.clock.setTimer(effect.ms, () => {
          if (this.timers.get(key) !== handle) return;
          this.timers.delete(key);
          this.deliver({ kind: 'timer', timer: effect.timer, service: effect.service });
        });
        this.timers.set(key, handle);
        return;
      }
      case 'cancel': {
        const key = timerKey(effect.timer, effect.service);
        const handle = this.timers.get(key);
        if (handle !== undefined) this.deps.clock.clearTimer(handle);
        this.timers.delete(key);
        return;
      }
      case 'probe-start': {
        const spawned = this.handles.get(effect.service);
        if (spawned === undefined || spawned.pid !== effect.pid) return;
        this.deps.probes.start(effect.probe, effect.plan, effect.pid, spawned, (fact) => this.deliver(fact));
        if (effect.probe === 'ready') {
          const early = this.earlyLines.get(effect.service);
          this.earlyLines.delete(effect.service);
          for (const line of early ?? []) this.deps.probes.line(effect.service, line);
        }
        return;
      }
      case 'probe-stop':
        this.deps.probes.stop(effect.service, effect.probe);
        return;
      case 'schedule': {
        this.schedules.get(effect.service)?.();
        this.schedules.set(effect.service, this.deps.schedule(effect.service, { expression: effect.expression, timeZone: effect.timeZone }, () => this.deliver({ kind: 'scheduled', service: effect.service })));
        return;
      }
      case 'unschedule':
        this.schedules.get(effect.service)?.();
        this.schedules.delete(effect.service);
        return;
      case 'release':
        port.release(effect.service);
        return;
      case 'reap':
        port.reapNow();
        return;
      case 'log':
        log[effect.level](effect.message);
        return;
      case 'finish':
        for (const cancel of this.watches.values()) cancel();
        this.watches.clear();
        for (const handle of this.timers.values()) this.deps.clock.clearTimer(handle);
        this.timers.clear();
        for (const cancel of this.schedules.values()) cancel();
        this.schedules.clear();
        for (const handle of this.daemonSearches.values()) this.deps.clock.clearTimer(handle);
        this.daemonSearches.clear();
        this.finished(effect.code);
        return;
      default: {
        const never: never = effect;
        throw new Error(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Output lines of a service with a `log` ready probe, from its spawn until the probe
   * starts: the command may print its line before the exec's answer reaches the loop.
   */
  private readonly earlyLines = new Map<string, string[]>();

  /** Each service's running pre_start or post_stop. */
  private readonly hooks = new Map<string, Spawned>();

  /** The running process of each service: for probes (notify fd) and `tend status`. */
  private readonly handles = new Map<string, Spawned>();

  /** A process the service's run goes on with (a forking daemon, a MAINPID=): its exit is the run's. */
  private watchMain(name: string, pid: number, exit: Promise<ExitStatus>): void {
    const handle: Spawned = { pid, stdout: null, stderr: null, notify: null, exit };
    this.handles.set(name, handle);
    void exit.then((status) => {
      if (this.handles.get(name) === handle) this.handles.delete(name);
      this.deliver({ kind: 'exited', service: name, pid, status });
    });
  }

  /** A forking service's pid_file, read again until its daemon is found or the core stops looking. */
  private readonly daemonSearches = new Map<string, TimerHandle>();

  /**
   * Finds a forking service's daemon once its start program has exited 0: the pid in its
   * pid_file (read again, every 10 ms growing to 200 ms, while the core waits — the daemon
   * may write it after its parent exited), or, with no pid_file, the oldest process the
   * service owns that is tend's child. The daemon is waited for like a spawned process.
   */
  private findDaemon(name: string, plan: ServicePlan): void {
    const { port, clock } = this.deps;
    const search = this.daemonSearches.get(name);
    if (search !== undefined) clock.clearTimer(search);
    this.daemonSearches.delete(name);
    const found = (pid: number, exit: Promise<ExitStatus>, now: boolean): void => {
      this.watchMain(name, pid, exit);
      const fact: Fact = { kind: 'daemon-found', service: name, pid };
      if (now) this.immediate.push(fact);
      else this.deliver(fact);
    };
    const pidFile = plan.pidFile ?? null;
    if (pidFile === null) {
      const owned = [...port.processesOf(name)].sort((a, b) => a - b);
      for (const pid of owned) {
        const adopted = port.adopt(name, pid);
        if ('exit' in adopted) {
          found(pid, adopted.exit, true);
          return;
        }
      }
      const reason = owned.length === 0 ? 'no process of it is left' : `none of its processes (${owned.join(', ')}) is a child of tend`;
      this.immediate.push({ kind: 'daemon-missing', service: name, reason });
      return;
    }
    let delay = 10;
    let said = '';
    const attempt = (first: boolean): void => {
      this.daemonSearches.delete(name);
      const state = this.core.services.get(name)?.state;
      if (!first && !(state?.id === 'starting' && state.awaiting === 'daemon')) return;
      const read = port.readPidFile(pidFile);
      let reason: string;
      if (typeof read === 'number') {
        const adopted = port.adopt(name, read);
        if ('exit' in adopted) {
          found(read, adopted.exit, first);
          return;
        }
        reason = `its pid_file ${pidFile} names ${adopted.reason}`;
      } else {
        reason = `its pid_file ${pidFile} ${read}`;
      }
      if (reason !== said) {
        said = reason;
        const fact: Fact = { kind: 'daemon-missing', service: name, reason };
        if (first) this.immediate.push(fact);
        else this.deliver(fact);
      }
      this.daemonSearches.set(name, clock.setTimer(delay, () => attempt(false)));
      delay = Math.min(delay * 2, 200);
    };
    attempt(true);
  }

  private spawn(name: string, plan: ServicePlan): void {
    const { port } = this.deps;
    if (plan.type === 'forking' && plan.pidFile != null) port.removePidFile(plan.pidFile);
    const spawned = port.spawn(serviceSpec(plan, port.leafFor(name)));
    if (spawned.pid > 0) port.noteSpawned(name, spawned.pid);
    const early: string[] = [];
    if (plan.ready?.check.kind === 'log') this.earlyLines.set(name, early);
    else this.earlyLines.delete(name);
    this.deps.attachOutput(plan, spawned, (line) => {
      if (this.earlyLines.get(name) === early && early.length < 1000) early.push(line);
      this.deps.probes.line(name, line);
    });
    if (spawned.pid <= 0) {
      void spawned.exit.then((status) => this.deliver({ kind: 'spawn-failed', service: name, status }));
      return;
    }
    const pid = spawned.pid;
    this.handles.set(name, spawned);
    const exited = (): void => {
      void spawned.exit.then((status) => {
        if (this.handles.get(name) === spawned) this.handles.delete(name);
        this.deliver({ kind: 'exited', service: name, pid, status });
      });
    };
    if (spawned.execed === undefined) {
      this.immediate.push({ kind: 'spawned', service: name, pid });
      exited();
      return;
    }
    // The exec helper runs as the service's process; "started" only once it has exec'd the
    // command — a command not found is a spawn failure, never a run. The exit is delivered
    // after the exec's answer, so the core never sees a run end before it began.
    this.immediate.push({ kind: 'forked', service: name, pid });
    void spawned.execed.then((ok) => {
      if (ok) this.deliver({ kind: 'spawned', service: name, pid });
      exited();
    });
  }
}
