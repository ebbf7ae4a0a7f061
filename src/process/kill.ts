// The one module that sends signals. Four kinds of target, each with its own guarantee:
//   - a process tend started and has not yet seen end: checked against the reaper's table
//     under its lock (libtend), so a reused pid is never hit;
//   - a process group (a service's session leader's group, tini mode's CMD group);
//   - any other process by pid (escaped daemons found in /proc, attributed by starttime);
//   - everyone (kill -1: as PID 1, every process in the namespace but tend).
//   - a cgroup v2 leaf (SIGKILL to all of it, at once).
// Each returns whether the signal was delivered; "already gone" (ESRCH) is not an error
// for a supervisor, so it is an answer, not an exception.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kill, signalChild } from '../../native/libc';
import { SIGKILL } from '../vocab/signals';

const ESRCH = 3;

/** A process tend started, only while it is still tend's unreaped child. */
export function signalStarted(pid: number, signal: number): boolean {
  return pid > 0 && signalChild(pid, signal) === 0;
}

/** A process group by its id (the leader's pid). */
export function signalGroup(pgid: number, signal: number): boolean {
  // pgid 0 would mean tend's own group, 1 every process in PID 1's group: never a service's.
  return pgid > 1 && kill(-pgid, signal) === 0;
}

/** Any process by pid; false when it is gone (ESRCH) or not ours to signal (EPERM). */
export function signalPid(pid: number, signal: number): boolean {
  // kill(0) and kill(-1) mean "my process group" and "everyone": never a single process.
  return pid > 0 && kill(pid, signal) === 0;
}

/** Every process tend may signal except itself (kill -1); false when there was none. */
export function signalEveryone(signal: number): boolean {
  return kill(-1, signal) !== ESRCH;
}

/** kill(pid, signal) with the errno as the answer (0 delivered), for callers that report it. */
export function signalPidErrno(pid: number, signal: number): number {
  return pid > 0 || pid < -1 ? kill(pid, signal) : 22; // EINVAL: never 0 or -1 by accident
}

/**
 * SIGKILL to everything in a cgroup v2 leaf, including what it forks meanwhile.
 * cgroup.kill (Linux 5.14) does it atomically; before it, freeze the leaf so nothing can
 * fork, kill each process (a fatal signal reaches frozen tasks), then thaw.
 */
export function killCgroup(leaf: string, hasKillFile: boolean, procs: () => readonly number[]): void {
  if (hasKillFile) {
    try {
      writeFileSync(join(leaf, 'cgroup.kill'), '1');
      return;
    } catch {
      // fall through to the per-process kill
    }
  }
  const freezer = join(leaf, 'cgroup.freeze');
  const canFreeze = existsSync(freezer);
  try {
    if (canFreeze) writeFileSync(freezer, '1');
    for (const pid of procs()) signalPid(pid, SIGKILL);
  } finally {
    if (canFreeze) {
      try {
        writeFileSync(freezer, '0');
      } catch {
        // the leaf was removed meanwhile
      }
    }
  }
}
