// How client commands print: the status table, events, durations. Pure functions from
// documents to text; src/roots/client.ts decides where the text goes.
import type { ActionOutcome, LastExit, ReloadSummary, ServiceStatus, StatusDocument, TendEvent } from '../control/api';

/** `850ms`, `45s`, `3m12s`, `2h5m`, `3d4h`: compact, two units at most. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
}

/** `exit 0`, `exit 137`, `SIGKILL`, `-` */
export function formatExit(exit: LastExit | null): string {
  if (exit === null) return '-';
  const base = 'code' in exit ? `exit ${exit.code}` : exit.signal;
  if (exit.oom === true) return `${base} (OOM kill)`;
  if (exit.reason === 'memory limit') return `${base} (memory limit)`;
  if (exit.reason === 'watchdog') return `${base} (watchdog)`;
  return base;
}

/** `512K`, `31.5M`, `1.2G` (binary multiples, as limits.memory reads them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 ** 2) return `${Math.round(bytes / 1024)}K`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)}M`;
  return `${(bytes / 1024 ** 3).toFixed(1)}G`;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

function processCount(service: ServiceStatus): string {
  const escaped = service.process_info?.filter((p) => p.escaped).length ?? 0;
  return escaped > 0 ? `${service.processes.length} (${escaped} escaped)` : String(service.processes.length);
}

function note(service: ServiceStatus, now: number): string {
  const parts: string[] = [];
  if (service.state === 'backoff' && service.next_start != null) parts.push(`next start in ${formatDuration(service.next_start - now)}`);
  if (service.reason != null && service.reason !== '') parts.push(service.reason);
  if (service.status_text != null && service.status_text !== '') parts.push(service.status_text);
  return parts.join('; ');
}

/** The `tend status` table; `verbose` lists every process under its service. */
export function formatStatus(doc: StatusDocument, verbose: boolean, now = Date.now()): string {
  const withNotes = doc.services.some((s) => note(s, now) !== '');
  const header = ['NAME', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'LAST EXIT', 'HEALTH', 'PROCS'];
  // Usage columns only from a tend that reports usage.
  const withUsage = doc.services.some((s) => s.memory_bytes != null || s.cpu_percent != null);
  if (withUsage) header.push('CPU', 'MEM');
  if (withNotes) header.push('NOTE');
  const rows: string[][] = [header];
  // With -v, process lines are interleaved: collect them per row and splice after layout.
  const details = new Map<number, string[]>();
  for (const service of doc.services) {
    const row = [
      service.main ? `${service.name} (main)` : service.name,
      service.state,
      service.pid === null ? '-' : String(service.pid),
      service.uptime_ms === null ? '-' : formatDuration(service.uptime_ms),
      String(service.restarts),
      formatExit(service.last_exit),
      service.health === 'none' ? '-' : service.health,
      processCount(service),
    ];
    if (withUsage) row.push(service.cpu_percent == null ? '-' : `${service.cpu_percent.toFixed(1)}%`, service.memory_bytes == null ? '-' : formatBytes(service.memory_bytes));
    if (withNotes) row.push(note(service, now));
    rows.push(row);
    if (verbose && service.processes.length > 0) details.set(rows.length - 1, processLines(service));
  }
  if (doc.orphans.length > 0) {
    const row = ['(orphans)', '-', '-', '-', '-', '-', '-', String(doc.orphans.length)];
    if (withUsage) row.push('-', '-');
    if (withNotes) row.push('swept at shutdown');
    rows.push(row);
    if (verbose) details.set(rows.length - 1, doc.orphans.map((pid) => `    ${pid}`));
  }
  const lines = table(rows).split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    out.push(line);
    for (const detail of details.get(i) ?? []) out.push(detail);
  });
  const jobs = doc.services.filter((s) => s.job !== undefined);
  if (jobs.length > 0) {
    out.push('', 'JOBS');
    out.push(...table([['NAME', 'SCHEDULE', 'LAST RUN', 'NEXT RUN', 'RUNS'], ...jobs.map((s) => jobRow(s, now))]).split('\n'));
  }
  if (verbose && doc.limits !== undefined) {
    out.push('limits:');
    for (const [controller, how] of Object.entries(doc.limits)) out.push(`  ${controller}: ${how}`);
  }
  if (doc.shutting_down) out.push('tend is shutting down');
  return `${out.join('\n')}\n`;
}

/** `2026-12-02 18:05:00` in the zone the schedule is read in (tend's own when none). */
function wallClock(time: number, timeZone: string | null): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    ...(timeZone === null ? {} : { timeZone }),
  }).formatToParts(new Date(time));
  const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')}`;
}

function jobRow(service: ServiceStatus, now: number): string[] {
  const job = service.job!;
  const schedule = `"${job.schedule}"${job.time_zone === null ? '' : ` ${job.time_zone}`}${job.concurrency === 'forbid' ? '' : ` ${job.concurrency}`}${job.timeout_ms === null ? '' : ` timeout ${formatDuration(job.timeout_ms)}`}`;
  const last = job.last_run === null ? '-' : `${job.last_run.result} ${formatDuration(now - job.last_run.at)} ago (${job.last_run.detail})`;
  const next = job.next_run === null ? '-' : `${wallClock(job.next_run, job.time_zone)} (in ${formatDuration(job.next_run - now)})`;
  const runs = [`${job.runs.success} ok`, `${job.runs.failure} failed`];
  if (job.runs.skipped > 0) runs.push(`${job.runs.skipped} skipped`);
  if (job.runs.replaced > 0) runs.push(`${job.runs.replaced} replaced`);
  if (job.running > 1) runs.push(`${job.running} running`);
  return [service.name, schedule, last, next, runs.join(', ')];
}

function processLines(service: ServiceStatus): string[] {
  const info = new Map((service.process_info ?? []).map((p) => [p.pid, p]));
  return service.processes.map((pid) => {
    const p = info.get(pid);
    const own = pid === service.pid ? ' (own process)' : '';
    const escaped = p?.escaped === true ? ' (escaped)' : '';
    return `    ${pid}${p?.command ? `  ${p.command}` : ''}${own}${escaped}`;
  });
}

/** One line per service after start/stop/restart: `web: ready`, `db: already running`. */
export function formatOutcome(outcome: ActionOutcome): string {
  return outcome.changed ? `${outcome.name}: ${outcome.state}` : `${outcome.name}: already ${outcome.state}`;
}

export function formatReload(summary: ReloadSummary): string {
  const parts: string[] = [];
  const list = (label: string, names: readonly string[]): void => {
    if (names.length > 0) parts.push(`${label} ${names.join(', ')}`);
  };
  list('added', summary.added);
  list('removed', summary.removed);
  list('changed', summary.changed);
  if (parts.length === 0) parts.push('no change');
  const lines = [`reloaded: ${parts.join('; ')}`];
  for (const pending of summary.pending) lines.push(`pending until tend restarts: ${pending}`);
  return `${lines.join('\n')}\n`;
}

function clock(time: number): string {
  const d = new Date(time);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `12:00:01.234 web: starting → running (pid 123)` */
export function formatEvent(event: TendEvent): string {
  const at = clock(event.time);
  switch (event.type) {
    case 'state': {
      const pid = event.pid === null ? '' : ` (pid ${event.pid})`;
      const reason = event.reason ? `: ${event.reason}` : '';
      return `${at} ${event.service}: ${event.from} → ${event.to}${pid}${reason}`;
    }
    case 'exit':
      return 'code' in event.exit
        ? `${at} ${event.service}: pid ${event.pid} exited with code ${event.exit.code}`
        : `${at} ${event.service}: pid ${event.pid} killed by ${event.exit.signal}`;
    case 'health':
      return `${at} ${event.service}: health ${event.health}`;
    case 'reload':
      return `${at} ${formatReload(event.summary).trimEnd().replace(/\n/g, `\n${at} `)}`;
    case 'shutdown':
      return `${at} shutdown: ${event.reason}`;
    case 'job':
      return `${at} ${event.service}: ${event.result === 'skipped' ? 'run skipped' : `run ${event.result}`} (${event.detail})`;
    default:
      // A newer server's event type: show it rather than drop it.
      return `${at} ${JSON.stringify(event)}`;
  }
}
