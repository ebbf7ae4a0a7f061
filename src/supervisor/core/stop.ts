// The stop sequence of one service: stop_command or the stop signal (to its own process
// or its whole group, as stop_mode says) with SIGCONT, SIGKILL at stop_timeout, given up
// on 2 s after the SIGKILL; what a stop request does in each state; and, once the stop is
// done, what its intent leads to (stopped, queued again, the restart policy). Clearing what
// an ended run left behind before the next spawn is the same sequence.
import type { ServicePlan } from '../../plan/types';
import type { ExitStatus } from '../../vocab/exit';
import { describeExit } from '../../vocab/exit';
import { signalName } from '../../vocab/signals';
import * as say from '../../log/messages';
import { pidOf, unreachable, type AfterRun, type ServiceState, type StopIntent, type StopStep } from '../state';
import { HELD_UP_MS, SIGABRT, SIGCONT, SIGKILL, STUCK_AFTER_KILL_MS } from './constants';
import type { Draft } from './draft';
import { afterRun } from './after-run';
import { exitedZero } from './exit-status';
import { jobRan } from './job-record';
import { begin, stopProbes } from './run';
import { ranFor, startTimeout } from './types';

/** Stops the service and everything it owns; `intent` says what follows. */
export function stop(d: Draft, name: string, intent: StopIntent): void {
  const record = d.record(name)!;
  const state = record.state;
  switch (state.id) {
    case 'stopping':
      // A later, stronger request replaces what the stop leads to: a stop by hand or the
      // shutdown wins over a restart.
      if ((intent === 'stop' || intent === 'shutdown') && state.intent !== intent) d.enter(name, { ...state, intent });
      return;
    case 'clearing':
      // Already stopping its leftovers: that stop carries on, towards the new intent.
      d.enter(name, { id: 'stopping', pid: null, since: state.since, intent, step: state.step });
      finishStopIfDone(d, name);
      return;
    case 'starting':
    case 'running':
    case 'ready': {
      stopProbes(d, name);
      // A hung service gets SIGABRT in place of its stop signal (systemd's WatchdogSignal),
      // SIGKILL at stop_timeout: a stop signal sent beside it could end the process first,
      // and the dump or trace the abort asks for would be lost.
      const step = intent === 'watchdog'
        ? abortAndWait(d, record.plan, state.pid)
        : beginStopSequence(d, record.plan, 'log', state.pid);
      d.enter(name, { id: 'stopping', pid: state.pid, since: d.now, intent, step, ofRun: true });
      return;
    }
    case 'preparing':
      d.cancel('hook', name);
      // Its pre_start is one of its processes: stopped like them (stop signal, SIGKILL at
      // stop_timeout), and waited for; the spawn will not come.
      if (d.owns(name)) {
        const step = beginStopSequence(d, record.plan, 'log', null);
        d.enter(name, { id: 'stopping', pid: null, since: d.now, intent, step });
        return;
      }
      d.emit({ kind: 'kill-hook', service: name, signal: record.plan.stopSignal });
      d.enter(name, intent === 'restart' ? { id: 'queued', since: d.now } : { id: 'stopped', byHand: intent === 'stop' });
      if (record.removed && d.record(name)?.state.id === 'stopped') d.forget(name);
      return;
    case 'finishing': {
      // Its post_stop finishes; what follows is now the stop's.
      const then = state.then;
      const next: AfterRun | null = intent === 'stop' ? { id: 'stopped', byHand: true }
        : intent === 'shutdown' ? (then.id === 'stopped' && then.byHand ? then : { id: 'stopped', byHand: false })
        : intent === 'restart' ? { id: 'queued', since: d.now }
        : null;
      if (next === null) return;
      if (then.id === 'backoff') d.cancel('backoff', name);
      d.enter(name, { ...state, then: next });
      return;
    }
    case 'spawning': {
      if (state.pid !== null) {
        // The exec helper runs: it is stopped like the command it is about to become.
        const step = beginStopSequence(d, record.plan, 'log', state.pid);
        d.enter(name, { id: 'stopping', pid: state.pid, since: d.now, intent, step, ofRun: true });
        return;
      }
      // No process yet (the fork's answer, or the failure, is on its way): nothing to stop.
      d.enter(name, { id: 'stopped', byHand: intent === 'stop' });
      return;
    }
    case 'queued':
    case 'backoff':
    case 'stopped':
    case 'exited':
    case 'fatal':
    case 'completed':
    case 'failed': {
      if (state.id === 'backoff') d.cancel('backoff', name);
      // Leftovers of a run that ended still need stopping, whatever the state says — but
      // not with stop_mode main, where they are meant to outlive the run.
      if (record.plan.stopMode !== 'main' && d.owns(name)) {
        const step = beginStopSequence(d, record.plan, 'log', null);
        d.enter(name, { id: 'stopping', pid: null, since: d.now, intent, step });
        return;
      }
      const byHand = intent === 'stop';
      if (state.id !== 'stopped' || state.byHand !== byHand) {
        // A stop at shutdown leaves a service stopped by hand as it was.
        if (!(state.id === 'stopped' && !byHand)) d.enter(name, { id: 'stopped', byHand });
      }
      if (record.removed) d.forget(name);
      return;
    }
    default:
      unreachable(state);
  }
}

/**
 * The first move of a stop: stop_command when set (with MAINPID), else the stop signal
 * and SIGCONT, with SIGKILL armed at stop_timeout. `main`: the service's own process, or
 * null when only what a run left behind is stopped.
 */
export function beginStopSequence(d: Draft, plan: ServicePlan, how: string | null, main: number | null): StopStep {
  if (how !== null) d.log('info', say.stopping(plan.name, plan.stopCommand !== null ? 'stop_command' : signalName(plan.stopSignal)));
  if (plan.stopCommand !== null) {
    d.emit({ kind: 'spawn-stop-command', service: plan.name, plan, mainPid: main });
    return { id: 'command' };
  }
  return signalAndWait(d, plan, plan.stopSignal, main);
}

function abortAndWait(d: Draft, plan: ServicePlan, main: number | null): StopStep {
  d.log('info', say.stopping(plan.name, signalName(SIGABRT)));
  return signalAndWait(d, plan, SIGABRT, main);
}

/**
 * The stop signal goes where stop_mode says: `group`, to every process the service owns;
 * `main` and `mixed`, to its own process only (a prefork master finishes its workers'
 * jobs, then exits). With no own process to ask, what is left gets it. A `main` stop is
 * done when its own process has exited; the others when every process is gone.
 */
function signalAndWait(d: Draft, plan: ServicePlan, signal: number | null, main: number | null): StopStep {
  const toMain = plan.stopMode !== 'group' && main !== null;
  if (signal !== null) {
    if (toMain) {
      d.emit({ kind: 'signal-pid', pid: main, signal });
      d.emit({ kind: 'signal-pid', pid: main, signal: SIGCONT });
    } else d.emit({ kind: 'signal', service: plan.name, signal, cont: true });
  }
  d.arm('grace', plan.name, plan.stopTimeout);
  if (!(plan.stopMode === 'main' && main !== null)) d.emit({ kind: 'watch-gone', service: plan.name, rekill: false });
  return { id: 'grace', signal };
}

export function stopCommandExited(d: Draft, name: string, status: ExitStatus): void {
  const record = d.record(name);
  if (record === undefined) return;
  const state = record.state;
  if ((state.id !== 'stopping' && state.id !== 'clearing') || state.step.id !== 'command') return;
  let signal: number | null = null;
  if (!exitedZero(status)) {
    signal = record.plan.stopSignal;
    d.log('warn', say.stopCommandFailed(name, describeExit(status), signalName(signal)));
  }
  d.enter(name, { ...state, step: signalAndWait(d, record.plan, signal, pidOf(state)) });
}

export function serviceGone(d: Draft, name: string): void {
  const record = d.record(name);
  if (record === undefined) return;
  const state = record.state;
  if ((state.id !== 'stopping' && state.id !== 'clearing') || (state.step.id !== 'grace' && state.step.id !== 'killing')) return;
  d.cancel(state.step.id === 'grace' ? 'grace' : 'stuck', name);
  d.emit({ kind: 'unwatch-gone', service: name });
  d.enter(name, { ...state, step: { id: 'gone' } });
  finishStopIfDone(d, name);
}

/** A stop is done once every process is gone and the service's own exit has been seen. */
export function finishStopIfDone(d: Draft, name: string): void {
  const record = d.record(name)!;
  const state = record.state;
  if (state.id === 'clearing') {
    if (state.step.id !== 'gone') return;
    if (d.shuttingDown) d.enter(name, { id: 'stopping', pid: null, since: state.since, intent: 'shutdown', step: state.step });
    else {
      begin(d, name);
      return;
    }
  }
  const current = d.record(name)!.state;
  if (current.id !== 'stopping' || current.step.id !== 'gone' || current.pid !== null) return;
  const took = d.now - current.since;
  d.log('info', say.stopped(name, took));
  if (d.phase.id === 'shutting-down' && took > HELD_UP_MS) d.log('info', say.heldShutdownUp(name, took));
  const intent = d.shuttingDown && current.intent !== 'stop' ? 'shutdown' : current.intent;
  switch (intent) {
    case 'timeout': {
      const timeout = record.plan.job?.timeout ?? 0;
      const reason = `timed out after ${say.duration(timeout)}`;
      jobRan(d, name, 'failure', reason);
      afterRun(d, name, record.lastExit ?? { kind: 'signaled', signal: record.plan.stopSignal }, ranFor(record, current.since), reason);
      break;
    }
    case 'replace':
      jobRan(d, name, 'replaced', `stopped for the next scheduled run${record.lastExit === null ? '' : ` (${describeExit(record.lastExit)})`}`);
      d.enter(name, { id: 'queued', since: d.now });
      break;
    case 'unhealthy':
    case 'memory-limit':
    case 'watchdog':
    case 'not-ready': {
      const ended: ExitStatus = record.lastExit ?? { kind: 'signaled' as const, signal: record.plan.stopSignal };
      let exit: ExitStatus = intent === 'memory-limit' && ended.oom !== true ? { ...ended, limit: 'memory' } : ended;
      if (intent === 'watchdog') {
        exit = { ...ended, watchdog: true };
        d.update(name, { lastExit: exit });
      }
      const reason = intent === 'not-ready' ? `not ready within ${say.duration(startTimeout(record.plan))}` : null;
      afterRun(d, name, exit, ranFor(record, current.since), reason);
      break;
    }
    case 'restart':
      d.enter(name, { id: 'queued', since: d.now });
      break;
    case 'stop':
    case 'shutdown':
      d.emit({ kind: 'release', service: name });
      d.enter(name, { id: 'stopped', byHand: intent === 'stop' });
      break;
    default:
      unreachable(intent);
  }
  if (d.record(name)?.removed === true && d.record(name)?.state.id === 'stopped') d.forget(name);
}

/**
 * With stop_mode main, a stop is about the service's own process alone, while it has one
 * (the rest outlives the run): that pid. Null: about every process the service owns.
 */
function ownOnly(plan: ServicePlan, state: ServiceState): number | null {
  return plan.stopMode === 'main' ? pidOf(state) : null;
}

/** stop_timeout passed with processes left: SIGKILL (to its own process only with stop_mode main). */
export function graceOver(d: Draft, name: string): void {
  const record = d.record(name);
  const state = record?.state;
  if (state === undefined || (state.id !== 'stopping' && state.id !== 'clearing') || state.step.id !== 'grace') return;
  const own = ownOnly(record!.plan, state);
  const left = own !== null ? [own] : d.seen.owned(name);
  if (left.length > 0) {
    const asked = state.step.signal === null ? 'stop_command' : signalName(state.step.signal);
    d.log('warn', say.killedAfterTimeout(name, asked, record!.plan.stopTimeout, left));
  }
  if (own !== null) {
    // stop_mode main: only its own process is killed; the rest outlives the run.
    d.emit({ kind: 'signal-pid', pid: own, signal: SIGKILL });
  } else {
    d.emit({ kind: 'kill', service: name });
    // Repeat the scan until none is found: a process forked between a listing and the kill escaped it.
    d.emit({ kind: 'watch-gone', service: name, rekill: true });
  }
  d.arm('stuck', name, STUCK_AFTER_KILL_MS);
  d.enter(name, { ...state, step: { id: 'killing', signal: state.step.signal } });
}

/** 2 s after the SIGKILL: whatever is left is stuck (in the kernel); the stop counts as done. */
export function stuckOver(d: Draft, name: string): void {
  const record = d.record(name);
  const state = record?.state;
  if (state === undefined || (state.id !== 'stopping' && state.id !== 'clearing') || state.step.id !== 'killing') return;
  const own = ownOnly(record!.plan, state);
  const left = own !== null ? [own] : d.seen.owned(name);
  if (left.length > 0) d.log('error', say.stuck(name, left));
  d.emit({ kind: 'unwatch-gone', service: name });
  d.enter(name, { ...state, step: { id: 'gone' } });
  finishStopIfDone(d, name);
}
