// The supervisor's decisions, pure. `step(core, event, seen)` says what follows an event:
// the next state of every service and of the supervisor, and the effects the loop is to
// carry out (spawn, signal, arm or cancel a timer, start or stop a probe, log). It reads no
// clock, arms no timer and touches no process: the time, a random number and which
// processes each service owns come in through `seen`, read by the loop for this one step.
//
// This file is the dispatcher and the core's one public entry: it routes each event to the
// concern that answers it and settles what the states then call for. The decisions live in
// ./core/, a module per concern, each importing only those beneath it (docs/ARCHITECTURE.md,
// "The supervisor core", has the map):
//   requests      what is asked from outside, routed
//   apply-reload  a reload applied
//   schedules     a scheduled job's due runs and its run timeout
//   exits         the run's own process forked, could not start, exited
//   readiness     ready, healthy, alive: probes, sd_notify, forking daemons, the watchdog
//   start         boot, starts by hand, dependencies, the launch
//   shutdown      when the container ends, the ordered shutdown, the sweep, tend's status
//   hooks         pre_start and post_stop ending or overrunning
//   stop          one service's stop sequence, and what its intent leads to
//   job-record    a job's counts, schedule and detached runs
//   after-run     the restart policy applied: backoff, give up, stay down
//   run           pre_start or the spawn, the probes
//   draft         the step's working copy and the only moves that write it
//   types, lookup, exit-status, constants: shapes, the plan's graph, pure readings, numbers
import type { Plan } from '../plan/types';
import type { Event, Fact, TimerName } from './events';
import { unreachable } from './state';
import { backoffOver } from './core/after-run';
import { Draft, freshRecord } from './core/draft';
import { exited, forked, spawnFailed } from './core/exits';
import { hookExited, hookTimedOut } from './core/hooks';
import { detachedDeadlines } from './core/job-record';
import { daemonFound, daemonMissing, healthResult, mainRefused, memoryExceeded, notified, readyResult, readyTimedOut, spawned, watchdogFired } from './core/readiness';
import { request } from './core/requests';
import { runTimedOut, scheduledRun } from './core/schedules';
import { advanceShutdown, checkEndings, deadline, delayOver, fault, swept, sweepGone, sweepGraceOver, sweepStuck } from './core/shutdown';
import { launchQueued } from './core/start';
import { graceOver, serviceGone, stopCommandExited, stuckOver } from './core/stop';
import { NO_TALLY, type CoreState, type Seen, type ServiceRecord, type StepResult } from './core/types';

export * from './core/types';
export { classifyExit, exitVariables } from './core/exit-status';
export { outcomeOf } from './core/shutdown';

/** `startSlots`: how many services may be mid-start at once (core/start.ts); Infinity: no cap. */
export function initialCore(plan: Plan, startSlots = Infinity): CoreState {
  const services = new Map<string, ServiceRecord>();
  for (const service of plan.services) services.set(service.name, freshRecord(service));
  return { plan, services, phase: { id: 'idle' }, schedules: new Set(), startSlots, tally: NO_TALLY };
}

/** What follows `event`. Pure: `core` is not modified. */
export function step(core: CoreState, event: Event, seen: Seen): StepResult {
  const draft = new Draft(core, seen);
  handle(draft, event);
  settle(draft);
  return draft.result();
}

function handle(d: Draft, event: Event): void {
  switch (event.kind) {
    case 'boot':
    case 'start':
    case 'stop':
    case 'restart':
    case 'signal':
    case 'reload':
    case 'shutdown':
      request(d, event);
      return;
    case 'forked':
    case 'spawned':
    case 'spawn-failed':
    case 'exited':
    case 'daemon-found':
    case 'daemon-missing':
    case 'notified':
    case 'main-refused':
    case 'stop-command-exited':
    case 'hook-exited':
    case 'probe-passed':
    case 'probe-failed':
    case 'timer':
    case 'scheduled':
    case 'gone':
    case 'swept':
    case 'memory-exceeded':
    case 'fault':
      fact(d, event);
      return;
    default:
      unreachable(event);
  }
}

function fact(d: Draft, fact: Fact): void {
  switch (fact.kind) {
    case 'forked':
      forked(d, fact.service, fact.pid);
      return;
    case 'spawned':
      spawned(d, fact.service, fact.pid);
      return;
    case 'spawn-failed':
      spawnFailed(d, fact.service, fact.status);
      return;
    case 'exited':
      exited(d, fact.service, fact.pid, fact.status);
      return;
    case 'daemon-found':
      daemonFound(d, fact.service, fact.pid);
      return;
    case 'daemon-missing':
      daemonMissing(d, fact.service, fact.reason);
      return;
    case 'notified':
      notified(d, fact.service, fact.pid, fact.fields);
      return;
    case 'main-refused':
      mainRefused(d, fact.service, fact.pid, fact.previous, fact.reason);
      return;
    case 'stop-command-exited':
      stopCommandExited(d, fact.service, fact.status);
      return;
    case 'hook-exited':
      hookExited(d, fact.service, fact.hook, fact.status);
      return;
    case 'probe-passed':
    case 'probe-failed':
      if (fact.probe === 'ready') readyResult(d, fact.service, fact.pid, fact.kind === 'probe-passed' ? null : fact.reason);
      else healthResult(d, fact.service, fact.pid, fact.kind === 'probe-passed' ? null : fact.reason);
      return;
    case 'timer':
      timer(d, fact.timer, fact.service);
      return;
    case 'scheduled':
      scheduledRun(d, fact.service);
      return;
    case 'gone':
      if (fact.service === null) sweepGone(d);
      else serviceGone(d, fact.service);
      return;
    case 'memory-exceeded':
      memoryExceeded(d, fact.service, fact.bytes, fact.limit);
      return;
    case 'swept':
      swept(d, fact.signal, fact.pids);
      return;
    case 'fault':
      fault(d, fact.detail);
      return;
    default:
      unreachable(fact);
  }
}

function timer(d: Draft, timer: TimerName, service: string | null): void {
  switch (timer) {
    case 'backoff':
      if (service !== null) backoffOver(d, service);
      return;
    case 'ready':
      if (service !== null) readyTimedOut(d, service);
      return;
    case 'grace':
      if (service !== null) graceOver(d, service);
      return;
    case 'stuck':
      if (service !== null) stuckOver(d, service);
      return;
    case 'watchdog':
      if (service !== null) watchdogFired(d, service, false);
      return;
    case 'hook':
      if (service !== null) hookTimedOut(d, service);
      return;
    case 'timeout':
      if (service !== null) runTimedOut(d, service);
      return;
    case 'run-timeout':
      if (service !== null) detachedDeadlines(d, service);
      return;
    case 'shutdown-delay':
      delayOver(d);
      return;
    case 'shutdown-deadline':
      deadline(d);
      return;
    case 'sweep-grace':
      sweepGraceOver(d);
      return;
    case 'sweep-stuck':
      sweepStuck(d);
      return;
    default:
      unreachable(timer);
  }
}

/** Looks at every service and does what the states now call for, until nothing changes. */
function settle(d: Draft): void {
  for (let round = 0; round < 1000; round++) {
    const before = d.effects.length;
    const revision = d.revision;
    if (d.phase.id === 'shutting-down') advanceShutdown(d);
    else if (d.phase.id === 'starting' || d.phase.id === 'running') {
      launchQueued(d);
      checkEndings(d);
    }
    if (d.effects.length === before && d.revision === revision) return;
  }
  throw new Error('the supervisor did not settle in 1000 rounds');
}
