// The Plan: a manifest after parsing, interpolation, validation and defaulting.
// Everything downstream (supervisor, process layer, control) trusts it and never
// re-validates. Durations are milliseconds, sizes bytes, signals numbers.

import type { ListenAddress } from '../vocab/listen';

export type Milliseconds = number;

export type RestartPolicyName = 'always' | 'on-failure' | 'never';
export type DependencyCondition = 'started' | 'ready' | 'completed';
/** forking: the command is a start program that forks the daemon and exits 0. */
export type ServiceType = 'longrun' | 'oneshot' | 'forking';
export type ConsoleMode = 'prefix' | 'raw' | 'inherit' | 'none';
export type LogFormat = 'text' | 'json';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type Tracking = 'auto' | 'cgroup' | 'proc';

/** How a command runs: an argv array, or a string handed to /bin/sh -c. */
export interface CommandSpec {
  readonly argv: readonly string[];
  /** True when the manifest gave a string; argv is then ['/bin/sh', '-c', string]. */
  readonly shell: boolean;
  /**
   * argv as it may be printed, when parts of it came from tend's environment: those parts
   * written as `${NAME}` (they may be secrets). Absent when nothing was interpolated.
   */
  readonly shown?: readonly string[];
}

/** A check run against a service: readiness (ready:) or liveness (healthcheck:). */
export type ProbeCheck =
  | { readonly kind: 'command'; readonly command: CommandSpec }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  /** `shown`: the URL as it may be printed (variables as `${NAME}`, no literal password). */
  | { readonly kind: 'http'; readonly url: string; readonly shown?: string }
  /** A regular expression matched against each line of the service's stdout and stderr. */
  | { readonly kind: 'log'; readonly pattern: string }
  /** s6 style: the service writes a newline to this fd when it is ready. */
  | { readonly kind: 'notify_fd'; readonly fd: number }
  /** systemd style: READY=1 on $NOTIFY_SOCKET, from a process the service owns. */
  | { readonly kind: 'sd_notify' };

export interface ReadyProbe {
  readonly check: ProbeCheck;
  readonly interval: Milliseconds;
  /** Give up (the start fails) when not ready after this long. */
  readonly timeout: Milliseconds;
}

export interface HealthCheck {
  /** Liveness checks are command, tcp or http only. */
  readonly check: Extract<ProbeCheck, { kind: 'command' | 'tcp' | 'http' }>;
  readonly interval: Milliseconds;
  readonly timeout: Milliseconds;
  readonly retries: number;
  readonly startPeriod: Milliseconds;
}

export interface Backoff {
  readonly initial: Milliseconds;
  readonly max: Milliseconds;
  readonly factor: number;
  /** Fraction of the delay added or removed at random, 0..1. */
  readonly jitter: number;
  /** A run that stays up this long resets the backoff. */
  readonly resetAfter: Milliseconds;
}

export type StopMode = 'group' | 'main' | 'mixed';

export interface RestartPlan {
  readonly policy: RestartPolicyName;
  readonly backoff: Backoff;
  /** At most `count` restarts within `window`, then the service is fatal. null: no limit. */
  readonly limit: { readonly count: number; readonly window: Milliseconds } | null;
}

export interface Dependency {
  readonly name: string;
  readonly condition: DependencyCondition;
}

export interface LogPlan {
  readonly console: ConsoleMode;
  /** Absolute path, or null when the service logs to no file. */
  readonly file: string | null;
  /** Where stderr goes instead of `file` (absolute), or null: with stdout, to `file`. */
  readonly stderrFile: string | null;
  readonly maxSize: number;
  readonly keep: number;
  readonly compress: boolean;
}

/** `limits:`. null: not set. */
export interface LimitsPlan {
  /** Bytes: cgroup memory.max (v1 memory.limit_in_bytes), or tend's own check where no controller is. */
  readonly memory: number | null;
  /** Cores: cgroup cpu.max (v1 cpu.cfs_quota_us). */
  readonly cpu: number | null;
  /** cgroup pids.max. */
  readonly pids: number | null;
  /** RLIMIT_NOFILE, soft and hard. */
  readonly nofile: number | null;
  /** RLIMIT_CORE in bytes, soft and hard; -1: unlimited. */
  readonly core: number | null;
}

export interface ServicePlan {
  readonly name: string;
  readonly command: CommandSpec;
  readonly main: boolean;
  readonly type: ServiceType;
  readonly autostart: boolean;
  readonly dependsOn: readonly Dependency[];
  readonly ready: ReadyProbe | null;
  readonly healthcheck: HealthCheck | null;
  readonly restart: RestartPlan;
  readonly successExitCodes: readonly number[];
  readonly critical: boolean;
  readonly stopSignal: number;
  readonly stopCommand: CommandSpec | null;
  readonly stopTimeout: Milliseconds;
  /** Runs before each start (systemd's ExecStartPre); failing, it fails the start. Absent or null: none. */
  readonly preStart?: CommandSpec | null;
  /** Runs after each run ends (systemd's ExecStopPost), with EXIT_CODE and EXIT_STATUS. Absent or null: none. */
  readonly postStop?: CommandSpec | null;
  /** Who gets the stop signal (systemd's KillMode): every process it owns, or its own process (main: only it is killed). */
  readonly stopMode: StopMode;
  /** User name or numeric uid, as written; resolved at spawn time. */
  readonly user: string | number | null;
  readonly group: string | number | null;
  /** Absolute path, or null for tend's own cwd. */
  readonly cwd: string | null;
  readonly stdin: 'null' | 'inherit';
  /**
   * The service's `env:` layer, with `null` values already taken from tend's environment.
   * At each start the env_files are read (envFiles) and this is put over them; the spawner
   * puts the result over tend's environment and adds TEND_SERVICE, TEND_INSTANCE and
   * TEND_SOCKET.
   */
  readonly env: Readonly<Record<string, string>>;
  /** `env_file:` in order, paths absolute: read at each start (src/process/start-files.ts). */
  readonly envFiles: readonly EnvFile[];
  /** Variables `env:` names as `null` that tend's environment does not have: unset even when an env_file sets them. */
  readonly envCleared: readonly string[];
  /** `runtime_directory:` as an absolute path under /run, or null. */
  readonly runtimeDirectory: string | null;
  /** The service's umask (e.g. 0o027); null: tend's own. */
  readonly umask: number | null;
  /**
   * Secrets from files (`env: { KEY: { file: PATH } }`): variable → absolute path. Read at
   * each start (src/plan/secrets.ts), put over `env`; the values never enter the plan.
   */
  readonly secretFiles: Readonly<Record<string, string>>;
  /** Socket activation: listening sockets tend binds and passes as fds 3, 4, ... */
  readonly sockets?: readonly ListenSocket[];
  /** sd_notify: WATCHDOG=1 at least this often once ready (ms); absent or null: no watchdog. */
  readonly watchdog?: Milliseconds | null;
  /** type: forking: where the daemon writes its pid (absolute); absent: the tracked set decides. */
  readonly pidFile?: string | null;
  /** Cron expression (oneshot only), or null. */
  readonly schedule: string | null;
  /** How a oneshot's runs behave (`concurrency`, `time_zone`, `timeout`); absent: the defaults. */
  readonly job?: JobPlan;
  readonly log: LogPlan;
  readonly limits: LimitsPlan;
  /** /proc/PID/oom_score_adj, -1000..1000; null: inherited from tend. */
  readonly oomScoreAdj: number | null;
}

export interface EnvFile {
  readonly path: string;
  /** false: a missing file is skipped; any other problem still fails the start. */
  readonly required: boolean;
}

/** A scheduled run that is due while the last one still runs: skipped, run too, or run after the old one is stopped. */
export type Concurrency = 'forbid' | 'allow' | 'replace';

export interface JobPlan {
  readonly concurrency: Concurrency;
  /** A run still going after this long is stopped and counts as failed; null: no limit. */
  readonly timeout: Milliseconds | null;
  /** IANA zone the schedule is read in; null: tend's own (TZ). */
  readonly timeZone: string | null;
}

export interface ListenSocket {
  /** unix paths absolute. */
  readonly address: ListenAddress;
  readonly name: string;
  readonly backlog: number;
  /** Permission bits of a unix socket; null: the umask's. */
  readonly mode: number | null;
}

export interface SocketGrant {
  readonly user?: string | number;
  readonly group?: string | number;
  readonly access: 'read' | 'control';
}

export interface SettingsPlan {
  readonly shutdownTimeout: Milliseconds;
  readonly shutdownDelay: Milliseconds;
  readonly socket: string | null;
  /** Mode bits for the socket file; null means the default (0600, or 0666 with socket_allow). */
  readonly socketMode: number | null;
  readonly socketAllow: readonly SocketGrant[];
  readonly logFormat: LogFormat;
  readonly logLevel: LogLevel;
  readonly tracking: Tracking;
  readonly http: { readonly host: string; readonly port: number } | null;
  readonly httpStatus: boolean;
  /** settings.syslog: the absolute path tend receives syslog datagrams on, or null (off). */
  readonly syslog: string | null;
}

export interface Plan {
  /** Absolute path of the manifest, or null in tini mode. */
  readonly file: string | null;
  readonly settings: SettingsPlan;
  /** Services in manifest order. */
  readonly services: readonly ServicePlan[];
  readonly main: string | null;
  /** Topological start waves: every service of a wave depends only on earlier waves. */
  readonly startWaves: readonly (readonly string[])[];
  /** The reverse: a service stops only after every service that depends on it. */
  readonly stopWaves: readonly (readonly string[])[];
}
