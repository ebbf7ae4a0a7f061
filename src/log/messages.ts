// Every sentence tend logs, in one place, so wording stays consistent and reviewable.
// A message names the subject, what happened, the cause and, where there is one, the
// fix: `web: killed with SIGKILL after 5s (SIGTERM ignored)`.
// Functions return plain strings; the caller picks the level and the logger.
import type { FileSinkReport } from './filesink';
import { duration, size } from '../vocab/format';

export { duration, size };

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

// ---- service lifecycle -----------------------------------------------------------------

export const started = (service: string, pid: number) => `${service}: started (pid ${pid})`;
export const ready = (service: string, afterMs: number) => `${service}: ready after ${duration(afterMs)}`;
export const notReady = (service: string, timeoutMs: number, why: string) =>
  `${service}: not ready after ${duration(timeoutMs)} (${why})`;
/** Socket activation. */
/** The reason of a failed start, after "<service>: " (a port in use is named with its service). */
export const listenFailed = (address: string, errno: string) =>
  `cannot listen on ${address} (${errno === 'EADDRINUSE' ? 'address in use' : errno === 'EACCES' ? 'permission denied' : errno})`;

/** sd_notify. */
export const watchdogFired = (service: string, ms: number, pid: number, triggered: boolean) =>
  `${service}: watchdog: ${triggered ? 'it sent WATCHDOG=trigger' : `no WATCHDOG=1 for ${duration(ms)}`}: it hangs; SIGABRT to pid ${pid}, then it is stopped and its restart policy applies`;
export const mainPid = (service: string, pid: number) => `${service}: its main process is pid ${pid} now (MAINPID=)`;
export const mainPidRefused = (service: string, value: string, sender: number) =>
  `${service}: MAINPID=${value} from pid ${sender} ignored: the service does not own that process`;
export const mainPidUnwatchable = (service: string, pid: number, why: string) =>
  `${service}: MAINPID=${pid} ignored: ${why}; its main process stays the one tend started`;
export const startExtended = (service: string, ms: number) => `${service}: start timeout extended by ${duration(ms)} (EXTEND_TIMEOUT_USEC=)`;
export const saysStopping = (service: string) => `${service}: says it is stopping (STOPPING=1)`;
export const saysReloading = (service: string) => `${service}: says it is reloading (RELOADING=1)`;
export const notifyDropped = (pid: number, uid: number, total: number) =>
  `sd_notify message from pid ${pid} (uid ${uid}) dropped: no service with sd_notify owns that process (${total} dropped so far)`;
export const notifyUnavailable = (why: string) => `sd_notify is unavailable: ${why}; services with ready: { sd_notify: true } will not get ready`;

/** settings.syslog. */
export const syslogUnavailable = (path: string, errno: string) => {
  const why: Record<string, string> = {
    EEXIST: 'it exists and is not a socket (tend leaves it alone)',
    EADDRINUSE: 'another syslog receiver is listening on it',
    ENOENT: 'its directory does not exist',
    EACCES: 'permission denied',
    ENOTDIR: 'a parent is not a directory',
    EROFS: 'read-only file system',
    ENAMETOOLONG: 'the path is too long for a Unix socket (107 bytes at most)',
  };
  return `syslog: cannot receive on ${path}: ${why[errno] ?? errno}; tend runs on without it, and services' syslog messages are lost`;
};
export const syslogListening = (path: string) => `syslog: receiving on ${path}`;
export const syslogCut = (total: number, kept: number) =>
  `syslog: a message longer than ${size(kept)} was cut to that (${plural(total, 'message')} cut so far)`;

/** type: forking. */
export const startProgramFailed = (service: string, description: string) => `${service}: its start program ${description}: the start failed`;
export const daemonFound = (service: string, pid: number, pidFile: string | null) =>
  `${service}: daemon running (pid ${pid}${pidFile !== null ? `, from ${pidFile}` : ''})`;
export const daemonHandsOver = (service: string, pid: number, description: string) =>
  `${service}: daemon pid ${pid} ${description}; the service still owns processes and runs on`;
export const daemonGone = (service: string, why: string, description: string) => `${service}: ${why} (last ${description})`;
/** `description` as "exited with 3", "killed by SIGKILL", "command not found: x". */
export const exited = (service: string, description: string) => `${service}: ${description}`;
export const overMemory = (service: string, bytes: number, limit: number, restarts: boolean) =>
  `${service}: its processes hold ${mib(bytes)}, above limits.memory ${mib(limit)} (checked by tend: no memory controller); stopping${restarts ? ' and restarting per its policy' : ''}`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
export const completed = (service: string, afterMs: number) => `${service}: completed in ${duration(afterMs)}`;
export const restarting = (service: string, delayMs: number, restarts: number) =>
  `${service}: restarting in ${duration(delayMs)} (restart ${restarts})`;
export const gaveUp = (service: string, reason: string) =>
  `${service}: gave up: ${reason}; it stays down until \`tend start ${service}\``;
export const cannotStartCommand = (service: string, reason: string) =>
  `${service}: cannot start: ${reason}; it stays down: \`tend start ${service}\` after fixing it`;
export const preStartFailed = (service: string, description: string) => `${service}: pre_start ${description}; the start failed`;
export const postStopFailed = (service: string, description: string) => `${service}: post_stop ${description}`;
export const hookTimedOut = (service: string, hook: string, ms: number) => `${service}: ${hook} still runs after ${duration(ms)}; killing it with SIGKILL`;
export const leftoversKept = (service: string, count: number) =>
  `${service}: ${plural(count, 'process', 'processes')} left by its previous run ${count === 1 ? 'keeps' : 'keep'} running beside the new one (stop_mode: main)`;
export const leftovers = (service: string, count: number) =>
  `${service}: stopping ${plural(count, 'process', 'processes')} left by its previous run before it starts again`;
export const stopping = (service: string, how: string) => `${service}: stopping (${how})`;
export const stopped = (service: string, afterMs: number) => `${service}: stopped after ${duration(afterMs)}`;
export const stopCommandFailed = (service: string, description: string, signal: string) =>
  `${service}: stop_command ${description}; sending ${signal} instead`;
export const killedAfterTimeout = (service: string, signal: string, timeoutMs: number, pids: readonly number[]) =>
  `${service}: killed with SIGKILL after ${duration(timeoutMs)} (${signal} ignored by pid ${pids.join(', ')})`;
export const stuck = (service: string, pids: readonly number[]) =>
  `${service}: pid ${pids.join(', ')} survived SIGKILL for 2s (stuck in the kernel?); counting the service as stopped`;
export const unhealthy = (service: string, failures: number, why: string, restarts: boolean) =>
  `${service}: unhealthy after ${plural(failures, 'failed check')} (${why})${restarts ? '; restarting' : ''}`;
export const healthy = (service: string) => `${service}: healthy`;
export const illegalTransition = (service: string, from: string, to: string) =>
  `${service}: refused illegal transition ${from} → ${to} (a bug in tend)`;
export const cannotStart = (chain: string) => `cannot start ${chain}`;
export const allStarted = (afterMs: number) => `all services started in ${duration(afterMs)}`;

export const runtimeDirectoryKept = (service: string, dir: string, why: string) =>
  `${service}: cannot remove its runtime_directory ${dir}: ${why}`;

// ---- schedules -------------------------------------------------------------------------

export const scheduled = (service: string, expression: string, next: Date) =>
  `${service}: scheduled "${expression}", next run ${next.toISOString()}`;
export const scheduledRun = (service: string) => `${service}: scheduled run`;
export const execRequested = (service: string, pid: number, uid: number) => `${service}: tend exec by pid ${pid} (uid ${uid})`;
export const scheduledRunSkipped = (service: string, state: string) =>
  `${service}: scheduled run skipped: the previous run is still ${state}`;
export const scheduledRunReplaces = (service: string, pid: number | null) =>
  `${service}: scheduled run: stopping the previous run${pid === null ? '' : ` (pid ${pid})`} first (concurrency: replace)`;
export const scheduledRunAlongside = (service: string, pid: number, running: number) =>
  `${service}: scheduled run alongside the previous one (pid ${pid} goes on; concurrency: allow, ${running} running)`;
export const runTimedOut = (service: string, timeoutMs: number, pid: number | null) =>
  `${service}: run${pid === null ? '' : ` (pid ${pid})`} still going after its timeout of ${duration(timeoutMs)}; stopping it (counted as failed)`;
export const earlierRunEnded = (service: string, pid: number, result: string, description: string) =>
  `${service}: earlier run (pid ${pid}) ${description} (${result})`;
export const earlierRunKilled = (service: string, pid: number) =>
  `${service}: earlier run (pid ${pid}) killed with SIGKILL after its stop_timeout`;

// ---- tend itself ---------------------------------------------------------------------

export const tendStarting = (version: string, services: number, file: string, pid: number, socket: string) =>
  `tend ${version} ${pid === 1 ? 'as PID 1' : `(pid ${pid}, subreaper)`}: ${plural(services, 'service')} from ${file}; control socket ${socket}`;
export const shutdownBegins = (reason: string) => `shutdown begins (${reason})`;
export const shutdownDelay = (delayMs: number) => `waiting ${duration(delayMs)} (shutdown_delay) before stopping services`;
export const shutdownTimeout = (timeoutMs: number, heldUp: readonly string[]) =>
  `shutdown_timeout (${duration(timeoutMs)}) passed; killing what is left${heldUp.length > 0 ? ` (held up by ${heldUp.join(', ')})` : ''}`;
export const heldShutdownUp = (service: string, tookMs: number) => `${service} held the shutdown up for ${duration(tookMs)}`;
export const forceKill = () => 'second signal: killing everything with SIGKILL';
export const allStopped = (afterMs: number) => `all services stopped in ${duration(afterMs)}`;
export const swept = (terminated: number, killed: readonly number[]) =>
  `sweep: ${plural(terminated, 'leftover process', 'leftover processes')} got SIGTERM${killed.length > 0 ? `; pid ${killed.join(', ')} needed SIGKILL` : ''}`;
export const exiting = (code: number) => `exiting with status ${code}`;
export const outputDropped = (bytes: number, waitedMs: number) =>
  `${size(bytes)} of service output could not be written before exit: the console's reader took none of it for ${duration(waitedMs)} (docker logs or the log driver stalled?)`;
export const internalError = (detail: string) => `internal error: ${detail}; stopping everything in order, then exiting 70`;
export const levelChanged = (from: string, to: string) => `log level changed from ${from} to ${to}`;
export const reloadRefused = (problems: number, file: string) =>
  `reload refused: ${plural(problems, 'problem')} in ${file}; nothing changed`;
export const reloadDuringShutdown = () => 'reload refused: tend is shutting down; nothing changed';
export const reloaded = (file: string, summary: string) => `reloaded ${file}: ${summary}`;
export const byHand = (what: string, names: readonly string[], pid: number) => `${what} ${names.join(', ')} (requested by pid ${pid})`;

// ---- the log subsystem ---------------------------------------------------------------

export const droppedLogLines = (count: number, stream: string) =>
  `dropped ${plural(count, 'log line')} of tend's own while ${stream} was blocked`;
export const consoleClosed = (stream: string, code: string) =>
  `tend's ${stream} is gone (${code}); service output to it is discarded from now on`;
export const logFileFailed = (service: string, path: string, cause: string) =>
  `${service}: cannot write log file ${path} (${cause}); its lines are dropped until writing works again`;
export const logFileSymlink = (service: string, path: string) =>
  `${service}: log file ${path} is a symbolic link; tend does not follow it (a service could point it at any file root can write). Remove the link`;
export const logFileResumed = (service: string, path: string, dropped: number) =>
  `${service}: log file ${path} writable again; ${plural(dropped, 'line')} were dropped meanwhile`;
export const logFileRotateFailed = (service: string, path: string, cause: string) =>
  `${service}: cannot rotate log file ${path} (${cause}); writing on to the current file`;
export const logFileCompressFailed = (service: string, path: string, cause: string) =>
  `${service}: cannot compress rotated log file ${path} (${cause}); it is kept uncompressed`;

/** What to log for a RotatingFile report: the level and the sentence. */
export function fileReport(service: string, report: FileSinkReport): { level: 'warn' | 'info'; msg: string } {
  switch (report.kind) {
    case 'failed':
      return { level: 'warn', msg: logFileFailed(service, report.path, report.code) };
    case 'symlink':
      return { level: 'warn', msg: logFileSymlink(service, report.path) };
    case 'resumed':
      return { level: 'info', msg: logFileResumed(service, report.path, report.droppedLines) };
    case 'rotate-failed':
      return { level: 'warn', msg: logFileRotateFailed(service, report.path, report.code) };
    case 'compress-failed':
      return { level: 'warn', msg: logFileCompressFailed(service, report.path, report.code) };
    default: {
      const never: never = report;
      return never;
    }
  }
}
