// Step 3: the shape of a manifest, key by key (README: Manifest reference), as one zod 4 schema. Objects are
// strict (unknown keys are errors). Leaf values are parsed here, once — durations to ms,
// sizes to bytes, signals to numbers, commands to argv — so nothing downstream parses
// again. Defaults are not here: they depend on a service's role and live in src/plan.
// The same schema, read on its input side, is what `tend schema` prints.
import * as z from 'zod';
import { Cron } from 'croner';
import { signalNumber, signalNames } from '../vocab/signals';
import { parseDuration, parseSize, parseHostPort, DURATION_HINT, SIZE_HINT, MAX_DURATION_MS, MAX_DURATION_TEXT } from './units';
import { closest } from './suggest';
import { describeValue } from './describe';
import { logPatternProblem } from '../vocab/pattern';

const duration = (what: string) =>
  z
    .union([z.number(), z.string()], { error: (issue) => `expected ${DURATION_HINT}, got ${describeValue(issue.input)}` })
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms !== null && ms > MAX_DURATION_MS) {
        const written = typeof value === 'number' ? `${value}s` : value.trim();
        ctx.addIssue({ code: 'custom', input: value, message: `${written} is longer than the longest duration tend can time, ${MAX_DURATION_TEXT}` });
        return z.NEVER;
      }
      if (ms !== null) return ms;
      ctx.addIssue({ code: 'custom', input: value, message: `expected ${DURATION_HINT}, got ${describeValue(value)}` });
      return z.NEVER;
    })
    .describe(`${what} (${DURATION_HINT})`);

const size = (what: string) =>
  z
    .union([z.number(), z.string()], { error: (issue) => `expected ${SIZE_HINT}, got ${describeValue(issue.input)}` })
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes !== null) return bytes;
      ctx.addIssue({ code: 'custom', input: value, message: `expected ${SIZE_HINT}, got ${describeValue(value)}` });
      return z.NEVER;
    })
    .describe(`${what} (${SIZE_HINT})`);

const signal = (what: string) =>
  z
    .union([z.string(), z.number().int()], { error: (issue) => `expected a signal name or number, got ${describeValue(issue.input)}` })
    .transform((value, ctx) => {
      const number = signalNumber(value);
      if (number !== null) return number;
      // Compare without the SIG prefix, which every name shares and would make anything look close.
      const bare = (name: string) => name.toUpperCase().replace(/^SIG/, '');
      const match = typeof value === 'string' ? closest(bare(value), signalNames().map(bare)) : null;
      const guess = match === null ? null : `SIG${match}`;
      ctx.addIssue({ code: 'custom', input: value, message: `unknown signal ${describeValue(value)}${guess ? `; did you mean "${guess}"?` : ''}` });
      return z.NEVER;
    })
    .describe(`${what}: a name (TERM, SIGTERM) or a number`);

/** argv array, or a string run by /bin/sh -c. */
const command = (what: string) =>
  z
    .union([z.string().min(1, 'the command is empty'), z.array(z.string()).min(1, 'the command is empty')], {
      error: (issue) => `expected a command (an argv list or a shell string), got ${describeValue(issue.input)}`,
    })
    .transform((value) => (typeof value === 'string' ? { argv: ['/bin/sh', '-c', value], shell: true } : { argv: value, shell: false }))
    .describe(`${what}: an argv list, or a string run with /bin/sh -c`);

const hostPort = (what: string) =>
  z.string().transform((value, ctx) => {
    const parsed = parseHostPort(value);
    if (parsed) return parsed;
    ctx.addIssue({ code: 'custom', input: value, message: `expected "host:port" with a port from 1 to 65535, got ${describeValue(value)}` });
    return z.NEVER;
  }).describe(what);

const tcpTarget = z
  .union([z.string(), z.number().int()], { error: (issue) => `expected "host:port" or a port number, got ${describeValue(issue.input)}` })
  .transform((value, ctx) => {
    // A bare port probes loopback: the service runs in the same network namespace.
    const parsed = typeof value === 'number' || /^\d+$/.test(value) ? parseHostPort(`127.0.0.1:${value}`) : parseHostPort(value);
    if (parsed) return parsed;
    ctx.addIssue({ code: 'custom', input: value, message: `expected "host:port" or a port number, got ${describeValue(value)}` });
    return z.NEVER;
  })
  .describe('connect to this "host:port" (or port on 127.0.0.1); success when the connection opens');

const httpUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, { error: (issue) => `expected an http:// or https:// URL, got ${describeValue(issue.input)}` })
  .describe('GET this URL; success on a 2xx or 3xx status');

const logPattern = z
  .string()
  .transform((value, ctx) => {
    const problem = logPatternProblem(value);
    if (problem === null) return value;
    ctx.addIssue({ code: 'custom', input: value, message: `invalid regular expression ${describeValue(value)}: ${problem}` });
    return z.NEVER;
  })
  .describe('a regular expression (RE2 syntax, matched in linear time); ready when a line of the service output matches');

const cron = z
  .string()
  .transform((value, ctx) => {
    try {
      new Cron(value, { paused: true });
      return value;
    } catch (error) {
      const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
      ctx.addIssue({ code: 'custom', input: value, message: `invalid cron expression ${describeValue(value)}: ${reason}` });
      return z.NEVER;
    }
  })
  .describe('cron expression (oneshot only): run on this schedule, in tend\'s time zone (TZ) or time_zone');

/**
 * An IANA zone name, as Node's own zone database (ICU, the one the schedules are computed
 * with) knows it; a near miss is named. `UTC` and the zone links (`US/Eastern`) count too.
 */
function timeZoneProblem(value: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return null;
  } catch {
    const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    const near = closest(value, known);
    return `unknown time zone ${describeValue(value)} (not in the zone database)${near === null ? '; names look like "Europe/Paris", "America/New_York" or "UTC"' : `; did you mean "${near}"?`}`;
  }
}

const timeZone = z
  .string()
  .min(1)
  .transform((value, ctx) => {
    const problem = timeZoneProblem(value);
    if (problem === null) return value;
    ctx.addIssue({ code: 'custom', input: value, message: problem });
    return z.NEVER;
  })
  .describe('the schedule\'s time zone (IANA name, "Europe/Paris"); default: tend\'s own (TZ)');

const userOrGroup = (what: string) =>
  z.union([z.string().min(1), z.number().int().nonnegative()], { error: (issue) => `expected a ${what} name or id, got ${describeValue(issue.input)}` });

const intAtLeast = (min: number) => z.number().int().min(min);

/**
 * The exec helper parks its own descriptors (its failure report, the readiness pipe) at
 * 100 and above before it dup2()s the readiness pipe onto this number (native/tend-exec.c,
 * HIGH_FD): a target there would replace the report, so an exec failure would read as
 * "ready". 0–2 are stdio.
 */
export const NOTIFY_FD_MIN = 3;
export const NOTIFY_FD_MAX = 99;
const NOTIFY_FD_RANGE = `expected a descriptor from ${NOTIFY_FD_MIN} to ${NOTIFY_FD_MAX} (tend's exec helper keeps its own at ${NOTIFY_FD_MAX + 1} and above)`;

const notifyFd = z
  .number({ error: (issue) => `${NOTIFY_FD_RANGE}, got ${describeValue(issue.input)}` })
  .refine((fd) => Number.isInteger(fd) && fd >= NOTIFY_FD_MIN && fd <= NOTIFY_FD_MAX, { error: (issue) => `${NOTIFY_FD_RANGE}, got ${describeValue(issue.input)}` })
  .describe(`the service writes a newline to this fd (${NOTIFY_FD_MIN}..${NOTIFY_FD_MAX}) when ready (s6 style)`);

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export const PROBE_KINDS = ['command', 'tcp', 'http', 'log', 'notify_fd', 'sd_notify'] as const;
export const HEALTH_KINDS = ['command', 'tcp', 'http'] as const;

const restartPolicy = z.enum(RESTART_POLICIES);

const restartLong = z.strictObject({
  policy: restartPolicy.optional(),
  backoff: z
    .strictObject({
      initial: duration('first delay before a restart').optional(),
      max: duration('longest delay').optional(),
      factor: z.number().min(1).describe('each delay is the previous one times this').optional(),
      jitter: z.number().min(0).max(1).describe('fraction of the delay added or removed at random, 0..1').optional(),
      reset_after: duration('a run that stays up this long resets the delay').optional(),
    })
    .optional(),
  limit: z
    .strictObject({
      count: intAtLeast(0).describe('at most this many restarts'),
      window: duration('within this window; then the service is fatal'),
    })
    .optional(),
});

const conditionEnum = z.enum(['started', 'ready', 'completed']);

const dependsOn = z
  .union([
    z.array(z.string()),
    z.record(z.string(), z.union([z.strictObject({ condition: conditionEnum.optional() }), z.null()])),
  ], { error: (issue) => `expected a list of service names or a map of name: { condition }, got ${describeValue(issue.input)}` })
  .describe('services to wait for: a list (condition started) or name: { condition: started | ready | completed }');

const readyProbe = z
  .strictObject({
    command: command('succeeds when it exits 0').optional(),
    tcp: tcpTarget.optional(),
    http: httpUrl.optional(),
    log: logPattern.optional(),
    notify_fd: notifyFd.optional(),
    sd_notify: z.literal(true, { error: 'expected true (READY=1 on $NOTIFY_SOCKET, as systemd\'s Type=notify)' }).describe('ready when the service sends READY=1 on $NOTIFY_SOCKET (systemd\'s Type=notify)').optional(),
    interval: duration('time between checks').optional(),
    timeout: duration('give up (the start fails) when not ready after this long').optional(),
  })
  .describe('readiness: exactly one of command | tcp | http | log | notify_fd | sd_notify');

const healthcheck = z
  .strictObject({
    command: command('succeeds when it exits 0').optional(),
    tcp: tcpTarget.optional(),
    http: httpUrl.optional(),
    interval: duration('time between checks').optional(),
    timeout: duration('a check taking longer fails').optional(),
    retries: intAtLeast(1).describe('consecutive failures before the service is restarted per its policy').optional(),
    start_period: duration('failures during this time after start do not count').optional(),
  })
  .describe('liveness: exactly one of command | tcp | http');

const logSettings = z.strictObject({
  console: z.enum(['prefix', 'raw', 'inherit', 'none']).describe('prefix: "name | line"; raw: lines as they are; inherit: tend\'s own fds; none: discard').optional(),
  file: z.string().min(1).describe('also write to this file (relative to the manifest), rotated by size').optional(),
  stderr_file: z.string().min(1).describe('write stderr to this file instead of file (relative to the manifest), rotated alike').optional(),
  max_size: size('rotate the file at this size').optional(),
  keep: intAtLeast(0).describe('rotated files kept').optional(),
  compress: z.boolean().describe('gzip rotated files').optional(),
});

/**
 * Limits whose ranges the kernel itself sets: below 1 MiB a cgroup cannot even hold the
 * process it starts; pid_max is at most 2^22; nr_open defaults to 2^20 (a larger nofile
 * fails at exec with EPERM, so it is refused here instead). cpu is in cores.
 */
export const LIMIT_MEMORY_MIN = 1024 * 1024;
export const LIMIT_PIDS_MAX = 4_194_304;
export const LIMIT_NOFILE_MAX = 1_048_576;
export const LIMIT_CPU_MIN = 0.01;
export const LIMIT_CPU_MAX = 1024;

const ranged = (what: string, min: number, max: number, hint: string) =>
  z
    .number({ error: (issue) => `expected ${hint}, got ${describeValue(issue.input)}` })
    .refine((n) => Number.isInteger(n) && n >= min && n <= max, { error: (issue) => `expected ${hint}, got ${describeValue(issue.input)}` })
    .describe(what);

const memoryLimit = size('memory.max of the service\'s cgroup: its processes together')
  .refine((bytes) => bytes >= LIMIT_MEMORY_MIN, { error: (issue) => `a memory limit below 1MB cannot hold a process, got ${describeValue(issue.input)}` });

const cpuLimit = z
  .number({ error: (issue) => `expected a number of cores like 0.5 or 2, got ${describeValue(issue.input)}` })
  .refine((n) => Number.isFinite(n) && n >= LIMIT_CPU_MIN && n <= LIMIT_CPU_MAX, {
    error: (issue) => `expected a number of cores from ${LIMIT_CPU_MIN} to ${LIMIT_CPU_MAX}, like 0.5 or 2, got ${describeValue(issue.input)}`,
  })
  .describe('cores the service may use together (cgroup cpu.max), like 0.5 or 2');

const coreLimit = z
  .union([z.literal('unlimited'), z.number(), z.string()], { error: (issue) => `expected ${SIZE_HINT} or "unlimited", got ${describeValue(issue.input)}` })
  .transform((value, ctx) => {
    if (value === 'unlimited') return -1;
    const bytes = parseSize(value);
    if (bytes !== null) return bytes;
    ctx.addIssue({ code: 'custom', input: value, message: `expected ${SIZE_HINT} or "unlimited", got ${describeValue(value)}` });
    return z.NEVER;
  })
  .describe('RLIMIT_CORE: largest core dump (0: none), a size or "unlimited"');

const limits = z.strictObject({
  memory: memoryLimit.optional(),
  cpu: cpuLimit.optional(),
  pids: ranged('processes and threads the service may have together (cgroup pids.max)', 1, LIMIT_PIDS_MAX, `a whole number of processes from 1 to ${LIMIT_PIDS_MAX}`).optional(),
  nofile: ranged('RLIMIT_NOFILE: open files per process (soft and hard)', 1, LIMIT_NOFILE_MAX, `a whole number of open files from 1 to ${LIMIT_NOFILE_MAX}`).optional(),
  core: coreLimit.optional(),
});

export const ENV_NAME = /^[^=\0]+$/;

const envFileEntry = z.union([
  z.string().min(1),
  z.strictObject({
    path: z.string().min(1).describe('the dotenv file, relative to the manifest'),
    required: z.boolean().describe('false: a missing file is skipped (default true: a missing file fails the start)').optional(),
  }),
], { error: (issue) => `expected a file name or { path, required }, got ${describeValue(issue.input)}` });

/** /run/NAME: a name below /run, never a way out of it. */
const runtimeDirectory = z
  .string({ error: (issue) => `expected a directory name below /run like "php" or "postgresql/main", got ${describeValue(issue.input)}` })
  .refine((name) => name !== '' && !name.startsWith('/') && name.split('/').every((part) => part !== '' && part !== '.' && part !== '..') && !name.includes('\0'), {
    error: (issue) => `expected a relative name below /run like "php" or "postgresql/main" (no leading /, no . or .. parts), got ${describeValue(issue.input)}`,
  })
  .describe('/run/NAME: made before each start (mode 0755, owned by the service\'s user and group), removed when it stops; $RUNTIME_DIRECTORY');

// A string only, like socket_mode: YAML 1.2 reads an unquoted 0027 as the decimal 27
// (zod-issues.ts words that case with the text as written).
export const UMASK = /^0?[0-7]{3}$/;
const umask = z
  .string()
  .regex(UMASK, 'expected an octal umask like "0027"')
  .transform((value) => parseInt(value, 8))
  .describe('the service\'s umask, quoted octal ("0027"); default: tend\'s own');

const service = z.strictObject({
  command: command('what to run'),
  main: z.boolean().describe('the container lives and dies with this service (at most one)').optional(),
  type: z.enum(['longrun', 'oneshot', 'forking']).describe('longrun: keeps running; oneshot: runs to completion; forking: a start program that forks the daemon and exits').optional(),
  sockets: z
    .array(z.strictObject({
      listen: z.union([z.string().min(1), z.number().int()], { error: 'expected "host:port", a port number or "unix:PATH"' })
        .describe('"host:port", a port number (every address) or "unix:PATH"'),
      name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a name has only letters, digits, _ . and -').describe('in LISTEN_FDNAMES (default: the service name)').optional(),
      backlog: intAtLeast(1).describe('the listen backlog (default 4096)').optional(),
      mode: z.string().regex(/^0?[0-7]{3}$/, 'expected octal permission bits like "0660"').transform((value) => parseInt(value, 8)).describe('unix sockets: permission bits, quoted octal').optional(),
    }))
    .describe('socket activation: bound by tend before the first start, held across restarts, passed as fds 3, 4, ... (LISTEN_FDS)')
    .optional(),
  watchdog: duration('sd_notify: WATCHDOG=1 at least this often once ready, or the service hangs (SIGABRT, stopped, restart policy)').optional(),
  pid_file: z.string().min(1).describe('type: forking: the daemon\'s pid is read from this file once the start program has exited (relative to the manifest)').optional(),
  autostart: z.boolean().describe('false: defined, started only by `tend start`').optional(),
  depends_on: dependsOn.optional(),
  ready: readyProbe.optional(),
  healthcheck: healthcheck.optional(),
  restart: z
    .union([restartPolicy, restartLong], {
      error: (issue) => `expected always | on-failure | never or a map { policy, backoff, limit }, got ${describeValue(issue.input)}`,
    })
    .describe('always | on-failure | never, or { policy, backoff, limit }')
    .optional(),
  success_exit_codes: z.array(z.number().int().min(0).max(255)).describe('exit codes that count as success').optional(),
  critical: z.boolean().describe('when it fails for good (gives up, or ends badly and its policy leaves it down), shut the container down with 1').optional(),
  stop_signal: signal('sent to stop the service').optional(),
  stop_command: command('run to stop the service instead of stop_signal').optional(),
  pre_start: command('run before each start, as the service (systemd\'s ExecStartPre); failing, it fails the start').optional(),
  post_stop: command('run after each run ends, as the service, with EXIT_CODE and EXIT_STATUS (systemd\'s ExecStopPost)').optional(),
  stop_timeout: duration('after this, SIGKILL to everything the service owns (stop_mode main: its own process)').optional(),
  stop_mode: z.enum(['group', 'main', 'mixed']).describe('who gets the stop signal: group: every process the service owns; main: its own process, and only it is killed at stop_timeout; mixed (default): its own process, then SIGKILL to everything left at stop_timeout').optional(),
  user: userOrGroup('user').describe('run as this user (name or uid), with its groups').optional(),
  group: userOrGroup('group').describe('run with this primary group (name or gid)').optional(),
  cwd: z.string().min(1).describe('working directory, relative to the manifest').optional(),
  stdin: z.union([z.null(), z.enum(['null', 'inherit'])], {
    error: (issue) => `expected null | inherit, got ${describeValue(issue.input)}`,
  }).describe('null: /dev/null; inherit: tend\'s stdin (main only)').optional(),
  env: z
    .record(
      z.string().regex(ENV_NAME, 'an environment variable name cannot be empty or contain "=" or NUL'),
      z.union([
        z.string(), z.number(), z.boolean(), z.null(),
        z.strictObject({ file: z.string().min(1).describe('read at each start, a trailing newline removed; relative to the manifest') })
          .describe('a secret: the value is this file\'s content, never printed'),
      ], {
        // Never echo the value: it may be a secret.
        error: 'expected a string, number, boolean, null or { file: PATH }',
      }),
    )
    .describe('extra environment; null takes the value from tend\'s environment, { file: PATH } the content of a file read at each start')
    .optional(),
  env_file: z
    .union([envFileEntry, z.array(envFileEntry).min(1)], {
      error: (issue) => `expected a file name, { path, required } or a list of them, got ${describeValue(issue.input)}`,
    })
    .describe('dotenv files read in order at each start, relative to the manifest; { path, required: false } may be missing')
    .optional(),
  runtime_directory: runtimeDirectory.optional(),
  umask: umask.optional(),
  schedule: cron.optional(),
  concurrency: z.enum(['forbid', 'allow', 'replace'])
    .describe('a scheduled run due while the last still runs: forbid (skip it, counted), allow (both run), replace (stop the old one first)').optional(),
  time_zone: timeZone.optional(),
  timeout: duration('a oneshot run still going after this is stopped and counts as failed').optional(),
  log: logSettings.describe('where the service output goes').optional(),
  limits: limits.describe('memory, cpu, pids (cgroup), nofile, core (rlimits)').optional(),
  oom_score_adj: ranged('written to /proc/PID/oom_score_adj: higher dies first under memory pressure', -1000, 1000, 'a whole number from -1000 to 1000').optional(),
});

export const SOCKET_MODE = /^0?[0-7]{3}$/;

const settings = z.strictObject({
  shutdown_timeout: duration('hard deadline for the whole ordered shutdown').optional(),
  shutdown_delay: duration('after SIGTERM, wait this long before stopping anything').optional(),
  socket: z.string().min(1).describe('control socket path').optional(),
  // A string only, so editors flag `0600` too. YAML 1.2 reads an unquoted 0600 as the
  // decimal 600; zod-issues.ts words that case with the text as written.
  socket_mode: z
    .string()
    .regex(SOCKET_MODE, 'expected octal permission bits like "0600"')
    .transform((value) => parseInt(value, 8))
    .describe('control socket permission bits, quoted octal ("0600")')
    .optional(),
  socket_allow: z
    .array(
      z.strictObject({
        user: userOrGroup('user').optional(),
        group: userOrGroup('group').optional(),
        access: z.enum(['read', 'control']).describe('read: status, health, logs, events, version, wait; control: everything').optional(),
      }),
    )
    .describe('who else may use the control socket (checked by SO_PEERCRED)')
    .optional(),
  log_format: z.enum(['text', 'json']).describe('tend\'s own log and service lines: readable text or JSON records').optional(),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
  tracking: z.enum(['auto', 'cgroup', 'proc']).describe('how escaped descendants are found').optional(),
  http: hostPort('serve /healthz /readyz /metrics /status on "host:port"').optional(),
  http_status: z.boolean().describe('serve /status on a non-loopback listener too').optional(),
  syslog: z
    .union([z.literal(false), z.string().min(1).max(107)], {
      error: (issue) => `expected a socket path like /dev/log, or false, got ${describeValue(issue.input)}`,
    })
    .describe('receive syslog datagrams on this Unix socket path (typically /dev/log; relative to the manifest) and route each to the service that sent it; false (the default): off')
    .optional(),
});

/** Service names become log prefixes, cgroup directories and TEND_SERVICE values. */
export const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;

export const manifestSchema = z
  .strictObject({
    include: z
      .union([z.string().min(1), z.array(z.string().min(1))], {
        error: (issue) => `expected a file name or glob, or a list of them, got ${describeValue(issue.input)}`,
      })
      .describe('more manifests whose services: join this one\'s: paths or globs (* ? [..]) relative to this file')
      .optional(),
    settings: settings.optional(),
    services: z.record(
      z.string().regex(SERVICE_NAME, 'a service name starts with a letter and has only letters, digits, _ . and -'),
      service,
    ),
  })
  .describe('tend manifest');

export type Manifest = z.output<typeof manifestSchema>;
export type ServiceConfig = Manifest['services'][string];
export type SettingsConfig = NonNullable<Manifest['settings']>;

/** The manifest's JSON Schema (input side: what a user writes). */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'tend manifest' };
}
