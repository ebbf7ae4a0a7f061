// The restart policy, applied: what follows a run that ended on its own, was unhealthy,
// or never got ready — a restart after its backoff, giving up (the restart limit), or
// staying down; and the end of a backoff. The policy itself (which exits restart, how
// long to wait) is pure in ../restart.ts; this is where its answer becomes a state.
// During the shutdown nothing restarts.
import type { ServicePlan } from '../../plan/types';
import type { ExitStatus } from '../../vocab/exit';
import { describeExit } from '../../vocab/exit';
import * as say from '../../log/messages';
import type { AfterRun } from '../state';
import { decideRestart } from '../restart';
import type { Draft } from './draft';

/** The end of trying: a oneshot has failed, a longrun is fatal (`cannotStart`: its command could not run at all). */
function gaveUp(plan: ServicePlan, reason: string, cannotStart = false): AfterRun {
  if (plan.type === 'oneshot') return { id: 'failed', reason };
  return cannotStart ? { id: 'fatal', reason, cannotStart: true } : { id: 'fatal', reason };
}

/**
 * Nothing of the command could run (its spawn, or its pre_start's). What cannot heal by
 * retrying — a command not found, an unknown user or group, a missing cwd — gives up at
 * once, and true is returned; tend running short of fds or processes is the policy's to retry.
 */
export function cannotRun(d: Draft, name: string, status: ExitStatus, hook: 'pre_start' | null): boolean {
  if (status.kind !== 'failed' || status.transient === true) return false;
  const reason = hook === null ? status.reason : `${hook}: ${status.reason}`;
  d.log('error', say.cannotStartCommand(name, reason));
  d.enter(name, gaveUp(d.record(name)!.plan, reason, true));
  return true;
}

/** What follows a run that ended on its own, was unhealthy, or never got ready. */
export function afterRun(d: Draft, name: string, exit: ExitStatus, uptime: number, notReady: string | null): void {
  const record = d.record(name)!;
  const plan = record.plan;
  const stayDown = (): void => {
    if (notReady !== null) d.enter(name, gaveUp(plan, notReady));
    else if (plan.type === 'oneshot') d.enter(name, { id: 'failed', reason: describeExit(exit) });
    else d.enter(name, { id: 'exited', exit });
  };
  // A shutdown cancels restarts: whatever ends now stays down.
  if (d.shuttingDown) {
    stayDown();
    return;
  }
  const decision = decideRestart({ service: plan, exit, uptime, history: record.history, now: d.now, random: d.seen.random() });
  switch (decision.kind) {
    case 'restart': {
      if (!d.enter(name, { id: 'backoff', until: d.now + decision.delay, delay: decision.delay })) return;
      const restarts = record.restarts + 1;
      d.update(name, { history: decision.history, restarts });
      d.log('info', say.restarting(name, decision.delay, restarts));
      d.arm('backoff', name, decision.delay);
      return;
    }
    case 'give-up':
      d.log('error', say.gaveUp(name, decision.reason));
      d.enter(name, gaveUp(plan, decision.reason));
      return;
    case 'stay-down':
      stayDown();
      return;
  }
}

/** A backoff's delay is over: the service queues again (unless the shutdown began). */
export function backoffOver(d: Draft, name: string): void {
  if (d.record(name)?.state.id === 'backoff' && !d.shuttingDown) d.enter(name, { id: 'queued', since: d.now });
}
