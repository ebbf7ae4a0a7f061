import { describe, expect, it } from 'vitest';
import { backoffDelay, decideRestart, NO_HISTORY, policyRestarts, type RestartHistory } from '../../src/supervisor/restart';
import type { ExitStatus } from '../../src/vocab/exit';
import { service } from './fixtures';

const ok: ExitStatus = { kind: 'exited', code: 0 };
const bad: ExitStatus = { kind: 'exited', code: 3 };
const killed: ExitStatus = { kind: 'signaled', signal: 9 };

describe('restart policy', () => {
  it.each([
    ['always', ok, true], ['always', bad, true], ['always', killed, true],
    ['on-failure', ok, false], ['on-failure', bad, true], ['on-failure', killed, true],
    ['never', ok, false], ['never', bad, false], ['never', killed, false],
  ] as const)('%s after %o restarts: %s', (policy, exit, expected) => {
    const s = service('x', { restart: { ...service('x').restart, policy } });
    expect(policyRestarts(s, exit)).toBe(expected);
  });

  it('honours success_exit_codes for on-failure', () => {
    const s = service('x', { successExitCodes: [0, 3], restart: { ...service('x').restart, policy: 'on-failure' } });
    expect(policyRestarts(s, bad)).toBe(false);
    expect(policyRestarts(s, { kind: 'exited', code: 4 })).toBe(true);
  });
});

describe('backoff', () => {
  const b = { initial: 100, max: 30_000, factor: 2, jitter: 0.1, resetAfter: 10_000 };
  it('doubles from initial to max, without jitter at random 0.5', () => {
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(b, a, 0.5))).toEqual([100, 200, 400, 800, 1600]);
    expect(backoffDelay(b, 20, 0.5)).toBe(30_000);
  });
  it('jitters within ±10%', () => {
    expect(backoffDelay(b, 0, 0)).toBe(90);
    expect(backoffDelay(b, 0, 0.999999)).toBe(110);
  });
  it('grows across consecutive quick failures and resets after a long run', () => {
    const s = service('x');
    let history: RestartHistory = NO_HISTORY;
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const d = decideRestart({ service: s, exit: bad, uptime: 50, history, now: i * 1000, random: 0.5 });
      if (d.kind !== 'restart') throw new Error('expected restart');
      delays.push(d.delay);
      history = d.history;
    }
    expect(delays).toEqual([100, 200, 400, 800]);
    const afterLongRun = decideRestart({ service: s, exit: bad, uptime: 10_000, history, now: 10_000, random: 0.5 });
    expect(afterLongRun).toMatchObject({ kind: 'restart', delay: 100 });
  });
});

describe('restart limit', () => {
  const s = service('x', { restart: { ...service('x').restart, limit: { count: 3, window: 60_000 } } });
  it('gives up on the restart beyond count within the window', () => {
    let history: RestartHistory = NO_HISTORY;
    for (let i = 0; i < 3; i++) {
      const d = decideRestart({ service: s, exit: bad, uptime: 10, history, now: i * 1000, random: 0.5 });
      expect(d.kind).toBe('restart');
      if (d.kind === 'restart') history = d.history;
    }
    const last = decideRestart({ service: s, exit: bad, uptime: 10, history, now: 3000, random: 0.5 });
    expect(last).toEqual({ kind: 'give-up', reason: 'restarted 3 times within 1m' });
  });
  it('forgets restarts older than the window', () => {
    const history: RestartHistory = { attempt: 3, recent: [0, 1000, 2000] };
    const d = decideRestart({ service: s, exit: bad, uptime: 10, history, now: 62_001, random: 0.5 });
    expect(d.kind).toBe('restart');
  });
  it('never restarts a stay-down policy, limit or not', () => {
    const never = service('x', { restart: { ...s.restart, policy: 'never' } });
    expect(decideRestart({ service: never, exit: bad, uptime: 1, history: NO_HISTORY, now: 0, random: 0 })).toEqual({ kind: 'stay-down' });
  });
});
