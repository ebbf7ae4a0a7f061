// The contract between the control socket and the supervisor. The supervisor implements
// ControlHandler; the server (server.ts) parses requests, checks access and limits, and
// calls it. The socket side never reaches into a service: it asks for snapshots and
// submits commands, and every expected failure comes back as a value with a reason.
//
// Wire names are snake_case (`last_exit`, `uptime_ms`) because these documents are
// printed verbatim by `tend status --json` and served at /status; times are epoch ms.

/** Service states, part of the API (README: Control socket). `completed` and `failed` are oneshot only. */
export const SERVICE_STATES = [
  'stopped', 'starting', 'running', 'ready', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed',
] as const;
export type ServiceStateName = (typeof SERVICE_STATES)[number];

/** Liveness as the healthcheck sees it; `none` when the service has no healthcheck. */
export const HEALTH_STATES = ['none', 'starting', 'healthy', 'unhealthy'] as const;
export type HealthName = (typeof HEALTH_STATES)[number];

/** The closed set of error codes a reply can carry. */
export const ERROR_CODES = [
  'bad_request', // not JSON, not UTF-8, wrong shape, bad argument (an unknown signal name)
  'unknown_command',
  'unknown_service',
  'forbidden', // the peer may not connect, or has read access and asked for a change
  'too_large', // a request line over the limit; the connection is closed after the reply
  'busy', // too many clients or too many requests in flight on one connection
  'slow_reader', // sent before closing a connection that did not read what tend sent it
  'idle_timeout', // sent before closing a connection that asked nothing for too long
  'failed', // the command ran and did not succeed (a oneshot failed, a start gave up)
  'timeout', // `wait` reached its deadline
  'shutting_down', // tend is stopping and refuses changes
  'invalid_manifest', // reload found a broken manifest and changed nothing; see `problems`
  'internal', // a bug in tend: the handler threw
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An expected failure: what the client prints, and why. */
export interface Failure {
  readonly ok: false;
  readonly reason: ErrorCode;
  /** One line naming the subject and the cause: `unknown service "wbe" (known: web, db)`. */
  readonly message: string;
  /** For invalid_manifest: every problem, one line each, as `tend check` prints them. */
  readonly problems?: readonly string[];
}

export type Result<T> = { readonly ok: true; readonly value: T } | Failure;

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail(reason: ErrorCode, message: string, problems?: readonly string[]): Failure {
  return problems === undefined ? { ok: false, reason, message } : { ok: false, reason, message, problems };
}

import type { Unsubscribe } from '../vocab/subscription';
export type { Unsubscribe };

/** How the last run ended: an exit code, or the signal that killed it (`SIGKILL`). */
export type LastExit = ({ readonly code: number } | { readonly signal: string }) & {
  /** Killed by the kernel's OOM killer (a SIGKILL tend did not send, the cgroup's oom_kill count risen). */
  readonly oom?: true;
  /** tend stopped it: its processes together were above limits.memory (no memory controller to do it). */
  readonly reason?: 'memory limit' | 'watchdog';
};

/** One process a service owns, for `tend status -v`. */
export interface ProcessInfo {
  readonly pid: number;
  /** comm or argv[0] as /proc showed it; null once it could not be read. */
  readonly command: string | null;
  /** True when it left the service's process group or session (setsid, double fork). */
  readonly escaped: boolean;
}

export interface ServiceStatus {
  readonly name: string;
  readonly type: 'longrun' | 'oneshot' | 'forking';
  readonly main: boolean;
  readonly state: ServiceStateName;
  /** The service's own process, as seen from tend's PID namespace; null when none runs. */
  readonly pid: number | null;
  /** When the service entered its current state (epoch ms); null if it never ran. */
  readonly since: number | null;
  /** How long its current process has run; null when none runs. */
  readonly uptime_ms: number | null;
  readonly restarts: number;
  readonly last_exit: LastExit | null;
  readonly health: HealthName;
  /** Every pid the service owns, its own process and escaped descendants included. */
  readonly processes: readonly number[];
  /** The same pids with detail, when the supervisor has it (shown by `tend status -v`). */
  readonly process_info?: readonly ProcessInfo[];
  /** Why it is fatal, failed, backing off or stopped by hand; null otherwise. */
  readonly reason?: string | null;
  /** The last STATUS= it sent on its sd_notify socket this run; null when none. */
  readonly status_text?: string | null;
  /** backoff: when the next start is due (epoch ms). */
  readonly next_start?: number | null;
  /** Memory its processes hold now (its cgroup leaf, else their RSS summed), read on request; null: unknown. */
  readonly memory_bytes?: number | null;
  /** CPU time its processes used (its cgroup leaf: every run; else the live processes'), seconds. */
  readonly cpu_seconds?: number | null;
  /** CPU use since the previous status request (else since its start), % of one core. */
  readonly cpu_percent?: number | null;
  /** Runs ended by the kernel's OOM killer since tend started. */
  readonly oom_kills?: number;
  /** A scheduled oneshot: its schedule, last run and next run, and its runs counted by result. */
  readonly job?: JobStatus;
}

/** How a job's run ended: `tend_job_runs_total{result}`. `skipped`: due while the last run went on (concurrency: forbid). */
export const JOB_RESULTS = ['success', 'failure', 'skipped', 'replaced'] as const;
export type JobResultName = (typeof JOB_RESULTS)[number];

export interface JobStatus {
  readonly schedule: string;
  /** The zone the schedule is read in; null: tend's own (TZ). */
  readonly time_zone: string | null;
  readonly concurrency: 'forbid' | 'allow' | 'replace';
  /** A run still going after this long is stopped and counts as failed; null: no limit. */
  readonly timeout_ms: number | null;
  /** When the schedule is next due (epoch ms); null when it is not armed (autostart: false, shutting down) or never due again. */
  readonly next_run: number | null;
  /** The last run that ended: its result, when (epoch ms), and how (`exit 0`, `timed out after 5s`). */
  readonly last_run: { readonly result: Exclude<JobResultName, 'skipped'>; readonly at: number; readonly detail: string } | null;
  readonly last_success: number | null;
  /** Runs since tend started, by result. */
  readonly runs: Readonly<Record<JobResultName, number>>;
  /** Runs going now (more than one only with concurrency: allow). */
  readonly running: number;
}

export interface StatusDocument {
  readonly services: readonly ServiceStatus[];
  /** Pids that match no service: `(orphans)`, swept at shutdown. */
  readonly orphans: readonly number[];
  readonly shutting_down: boolean;
  /** How limits.memory/cpu/pids are carried (cgroup2, cgroup v1, tend's own check, not enforced); absent without such limits. */
  readonly limits?: Readonly<Record<string, string>>;
}

/** `tend health` (Docker HEALTHCHECK): healthy when main runs, its ready probes pass and no shutdown is under way. */
export interface HealthDocument {
  readonly healthy: boolean;
  /** One line: `main web is ready`, `shutting down`, `main web is backoff (exit 1)`. */
  readonly reason: string;
  readonly shutting_down: boolean;
}

/** What start/stop/restart did to each named service (and, for start, the dependencies it had to start). */
export interface ActionOutcome {
  readonly name: string;
  /** The state when the command finished (or was accepted, without wait). */
  readonly state: ServiceStateName;
  /** False when the service already was where the command would put it. */
  readonly changed: boolean;
}

export interface ActionResult {
  readonly services: readonly ActionOutcome[];
}

export interface SignalResult {
  readonly name: string;
  /** The signal's canonical name (`SIGHUP`). */
  readonly signal: string;
  /** The pids it was delivered to; empty when the service owns no process (not an error). */
  readonly pids: readonly number[];
}

/** `running` means running or ready; `ready` waits for the ready probe (a oneshot: completed); `stopped` any state in which nothing runs. */
export type WaitCondition = 'running' | 'ready' | 'stopped';

export interface WaitResult {
  readonly name: string;
  readonly state: ServiceStateName;
}

import type { LogLine } from '../log/line';
export type { LogLine };

export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  /** Changes that wait for the next start of tend: a changed main, socket, http, tracking, log_format. */
  readonly pending: readonly string[];
}

export interface ShutdownResult {
  /** True when a shutdown was already under way: this request changed nothing. */
  readonly already: boolean;
}

export interface VersionInfo {
  readonly tend: string;
  readonly protocol: number;
  readonly pid: number;
}

/** What `tend events` streams. Wording for humans lives in src/cli/format.ts. */
export type TendEvent =
  | {
      readonly type: 'state';
      readonly time: number;
      readonly service: string;
      readonly from: ServiceStateName;
      readonly to: ServiceStateName;
      readonly pid: number | null;
      readonly reason?: string | null;
      /** The service's status fields the change may have moved, so a live view (`tend top`) needs no `status` after it. */
      readonly restarts?: number;
      readonly last_exit?: LastExit | null;
      readonly health?: HealthName;
    }
  | { readonly type: 'exit'; readonly time: number; readonly service: string; readonly pid: number; readonly exit: LastExit }
  | { readonly type: 'health'; readonly time: number; readonly service: string; readonly health: HealthName }
  | { readonly type: 'reload'; readonly time: number; readonly summary: ReloadSummary }
  | { readonly type: 'shutdown'; readonly time: number; readonly reason: string }
  /** A scheduled job's run ended, or a due run was skipped (concurrency: forbid). */
  | { readonly type: 'job'; readonly time: number; readonly service: string; readonly result: JobResultName; readonly detail: string };

/** Who is asking; handed to the handler so it can log who stopped what. */
export interface Caller {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Passed with every call that may wait. `signal` aborts when the client went away (or
 * its `wait` timed out): stop waiting and release listeners; the change itself goes on.
 */
export interface CallContext {
  readonly caller: Caller;
  readonly signal: AbortSignal;
}

/**
 * Implemented by the supervisor. Names are validated here, not by the server: an
 * unknown name is `fail('unknown_service', ...)`, and nothing is done when any named
 * service is unknown. Methods never throw for expected failures; a throw is reported
 * to the client as `internal` and logged through the server's onNotice.
 */
export interface ControlHandler {
  /** The named services (all, in manifest order, when `names` is empty). */
  /** `detail`: also each service's memory and CPU, and each process's command line (read from the kernel per service and per process: costs what it reads). */
  status(names: readonly string[], options?: { readonly detail?: boolean }): Result<StatusDocument>;
  health(): HealthDocument;
  /** With `wait`, resolves once each is started (ready when it has a ready probe; a oneshot completed). */
  start(names: readonly string[], options: { readonly wait: boolean }, context: CallContext): Promise<Result<ActionResult>>;
  /** With `wait`, resolves once every process each owns is gone. `stop <main>` is `shutdown`. */
  stop(names: readonly string[], options: { readonly wait: boolean }, context: CallContext): Promise<Result<ActionResult>>;
  restart(names: readonly string[], options: { readonly wait: boolean }, context: CallContext): Promise<Result<ActionResult>>;
  /** `signal` is a validated number. Every process the service owns, or only its own with `mainOnly`. */
  signal(name: string, signal: number, options: { readonly mainOnly: boolean }, context: CallContext): Result<SignalResult>;
  /**
   * Resolves when the condition holds, or with `failed` when it never can (waiting for
   * ready on a service that went fatal). No deadline of its own: the server enforces
   * `--timeout` by aborting `context.signal` and replies `timeout` itself.
   */
  wait(name: string, until: WaitCondition, context: CallContext): Promise<Result<WaitResult>>;
  /** The last `lines` lines kept in memory (all of them when null), oldest first. */
  logs(name: string, lines: number | null): Result<readonly LogLine[]>;
  /** Lines from now on. Called right after logs() in the same tick, so nothing is lost or doubled. */
  followLogs(name: string, listener: (line: LogLine) => void): Result<Unsubscribe>;
  /** Re-reads the manifest; a broken one changes nothing: fail('invalid_manifest', ..., problems). */
  reload(context: CallContext): Promise<Result<ReloadSummary>>;
  /** Begins the ordered shutdown, as SIGTERM does, and returns at once. */
  shutdown(context: CallContext): Result<ShutdownResult>;
  subscribe(listener: (event: TendEvent) => void): Unsubscribe;
  /**
   * How the service's processes are started, for `tend exec` (control access only: the
   * environment holds its secrets). Absent where there is no manifest (tini mode).
   */
  execPlan?(name: string, context: CallContext): Promise<Result<ExecPlan>>;
}

/**
 * A running service's launch plan: what `tend exec` needs to start a command as the
 * service's processes start — the exec helper's identity, directory, limits and cgroups,
 * and the whole environment (tend's, env_file, env, secrets from files, TEND_SERVICE,
 * TEND_INSTANCE, TEND_SOCKET). Sent to a control peer only; never printed.
 */
export interface ExecPlan {
  readonly name: string;
  readonly user: string | number | null;
  readonly group: string | number | null;
  readonly cwd: string | null;
  readonly env: Readonly<Record<string, string>>;
  /** The service's cgroup v2 leaf to join (null without one: proc tracking finds it by its markers). */
  readonly cgroup: string | null;
  /** cgroup v1 leaves that carry its limits. */
  readonly joins: readonly string[];
  readonly nofile: number | null;
  readonly core: number | null;
  readonly oom_score_adj: number | null;
  /** umask(2), e.g. 0o027; null: tend's own. */
  readonly umask: number | null;
  /** tend's own uid and gid: what the service runs as where it sets no `user`/`group`. */
  readonly tend_uid: number;
  readonly tend_gid: number;
  /** The service's own process now, for the message. */
  readonly pid: number | null;
}
