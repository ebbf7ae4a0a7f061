// /metrics in the Prometheus text exposition format (version 0.0.4), rendered from the
// same StatusDocument that `tend status --json` prints, plus tend's own figures.
import { SERVICE_STATES, HEALTH_STATES, JOB_RESULTS, type StatusDocument, type LastExit } from '../control/api';
import { signalNumber } from '../vocab/signals';

export interface TendFigures {
  readonly zombiesReaped: number;
  readonly residentBytes: number;
  /** Event-loop delay, seconds (mean over the last interval). */
  readonly eventLoopLag: number;
  readonly startTime: number;
  /** settings.syslog's counts since tend started; null when it is off (or its socket could not be opened). */
  readonly syslog?: SyslogCounts | null;
}

export interface SyslogCounts {
  /** Messages routed to each service's output. */
  readonly byService: ReadonlyMap<string, number>;
  /** Messages from no service: tend's own log, as (syslog). */
  readonly unattributed: number;
  /** Messages longer than what is kept (64 KiB), kept cut. */
  readonly cut: number;
}

/** Label values escape backslash, double quote and newline. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function exitCode(exit: LastExit): number {
  return 'code' in exit ? exit.code : 128 + (signalNumber(exit.signal) ?? 0);
}

export function renderMetrics(status: StatusDocument, figures: TendFigures): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const services = status.services;

  family('tend_service_up', 'gauge', 'Whether the service has a running process (1) or not (0).');
  for (const s of services) out.push(`tend_service_up{service="${label(s.name)}"} ${s.pid === null ? 0 : 1}`);

  family('tend_service_state', 'gauge', 'The service state, one series per state, 1 for the current one.');
  for (const s of services) {
    for (const state of SERVICE_STATES) out.push(`tend_service_state{service="${label(s.name)}",state="${state}"} ${s.state === state ? 1 : 0}`);
  }

  family('tend_service_restarts_total', 'counter', 'Restarts of the service by its restart policy since tend started.');
  for (const s of services) out.push(`tend_service_restarts_total{service="${label(s.name)}"} ${s.restarts}`);

  family('tend_service_last_exit_code', 'gauge', 'Exit status of the last run (128+N for signal N); absent before the first exit.');
  for (const s of services) if (s.last_exit !== null) out.push(`tend_service_last_exit_code{service="${label(s.name)}"} ${exitCode(s.last_exit)}`);

  family('tend_service_processes', 'gauge', 'Processes the service owns, escaped descendants included.');
  for (const s of services) out.push(`tend_service_processes{service="${label(s.name)}"} ${s.processes.length}`);

  family('tend_service_oom_kills_total', 'counter', "Runs of the service ended by the kernel's OOM killer since tend started.");
  for (const s of services) out.push(`tend_service_oom_kills_total{service="${label(s.name)}"} ${s.oom_kills ?? 0}`);

  family('tend_service_memory_bytes', 'gauge', 'Memory the service holds now (its cgroup leaf, else its processes\' RSS summed).');
  for (const s of services) if (s.memory_bytes != null) out.push(`tend_service_memory_bytes{service="${label(s.name)}"} ${s.memory_bytes}`);

  family('tend_service_cpu_seconds_total', 'counter', 'CPU time the service used (its cgroup leaf, else its live processes).');
  for (const s of services) if (s.cpu_seconds != null) out.push(`tend_service_cpu_seconds_total{service="${label(s.name)}"} ${s.cpu_seconds.toFixed(3)}`);

  family('tend_service_health', 'gauge', 'Liveness as the healthcheck sees it, one series per value, 1 for the current one.');
  for (const s of services) {
    for (const health of HEALTH_STATES) out.push(`tend_service_health{service="${label(s.name)}",health="${health}"} ${s.health === health ? 1 : 0}`);
  }

  const jobs = services.filter((s) => s.job !== undefined);
  if (jobs.length > 0) {
    family('tend_job_runs_total', 'counter', 'Runs of the scheduled job since tend started, by result (skipped: due while the last run went on).');
    for (const s of jobs) for (const result of JOB_RESULTS) out.push(`tend_job_runs_total{service="${label(s.name)}",result="${result}"} ${s.job!.runs[result]}`);
    family('tend_job_last_success_timestamp_seconds', 'gauge', 'When the last successful run of the scheduled job ended, seconds since the epoch; absent before the first.');
    for (const s of jobs) if (s.job!.last_success !== null) out.push(`tend_job_last_success_timestamp_seconds{service="${label(s.name)}"} ${(s.job!.last_success / 1000).toFixed(3)}`);
    family('tend_job_next_run_timestamp_seconds', 'gauge', 'When the scheduled job is next due, seconds since the epoch; absent when its schedule is not armed.');
    for (const s of jobs) if (s.job!.next_run !== null) out.push(`tend_job_next_run_timestamp_seconds{service="${label(s.name)}"} ${(s.job!.next_run / 1000).toFixed(3)}`);
    family('tend_job_running', 'gauge', 'Runs of the scheduled job going now.');
    for (const s of jobs) out.push(`tend_job_running{service="${label(s.name)}"} ${s.job!.running}`);
  }

  family('tend_orphan_processes', 'gauge', 'Re-parented processes that match no service.');
  out.push(`tend_orphan_processes ${status.orphans.length}`);
  family('tend_zombies_reaped_total', 'counter', 'Processes tend reaped that it did not start itself (orphans).');
  out.push(`tend_zombies_reaped_total ${figures.zombiesReaped}`);
  if (figures.syslog) {
    family('tend_syslog_messages_total', 'counter', 'Syslog messages (settings.syslog) routed to the service\'s output.');
    for (const [service, count] of figures.syslog.byService) out.push(`tend_syslog_messages_total{service="${label(service)}"} ${count}`);
    family('tend_syslog_unattributed_messages_total', 'counter', 'Syslog messages from no service, written to tend\'s own log as (syslog).');
    out.push(`tend_syslog_unattributed_messages_total ${figures.syslog.unattributed}`);
    family('tend_syslog_cut_messages_total', 'counter', 'Syslog messages longer than 64 KiB, kept cut.');
    out.push(`tend_syslog_cut_messages_total ${figures.syslog.cut}`);
  }
  family('tend_resident_memory_bytes', 'gauge', "tend's resident set size.");
  out.push(`tend_resident_memory_bytes ${figures.residentBytes}`);
  family('tend_event_loop_lag_seconds', 'gauge', "Mean delay of tend's event loop.");
  out.push(`tend_event_loop_lag_seconds ${figures.eventLoopLag.toFixed(6)}`);
  family('tend_start_time_seconds', 'gauge', 'When tend started, seconds since the epoch.');
  out.push(`tend_start_time_seconds ${(figures.startTime / 1000).toFixed(3)}`);
  family('tend_shutting_down', 'gauge', 'Whether an ordered shutdown is under way.');
  out.push(`tend_shutting_down ${status.shutting_down ? 1 : 0}`);
  return `${out.join('\n')}\n`;
}
