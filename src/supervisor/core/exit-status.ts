// What a run's exit status means, pure functions over ExitStatus alone: whether an OOM
// kill or a memory limit is to be read into it (classifyExit), and how a post_stop hook is
// told of it (exitVariables). No state, so any concern, the tests and the draft may call them.
import type { ExitStatus } from '../../vocab/exit';
import { signalName } from '../../vocab/signals';
import { SIGKILL } from './constants';

/** Exited 0: what a hook, a stop_command or a forking start program must do to have done its job. */
export function exitedZero(status: ExitStatus): boolean {
  return status.kind === 'exited' && status.code === 0;
}

/**
 * What a reaped status means. The process layer marks a SIGKILL `oom` when the OOM-kill
 * count of the service's (or the container's) memory cgroup rose during the run; that
 * holds only if tend did not send a SIGKILL itself (a stop past stop_timeout, the
 * shutdown's deadline or a second TERM). A run tend stopped above its memory limit is
 * marked `limit`, whatever it exited with.
 */
export function classifyExit(status: ExitStatus, context: { readonly tendKilled: boolean; readonly overMemory: boolean }): ExitStatus {
  let result = status;
  if (result.oom === true && (context.tendKilled || result.kind !== 'signaled' || result.signal !== SIGKILL)) {
    const { oom: _dropped, ...rest } = result;
    result = rest as ExitStatus;
  }
  if (context.overMemory && result.oom !== true) result = { ...result, limit: 'memory' };
  return result;
}

/**
 * A run's end as systemd gives ExecStopPost=: EXIT_CODE exited | killed | dumped (a core
 * was written), EXIT_STATUS the code or the signal's name without SIG. A command that could
 * not start reads as exited with its 126 or 127.
 */
export function exitVariables(exit: ExitStatus): Record<string, string> {
  switch (exit.kind) {
    case 'exited':
    case 'failed':
      return { EXIT_CODE: 'exited', EXIT_STATUS: String(exit.code) };
    case 'signaled':
      return { EXIT_CODE: exit.core === true ? 'dumped' : 'killed', EXIT_STATUS: signalName(exit.signal).replace(/^SIG/, '') };
  }
}
