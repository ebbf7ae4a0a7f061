// The numbers the core's concerns share: the signals it sends by number, and how long a
// stop or the sweep waits. One place, so that the stop sequence and the shutdown's sweep
// cannot drift apart.
export { SIGABRT, SIGCONT, SIGKILL, SIGTERM } from '../../vocab/signals';
export const STUCK_AFTER_KILL_MS = 2000;
export const SWEEP_GRACE_MS = 1000;
/** A service whose stop took longer than this during the shutdown is named in the log. */
export const HELD_UP_MS = 1000;
