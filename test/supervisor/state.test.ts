import { describe, expect, it } from 'vitest';
import { TRANSITIONS, canTransition, type StateId } from '../../src/supervisor/state';

const ALL: StateId[] = ['stopped', 'starting', 'running', 'ready', 'stopping', 'backoff', 'exited', 'fatal', 'completed', 'failed'];

// The lifecycle table, both ways: what must be allowed, and what must be refused.
const ALLOWED: [StateId, StateId][] = [
  ['stopped', 'starting'],
  ['starting', 'running'],
  ['starting', 'ready'],
  ['running', 'ready'],
  ['ready', 'stopping'],
  ['running', 'backoff'],
  ['backoff', 'starting'],
  ['stopping', 'stopped'],
  ['stopping', 'starting'], // restart
  ['running', 'completed'],
  ['running', 'failed'],
  ['ready', 'fatal'],
  ['exited', 'starting'],
  ['fatal', 'starting'],
];

const REFUSED: [StateId, StateId][] = [
  ['stopped', 'running'],
  ['stopped', 'ready'],
  ['stopped', 'stopping'],
  ['backoff', 'running'],
  ['backoff', 'ready'],
  ['completed', 'running'],
  ['exited', 'ready'],
  ['ready', 'running'],
  ['ready', 'starting'],
  ['stopping', 'ready'],
  ['stopping', 'running'],
  ['fatal', 'running'],
];

describe('service state transitions', () => {
  it.each(ALLOWED)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });
  it.each(REFUSED)('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });
  it('names every state in the table', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...ALL].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const t of targets) expect(ALL).toContain(t);
  });
  it('never lets a service come up without passing through starting', () => {
    for (const from of ALL) {
      if (from === 'starting') continue;
      expect(canTransition(from, 'running')).toBe(false);
    }
  });
});
