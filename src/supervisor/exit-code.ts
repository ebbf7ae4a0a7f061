// tend's own exit status (README, "Exit status"): the first rule that applies wins. Pure.
import type { ExitStatus } from '../process/spawn';

export const EXIT_START_FAILED = 1;
export const EXIT_INTERNAL = 70;

export interface RunOutcome {
  /** An internal error happened (tend still shut down in order). */
  readonly internalError: boolean;
  /** A oneshot failed during the start, or a dependency could never be met. */
  readonly startFailed: boolean;
  /** A critical service (or main) gave up: reached fatal. */
  readonly criticalGaveUp: boolean;
  /** The manifest has a main service. */
  readonly hasMain: boolean;
  /** How main's last run ended, or null when it never ran. */
  readonly mainExit: ExitStatus | null;
  /** With no main: did every service that ran succeed? */
  readonly allSucceeded: boolean;
}

export function exitStatusCode(exit: ExitStatus): number {
  switch (exit.kind) {
    case 'exited':
      return exit.code;
    case 'signaled':
      return 128 + exit.signal;
    case 'failed':
      return exit.code;
  }
}

export function tendExitCode(outcome: RunOutcome): number {
  if (outcome.internalError) return EXIT_INTERNAL;
  if (outcome.startFailed || outcome.criticalGaveUp) return EXIT_START_FAILED;
  if (outcome.hasMain) return outcome.mainExit === null ? 0 : exitStatusCode(outcome.mainExit);
  return outcome.allSucceeded ? 0 : 1;
}
