// Other tools' names for tend's keys, for "did you mean" on a key tend does not know. A
// manifest translated by hand from supervisord, a systemd unit, docker compose or
// process-compose brings their words along (`autorestart`, `ExecStart`, `working_dir`);
// edit distance cannot link `directory` to `cwd`, this table can.

export interface MigrationHint {
  /** The tend key to suggest (it must exist where the unknown key was written). */
  readonly key: string;
  /** Whose name it is, and how the value translates. */
  readonly note: string;
}

const hint = (key: string, note: string): MigrationHint => ({ key, note });

/** Keyed by the other tool's name, lower-case, without systemd's trailing `=`. */
const SERVICE_KEYS: Readonly<Record<string, MigrationHint>> = {
  // supervisord ([program:x])
  autorestart: hint('restart', 'supervisord\'s autorestart: true is always, unexpected is on-failure, false is never'),
  directory: hint('cwd', 'supervisord\'s directory'),
  stopwaitsecs: hint('stop_timeout', 'supervisord\'s stopwaitsecs: a duration like 10s'),
  priority: hint('depends_on', 'supervisord\'s priority: tend orders services by their dependencies, not by numbers'),
  startsecs: hint('ready', 'supervisord\'s startsecs: a probe that says when the service is up'),
  startretries: hint('restart', 'supervisord\'s startretries: restart: { limit: { count, window } }'),
  stopsignal: hint('stop_signal', 'supervisord\'s stopsignal'),
  exitcodes: hint('success_exit_codes', 'supervisord\'s exitcodes'),
  stdout_logfile: hint('log', 'supervisord\'s stdout_logfile: log: { file }'),
  stderr_logfile: hint('log', 'supervisord\'s stderr_logfile: log: { stderr_file }'),
  redirect_stderr: hint('log', 'supervisord\'s redirect_stderr: stderr goes with stdout unless log: { stderr_file } is set'),
  stopasgroup: hint('stop_mode', 'supervisord\'s stopasgroup'),
  killasgroup: hint('stop_mode', 'supervisord\'s killasgroup'),
  // supervisord's and systemd's Environment=, compose's environment
  environment: hint('env', 'a map of NAME: value'),
  // systemd ([Service])
  execstart: hint('command', 'systemd\'s ExecStart='),
  execstop: hint('stop_command', 'systemd\'s ExecStop='),
  execstartpre: hint('pre_start', 'systemd\'s ExecStartPre='),
  execstoppost: hint('post_stop', 'systemd\'s ExecStopPost='),
  workingdirectory: hint('cwd', 'systemd\'s WorkingDirectory='),
  environmentfile: hint('env_file', 'systemd\'s EnvironmentFile=; -/path is { path: /path, required: false }'),
  restartsec: hint('restart', 'systemd\'s RestartSec=: restart: { backoff: { initial } }'),
  timeoutstopsec: hint('stop_timeout', 'systemd\'s TimeoutStopSec='),
  timeoutstartsec: hint('ready', 'systemd\'s TimeoutStartSec=: ready: { timeout }'),
  killsignal: hint('stop_signal', 'systemd\'s KillSignal='),
  killmode: hint('stop_mode', 'systemd\'s KillMode='),
  pidfile: hint('pid_file', 'systemd\'s PIDFile='),
  runtimedirectory: hint('runtime_directory', 'systemd\'s RuntimeDirectory='),
  limitnofile: hint('limits', 'systemd\'s LimitNOFILE=: limits: { nofile }'),
  limitcore: hint('limits', 'systemd\'s LimitCORE=: limits: { core }'),
  memorymax: hint('limits', 'systemd\'s MemoryMax=: limits: { memory }'),
  memorylimit: hint('limits', 'systemd\'s MemoryLimit=: limits: { memory }'),
  cpuquota: hint('limits', 'systemd\'s CPUQuota=: limits: { cpu } in cores'),
  tasksmax: hint('limits', 'systemd\'s TasksMax=: limits: { pids }'),
  oomscoreadjust: hint('oom_score_adj', 'systemd\'s OOMScoreAdjust='),
  watchdogsec: hint('watchdog', 'systemd\'s WatchdogSec='),
  after: hint('depends_on', 'systemd\'s After='),
  requires: hint('depends_on', 'systemd\'s Requires='),
  wants: hint('depends_on', 'systemd\'s Wants='),
  successexitstatus: hint('success_exit_codes', 'systemd\'s SuccessExitStatus='),
  standardoutput: hint('log', 'systemd\'s StandardOutput='),
  standarderror: hint('log', 'systemd\'s StandardError=: log: { stderr_file }'),
  // docker compose
  entrypoint: hint('command', 'compose\'s entrypoint: tend runs one command, entrypoint and arguments together'),
  working_dir: hint('cwd', 'compose\'s and process-compose\'s working_dir'),
  stop_grace_period: hint('stop_timeout', 'compose\'s stop_grace_period'),
  mem_limit: hint('limits', 'compose\'s mem_limit: limits: { memory }'),
  ulimits: hint('limits', 'compose\'s ulimits: limits: { nofile, core }'),
  // process-compose
  availability: hint('restart', 'process-compose\'s availability: restart: { policy, limit }'),
  readiness_probe: hint('ready', 'process-compose\'s readiness_probe'),
  liveness_probe: hint('healthcheck', 'process-compose\'s liveness_probe'),
  disabled: hint('autostart', 'process-compose\'s disabled: true is autostart: false'),
  is_daemon: hint('type', 'process-compose\'s is_daemon: type: forking'),
  shutdown: hint('stop_command', 'process-compose\'s shutdown: stop_command, stop_signal, stop_timeout'),
  log_location: hint('log', 'process-compose\'s log_location: log: { file }'),
  // Kubernetes containers
  readinessprobe: hint('ready', 'Kubernetes\' readinessProbe'),
  livenessprobe: hint('healthcheck', 'Kubernetes\' livenessProbe'),
  args: hint('command', 'Kubernetes\' args: tend runs one command, program and arguments together'),
};

/** Values other tools write where tend has its own word (compose's depends_on conditions, restart policies). */
const VALUES: Readonly<Record<string, string>> = {
  service_started: 'compose\'s service_started is tend\'s started',
  service_healthy: 'compose\'s service_healthy is tend\'s ready; the dependency needs a ready: probe',
  service_completed_successfully: 'compose\'s service_completed_successfully is tend\'s completed',
  'unless-stopped': 'compose\'s unless-stopped is tend\'s always; a service stopped by hand stays stopped',
  no: 'compose\'s "no" is tend\'s never',
  unexpected: 'supervisord\'s unexpected is tend\'s on-failure',
  'on-abnormal': 'systemd\'s on-abnormal is closest to tend\'s on-failure',
  'on-abort': 'systemd\'s on-abort is closest to tend\'s on-failure',
  'on-watchdog': 'systemd\'s on-watchdog is closest to tend\'s on-failure',
};

/** The hint for an unknown service key, when its tend counterpart exists (`known`). */
export function migrationHint(key: string, known: readonly string[]): MigrationHint | null {
  const name = key.toLowerCase().replace(/=$/, '');
  const found = Object.hasOwn(SERVICE_KEYS, name) ? SERVICE_KEYS[name]! : null;
  return found !== null && known.includes(found.key) ? found : null;
}

/** What another tool's value means in tend, or null. */
export function valueHint(value: unknown): string | null {
  return typeof value === 'string' && Object.hasOwn(VALUES, value.toLowerCase()) ? VALUES[value.toLowerCase()]! : null;
}
