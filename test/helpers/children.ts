// The direct children of this process, from /proc/self/task/<tid>/children (every
// thread's list: the reaper thread's children are the process's too).
import { readdirSync, readFileSync } from 'node:fs';

export function directChildren(): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    try {
      for (const field of readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ')) if (/^\d+$/.test(field)) pids.push(Number(field));
    } catch {
      // the thread ended meanwhile
    }
  }
  return pids;
}

/**
 * The end of a test that spawned through the tracker: whatever is left of tend's
 * descendants gets SIGKILL, and the promise waits (bounded) until it is gone.
 */
export function killLeftovers(tracker: { signalLeft(signal: number, pid1: boolean): number[]; watchGone(service: null, rekill: boolean, onGone: () => void): () => void }): Promise<void> {
  tracker.signalLeft(9, false);
  return new Promise((settle) => {
    let settled = false;
    const stop = tracker.watchGone(null, true, () => { settled = true; settle(); });
    if (!settled) setTimeout(() => { stop(); settle(); }, 2000).unref();
  });
}
