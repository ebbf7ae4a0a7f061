// Every sentence tend logs, in one place, so wording stays consistent and reviewable.
// A message names the subject, what happened, the cause and, where there is one, the
// fix (STYLE #7): `web: killed with SIGKILL after 5s (SIGTERM ignored)`.
// Functions return plain strings; the caller picks the level and the logger.
import type { FileSinkReport } from './filesink';

/** 1500 → "1.5s", 250 → "250ms", 120000 → "2m": how durations read in the log. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trim(ms / 1000)}s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)}m`;
  return `${trim(ms / 3_600_000)}h`;
}

/** 10485760 → "10MB", as sizes are written in the manifest. */
export function size(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${trim(bytes / 1024 ** 3)}GB`;
  if (bytes >= 1024 ** 2) return `${trim(bytes / 1024 ** 2)}MB`;
  if (bytes >= 1024) return `${trim(bytes / 1024)}KB`;
  return `${bytes}B`;
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1).replace(/\.0$/, '');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

// ---- service lifecycle (the supervisor adds to these) -------------------------------

export const starting = (service: string, command: string) => `${service}: starting: ${command}`;
export const started = (service: string, pid: number) => `${service}: started (pid ${pid})`;
export const ready = (service: string, afterMs: number) => `${service}: ready after ${duration(afterMs)}`;
export const notReady = (service: string, timeoutMs: number, why: string) =>
  `${service}: not ready after ${duration(timeoutMs)} (${why}); the start failed`;
/** `description` as "exited with code 3", "killed by SIGKILL". */
export const exited = (service: string, description: string) => `${service}: ${description}`;
export const completed = (service: string, afterMs: number) => `${service}: completed in ${duration(afterMs)}`;
export const restarting = (service: string, delayMs: number, restarts: number) =>
  `${service}: restarting in ${duration(delayMs)} (restart ${restarts})`;
export const gaveUp = (service: string, count: number, windowMs: number) =>
  `${service}: gave up after ${plural(count, 'restart')} within ${duration(windowMs)}; it stays fatal until \`tend start ${service}\``;
export const stopping = (service: string, signal: string) => `${service}: stopping (${signal})`;
export const stopped = (service: string, afterMs: number) => `${service}: stopped after ${duration(afterMs)}`;
export const killedAfterTimeout = (service: string, signal: string, timeoutMs: number) =>
  `${service}: killed with SIGKILL after ${duration(timeoutMs)} (${signal} ignored)`;
export const spawnFailed = (service: string, reason: string) => `${service}: could not start: ${reason}`;
export const unhealthy = (service: string, failures: number, why: string) =>
  `${service}: unhealthy after ${plural(failures, 'failed check')} (${why}); restarting`;

// ---- tend itself ---------------------------------------------------------------------

export const tendStarting = (version: string, services: number, pid: number) =>
  `tend ${version} starting ${plural(services, 'service')} (pid ${pid})`;
export const shutdownBegins = (reason: string) => `shutdown begins (${reason})`;
export const shutdownHeldUpBy = (services: readonly string[], waitedMs: number) =>
  `shutdown held up by ${services.join(', ')} for ${duration(waitedMs)}`;
export const shutdownDone = (afterMs: number, exitCode: number) =>
  `shutdown complete after ${duration(afterMs)}; exiting with ${exitCode}`;
export const internalError = (what: string) => `internal error in ${what}; stopping everything in order and exiting 70`;
export const levelChanged = (from: string, to: string) => `log level changed from ${from} to ${to}`;

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
