// A fake process layer, clock, probe runner and scheduler for the supervisor's unit tests:
// no process is started and no real time passes. Processes are records the test drives
// (crash one, let one ignore SIGTERM, leave leftovers behind); the clock moves only when a
// test advances it, firing due timers in order.
import { afterEach, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import type { Plan, ServicePlan } from '../../src/plan/types';
import type { Spawned, SpawnSpec } from '../../src/process/spawn';
import type { ExitStatus } from '../../src/vocab/exit';
import type { Fact } from '../../src/supervisor/events';
import { SupervisorLoop, type SupervisorEvent } from '../../src/supervisor/loop';
import type { Clock, ProbeRunner, ProcessPort, TimerHandle } from '../../src/supervisor/port';
import { stateName } from '../../src/supervisor/state';

export const SIGKILL = 9;
export const SIGTERM = 15;
const SIGCONT = 18;

/** Lets every pending promise callback (exits, replies) run. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Timer {
  readonly due: number;
  readonly seq: number;
  readonly fire: () => void;
}

export class FakeClock implements Clock {
  time = 1_000_000;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fire: () => void): TimerHandle {
    const seq = ++this.seq;
    this.timers.set(seq, { due: this.time + ms, seq, fire });
    return seq;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Armed timers, for assertions: how many are left. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing each due timer at its own time, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flush();
      const next = [...this.timers.values()].filter((t) => t.due <= end).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.timers.delete(next.seq);
      this.time = next.due;
      next.fire();
    }
    this.time = end;
    await flush();
  }
}

/** How a fake process answers the stop signal: obeys, ignores SIGTERM, or survives even SIGKILL (stuck in the kernel). */
export type Temper = 'obeys' | 'ignores-term' | 'stuck';

interface FakeProcess {
  readonly pid: number;
  readonly service: string;
  readonly temper: Temper;
  readonly exit: (status: ExitStatus) => void;
  readonly promise: Promise<ExitStatus>;
  alive: boolean;
}

export class FakePort implements ProcessPort {
  private nextPid = 100;
  readonly processes = new Map<number, FakeProcess>();
  /** Every spawn, in order (services and stop commands). */
  readonly spawns: SpawnSpec[] = [];
  /** Every signal sent, as `pid:signal`. */
  readonly signals: string[] = [];
  readonly released: string[] = [];
  /** Processes of no service (orphans the sweep finds). */
  readonly strays = new Set<number>();
  private readonly watches = new Set<{ service: string | null; onGone: () => void }>();
  /** The next spawns of these services fail without a pid (command not found). */
  readonly failing = new Set<string>();
  /** How the next spawned processes of a service answer SIGTERM (default: obey). */
  readonly tempers = new Map<string, Temper>();
  /** The exit status of stop_command runs (default: 0). */
  stopCommandStatus: ExitStatus = { kind: 'exited', code: 0 };
  /** The exit status of pre_start / post_stop runs by `service:hook` (default: 0). */
  readonly hookStatus = new Map<string, ExitStatus>();
  reaps = 0;
  /** pid files the fake daemons wrote: path → pid. */
  readonly pidFiles = new Map<string, number>();
  /** Pids adopted (forking daemons), in order. */
  readonly adopted: number[] = [];

  spawn(spec: SpawnSpec): Spawned {
    this.spawns.push(spec);
    if (spec.role !== undefined) {
      // a stop_command or hook: it runs and ends at once, with the status the test chose
      const status = spec.role === 'stop_command' ? this.stopCommandStatus : this.hookStatus.get(`${spec.service}:${spec.role}`) ?? { kind: 'exited', code: 0 };
      return { pid: this.nextPid++, stdout: null, stderr: null, notify: null, exit: Promise.resolve(status) };
    }
    if (this.failing.has(spec.service)) {
      return { pid: 0, stdout: null, stderr: null, notify: null, exit: Promise.resolve({ kind: 'failed', code: 127, reason: `command not found: ${spec.argv[0]}` }) };
    }
    const process = this.add(spec.service, this.tempers.get(spec.service) ?? 'obeys');
    return { pid: process.pid, stdout: new PassThrough(), stderr: new PassThrough(), notify: null, exit: process.promise };
  }

  /** A process of the service that is not its own (a daemon it left behind). */
  leftover(service: string, temper: Temper = 'obeys'): number {
    return this.add(service, temper).pid;
  }

  stray(temper: Temper = 'obeys'): number {
    const process = this.add('', temper);
    this.strays.add(process.pid);
    return process.pid;
  }

  private add(service: string, temper: Temper): FakeProcess & { promise: Promise<ExitStatus> } {
    const pid = this.nextPid++;
    let exit!: (status: ExitStatus) => void;
    const promise = new Promise<ExitStatus>((resolve) => { exit = resolve; });
    const process = { pid, service, temper, exit, alive: true, promise };
    this.processes.set(pid, process);
    return process;
  }

  /** The process ends (a crash, a clean exit); its exit is reported like a reaped child's. */
  end(pid: number, status: ExitStatus): void {
    const process = this.processes.get(pid);
    if (process === undefined || !process.alive) throw new Error(`pid ${pid} is not alive`);
    process.alive = false;
    this.strays.delete(pid);
    process.exit(status);
    this.checkWatches();
  }

  alive(pid: number): boolean {
    return this.processes.get(pid)?.alive === true;
  }

  private deliver(pid: number, signal: number): boolean {
    const process = this.processes.get(pid);
    if (process === undefined || !process.alive) return false;
    this.signals.push(`${pid}:${signal}`);
    if ((signal === SIGKILL && process.temper !== 'stuck') || (signal === SIGTERM && process.temper === 'obeys')) this.end(pid, { kind: 'signaled', signal });
    return true;
  }

  private owned(service: string): number[] {
    return [...this.processes.values()].filter((p) => p.alive && p.service === service).map((p) => p.pid);
  }

  leafFor(): string | null {
    return null;
  }

  noteSpawned(): void {}

  adopt(service: string, pid: number): { readonly exit: Promise<ExitStatus> } | { readonly reason: string } {
    const process = this.processes.get(pid);
    if (process === undefined || !process.alive || process.service !== service) return { reason: `pid ${pid} is not a child of tend` };
    this.adopted.push(pid);
    return { exit: process.promise };
  }

  readPidFile(path: string): number | string {
    return this.pidFiles.get(path) ?? 'has not appeared';
  }

  removePidFile(path: string): void {
    this.pidFiles.delete(path);
  }

  processesOf(service: string): number[] {
    return this.owned(service);
  }

  orphans(): number[] {
    return [...this.strays].filter((pid) => this.alive(pid));
  }

  signalService(service: string, signal: number): number[] {
    const pids = this.owned(service);
    // Delivery order: the signal to all, then their reactions (as the kernel would).
    return pids.filter((pid) => (signal === SIGCONT ? this.alive(pid) : this.deliver(pid, signal)));
  }

  /** Fake processes have no groups: the group is its leader. */
  signalGroup(pgid: number, signal: number): boolean {
    return this.signalPid(pgid, signal);
  }

  signalPid(pid: number, signal: number): boolean {
    if (signal === SIGCONT) return this.alive(pid);
    return this.deliver(pid, signal);
  }

  killService(service: string): number[] {
    const pids = this.owned(service);
    for (const pid of pids) this.deliver(pid, SIGKILL);
    return pids;
  }

  sweep(signal: number): number[] {
    const pids = [...this.processes.values()].filter((p) => p.alive).map((p) => p.pid);
    for (const pid of pids) this.deliver(pid, signal);
    return pids;
  }

  watchGone(service: string | null, rekill: boolean, onGone: () => void): () => void {
    const watch = { service, onGone };
    const left = service === null ? [...this.processes.values()].filter((p) => p.alive) : this.owned(service).map((pid) => this.processes.get(pid)!);
    if (left.length === 0) {
      onGone();
      return () => undefined;
    }
    if (rekill) for (const process of left) this.deliver(process.pid, SIGKILL);
    if (!this.anyAlive(service)) {
      onGone();
      return () => undefined;
    }
    this.watches.add(watch);
    return () => this.watches.delete(watch);
  }

  private anyAlive(service: string | null): boolean {
    return [...this.processes.values()].some((p) => p.alive && (service === null || p.service === service));
  }

  private checkWatches(): void {
    for (const watch of [...this.watches]) {
      if (this.anyAlive(watch.service)) continue;
      this.watches.delete(watch);
      watch.onGone();
    }
  }

  release(service: string): void {
    this.released.push(service);
  }

  reapNow(): void {
    this.reaps += 1;
  }

  /** The pid of the service's own (first spawned, still alive) process. */
  pidOf(service: string): number | undefined {
    return [...this.processes.values()].find((p) => p.alive && p.service === service)?.pid;
  }
}

/** Probes never run: the test reports their results. */
export class FakeProbes implements ProbeRunner {
  readonly running = new Set<string>();
  readonly started: string[] = [];

  start(probe: 'ready' | 'health', plan: ServicePlan, pid: number): void {
    this.running.add(`${probe}:${plan.name}`);
    this.started.push(`${probe}:${plan.name}:${pid}`);
  }

  stop(service: string, probe: 'ready' | 'health'): void {
    this.running.delete(`${probe}:${service}`);
  }

  line(): void {}
}

export interface Harness {
  readonly loop: SupervisorLoop;
  readonly port: FakePort;
  readonly clock: FakeClock;
  readonly probes: FakeProbes;
  readonly logs: { level: string; message: string }[];
  readonly events: SupervisorEvent[];
  readonly schedules: Map<string, () => void>;
  /** The API state name of a service ('gone' once a reload removed it and it stopped). */
  state(name: string): string;
  /** Log lines so far, as `level message`. */
  lines(): string[];
  exitCode(): Promise<number | null>;
  report(fact: Fact): Promise<void>;
}

export function harness(plan: Plan, options: { random?: number } = {}): Harness {
  const port = new FakePort();
  const clock = new FakeClock();
  const probes = new FakeProbes();
  const logs: { level: string; message: string }[] = [];
  const events: SupervisorEvent[] = [];
  const schedules = new Map<string, () => void>();
  const log = (level: string) => (message: string) => logs.push({ level, message });
  const loop = new SupervisorLoop(plan, {
    port,
    clock,
    random: () => options.random ?? 0.5,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    probes,
    schedule: (service, _expression, fire) => {
      schedules.set(service, fire);
      return () => schedules.delete(service);
    },
    attachOutput: () => undefined,
  });
  loop.subscribe((event) => events.push(event));
  let code: number | null = null;
  void loop.done.then((c) => { code = c; });
  return {
    loop, port, clock, probes, logs, events, schedules,
    state: (name) => {
      const record = loop.record(name);
      return record === undefined ? 'gone' : stateName(record.state);
    },
    lines: () => logs.map((l) => `${l.level} ${l.message}`),
    exitCode: async () => {
      await flush();
      return code;
    },
    report: async (fact) => {
      loop.deliver(fact);
      await flush();
    },
  };
}

/**
 * Makes (and starts) loops for a test file, and checks after each test that every
 * transition a scenario made went through the table: none was refused (the core logs
 * "illegal transition" for one it refused). `start.unstarted` makes one to set up first.
 */
export function startedHarnesses(): ((plan: Plan) => Harness) & { unstarted(plan: Plan): Harness } {
  let current: Harness | null = null;
  afterEach(() => {
    if (current !== null) expect(current.lines().filter((l) => /illegal transition/.test(l))).toEqual([]);
    current = null;
  });
  const unstarted = (plan: Plan): Harness => (current = harness(plan));
  const start = (plan: Plan): Harness => {
    const h = unstarted(plan);
    h.loop.start();
    return h;
  };
  return Object.assign(start, { unstarted });
}
