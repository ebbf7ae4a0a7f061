// What the process layer reports of a run's own process: the exec helper forked, nothing
// of the command could start (fatal at once, or retried when tend ran short), and its
// exit — read against the stop under way, a forking service's start program, a oneshot's
// success, a job's detached runs — then handed to the stop sequence or the restart policy.
import type { ExitStatus } from '../../vocab/exit';
import { describeExit } from '../../vocab/exit';
import * as say from '../../log/messages';
import { pidOf } from '../state';
import { succeeded } from '../restart';
import { SIGKILL } from './constants';
import type { Draft } from './draft';
import { afterRun, cannotRun } from './after-run';
import { classifyExit } from './exit-status';
import { detachedExited, jobRan } from './job-record';
import { forkingExited } from './readiness';
import { stopProbes } from './run';
import { finishStopIfDone } from './stop';
import { ranFor } from './types';

/** The exec helper runs as the service's process: a stop now stops it; its exit now is a spawn failure. */
export function forked(d: Draft, name: string, pid: number): void {
  const record = d.record(name);
  if (record === undefined || record.state.id !== 'spawning' || record.state.pid !== null) {
    // Nobody waits for this process any more (a bug if it happens): do not leave it running unmanaged.
    d.emit({ kind: 'signal-pid', pid, signal: SIGKILL });
    return;
  }
  d.enter(name, { ...record.state, pid });
}

/**
 * Nothing of the command ran: the spawn failed (no pid), or the exec helper exited before
 * it exec'd. What cannot heal by retrying — a command not found, an unknown user or group,
 * a missing cwd — gives up at once; tend running short of fds or processes is retried.
 */
export function spawnFailed(d: Draft, name: string, status: ExitStatus): void {
  const record = d.record(name);
  if (record === undefined || record.state.id !== 'spawning') return;
  d.update(name, { lastExit: status });
  if (cannotRun(d, name, status, null)) return;
  d.log('warn', say.exited(name, describeExit(status)));
  jobRan(d, name, 'failure', describeExit(status));
  afterRun(d, name, status, 0, null);
}

export function exited(d: Draft, name: string, pid: number, reported: ExitStatus): void {
  const record = d.record(name);
  if (record !== undefined && record.job?.detached.some((run) => run.pid === pid) === true) {
    detachedExited(d, name, pid, reported);
    return;
  }
  if (record === undefined || pidOf(record.state) !== pid) return; // not this run's process
  const state = record.state;
  // Whatever the plan says now: a reload may have dropped the timeout this run was armed with.
  if (record.plan.type === 'oneshot') d.cancel('timeout', name);
  if (state.id === 'spawning') {
    spawnFailed(d, name, reported);
    return;
  }
  const status = classifyExit(reported, {
    tendKilled: ((state.id === 'stopping' || state.id === 'clearing') && state.step.id === 'killing')
      || (d.phase.id === 'shutting-down' && (d.phase.deadlinePassed || d.phase.forced)),
    overMemory: state.id === 'stopping' && state.intent === 'memory-limit',
  });
  // A forking service's start program that exited 0 is no run's end: its status is not the service's.
  if (state.id !== 'stopping' && record.plan.type === 'forking' && forkingExited(d, name, state, status)) return;
  d.update(name, { lastExit: status, ...(status.oom === true ? { oomKills: (record.oomKills ?? 0) + 1 } : {}) });
  if (state.id === 'stopping') {
    d.log('info', say.exited(name, describeExit(status)));
    const mode = record.plan.stopMode;
    if (mode === 'main' && state.step.id !== 'gone') {
      // stop_mode main: its own process was all the stop waited for (a stop_command still
      // running is left to finish; its exit no longer matters).
      if (state.step.id !== 'command') d.cancel(state.step.id === 'grace' ? 'grace' : 'stuck', name);
      d.emit({ kind: 'unwatch-gone', service: name });
      d.enter(name, { ...state, pid: null, step: { id: 'gone' } });
    } else {
      // stop_mode mixed: its own process has gone; what it left behind is asked to stop too.
      if (mode === 'mixed' && state.step.id !== 'killing' && state.step.id !== 'gone' && d.owns(name)) {
        d.emit({ kind: 'signal', service: name, signal: record.plan.stopSignal, cont: true });
      }
      d.enter(name, { ...state, pid: null });
    }
    finishStopIfDone(d, name);
    return;
  }
  stopProbes(d, name);
  const uptime = ranFor(record, d.now);
  if (record.plan.type === 'oneshot' && succeeded(record.plan, status)) {
    d.log('info', say.completed(name, uptime));
    jobRan(d, name, 'success', describeExit(status));
    d.enter(name, { id: 'completed', exit: status });
    return;
  }
  d.log(succeeded(record.plan, status) ? 'info' : 'warn', say.exited(name, describeExit(status)));
  if (record.plan.type === 'oneshot') jobRan(d, name, 'failure', describeExit(status));
  afterRun(d, name, status, uptime, null);
}
