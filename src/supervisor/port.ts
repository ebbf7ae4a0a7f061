// What the supervisor needs from the world, as narrow interfaces the composition root
// (run.ts) fills in: the process layer's primitives, a clock, output routing, probes and
// schedules. Unit tests pass fakes of each, so the core and its loop run with no process
// and no real time.
import type { ServicePlan } from '../plan/types';
import type { Spawned, SpawnSpec } from '../process/spawn';
import type { ExitStatus } from '../vocab/exit';
import type { Fact } from './events';
import type { ScheduleSpec } from './schedule';

/** The process layer, as primitives: it spawns, signals, lists and watches; it decides nothing. */
export interface ProcessPort {
  /** Never throws for a command that cannot run: `exit` says why (pid 0: nothing started). */
  spawn(spec: SpawnSpec): Spawned;
  /** The service's cgroup leaf (created on demand), or null without cgroups. */
  leafFor(service: string): string | null;
  /**
   * Waits for `pid`, a process tend did not start but that is its child now (a forking
   * service's daemon, re-parented to tend), and records it as the service's: `exit` comes
   * from the reaper with its own status. `reason` when it cannot be waited for.
   */
  adopt(service: string, pid: number): { readonly exit: Promise<ExitStatus> } | { readonly reason: string };
  /** A forking service's pid_file: the pid in it, or why there is none (missing, empty, not a pid). */
  readPidFile(path: string): number | string;
  /** Removes a pid_file left by an earlier run, before a start: the pid read next is this start's. */
  removePidFile(path: string): void;
  /** Records a process tend started for the service. */
  noteSpawned(service: string, pid: number): void;
  /** Every live process the service owns, escaped descendants and leftovers included. */
  processesOf(service: string): number[];
  /** tend's descendants that match no service. */
  orphans(): number[];
  /** The signal to every process the service owns; the pids it reached. */
  signalService(service: string, signal: number): number[];
  /** The signal to one process; false when it is gone. */
  signalPid(pid: number, signal: number): boolean;
  /** The signal to a process group (a run's: its leader is a service process tend has not reaped yet); false when it is gone. */
  signalGroup(pgid: number, signal: number): boolean;
  /** SIGKILL to every process the service owns (cgroup.kill where the kernel has it); the pids. */
  killService(service: string): number[];
  /**
   * The sweep's signal (SIGCONT after it unless SIGKILL): kill(-1) as PID 1, else to each of
   * tend's descendants. Returns the pids that were alive just before.
   */
  sweep(signal: number): number[];
  /**
   * Calls `onGone` once, when the service (null: every descendant of tend) owns no live
   * process — at once if it owns none now. `rekill`: SIGKILL any process that shows up
   * meanwhile. The returned function stops the watch.
   */
  watchGone(service: string | null, rekill: boolean, onGone: () => void): () => void;
  /** The service has stopped for good: its cgroup leaf and its recorded roots may go. */
  release(service: string): void;
  /** Reap whatever has exited, now. */
  reapNow(): void;
}

export interface Clock {
  now(): number;
  setTimer(ms: number, fire: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout | number;

/** Runs ready and health checks for one run of a service and reports each result as a fact. */
export interface ProbeRunner {
  start(probe: 'ready' | 'health', plan: ServicePlan, pid: number, spawned: Spawned, report: (fact: Fact) => void): void;
  stop(service: string, probe: 'ready' | 'health'): void;
  /** Every output line of the service, for `log` ready probes. */
  line(service: string, text: string): void;
}

/** Cron schedules: `fire` at each due time until cancelled; returns the cancel function. */
export type ScheduleClock = (service: string, schedule: ScheduleSpec, fire: () => void) => () => void;

export interface SupervisorLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Routes a freshly spawned service's output; `onLine` sees every line (log probes). */
export type AttachOutput = (plan: ServicePlan, spawned: Spawned, onLine: (line: string) => void) => void;

/** setTimeout fires at once for a delay that does not fit in 32 bits: longer ones wait in steps. */
const LONGEST_TIMEOUT = 2 ** 31 - 1;

interface LongTimer { timeout: NodeJS.Timeout }

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fire) => {
    const timer: LongTimer = { timeout: undefined as unknown as NodeJS.Timeout };
    const wait = (left: number): void => {
      timer.timeout = setTimeout(() => (left > LONGEST_TIMEOUT ? wait(left - LONGEST_TIMEOUT) : fire()), Math.min(left, LONGEST_TIMEOUT));
    };
    wait(ms);
    return timer as unknown as TimerHandle;
  },
  clearTimer: (handle) => clearTimeout((handle as unknown as LongTimer).timeout),
};
