// tend's own exit status (README, "Exit status"): the first rule that applies wins. Pure.
import { EXIT_INTERNAL, EXIT_START_FAILED, exitCodeOf, type ExitStatus } from '../vocab/exit';

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

export function tendExitCode(outcome: RunOutcome): number {
  if (outcome.internalError) return EXIT_INTERNAL;
  if (outcome.startFailed || outcome.criticalGaveUp) return EXIT_START_FAILED;
  if (outcome.hasMain) return outcome.mainExit === null ? 0 : exitCodeOf(outcome.mainExit);
  return outcome.allSucceeded ? 0 : 1;
}
