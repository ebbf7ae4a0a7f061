// A scheduled job's due runs and its run timeout: a due run starts (its stopped
// dependencies first) or, with one still going, concurrency decides — forbid skips,
// replace stops the running one first, allow detaches it. The job's records (counts,
// detached runs) are job-record.ts's.
import { dependencyClosure } from '../../plan/graph';
import * as say from '../../log/messages';
import { isSettled, isUp, pidOf, stateName } from '../state';
import type { Draft } from './draft';
import { detachRun, jobRan } from './job-record';
import { queue } from './start';
import { stop } from './stop';

/**
 * A scheduled run is due. Nothing running: it starts (its stopped dependencies first).
 * A run still going: `concurrency` decides — forbid skips (counted), replace stops the
 * running one first (it counts as replaced), allow detaches the running one (it goes on,
 * its exit and timeout still watched) and starts the new one as the service's own process.
 * A run about to start or being stopped already takes the due time: the due run is skipped.
 */
export function scheduledRun(d: Draft, name: string): void {
  const record = d.record(name);
  if (record === undefined || d.shuttingDown || !d.schedules.has(name)) return;
  const state = record.state;
  const concurrency = record.plan.job?.concurrency ?? 'forbid';
  const detached = record.job?.detached.length ?? 0;
  const busy = !isSettled(state) || (detached > 0 && concurrency !== 'allow');
  if (!busy) {
    d.log('info', say.scheduledRun(name));
    runNow(d, name);
    return;
  }
  const upNow = isUp(state) || (isSettled(state) && detached > 0);
  if (concurrency === 'replace' && upNow) {
    d.log('info', say.scheduledRunReplaces(name, pidOf(state)));
    stop(d, name, 'replace');
    if (isSettled(d.record(name)!.state)) runNow(d, name); // nothing was left to stop
    return;
  }
  if (concurrency === 'allow' && isUp(state) && state.pid !== null) {
    detachRun(d, name, state.pid);
    d.log('info', say.scheduledRunAlongside(name, state.pid, (d.record(name)!.job?.detached.length ?? 0) + 1));
    return;
  }
  if (concurrency !== 'forbid' && state.id === 'backoff') {
    // A failed run waits to be retried: the due run takes its place now.
    d.log('info', say.scheduledRun(name));
    queue(d, name);
    return;
  }
  d.log('warn', say.scheduledRunSkipped(name, stateName(state)));
  jobRan(d, name, 'skipped', `due while the previous run was ${stateName(state)}`);
}

function runNow(d: Draft, name: string): void {
  for (const dep of [...dependencyClosure(d.plan, name), name]) {
    const r = d.record(dep);
    if (r !== undefined && (dep === name || r.state.id === 'stopped')) queue(d, dep);
  }
}

/** A oneshot run past its `timeout`: stopped; it counts as failed, then its policy decides. */
export function runTimedOut(d: Draft, name: string): void {
  const record = d.record(name);
  if (record === undefined || !isUp(record.state) || d.shuttingDown) return;
  d.log('warn', say.runTimedOut(name, record.plan.job?.timeout ?? 0, pidOf(record.state)));
  // Every run of a job has the same timeout, and detached runs started earlier: by now
  // each of them is past its own deadline too, so stopping all the service owns stops
  // no run that still had time.
  stop(d, name, 'timeout');
}
