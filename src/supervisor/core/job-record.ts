// A scheduled job's bookkeeping: its schedule armed or dropped, how each run ended
// (`tend_job_runs_total`), and the runs that go on detached beside a later one
// (concurrency: allow) with their own timeouts. It records and signals; what a due run
// does (start, skip, replace, detach) is decided in schedules.ts, above it.
import type { ServicePlan } from '../../plan/types';
import type { ExitStatus } from '../../vocab/exit';
import { describeExit } from '../../vocab/exit';
import * as say from '../../log/messages';
import { succeeded } from '../restart';
import { SIGCONT, SIGKILL } from './constants';
import type { Draft } from './draft';
import { stopProbes } from './run';
import { NO_JOB, type DetachedRun, type JobResult } from './types';

export function arrangeSchedule(d: Draft, service: ServicePlan): void {
  if (service.schedule === null) return;
  d.schedules.add(service.name);
  d.emit({ kind: 'schedule', service: service.name, expression: service.schedule, timeZone: service.job?.timeZone ?? null });
}

export function dropSchedule(d: Draft, name: string): void {
  if (!d.schedules.delete(name)) return;
  d.emit({ kind: 'unschedule', service: name });
}

/** Counts how a scheduled job's run ended (services without a schedule keep no job record). */
export function jobRan(d: Draft, name: string, result: JobResult, detail: string): void {
  const record = d.record(name);
  if (record === undefined || record.plan.schedule === null) return;
  const job = record.job ?? NO_JOB;
  d.changes.push({ type: 'job', service: name, result, detail });
  d.update(name, {
    job: {
      ...job,
      counts: { ...job.counts, [result]: job.counts[result] + 1 },
      last: result === 'skipped' ? job.last : { result, at: d.now, detail },
      lastSuccess: result === 'success' ? d.now : job.lastSuccess,
    },
  });
}

/** concurrency: allow — the running run goes on detached; the service queues its next run. */
export function detachRun(d: Draft, name: string, pid: number): void {
  const record = d.record(name)!;
  stopProbes(d, name);
  const timeout = record.plan.job?.timeout ?? null;
  d.cancel('timeout', name);
  const since = record.startedAt ?? d.now;
  const run: DetachedRun = { pid, since, deadline: timeout === null ? null : since + timeout, timedOut: false, killAt: null };
  const job = record.job ?? NO_JOB;
  d.update(name, { job: { ...job, detached: [...job.detached, run] } });
  d.enter(name, { id: 'queued', since: d.now });
  armDetachedDeadline(d, name);
}

function armDetachedDeadline(d: Draft, name: string): void {
  const runs = d.record(name)?.job?.detached ?? [];
  let next: number | null = null;
  for (const run of runs) {
    const at = run.timedOut ? run.killAt : run.deadline;
    if (at !== null && (next === null || at < next)) next = at;
  }
  if (next === null) d.cancel('run-timeout', name);
  else d.arm('run-timeout', name, next - d.now);
}

/** Detached runs past their timeout get the stop signal; those past stop_timeout after it, SIGKILL. */
export function detachedDeadlines(d: Draft, name: string): void {
  const record = d.record(name);
  if (record === undefined || record.job === undefined) return;
  const plan = record.plan;
  const runs = record.job.detached.map((run): DetachedRun => {
    if (!run.timedOut && run.deadline !== null && run.deadline <= d.now) {
      d.log('warn', say.runTimedOut(name, plan.job?.timeout ?? 0, run.pid));
      d.emit({ kind: 'signal-group', pgid: run.pid, signal: plan.stopSignal });
      d.emit({ kind: 'signal-group', pgid: run.pid, signal: SIGCONT });
      return { ...run, timedOut: true, killAt: d.now + plan.stopTimeout };
    }
    if (run.timedOut && run.killAt !== null && run.killAt <= d.now) {
      d.log('warn', say.earlierRunKilled(name, run.pid));
      d.emit({ kind: 'signal-group', pgid: run.pid, signal: SIGKILL });
      return { ...run, killAt: null };
    }
    return run;
  });
  d.update(name, { job: { ...record.job, detached: runs } });
  armDetachedDeadline(d, name);
}

/** A detached run ended: counted by its exit (a timed-out one as failed) unless the service is being stopped. */
export function detachedExited(d: Draft, name: string, pid: number, status: ExitStatus): void {
  const record = d.record(name)!;
  const job = record.job!;
  const run = job.detached.find((r) => r.pid === pid)!;
  d.update(name, { job: { ...job, detached: job.detached.filter((r) => r.pid !== pid) } });
  armDetachedDeadline(d, name);
  const stopping = record.state.id === 'stopping' && record.state.intent !== 'replace' && record.state.intent !== 'timeout';
  const result: JobResult = run.timedOut || !succeeded(record.plan, status) ? 'failure' : 'success';
  const detail = run.timedOut ? `timed out after ${say.duration(record.plan.job?.timeout ?? 0)}` : describeExit(status);
  d.log(result === 'success' ? 'info' : 'warn', say.earlierRunEnded(name, pid, stopping ? 'stopped' : result, detail));
  if (!stopping) jobRan(d, name, result, detail);
}
