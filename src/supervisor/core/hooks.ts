// pre_start and post_stop: what follows when one exits, and when one overruns its time.
// A pre_start that passes leads to the spawn; one that fails ends the run (its policy
// decides). A post_stop's end lets the state its run's end decided take over. Entering
// `preparing` is the start's move (run.ts), entering `finishing` the draft's (any run's
// end into a service with a post_stop passes there).
import type { ExitStatus } from '../../vocab/exit';
import { describeExit } from '../../vocab/exit';
import * as say from '../../log/messages';
import { SIGKILL } from './constants';
import type { Draft } from './draft';
import { afterRun, cannotRun } from './after-run';
import { exitedZero } from './exit-status';
import { spawn } from './run';
import { startTimeout, type Hook } from './types';

export function hookExited(d: Draft, name: string, hook: Hook, status: ExitStatus): void {
  const record = d.record(name);
  if (record === undefined) return;
  const state = record.state;
  const ok = exitedZero(status);
  if (hook === 'pre_start') {
    if (state.id !== 'preparing') return;
    d.cancel('hook', name);
    if (ok) {
      spawn(d, name);
      return;
    }
    d.update(name, { lastExit: status });
    if (cannotRun(d, name, status, 'pre_start')) return;
    d.log('warn', say.preStartFailed(name, describeExit(status)));
    afterRun(d, name, status, 0, null);
    return;
  }
  if (state.id !== 'finishing') return;
  d.cancel('hook', name);
  if (!ok) d.log('warn', say.postStopFailed(name, describeExit(status)));
  const then = state.then;
  if (!d.enter(name, then)) return;
  // Its restart delay ran while post_stop did: what is left of it.
  if (then.id === 'backoff') d.arm('backoff', name, then.until - d.now);
  if (then.id === 'stopped') d.emit({ kind: 'release', service: name });
  if (record.removed && then.id === 'stopped') d.forget(name);
}

/** A hook ran past its time (pre_start: the start timeout; post_stop: stop_timeout): SIGKILL; its exit follows. */
export function hookTimedOut(d: Draft, name: string): void {
  const record = d.record(name);
  const state = record?.state;
  if (state === undefined || (state.id !== 'preparing' && state.id !== 'finishing')) return;
  const hook = state.id === 'preparing' ? 'pre_start' : 'post_stop';
  d.log('warn', say.hookTimedOut(name, hook, state.id === 'preparing' ? startTimeout(record!.plan) : record!.plan.stopTimeout));
  d.emit({ kind: 'kill-hook', service: name, signal: SIGKILL });
}
