// Reaps every child of tend that libuv does not wait for: orphans re-parented to tend (as
// PID 1, or as child subreaper) and anything else that ends up its child.
//
// It never calls waitpid(-1): libuv reaps the children it spawned one pid at a time, and
// a pid reaped by someone else loses its exit status for good. Instead, on SIGCHLD (and on
// a slow unref'd safety timer, since SIGCHLD coalesces and a signal can arrive before the
// handler exists) it lists tend's direct children and reaps, with WNOHANG, only those
// that are not in libuv's set (native/libtend.c, one ffi call per pass).
import { readFileSync, readdirSync } from 'node:fs';
import { prctlSetChildSubreaper, reapBatch, waitidPeek, waitpidNoHang } from '../../native/libc';
import { isLibuvChild, libuvChildren } from './spawn';

export interface Reaped {
  readonly pid: number;
  /** The raw wait status (decode with exitedCode / signaledSignal from native/libc). */
  readonly status: number;
}

/** `signal`: a SIGCHLD came (something changed); `timer`: the slow safety pass. */
export type ReapCause = 'signal' | 'timer';
/** Called after every pass that SIGCHLD or the timer triggered, with what it reaped (maybe nothing). */
export type ReapListener = (reaped: readonly Reaped[], cause: ReapCause) => void;

export interface Reaper {
  /** Orphans reaped so far (tend's zombies_reaped_total). */
  readonly reaped: number;
  /** Listens for passes; the tracker and supervisor re-scan on them. Returns an unsubscribe. */
  onReap(listener: ReapListener): () => void;
  /** Runs a pass now (tests, and the sweep's final reap). */
  reapNow(): readonly Reaped[];
  stop(): void;
}

const SAFETY_INTERVAL_MS = 1000;

/** tend's direct children, from /proc/self/task/<tid>/children (every thread's list). */
export function directChildren(): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const field of text.split(' ')) if (field !== '' && field !== '\n') pids.push(Number(field));
  }
  return pids;
}

let running: Reaper | null = null;

/**
 * Starts the reaper (once per process). Registers tend as child subreaper when it is not
 * PID 1, so orphans of its services come to tend rather than to the host's init.
 */
export function startReaper(): Reaper {
  if (running !== null) return running;
  if (process.pid !== 1) prctlSetChildSubreaper();

  let count = 0;
  const listeners = new Set<ReapListener>();

  /**
   * One ffi call per pass through native/libtend.c (null when it was not built). It reaps
   * every zombie there is, then returns: zombies that come later (the rest of a storm,
   * orphans re-parented as these died) each raise a SIGCHLD, and the pass they trigger
   * starts after a sleep in the event loop. Looping here instead would keep tend running
   * through a storm, and the kernel's scheduler, fair to the 2,000 processes that woke at
   * once, ranks a busy task behind all of them (traced: tend reaped 9 of 2,000 orphans in
   * the storm's first 130 ms and the rest only after the last had exited).
   */
  const batchPass = (): Reaped[] | null => {
    const skip = [...libuvChildren()];
    const reaped: Reaped[] = [];
    for (;;) {
      let batch = reapBatch(skip, []);
      if (batch === null) return null;
      // A zombie of libuv's hides the rest from the peek: list the children and try each.
      if (batch.blocked) {
        reaped.push(...batch.reaped);
        batch = reapBatch(skip, directChildren());
        if (batch === null) return null;
      }
      reaped.push(...batch.reaped);
      if (!batch.full) return reaped;
    }
  };

  /** Without libtend.so: waitid peek, then a waitpid per child — two ffi calls per orphan. */
  const scanPass = (): Reaped[] => {
    const reaped: Reaped[] = [];
    for (;;) {
      const pid = waitidPeek();
      if (pid === null) return reaped;
      if (isLibuvChild(pid)) break;
      const result = waitpidNoHang(pid);
      if (result === null) break;
      reaped.push(result);
    }
    for (;;) {
      let progress = false;
      for (const pid of directChildren()) {
        if (isLibuvChild(pid)) continue;
        const result = waitpidNoHang(pid);
        if (result !== null) {
          reaped.push(result);
          progress = true;
        }
      }
      // A reaped orphan's own children were re-parented to us as it died: look again.
      if (!progress) return reaped;
    }
  };

  const pass = (): Reaped[] => {
    const reaped = batchPass() ?? scanPass();
    count += reaped.length;
    return reaped;
  };

  const onPass = (cause: ReapCause): void => {
    const reaped = pass();
    for (const listener of listeners) {
      try {
        listener(reaped, cause);
      } catch (error) {
        // A listener's bug must not stop reaping; surface it where it cannot be lost.
        process.nextTick(() => { throw error; });
      }
    }
  };

  // libuv calls the SIGCHLD handler once per signal it caught: in a storm of 2,000 exits,
  // hundreds of calls queue up in one turn of the loop, and a pass for each (an ffi call,
  // the listeners) would delay the one that matters — the pass after the last exit — by
  // the time of all the others. The calls of one turn share one pass, at the end of it.
  let scheduled: NodeJS.Immediate | null = null;
  const onSignal = (): void => {
    if (scheduled !== null) return;
    scheduled = setImmediate(() => {
      scheduled = null;
      onPass('signal');
    });
  };
  process.on('SIGCHLD', onSignal);
  const timer = setInterval(() => onPass('timer'), SAFETY_INTERVAL_MS);
  timer.unref();
  // Anything that ended before the handler existed.
  process.nextTick(onSignal);

  const reaper: Reaper = {
    get reaped() { return count; },
    onReap(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reapNow: pass,
    stop() {
      process.removeListener('SIGCHLD', onSignal);
      if (scheduled !== null) clearImmediate(scheduled);
      clearInterval(timer);
      listeners.clear();
      running = null;
    },
  };
  running = reaper;
  return reaper;
}
