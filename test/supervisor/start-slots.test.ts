// The start scheduler's cap (core/start.ts launchQueued): at most `startSlots` services
// mid-start (`spawning`: asked for, their exec helper not exec'd yet) at once; the rest
// wait in `queued`, in start order, and what their dependencies call for happens while
// they wait. Pure: `step` alone, the loop's answers played by hand.
import { describe, expect, it } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { initialCore, step, type CoreState, type Effect, type Seen, type Tally } from '../../src/supervisor/core';
import type { Event } from '../../src/supervisor/events';
import { plan as flatPlan, service } from './fixtures';

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

const seen: Seen = { now: 1000, random: () => 0.5, owned: () => [] };

/** What the tally must say: counted over every record. */
function recount(core: CoreState): Tally {
  let queued = 0, waiting = 0, spawning = 0, down = 0;
  for (const record of core.services.values()) {
    const id = record.state.id;
    if (id === 'queued') {
      queued += 1;
      if (record.plan.dependsOn.length > 0) waiting += 1;
    } else if (id === 'spawning') spawning += 1;
    else if (id === 'exited' || id === 'fatal' || id === 'failed') down += 1;
  }
  return { queued, waiting, spawning, down };
}

const spawning = (core: CoreState) => [...core.services].filter(([, r]) => r.state.id === 'spawning').map(([name]) => name);

/**
 * Plays the loop: each spawn is answered with `forked` at once; `spawned` (the exec) comes
 * later, oldest first, one per turn. Checks the cap and the tally after every step.
 */
function start(core: CoreState, slots: number): { core: CoreState; spawns: string[]; most: number } {
  const spawns: string[] = [];
  const execs: Event[] = [];
  const immediate: Event[] = [{ kind: 'boot' }];
  let pid = 100;
  let most = 0;
  for (;;) {
    const event = immediate.shift() ?? execs.shift();
    if (event === undefined) break;
    const result = step(core, event, seen);
    core = result.core;
    expect(core.tally).toEqual(recount(core));
    most = Math.max(most, spawning(core).length);
    expect(spawning(core).length).toBeLessThanOrEqual(slots);
    for (const effect of result.effects) {
      if (effect.kind !== 'spawn') continue;
      spawns.push(effect.service);
      const p = pid++;
      immediate.push({ kind: 'forked', service: effect.service, pid: p });
      execs.push({ kind: 'spawned', service: effect.service, pid: p });
    }
  }
  return { core, spawns, most };
}

describe('the start scheduler caps the services mid-start', () => {
  const many = graph(Array.from({ length: 40 }, (_, i) => service(`s${i}`)));

  it('never more than startSlots spawning at once; all start, in start order; the start phase ends after the last', () => {
    const { core, spawns, most } = start(initialCore(many, 3), 3);
    expect(most).toBe(3);
    expect(spawns).toEqual(many.startWaves.flat());
    expect([...core.services.values()].every((r) => r.state.id === 'running')).toBe(true);
    expect(core.phase.id).toBe('running');
  });

  it('boot asks for startSlots spawns, no more; a fork does not free a slot, the exec does', () => {
    let core = initialCore(many, 2);
    let result = step(core, { kind: 'boot' }, seen);
    expect(result.effects.filter((e) => e.kind === 'spawn').map((e) => (e as { service: string }).service)).toEqual(['s0', 's1']);
    core = result.core;
    result = step(core, { kind: 'forked', service: 's0', pid: 10 }, seen);
    expect(result.effects.filter((e) => e.kind === 'spawn')).toEqual([]);
    core = result.core;
    result = step(core, { kind: 'spawned', service: 's0', pid: 10 }, seen);
    expect(result.effects.filter((e) => e.kind === 'spawn').map((e) => (e as { service: string }).service)).toEqual(['s2']);
    expect(result.core.services.get('s0')?.state.id).toBe('running');
  });

  it('a spawn that fails frees its slot', () => {
    let core = step(initialCore(many, 1), { kind: 'boot' }, seen).core;
    const result = step(core, { kind: 'spawn-failed', service: 's0', status: { kind: 'failed', code: 127, reason: 'command not found: x' } }, seen);
    core = result.core;
    expect(result.effects.filter((e) => e.kind === 'spawn').map((e) => (e as { service: string }).service)).toEqual(['s1']);
    expect(core.tally).toEqual(recount(core));
  });

  it('without a cap (Infinity, the core\'s default) every service whose dependencies are met spawns at once', () => {
    const result = step(initialCore(many), { kind: 'boot' }, seen);
    expect(result.effects.filter((e) => e.kind === 'spawn')).toHaveLength(40);
  });

  it('dependency order is kept: a service waits for its dependency, then for a slot', () => {
    const chain = graph([
      service('a'), service('db'),
      service('app', { dependsOn: [{ name: 'db', condition: 'started' }] }),
      service('web', { dependsOn: [{ name: 'app', condition: 'started' }] }),
    ]);
    const { spawns, core } = start(initialCore(chain, 1), 1);
    expect(spawns).toEqual(['a', 'db', 'app', 'web']);
    expect(core.phase.id).toBe('running');
  });

  it('what a dependency calls for is not held up by the cap: one that can never be met is given up on at once', () => {
    const chain = graph([
      service('a'), service('db'),
      service('app', { dependsOn: [{ name: 'db', condition: 'started' }] }),
    ]);
    // a takes the only slot; db and app wait.
    let core = step(initialCore(chain, 1), { kind: 'boot' }, seen).core;
    expect(spawning(core)).toEqual(['a']);
    // db stopped by hand while a still holds the slot: app can never start, and says so now.
    const result = step(core, { kind: 'stop', names: ['db'] }, seen);
    core = result.core;
    expect(core.services.get('a')?.state.id).toBe('spawning');
    expect(core.services.get('app')?.state.id).toBe('stopped');
    expect(result.effects).toContainEqual<Effect>({ kind: 'log', level: 'error', message: expect.stringContaining('app needs db started, but db was stopped by hand') as unknown as string });
    expect(core.tally).toEqual(recount(core));
  });

  it('restarts wait for a slot too, and the tally stays true through crashes and a reload', () => {
    let { core } = start(initialCore(many, 2), 2);
    // Every service crashes: all go to backoff, then queued, and restart two at a time.
    for (let i = 0; i < 40; i++) core = step(core, { kind: 'exited', service: `s${i}`, pid: 100 + i, status: { kind: 'exited', code: 1 } }, seen).core;
    expect(core.tally).toEqual(recount(core));
    expect(core.tally.down).toBe(0);
    const fired: Effect[] = [];
    for (let i = 0; i < 40; i++) {
      const result = step(core, { kind: 'timer', timer: 'backoff', service: `s${i}` }, seen);
      core = result.core;
      fired.push(...result.effects);
      expect(core.tally).toEqual(recount(core));
    }
    expect(spawning(core)).toEqual(['s0', 's1']);
    expect(core.tally.queued).toBe(38);
    // A reload that removes half of them and adds a new one, mid-restart.
    const next = graph([...many.services.slice(0, 20), service('extra')]);
    const result = step(core, { kind: 'reload', plan: next }, seen);
    core = result.core;
    expect(core.tally).toEqual(recount(core));
    expect(spawning(core).length).toBeLessThanOrEqual(2);
  });
});
