// A validated manifest → the Plan: every default applied (from defaults.ts), relative
// paths made absolute, the graph's waves computed, the whole thing frozen. Pure: no
// filesystem, no environment — the config step already read what had to be read.
import { join, resolve } from 'node:path';
import { envFileEntries } from '../config/env';
import type { LoadedManifest } from '../config/load';
import type { ServiceConfig, SettingsConfig } from '../config/schema';
import { joinPath } from '../config/issues';
import type {
  CommandSpec, Dependency, ListenSocket, HealthCheck, LogPlan, Plan, ProbeCheck, ReadyProbe, RestartPlan, ServicePlan, SettingsPlan,
} from './types';
import { DEFAULTS, defaultRestartPolicy } from './defaults';
import { startWaves, stopWaves } from './graph';
import { deepFreeze } from './freeze';
import { parseListen } from '../vocab/listen';

/** Where runtime_directory: names live, as systemd's RuntimeDirectory= (for a system service). */
export const RUN_DIR = '/run';

export function buildPlan(loaded: LoadedManifest): Plan {
  const services = Object.entries(loaded.manifest.services).map(([name, config]) =>
    buildService(name, config, loaded.serviceDirs.get(name) ?? loaded.dir, loaded.env.get(name) ?? {}, loaded.shown));
  return deepFreeze({
    file: loaded.file,
    settings: buildSettings(loaded.manifest.settings ?? {}, loaded.dir),
    services,
    main: services.find((s) => s.main)?.name ?? null,
    startWaves: startWaves(services),
    stopWaves: stopWaves(services),
  });
}

function buildSettings(config: SettingsConfig, dir: string): SettingsPlan {
  const d = DEFAULTS.settings;
  return {
    shutdownTimeout: config.shutdown_timeout ?? d.shutdownTimeout,
    shutdownDelay: config.shutdown_delay ?? d.shutdownDelay,
    socket: config.socket ?? null,
    socketMode: config.socket_mode ?? null,
    socketAllow: (config.socket_allow ?? []).map((grant) => ({
      ...(grant.user !== undefined ? { user: grant.user } : {}),
      ...(grant.group !== undefined ? { group: grant.group } : {}),
      access: grant.access ?? d.grantAccess,
    })),
    logFormat: config.log_format ?? d.logFormat,
    logLevel: config.log_level ?? d.logLevel,
    tracking: config.tracking ?? d.tracking,
    http: config.http ?? null,
    httpStatus: config.http_status ?? d.httpStatus,
    syslog: config.syslog === undefined || config.syslog === false ? null : resolve(dir, config.syslog),
  };
}

type Shown = ReadonlyMap<string, string>;

/** A command with `shown` set when some of its words came from variables. */
function withShown(spec: CommandSpec, path: string, shown: Shown): CommandSpec {
  const printable = spec.shell
    ? [...spec.argv.slice(0, 2), shown.get(path) ?? spec.argv[2]!]
    : spec.argv.map((word, index) => shown.get(`${path}.${index}`) ?? word);
  return printable.every((word, index) => word === spec.argv[index]) ? spec : { ...spec, shown: printable };
}

/** A URL as it may be printed: variables as `${NAME}`, a literal password as (redacted). */
function shownUrl(url: string, path: string, shown: Shown): string {
  return (shown.get(path) ?? url).replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):([^/@]*)@/i, (whole, user: string, password: string) =>
    /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(password) ? whole : `${user}:(redacted)@`);
}

function buildService(name: string, config: ServiceConfig, dir: string, env: Readonly<Record<string, string>>, shown: Shown): ServicePlan {
  const d = DEFAULTS.service;
  const at = (...keys: string[]) => joinPath(['services', name, ...keys]);
  const main = config.main ?? d.main;
  const type = config.type ?? d.type;
  return {
    name,
    command: withShown(config.command, at('command'), shown),
    main,
    type,
    autostart: config.autostart ?? d.autostart,
    dependsOn: dependencies(config.depends_on),
    ready: config.ready ? readyProbe(config.ready, at('ready'), shown) : null,
    healthcheck: config.healthcheck ? healthcheck(config.healthcheck, at('healthcheck'), shown) : null,
    restart: restartPlan(config.restart, defaultRestartPolicy({ main, type })),
    successExitCodes: config.success_exit_codes ?? [...d.successExitCodes],
    critical: config.critical ?? d.critical,
    stopSignal: config.stop_signal ?? d.stopSignal,
    stopCommand: config.stop_command ? withShown(config.stop_command, at('stop_command'), shown) : null,
    stopTimeout: config.stop_timeout ?? d.stopTimeout,
    stopMode: config.stop_mode ?? d.stopMode,
    ...(config.pre_start !== undefined ? { preStart: withShown(config.pre_start, at('pre_start'), shown) } : {}),
    ...(config.post_stop !== undefined ? { postStop: withShown(config.post_stop, at('post_stop'), shown) } : {}),
    user: config.user ?? null,
    group: config.group ?? null,
    cwd: config.cwd === undefined ? null : resolve(dir, config.cwd),
    stdin: config.stdin === 'inherit' ? 'inherit' : d.stdin,
    env: { ...env },
    envFiles: envFileEntries(config.env_file).map((entry) => ({ path: resolve(dir, entry.path), required: entry.required })),
    envCleared: Object.entries(config.env ?? {}).filter(([key, value]) => value === null && !Object.hasOwn(env, key)).map(([key]) => key),
    secretFiles: secretFiles(config.env, dir),
    runtimeDirectory: config.runtime_directory === undefined ? null : join(RUN_DIR, config.runtime_directory),
    umask: config.umask ?? null,
    ...(config.pid_file !== undefined ? { pidFile: resolve(dir, config.pid_file) } : {}),
    ...(config.watchdog !== undefined ? { watchdog: config.watchdog } : {}),
    ...(config.sockets !== undefined ? { sockets: config.sockets.map((socket) => listenSocket(name, socket, dir)) } : {}),
    schedule: config.schedule ?? null,
    ...(config.concurrency !== undefined || config.time_zone !== undefined || config.timeout !== undefined
      ? { job: { concurrency: config.concurrency ?? 'forbid', timeout: config.timeout ?? null, timeZone: config.time_zone ?? null } }
      : {}),
    log: logPlan(config.log ?? {}, dir),
    limits: {
      memory: config.limits?.memory ?? null,
      cpu: config.limits?.cpu ?? null,
      pids: config.limits?.pids ?? null,
      nofile: config.limits?.nofile ?? null,
      core: config.limits?.core ?? null,
    },
    oomScoreAdj: config.oom_score_adj ?? null,
  };
}

function listenSocket(service: string, config: NonNullable<ServiceConfig['sockets']>[number], dir: string): ListenSocket {
  const parsed = parseListen(config.listen);
  if (typeof parsed === 'string') throw new Error(`sockets.listen reached buildPlan unparsed: ${parsed}`); // a bug: semantics rejects it
  return {
    address: parsed.kind === 'unix' ? { kind: 'unix', path: resolve(dir, parsed.path) } : parsed,
    name: config.name ?? service,
    backlog: config.backlog ?? 4096,
    mode: config.mode ?? null,
  };
}

/** `env: { KEY: { file: PATH } }` entries, paths made absolute against the manifest's directory. */
function secretFiles(config: ServiceConfig['env'], dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [key, value] of Object.entries(config ?? {})) {
    if (value !== null && typeof value === 'object') files[key] = resolve(dir, value.file);
  }
  return files;
}

function dependencies(config: ServiceConfig['depends_on']): Dependency[] {
  if (config === undefined) return [];
  if (Array.isArray(config)) return config.map((name) => ({ name, condition: 'started' }));
  return Object.entries(config).map(([name, spec]) => ({ name, condition: spec?.condition ?? 'started' }));
}

type ProbeConfig = NonNullable<ServiceConfig['ready']>;
type HealthConfig = NonNullable<ServiceConfig['healthcheck']>;

/** The one probe kind present (the config step made sure there is exactly one). */
function probeCheck(config: ProbeConfig | HealthConfig, path: string, shown: Shown): ProbeCheck {
  if (config.command) return { kind: 'command', command: withShown(config.command, `${path}.command`, shown) };
  if (config.tcp) return { kind: 'tcp', host: config.tcp.host, port: config.tcp.port };
  if (config.http) {
    const printable = shownUrl(config.http, `${path}.http`, shown);
    return printable === config.http ? { kind: 'http', url: config.http } : { kind: 'http', url: config.http, shown: printable };
  }
  if ('log' in config && config.log !== undefined) return { kind: 'log', pattern: config.log };
  if ('notify_fd' in config && config.notify_fd !== undefined) return { kind: 'notify_fd', fd: config.notify_fd };
  if ('sd_notify' in config && config.sd_notify === true) return { kind: 'sd_notify' };
  throw new Error('probe without a kind reached buildPlan'); // a bug: semantics rejects it
}

function readyProbe(config: ProbeConfig, path: string, shown: Shown): ReadyProbe {
  return {
    check: probeCheck(config, path, shown),
    interval: config.interval ?? DEFAULTS.ready.interval,
    timeout: config.timeout ?? DEFAULTS.ready.timeout,
  };
}

function healthcheck(config: HealthConfig, path: string, shown: Shown): HealthCheck {
  const check = probeCheck(config, path, shown);
  if (check.kind === 'log' || check.kind === 'notify_fd' || check.kind === 'sd_notify') throw new Error(`healthcheck of kind ${check.kind} reached buildPlan`);
  const d = DEFAULTS.healthcheck;
  return {
    check,
    interval: config.interval ?? d.interval,
    timeout: config.timeout ?? d.timeout,
    retries: config.retries ?? d.retries,
    startPeriod: config.start_period ?? d.startPeriod,
  };
}

function restartPlan(config: ServiceConfig['restart'], policy: RestartPlan['policy']): RestartPlan {
  const d = DEFAULTS.backoff;
  if (config === undefined || typeof config === 'string') {
    return { policy: config ?? policy, backoff: { ...d }, limit: null };
  }
  const backoff = config.backoff ?? {};
  return {
    policy: config.policy ?? policy,
    backoff: {
      initial: backoff.initial ?? d.initial,
      max: backoff.max ?? d.max,
      factor: backoff.factor ?? d.factor,
      jitter: backoff.jitter ?? d.jitter,
      resetAfter: backoff.reset_after ?? d.resetAfter,
    },
    limit: config.limit ? { count: config.limit.count, window: config.limit.window } : null,
  };
}

function logPlan(config: NonNullable<ServiceConfig['log']>, dir: string): LogPlan {
  const d = DEFAULTS.log;
  return {
    console: config.console ?? d.console,
    file: config.file === undefined ? null : resolve(dir, config.file),
    stderrFile: config.stderr_file === undefined ? null : resolve(dir, config.stderr_file),
    maxSize: config.max_size ?? d.maxSize,
    keep: config.keep ?? d.keep,
    compress: config.compress ?? d.compress,
  };
}
