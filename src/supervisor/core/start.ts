// Starting: tend's boot (every autostart service and its dependencies, in the plan's start
// waves), a start or restart by hand, a service waiting in `queued` until its dependencies'
// conditions are met (or can never be), the start phase's end, and the launch — what an
// earlier run left behind is cleared first, then pre_start or the spawn (run.ts).
import type { DependencyCondition } from '../../plan/types';
import { dependencyClosure } from '../../plan/graph';
import * as say from '../../log/messages';
import { isSettled, isUp, unreachable } from '../state';
import { NO_HISTORY } from '../restart';
import type { Draft } from './draft';
import { arrangeSchedule } from './job-record';
import { lookupOf } from './lookup';
import { begin } from './run';
import { beginShutdown } from './shutdown';
import { beginStopSequence, stop } from './stop';
import type { ServiceRecord } from './types';

export function boot(d: Draft): void {
  if (d.phase.id !== 'idle') return;
  const targets = new Set<string>();
  for (const service of d.plan.services) {
    if (!service.autostart) continue;
    if (service.schedule !== null) {
      arrangeSchedule(d, service);
      continue;
    }
    targets.add(service.name);
    for (const dep of dependencyClosure(d.plan, service.name)) targets.add(dep);
  }
  d.setPhase({ id: 'starting', since: d.now, targets });
  for (const name of inStartOrder(d, [...targets])) queue(d, name);
}

function inStartOrder(d: Draft, names: readonly string[]): string[] {
  const order = lookupOf(d.plan).startIndex;
  return [...names].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity));
}

/** Wants to run: waits in `queued` until its dependencies are met (settle). */
export function queue(d: Draft, name: string): void {
  const record = d.record(name);
  if (record === undefined) return;
  const state = record.state;
  switch (state.id) {
    case 'stopping':
      // A start asked for while a stop by hand is under way wins: the stop completes,
      // then the service starts again (the last command counts).
      if (state.intent === 'stop') d.enter(name, { ...state, intent: 'restart' });
      return;
    case 'queued':
    case 'clearing':
    case 'preparing':
    case 'spawning':
    case 'starting':
    case 'running':
    case 'ready':
      return;
    case 'finishing':
      // Its post_stop finishes first; then it starts.
      if (state.then.id === 'backoff') d.cancel('backoff', name);
      d.enter(name, { ...state, then: { id: 'queued', since: d.now } });
      return;
    case 'backoff':
      d.cancel('backoff', name);
      d.enter(name, { id: 'queued', since: d.now });
      return;
    case 'stopped':
    case 'exited':
    case 'fatal':
    case 'completed':
    case 'failed':
      d.enter(name, { id: 'queued', since: d.now });
      return;
    default:
      unreachable(state);
  }
}

export function startByHand(d: Draft, name: string): void {
  if (!d.services.has(name)) return;
  for (const dep of [...dependencyClosure(d.plan, name), name]) {
    const record = d.record(dep);
    if (record === undefined) continue;
    if (dep === name || !(isUp(record.state) || record.state.id === 'completed')) {
      // A start by hand forgets the backoff and the restart limit's window.
      if (isSettled(record.state)) d.update(dep, { history: NO_HISTORY });
      queue(d, dep);
    }
  }
}

export function restartByHand(d: Draft, name: string): void {
  const record = d.record(name);
  if (record === undefined) return;
  if (isUp(record.state)) {
    stop(d, name, 'restart');
    return;
  }
  d.update(name, { history: NO_HISTORY });
  queue(d, name);
}

/**
 * Launches a queued service whose dependencies are met, when `slot` says one is free; else
 * it stays queued. What its dependencies call for (pulling one in, giving up on one that
 * never can be met) happens either way.
 */
function tryLaunch(d: Draft, name: string, slot: boolean): void {
  const record = d.record(name)!;
  for (const dependency of record.plan.dependsOn) {
    const dep = d.record(dependency.name);
    if (dep === undefined || dep.removed) continue; // removed by a reload: nothing to wait for
    if (conditionMet(d, dep, dependency.condition)) continue;
    const impossible = conditionImpossible(d, dep, dependency.condition);
    if (impossible !== null) {
      cannotStart(d, name, `${name} needs ${dependency.name} ${dependency.condition}, but ${impossible}`);
      return;
    }
    if (dep.state.id === 'stopped') queue(d, dependency.name); // pulled in: a dependency starts first
    return;
  }
  if (slot) launch(d, name);
}

function conditionMet(d: Draft, dep: ServiceRecord, condition: DependencyCondition): boolean {
  const state = dep.state;
  switch (condition) {
    case 'started':
      // A forking service has started once its daemon is found, not while its start program runs.
      if (state.id === 'starting' && state.awaiting !== undefined) return false;
      return isUp(state) || state.id === 'completed' || (state.id === 'exited' && dep.startedAt !== null);
    case 'ready':
      return state.id === 'ready' || (dep.plan.ready === null && state.id === 'running');
    case 'completed':
      return state.id === 'completed';
  }
}

/** A dependency that has settled without meeting its condition never will by itself. */
function conditionImpossible(d: Draft, dep: ServiceRecord, condition: DependencyCondition): string | null {
  const state = dep.state;
  const name = dep.plan.name;
  switch (state.id) {
    case 'fatal':
      return `${name} gave up (${state.reason})`;
    case 'failed':
      return `${name} failed (${state.reason})`;
    case 'exited':
      return condition === 'started' ? null : `${name} exited before it was ${condition}`;
    case 'stopped':
      return state.byHand ? `${name} was stopped by hand` : null;
    default:
      return null;
  }
}

function cannotStart(d: Draft, name: string, chain: string): void {
  d.enter(name, { id: 'stopped', byHand: false });
  d.log('error', say.cannotStart(chain));
  if (d.phase.id === 'starting' && d.phase.targets.has(name)) beginShutdown(d, `the start failed: ${chain}`, 'start-failed', false);
}

function reachedTarget(d: Draft, name: string): boolean {
  const record = d.record(name);
  if (record === undefined) return true;
  const state = record.state;
  if (record.plan.type === 'oneshot') return state.id === 'completed';
  return state.id === 'ready' || (state.id === 'running' && record.plan.ready === null) || isSettled(state);
}

const lastFirstOf = new WeakMap<ReadonlySet<string>, readonly string[]>();

/**
 * The start's targets, those that start last first: the check that the start is over
 * stops at the first target not there yet, which is then nearly always the first it looks
 * at, where in the targets' own order it went past every service already up on every step.
 */
function lastFirst(d: Draft, targets: ReadonlySet<string>): readonly string[] {
  let list = lastFirstOf.get(targets);
  if (list === undefined) {
    const order = lookupOf(d.plan).startIndex;
    list = [...targets].sort((a, b) => (order.get(b) ?? Infinity) - (order.get(a) ?? Infinity));
    lastFirstOf.set(targets, list);
  }
  return list;
}

/** Dependencies met: spawn — after stopping what the previous run left behind. */
function launch(d: Draft, name: string): void {
  const record = d.record(name)!;
  // A job's runs going on detached (concurrency: allow) own processes that are no leftovers.
  const leftovers = (record.job?.detached.length ?? 0) > 0 ? [] : d.seen.owned(name);
  if (leftovers.length > 0 && record.plan.stopMode === 'main') {
    // stop_mode main (systemd's KillMode=process): what a run leaves behind is meant to
    // outlive it (sshd's sessions); the next run starts beside it.
    d.log('info', say.leftoversKept(name, leftovers.length));
  } else if (leftovers.length > 0) {
    d.log('info', say.leftovers(name, leftovers.length));
    const step = beginStopSequence(d, record.plan, null, null);
    d.enter(name, { id: 'clearing', since: d.now, step });
    return;
  }
  begin(d, name);
}

/**
 * Queued services whose dependencies are met launch, in start order, while fewer than
 * `startSlots` services are mid-start (`spawning`: their exec helper has not exec'd the
 * command yet); the start phase ends once its targets got there.
 *
 * Why a cap could help: every service spawned is runnable at once — its exec helper, then
 * its command, each loading itself — and with hundreds of them the cores are theirs while
 * tend's spawning thread waits in clone3 (vfork-style) for its newest child to get one.
 * Measured, it did not (1,000 services, caps of 8 to 256, loads 1.4–4.7: never faster than
 * none, and 0.2–0.3 s more of tend's CPU; never more than one helper was alive at a time —
 * what piles up is the services' own commands, after the slot is free), so there is no cap
 * unless TEND_START_SLOTS asks for one. A slot frees when the helper's exec is seen
 * (`spawned`) or it could not start.
 * A run that spawns from `preparing` (pre_start passed) or `clearing` (leftovers stopped)
 * does not wait: it was launched from here, when it had a slot.
 */
export function launchQueued(d: Draft): void {
  // What to look at, from the tally rather than from every record: with no slot free, only
  // the queued services that have dependencies (one may be pulled in, or never can be met);
  // with slots free, queued services in start order until the slots are taken — and all of
  // them when some have dependencies. Without sorting: a capped start keeps most services
  // queued, and visiting or sorting all of them on every step cost O(services) per event.
  let free = d.startSlots - d.tally.spawning;
  if (d.tally.queued > 0 && (free > 0 || d.tally.waiting > 0)) {
    const order = lookupOf(d.plan);
    const visit = (name: string): boolean => {
      const record = d.record(name);
      if (record?.state.id !== 'queued') return true;
      // No slot, nothing to wait for: it would launch, so it waits; nothing to do.
      if (free <= 0 && record.plan.dependsOn.length === 0) return d.tally.waiting > 0;
      tryLaunch(d, name, free > 0);
      if (d.record(name)?.state.id === 'spawning') free -= 1;
      return free > 0 || d.tally.waiting > 0;
    };
    let goOn = true;
    for (let i = 0; goOn && i < order.startOrder.length; i++) goOn = visit(order.startOrder[i]!);
    // Names the plan does not order (a reload can leave one) come last, as a sort put them.
    if (goOn && d.services.size > order.startIndex.size) {
      for (const name of [...d.services.keys()]) if (!order.startIndex.has(name) && !visit(name)) break;
    }
  }
  if (d.phase.id === 'starting' && lastFirst(d, d.phase.targets).every((name) => reachedTarget(d, name))) {
    const since = d.phase.since;
    d.setPhase({ id: 'running' });
    d.log('info', say.allStarted(d.now - since));
  }
}
