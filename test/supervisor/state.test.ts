// The lifecycle table, both ways: every transition the table allows, and every one it
// refuses, written out here independently of src/supervisor/state.ts — a change to the
// table must change this test too, deliberately.
import { describe, expect, it } from 'vitest';
import { STATE_IDS, TRANSITIONS, canTransition, isSettled, isUp, pidOf, stateName, type ServiceState, type StateId } from '../../src/supervisor/state';

const EXPECTED: Record<StateId, StateId[]> = {
  stopped: ['stopped', 'queued', 'stopping'],
  queued: ['clearing', 'preparing', 'spawning', 'stopped', 'stopping'],
  clearing: ['clearing', 'preparing', 'spawning', 'stopping'],
  // pre_start: spawn on success, the start failed otherwise; a stop (post_stop first)
  preparing: ['spawning', 'backoff', 'exited', 'fatal', 'failed', 'stopped', 'stopping', 'finishing'],
  // finishing (each state a run ends from): post_stop runs before what the end decided
  spawning: ['spawning', 'starting', 'running', 'backoff', 'exited', 'fatal', 'failed', 'stopped', 'stopping', 'finishing'],
  // running: a forking service whose daemon was found, with no ready probe; queued (each
  // up state): a scheduled job's next run is due with concurrency: allow, this one detached
  starting: ['starting', 'ready', 'running', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'queued', 'finishing'],
  // to itself: a forking service's next main process, once the daemon ended and others run on
  running: ['running', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'queued', 'finishing'],
  ready: ['ready', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'queued', 'finishing'],
  stopping: ['stopping', 'stopped', 'queued', 'backoff', 'exited', 'fatal', 'failed', 'finishing'],
  finishing: ['finishing', 'backoff', 'exited', 'fatal', 'completed', 'failed', 'stopped', 'queued'],
  backoff: ['queued', 'stopped', 'stopping'],
  exited: ['queued', 'stopping', 'stopped'],
  fatal: ['queued', 'stopping', 'stopped'],
  completed: ['queued', 'stopping', 'stopped'],
  failed: ['queued', 'stopping', 'stopped'],
};

const PAIRS = STATE_IDS.flatMap((from) => STATE_IDS.map((to) => [from, to] as [StateId, StateId]));
const ALLOWED = PAIRS.filter(([from, to]) => EXPECTED[from].includes(to));
const REFUSED = PAIRS.filter(([from, to]) => !EXPECTED[from].includes(to));

/** One example of each state, with the data it carries. */
const EXAMPLES: Record<StateId, ServiceState> = {
  stopped: { id: 'stopped', byHand: false },
  queued: { id: 'queued', since: 1 },
  clearing: { id: 'clearing', since: 1, step: { id: 'grace', signal: 15 } },
  preparing: { id: 'preparing', since: 1 },
  spawning: { id: 'spawning', since: 1, pid: null },
  starting: { id: 'starting', pid: 7, since: 1, lastReason: 'no check has passed yet' },
  running: { id: 'running', pid: 7, since: 1 },
  ready: { id: 'ready', pid: 7, since: 1 },
  stopping: { id: 'stopping', pid: 7, since: 1, intent: 'stop', step: { id: 'grace', signal: 15 } },
  finishing: { id: 'finishing', since: 1, then: { id: 'stopped', byHand: true } },
  backoff: { id: 'backoff', until: 2, delay: 1 },
  exited: { id: 'exited', exit: { kind: 'exited', code: 0 } },
  fatal: { id: 'fatal', reason: 'x' },
  completed: { id: 'completed', exit: { kind: 'exited', code: 0 } },
  failed: { id: 'failed', reason: 'x' },
};

describe('service state transitions', () => {
  it('the table and this test name the same states', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATE_IDS].sort());
    expect(Object.keys(EXPECTED).sort()).toEqual([...STATE_IDS].sort());
  });
  it.each(ALLOWED)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });
  it.each(REFUSED)('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });
  it('covers all pairs: allowed + refused', () => {
    expect(ALLOWED.length + REFUSED.length).toBe(STATE_IDS.length ** 2);
  });
  it('a process comes up only through spawning: nothing else leads to starting or running', () => {
    for (const from of STATE_IDS) {
      if (from !== 'spawning' && from !== 'starting') expect(canTransition(from, 'starting')).toBe(false);
      // starting → running: a forking service's daemon found; running → running: its next main process
      if (from !== 'spawning' && from !== 'starting' && from !== 'running') expect(canTransition(from, 'running')).toBe(false);
    }
    // and ready only after a ready probe passed (ready → ready: a forking service's next main process)
    expect(STATE_IDS.filter((from) => canTransition(from, 'ready'))).toEqual(['starting', 'ready']);
  });
  it('a service starts again only through queued (its dependencies are looked at every time)', () => {
    // (spawning to itself: the exec helper's pid arrives; preparing: its pre_start passed)
    expect(STATE_IDS.filter((from) => canTransition(from, 'spawning'))).toEqual(['queued', 'clearing', 'preparing', 'spawning']);
    expect(STATE_IDS.filter((from) => canTransition(from, 'preparing'))).toEqual(['queued', 'clearing']);
  });
  it('a pid only where a process exists', () => {
    for (const id of STATE_IDS) {
      const pid = pidOf(EXAMPLES[id]);
      if (['starting', 'running', 'ready', 'stopping'].includes(id)) expect(pid).toBe(7);
      else expect(pid).toBeNull();
    }
  });
  it('the API names: the waiting states read `starting`; the others their own name', () => {
    expect(STATE_IDS.map((id) => stateName(EXAMPLES[id]))).toEqual([
      'stopped', 'starting', 'starting', 'starting', 'starting', 'starting', 'running', 'ready', 'stopping', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed',
    ]);
    expect(STATE_IDS.filter((id) => isUp(EXAMPLES[id]))).toEqual(['starting', 'running', 'ready']);
    expect(STATE_IDS.filter((id) => isSettled(EXAMPLES[id]))).toEqual(['stopped', 'exited', 'fatal', 'completed', 'failed']);
  });
});
