// The event loop's side of reaping. The only waiter in tend is libtend's reaper thread
// (native/libtend.c): it sleeps in waitid until any child ends and reaps it at once, so a
// storm of orphans is reaped at the kernel's pace, never at JavaScript's. It queues the
// exit of every process tend started and wakes the loop through a pipe; this module
// reads the pipe, drains the queue and hands each exit to whoever started that pid
// (spawn.ts), then tells listeners (the tracker re-scans) what a pass reaped.
import { Socket } from 'node:net';
import { prctlSetChildSubreaper, reaperAdopt, reaperDrain, reaperKick, reaperOrphansTotal, reaperStart, type WaitResult } from '../../native/libc';

export type Reaped = WaitResult;

/** What one pass of the loop found. */
export interface ReapPass {
  /** Exits of the processes tend started. */
  readonly exits: readonly Reaped[];
  /** Pids of orphans reaped (the newest, when there were very many). */
  readonly orphans: readonly number[];
}

export type ReapListener = (pass: ReapPass) => void;

export interface Reaper {
  /** Orphans reaped so far (tend's zombies_reaped_total). */
  readonly reaped: number;
  /** Calls `onExit` with the raw wait status once `pid`, a process tend started, has been reaped. */
  watch(pid: number, onExit: (status: number) => void): void;
  /**
   * Like `watch`, for a process tend did not start but that is its child now (a forking
   * service's daemon, re-parented to tend). One that already ended and was reaped as an
   * orphan gets `onExit` soon, with its status. Returns null, or why it cannot be waited
   * for (ECHILD: not tend's child — its parent is alive — or no such process).
   */
  adopt(pid: number, onExit: (status: number) => void): string | null;
  /** Whether `pid` is a process tend started and has not yet seen end. */
  watching(pid: number): boolean;
  /** Listens for passes; the tracker re-scans on them. Returns an unsubscribe. */
  onReap(listener: ReapListener): () => void;
  /** Drains what the thread reaped so far, now (the sweep's end, tests). */
  reapNow(): ReapPass;
}

let running: Reaper | null = null;

/**
 * The reaper (one per process, started on first use). Registers tend as child subreaper
 * when it is not PID 1, so orphans of its services come to tend rather than to the host's
 * init.
 */
export function startReaper(): Reaper {
  if (running !== null) return running;
  if (process.pid !== 1) prctlSetChildSubreaper();

  const fd = reaperStart();
  const waiting = new Map<number, (status: number) => void>();
  const listeners = new Set<ReapListener>();

  // The wake-up pipe keeps the loop alive only while an exit is awaited: tini mode, with
  // CMD's output inherited, has nothing else holding the loop open until CMD ends.
  const wakeups = new Socket({ fd, readable: true, writable: false });
  wakeups.unref();
  const holdLoop = (): void => {
    if (waiting.size > 0) wakeups.ref();
    else wakeups.unref();
  };

  const pass = (): ReapPass => {
    const exits: Reaped[] = [];
    const orphans: number[] = [];
    for (;;) {
      const drained = reaperDrain();
      exits.push(...drained.exits);
      orphans.push(...drained.orphans);
      if (!drained.more) break;
    }
    for (const { pid, status } of exits) {
      const onExit = waiting.get(pid);
      waiting.delete(pid);
      onExit?.(status);
    }
    holdLoop();
    const result = { exits, orphans };
    if (exits.length > 0 || orphans.length > 0) {
      for (const listener of listeners) {
        try {
          listener(result);
        } catch (error) {
          // A listener's bug must not stop reaping; surface it where it cannot be lost.
          process.nextTick(() => { throw error; });
        }
      }
    }
    return result;
  };

  // The bytes carry no data (one per wake-up, coalesced by the pipe): the queue is the news.
  wakeups.on('data', () => pass());
  wakeups.on('error', (error) => process.nextTick(() => { throw error; }));

  // The thread sleeps when tend has no child at all. A process that entered the namespace
  // from outside (docker exec) can leave tend an orphan without tend spawning anything;
  // its SIGCHLD is the only news of it. Node does not keep the loop alive for a signal.
  process.on('SIGCHLD', reaperKick);

  const reaper: Reaper = {
    get reaped() { return reaperOrphansTotal(); },
    watch(pid, onExit) {
      waiting.set(pid, onExit);
      holdLoop();
    },
    adopt(pid, onExit) {
      const adopted = reaperAdopt(pid);
      if (adopted.kind === 'refused') return adopted.errno;
      if (adopted.kind === 'ended') {
        const status = adopted.status;
        queueMicrotask(() => onExit(status));
        return null;
      }
      waiting.set(pid, onExit);
      holdLoop();
      return null;
    },
    watching: (pid) => waiting.has(pid),
    onReap(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reapNow: pass,
  };
  running = reaper;
  return reaper;
}
