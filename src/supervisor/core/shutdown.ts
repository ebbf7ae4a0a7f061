// The container's end: when it ends (main ended, a critical service gave up, the start
// failed, nothing left to run, an internal fault), and the ordered shutdown — shutdown_delay,
// the plan's stop waves in reverse dependency order, shutdown_timeout, the sweep of what is
// left (SIGTERM, a grace of at most 1 s, SIGKILL), a second signal's SIGKILL to everything —
// and tend's exit status. Each service's stop is the stop sequence's (stop.ts).
import { describeExit } from '../../vocab/exit';
import * as say from '../../log/messages';
import { isSettled, isUp } from '../state';
import { succeeded } from '../restart';
import { tendExitCode, type RunOutcome } from '../exit-code';
import { SIGKILL, SIGTERM, STUCK_AFTER_KILL_MS, SWEEP_GRACE_MS } from './constants';
import type { Draft } from './draft';
import { dropSchedule } from './job-record';
import { lookupOf } from './lookup';
import { stopProbes } from './run';
import { stop } from './stop';
import type { CoreState, Ending } from './types';

/**
 * A shutdown's asked sets that already hold every service. A reload is refused during a
 * shutdown, so no service can join one: once every turn has come, later steps need not
 * look for the next (and a set is only ever replaced by a larger copy).
 */
const askedEveryone = new WeakSet<ReadonlySet<string>>();

/** tend's exit status once the shutdown is over (README, "Exit status"). */
export function outcomeOf(core: CoreState, ending: Ending): RunOutcome {
  const main = core.plan.main === null ? undefined : core.services.get(core.plan.main);
  return {
    internalError: ending.internalError,
    startFailed: ending.cause === 'start-failed',
    criticalGaveUp: ending.cause === 'critical',
    hasMain: main !== undefined,
    mainExit: main?.lastExit ?? null,
    allSucceeded: ending.requested || ending.succeededBefore,
  };
}

/** Main's end, a critical service giving up, a failed start, or nothing left to run. */
export function checkEndings(d: Draft): void {
  if (d.phase.id !== 'starting' && d.phase.id !== 'running') return;
  const main = d.plan.main === null ? undefined : d.record(d.plan.main);
  if (main !== undefined) {
    const state = main.state;
    if (state.id === 'exited' || state.id === 'fatal' || state.id === 'failed' || state.id === 'completed') {
      // A main that could not be started at all ends the container with its 127 or 126.
      const fatal = state.id === 'fatal' && state.cannotStart !== true;
      const how = state.id === 'fatal' ? (fatal ? `gave up (${state.reason})` : `cannot be started (${state.reason})`) : 'ended';
      beginShutdown(d, `main service ${main.plan.name} ${how}`, fatal ? 'critical' : 'main-ended', false);
      return;
    }
  }
  // Only a service that is down can end the container here; none is, most of the time,
  // and looking at every record on every step cost O(services) per event.
  if (d.tally.down > 0) for (const record of d.services.values()) {
    const state = record.state;
    // critical acts on any final failure, whatever the restart policy: it gave up, a
    // oneshot failed, or a longrun its policy leaves down ended badly.
    const failure = !record.plan.critical ? null
      : state.id === 'fatal' ? `gave up (${state.reason})`
      : state.id === 'failed' ? `failed (${state.reason})`
      : state.id === 'exited' && !succeeded(record.plan, state.exit) ? `ended: ${describeExit(state.exit)}`
      : null;
    if (failure !== null) {
      beginShutdown(d, `critical service ${record.plan.name} ${failure}`, 'critical', false);
      return;
    }
    if (state.id === 'failed' && d.phase.id === 'starting' && d.phase.targets.has(record.plan.name)) {
      beginShutdown(d, `the start failed: oneshot ${record.plan.name} failed (${state.reason})`, 'start-failed', false);
      return;
    }
  }
  if (main === undefined && d.phase.id !== 'starting' && d.schedules.size === 0) {
    // A service stopped by hand is a decision, not an ending: tend stays up until asked to stop.
    const busy = [...d.services.entries()].some(([name, r]) => !isSettled(r.state) || (r.state.id === 'stopped' && r.state.byHand) || d.owns(name));
    if (!busy) beginShutdown(d, 'nothing is left to run', 'idle', false);
  }
}

export function beginShutdown(d: Draft, reason: string, cause: Ending['cause'], requested: boolean): void {
  if (d.phase.id === 'shutting-down') {
    if (requested && !d.phase.ending.requested) d.phase = { ...d.phase, ending: { ...d.phase.ending, requested: true } };
    return;
  }
  if (d.phase.id === 'done') return;
  // Judged before the shutdown stops anything: with no main, tend's status says whether
  // every service that ran, ran well.
  const succeededBefore = [...d.services.values()].every((r) =>
    r.state.id !== 'fatal' && r.state.id !== 'failed' && (r.lastExit === null || succeeded(r.plan, r.lastExit)));
  const ending: Ending = { cause, requested, internalError: cause === 'internal', succeededBefore };
  d.log('info', say.shutdownBegins(reason));
  // A shutdown cancels pending starts, probes, backoffs and schedules.
  for (const name of [...d.schedules]) dropSchedule(d, name);
  for (const [name, record] of d.services) {
    if (record.state.id === 'backoff') d.cancel('backoff', name);
    if (isUp(record.state)) stopProbes(d, name);
  }
  d.setPhase({ id: 'shutting-down', ending, step: { id: 'delay' }, deadlinePassed: false, forced: false });
  const delay = d.plan.settings.shutdownDelay;
  if (delay > 0) {
    d.log('info', say.shutdownDelay(delay));
    d.arm('shutdown-delay', null, delay);
  } else {
    beginStopping(d);
  }
}

function beginStopping(d: Draft): void {
  if (d.phase.id !== 'shutting-down') return;
  d.arm('shutdown-deadline', null, d.plan.settings.shutdownTimeout);
  d.phase = { ...d.phase, step: { id: 'stopping', started: d.now, asked: new Set() } };
}

/** Services still stopping for the shutdown, for the log. */
function stillStopping(d: Draft): string[] {
  if (d.phase.id !== 'shutting-down' || d.phase.step.id !== 'stopping') return [];
  const asked = d.phase.step.asked;
  return [...d.services.entries()].filter(([name, r]) => asked.has(name) && r.state.id === 'stopping').map(([name]) => name);
}

/**
 * Reverse dependency order, in the plan's stop waves: a service's turn comes once every
 * service that depends on it has stopped; independent services stop in parallel.
 */
export function advanceShutdown(d: Draft): void {
  const phase = d.phase;
  if (phase.id !== 'shutting-down' || phase.step.id !== 'stopping') return;
  // Runs in every round of every step of a shutdown: it allocates only when a service's
  // turn comes (the asked set is copied once, on the first addition — the previous state
  // keeps its own), so a shutdown of N services stays linear in N per step.
  const before = phase.step.asked;
  let asked: Set<string> | null = null;
  const started = phase.step.started;
  const done = (name: string): boolean => {
    const record = d.record(name);
    return record === undefined || ((asked ?? before).has(name) && record.state.id === 'stopped');
  };
  const lookup = lookupOf(d.plan);
  const consider = (name: string): void => {
    const record = d.record(name);
    if (record === undefined || (asked ?? before).has(name)) return;
    if (record.state.id === 'spawning' && record.state.pid === null) return; // its fork's answer is on its way
    const dependents = record.removed ? [] : lookup.dependents.get(name) ?? [];
    if (!dependents.every(done)) return;
    asked ??= new Set(before);
    asked.add(name);
    // The phase records the turn before the stop, which may settle the service at once.
    if (d.phase.id === 'shutting-down') d.phase = { ...d.phase, step: { id: 'stopping', started, asked } };
    stop(d, name, 'shutdown');
  };
  if (!askedEveryone.has(before)) {
    // Services a reload removed, still stopping, depend on nothing in the plan: first.
    for (const name of d.services.keys()) if (!lookup.startIndex.has(name)) consider(name);
    for (const name of lookup.stopOrder) consider(name);
    const now = asked ?? before;
    let everyone = true;
    for (const name of d.services.keys()) {
      if (!now.has(name)) {
        everyone = false;
        break;
      }
    }
    if (everyone) askedEveryone.add(now);
  }
  if (asked !== null) d.revision += 1;
  let all = true;
  for (const name of d.services.keys()) {
    if (!done(name)) {
      all = false;
      break;
    }
  }
  if (all) beginSweep(d);
}

/** After the services: SIGTERM to whatever is left, a grace of at most 1 s, SIGKILL, reap. */
function beginSweep(d: Draft): void {
  if (d.phase.id !== 'shutting-down' || d.phase.step.id !== 'stopping') return;
  d.phase = { ...d.phase, step: { id: 'sweep', started: d.phase.step.started, signal: SIGTERM, terminated: null, killed: null } };
  d.emit({ kind: 'sweep', signal: SIGTERM });
}

export function swept(d: Draft, signal: number, pids: readonly number[]): void {
  if (d.phase.id !== 'shutting-down' || d.phase.step.id !== 'sweep') return;
  const sweep = d.phase.step;
  if (signal === SIGTERM && sweep.terminated === null) {
    d.phase = { ...d.phase, step: { ...sweep, terminated: pids } };
    if (pids.length === 0) {
      finishShutdown(d);
      return;
    }
    const remaining = Math.max(0, d.plan.settings.shutdownTimeout - (d.now - sweep.started));
    d.arm('sweep-grace', null, Math.min(SWEEP_GRACE_MS, remaining));
    d.emit({ kind: 'watch-gone', service: null, rekill: false });
    return;
  }
  if (signal === SIGKILL && sweep.killed === null) {
    d.phase = { ...d.phase, step: { ...sweep, killed: pids } };
    d.arm('sweep-stuck', null, STUCK_AFTER_KILL_MS);
    d.emit({ kind: 'watch-gone', service: null, rekill: true });
  }
}

export function sweepGone(d: Draft): void {
  if (d.phase.id !== 'shutting-down' || d.phase.step.id !== 'sweep' || d.phase.step.terminated === null) return;
  endSweep(d);
}

function endSweep(d: Draft): void {
  if (d.phase.id !== 'shutting-down' || d.phase.step.id !== 'sweep') return;
  const sweep = d.phase.step;
  d.emit({ kind: 'unwatch-gone', service: null });
  d.cancel('sweep-grace', null);
  d.cancel('sweep-stuck', null);
  d.emit({ kind: 'reap' });
  const killed = sweep.killed ?? [];
  if ((sweep.terminated ?? []).length > 0 || killed.length > 0) d.log('warn', say.swept((sweep.terminated ?? []).length, killed));
  finishShutdown(d);
}

function finishShutdown(d: Draft): void {
  if (d.phase.id !== 'shutting-down' || d.phase.step.id !== 'sweep') return;
  d.cancel('shutdown-deadline', null);
  if (!d.phase.deadlinePassed) d.log('info', say.allStopped(d.now - d.phase.step.started));
  const code = tendExitCode(outcomeOf({ plan: d.plan, services: d.services, phase: d.phase, schedules: d.schedules, startSlots: d.startSlots, tally: d.tally }, d.phase.ending));
  d.setPhase({ id: 'done', code });
  d.emit({ kind: 'finish', code });
}

/** shutdown_timeout has passed: SIGKILL to everything left; the services' stops then end. */
export function deadline(d: Draft): void {
  if (d.phase.id !== 'shutting-down' || d.phase.deadlinePassed) return;
  d.log('warn', say.shutdownTimeout(d.plan.settings.shutdownTimeout, stillStopping(d)));
  d.phase = { ...d.phase, deadlinePassed: true };
  d.emit({ kind: 'kill-everything' });
}

/** A second TERM/INT/QUIT: SIGKILL to everything at once. */
export function killNow(d: Draft): void {
  if (d.phase.id === 'done') return;
  if (d.phase.id === 'shutting-down' && d.phase.forced) return;
  d.log('warn', say.forceKill());
  d.emit({ kind: 'kill-everything' });
  if (d.phase.id !== 'shutting-down') {
    beginShutdown(d, 'killed at once', 'requested', true);
  }
  if (d.phase.id === 'shutting-down') {
    d.phase = { ...d.phase, forced: true };
    // Nothing is left to drain traffic for.
    if (d.phase.step.id === 'delay') {
      d.cancel('shutdown-delay', null);
      beginStopping(d);
    }
  }
}

/** An exception in a step or an effect: the ordered shutdown, with exit 70. */
export function fault(d: Draft, detail: string): void {
  d.log('error', say.internalError(detail));
  if (d.phase.id === 'shutting-down') d.phase = { ...d.phase, ending: { ...d.phase.ending, internalError: true } };
  else beginShutdown(d, 'internal error', 'internal', false);
}

/** shutdown_delay is over: the services' turns begin. */
export function delayOver(d: Draft): void {
  if (d.phase.id === 'shutting-down' && d.phase.step.id === 'delay') beginStopping(d);
}

/** The sweep's grace is over: SIGKILL to what is left. */
export function sweepGraceOver(d: Draft): void {
  if (d.phase.id === 'shutting-down' && d.phase.step.id === 'sweep' && d.phase.step.signal === SIGTERM) {
    d.emit({ kind: 'unwatch-gone', service: null });
    d.phase = { ...d.phase, step: { ...d.phase.step, signal: SIGKILL } };
    d.emit({ kind: 'sweep', signal: SIGKILL });
  }
}

/** 2 s after the sweep's SIGKILL: whatever is left is stuck; the shutdown ends. */
export function sweepStuck(d: Draft): void {
  if (d.phase.id === 'shutting-down' && d.phase.step.id === 'sweep') endSweep(d);
}
