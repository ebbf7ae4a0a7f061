// The transition function alone: `step(core, event, seen)` with hand-made states and
// events, checking the exact effects it asks for. No loop, no fake process layer.
import { describe, expect, it, vi } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { initialCore, step, type CoreState, type Effect, type Seen } from '../../src/supervisor/core';
import type { Event } from '../../src/supervisor/events';
import { SYSTEM_CLOCK } from '../../src/supervisor/port';
import { plan as flatPlan, service } from './fixtures';

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

const seen = (now: number, owned: Record<string, number[]> = {}): Seen => ({ now, random: () => 0.5, owned: (s) => owned[s] ?? [] });

/** Runs events through `step`, answering each spawn with the next pid, as the loop would. */
function run(core: CoreState, events: Event[], now = 1000): { core: CoreState; effects: Effect[] } {
  let pid = 500;
  const effects: Effect[] = [];
  const queue = [...events];
  while (queue.length > 0) {
    const result = step(core, queue.shift()!, seen(now));
    core = result.core;
    effects.push(...result.effects);
    for (const effect of result.effects) if (effect.kind === 'spawn') queue.unshift({ kind: 'spawned', service: effect.service, pid: pid++ });
  }
  return { core, effects };
}

const kinds = (effects: readonly Effect[]) => effects.map((e) => e.kind === 'log' ? `log ${e.level} ${e.message}` : `${e.kind}${'service' in e && e.service !== null ? ` ${e.service}` : ''}`);

describe('step(core, event, seen)', () => {
  const chain = graph([
    service('db'),
    service('app', { main: true, restart: { ...service('app').restart, policy: 'never' }, dependsOn: [{ name: 'db', condition: 'started' }] }),
    service('web', { dependsOn: [{ name: 'app', condition: 'started' }] }),
  ]);

  it('is pure: its input is left as it was, and the same input gives the same output', () => {
    const { core } = run(initialCore(chain), [{ kind: 'boot' }]);
    const snapshot = JSON.stringify([...core.services]);
    const event: Event = { kind: 'exited', service: 'web', pid: 502, status: { kind: 'exited', code: 1 } };
    const a = step(core, event, seen(2000));
    const b = step(core, event, seen(2000));
    expect(JSON.stringify([...core.services])).toBe(snapshot);
    expect(a.effects).toEqual(b.effects);
    expect(JSON.stringify([...a.core.services])).toBe(JSON.stringify([...b.core.services]));
    expect(a.core).not.toBe(core);
  });

  it('boots in dependency order: each spawn only once what it needs has started', () => {
    const { core, effects } = run(initialCore(chain), [{ kind: 'boot' }]);
    expect(effects.filter((e) => e.kind === 'spawn').map((e) => (e as { service: string }).service)).toEqual(['db', 'app', 'web']);
    expect([...core.services.values()].map((r) => r.state.id)).toEqual(['running', 'running', 'running']);
    expect(core.phase.id).toBe('running');
  });

  it('a crash: the exact effects — the log, the restart decision, the backoff timer; counters move after the table allowed it', () => {
    const { core } = run(initialCore(chain), [{ kind: 'boot' }]);
    const result = step(core, { kind: 'exited', service: 'web', pid: 502, status: { kind: 'exited', code: 1 } }, seen(2000));
    expect(result.effects).toEqual([
      { kind: 'log', level: 'warn', message: 'web: exited with 1' },
      { kind: 'log', level: 'info', message: 'web: restarting in 100ms (restart 1)' },
      { kind: 'arm', timer: 'backoff', service: 'web', ms: 100 },
    ]);
    expect(result.core.services.get('web')).toMatchObject({ state: { id: 'backoff', until: 2100, delay: 100 }, restarts: 1, lastExit: { kind: 'exited', code: 1 } });
    expect(result.changes).toEqual([{ type: 'state', service: 'web', from: 'running', to: 'backoff', pid: null, reason: null }]);
  });

  it('an exit of a pid that is not the run\'s own changes nothing', () => {
    const { core } = run(initialCore(chain), [{ kind: 'boot' }]);
    const result = step(core, { kind: 'exited', service: 'web', pid: 4242, status: { kind: 'exited', code: 1 } }, seen(2000));
    expect(result.effects).toEqual([]);
    expect(result.core.services.get('web')).toBe(core.services.get('web'));
  });

  it('a pid nobody waits for is killed, never left running unmanaged', () => {
    const { core } = run(initialCore(chain), [{ kind: 'boot' }]);
    expect(step(core, { kind: 'spawned', service: 'web', pid: 777 }, seen(2000)).effects).toEqual([{ kind: 'signal-pid', pid: 777, signal: 9 }]);
  });

  it('the shutdown is a plan of effects, wave by wave: web first; app once web is gone; db last; then the sweep', () => {
    let { core } = run(initialCore(chain), [{ kind: 'boot' }]);
    const next = (event: Event, owned: Record<string, number[]> = {}) => {
      const result = step(core, event, seen(3000, owned));
      core = result.core;
      return kinds(result.effects);
    };
    expect(next({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true }, { web: [502] })).toEqual([
      'log info shutdown begins (received SIGTERM)',
      'arm',
      'log info web: stopping (SIGTERM)',
      'signal web',
      'arm web',
      'watch-gone web',
    ]);
    expect(next({ kind: 'gone', service: 'web' })).toEqual(['cancel web', 'unwatch-gone web']);
    expect(core.services.get('web')!.state.id).toBe('stopping'); // its own exit not seen yet
    expect(next({ kind: 'exited', service: 'web', pid: 502, status: { kind: 'signaled', signal: 15 } })).toEqual([
      'log info web: killed by SIGTERM',
      'log info web: stopped after 0ms',
      'release web',
      'log info app: stopping (SIGTERM)',
      'signal app',
      'arm app',
      'watch-gone app',
    ]);
    next({ kind: 'gone', service: 'app' });
    expect(next({ kind: 'exited', service: 'app', pid: 501, status: { kind: 'signaled', signal: 15 } })).toContain('signal db');
    next({ kind: 'gone', service: 'db' });
    expect(next({ kind: 'exited', service: 'db', pid: 500, status: { kind: 'signaled', signal: 15 } })).toContain('sweep');
    expect(next({ kind: 'swept', signal: 15, pids: [] })).toEqual(['cancel', 'log info all services stopped in 0ms', 'finish']);
    expect(core.phase).toEqual({ id: 'done', code: 143 });
  });

  it('a request to start while shutting down is refused; a fact is still handled', () => {
    let { core } = run(initialCore(chain), [{ kind: 'boot' }]);
    core = step(core, { kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true }, seen(3000)).core;
    expect(step(core, { kind: 'start', names: ['db'] }, seen(3000)).reply).toEqual({ kind: 'refused', reason: 'shutting-down' });
    expect(step(core, { kind: 'restart', names: ['db'] }, seen(3000)).reply).toEqual({ kind: 'refused', reason: 'shutting-down' });
  });
});

describe('the system clock', () => {
  it('a timer longer than 2^31-1 ms waits its whole time (setTimeout alone would fire at once)', () => {
    vi.useFakeTimers();
    try {
      let fired = false;
      const ms = 999 * 3_600_000; // stop_timeout: 999h
      SYSTEM_CLOCK.setTimer(ms, () => { fired = true; });
      vi.advanceTimersByTime(2 ** 31);
      expect(fired).toBe(false);
      vi.advanceTimersByTime(ms - 2 ** 31 - 1);
      expect(fired).toBe(false);
      vi.advanceTimersByTime(1);
      expect(fired).toBe(true);
      const cancelled = SYSTEM_CLOCK.setTimer(2 ** 32, () => { throw new Error('cancelled timer fired'); });
      vi.advanceTimersByTime(2 ** 31);
      SYSTEM_CLOCK.clearTimer(cancelled);
      vi.advanceTimersByTime(2 ** 32);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('reload of a run on its way', () => {
  it('regression (reload lost on a service whose exec helper had not exec\'d yet): the run is restarted with the new definition', () => {
    const before = graph([service('app', { main: true }), service('a', { env: { X: '1' } })]);
    const after = graph([service('app', { main: true }), service('a', { env: { X: '2' } })]);
    // Boot, the exec helpers forked but neither has exec'd its command yet.
    let core = initialCore(before);
    let pid = 700;
    for (const event of [{ kind: 'boot' } as Event]) {
      const result = step(core, event, seen(1000));
      core = result.core;
      for (const effect of result.effects) {
        if (effect.kind === 'spawn') core = step(core, { kind: 'forked', service: effect.service, pid: pid++ }, seen(1000)).core;
      }
    }
    const spawning = core.services.get('a')!.state;
    expect(spawning.id).toBe('spawning');
    const aPid = (spawning as { pid: number }).pid;
    const { core: reloaded, effects } = step(core, { kind: 'reload', plan: after }, seen(1100));
    const a = reloaded.services.get('a')!;
    expect(a.state).toMatchObject({ id: 'stopping', intent: 'restart' });
    expect(a.plan.env).toMatchObject({ X: '2' });
    expect(effects.some((e) => (e.kind === 'signal-pid' && e.pid === aPid) || (e.kind !== 'signal-pid' && e.kind.startsWith('signal')))).toBe(true);
  });
});
