// How a process ended, and the exit codes tend itself uses. Shared by every layer that
// reports or decides on an exit; imports nothing of tend but the signal names.
import { signalName } from './signals';

/** How a process tend started ended: its own code, a signal, or it could not be started. */
export type ExitStatus = (
  | { readonly kind: 'exited'; readonly code: number }
  /** `core`: the kernel wrote a core dump (WCOREDUMP). */
  | { readonly kind: 'signaled'; readonly signal: number; readonly core?: true }
  /** `transient`: tend itself ran short (fds, processes, memory); the command may start next time. */
  | { readonly kind: 'failed'; readonly code: 126 | 127; readonly reason: string; readonly transient?: true }
) & {
  /** A SIGKILL tend did not send, with the OOM-kill count of the service's (or the container's) memory cgroup risen. */
  readonly oom?: true;
  /** tend stopped the run: its processes together were above limits.memory (no memory controller). */
  readonly limit?: 'memory';
  /** tend stopped the run: no WATCHDOG=1 came in time (watchdog:), SIGABRT to its main process first. */
  readonly watchdog?: true;
};

/** tend's exit codes of its own (README: Command line: the rest are main's). */
export const EXIT_OK = 0;
/** The start failed, or a critical service gave up; `tend import --strict`: something did not map. */
export const EXIT_START_FAILED = 1;
/** A usage or manifest error: nothing was started. */
export const EXIT_USAGE = 2;
/** tend itself failed (an internal error); it still stopped everything in order. */
export const EXIT_INTERNAL = 70;

/** The shell's number for a status: the code, 128+signal, or 126/127. */
export function exitCodeOf(status: ExitStatus): number {
  switch (status.kind) {
    case 'exited': return status.code;
    case 'signaled': return 128 + status.signal;
    case 'failed': return status.code;
  }
}

/** "exited with 3", "killed by SIGKILL", "command not found: foo". */
export function describeExit(status: ExitStatus): string {
  if (status.oom === true) return "killed by the kernel's OOM killer (SIGKILL)";
  if (status.limit === 'memory') return `stopped above its memory limit (then ${describeExit({ ...status, limit: undefined } as ExitStatus)})`;
  switch (status.kind) {
    case 'exited': return `exited with ${status.code}`;
    case 'signaled': return `killed by ${signalName(status.signal)}${status.core === true ? ' (core dumped)' : ''}`;
    case 'failed': return status.reason;
  }
}
