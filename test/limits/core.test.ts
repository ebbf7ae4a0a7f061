// How the pure core classifies an exit under limits: an OOM kill is a SIGKILL tend did not
// send (the process layer marks `oom` when the memory cgroup's count rose), and tend's own
// memory check is a graceful stop that ends as a failure, restarted per policy.
import { describe, expect, it } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { classifyExit, initialCore, step, type CoreState, type Effect, type Seen } from '../../src/supervisor/core';
import type { Event } from '../../src/supervisor/events';
import { plan as flatPlan, service } from '../supervisor/fixtures';

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

function run(core: CoreState, events: Event[], now = 1000, owned: Record<string, number[]> = {}): { core: CoreState; effects: Effect[] } {
  let pid = 500;
  const effects: Effect[] = [];
  const queue = [...events];
  const seen: Seen = { now, random: () => 0.5, owned: (s) => owned[s] ?? [] };
  while (queue.length > 0) {
    const result = step(core, queue.shift()!, seen);
    core = result.core;
    effects.push(...result.effects);
    for (const effect of result.effects) if (effect.kind === 'spawn') queue.unshift({ kind: 'spawned', service: effect.service, pid: pid++ });
  }
  return { core, effects };
}

const logs = (effects: readonly Effect[]) => effects.flatMap((e) => (e.kind === 'log' ? [`${e.level} ${e.message}`] : []));
const SIGKILL = 9;

describe('classifyExit', () => {
  const kill = { kind: 'signaled', signal: SIGKILL, oom: true } as const;
  it('keeps oom on a SIGKILL tend did not send', () => {
    expect(classifyExit(kill, { tendKilled: false, overMemory: false })).toEqual(kill);
  });
  it('drops oom when tend sent the SIGKILL itself (stop_timeout, shutdown deadline, second TERM)', () => {
    expect(classifyExit(kill, { tendKilled: true, overMemory: false })).toEqual({ kind: 'signaled', signal: SIGKILL });
  });
  it('drops oom on anything but a SIGKILL: the count rose for another process', () => {
    expect(classifyExit({ kind: 'exited', code: 1, oom: true }, { tendKilled: false, overMemory: false })).toEqual({ kind: 'exited', code: 1 });
    expect(classifyExit({ kind: 'signaled', signal: 15, oom: true }, { tendKilled: false, overMemory: false })).toEqual({ kind: 'signaled', signal: 15 });
  });
  it('marks a run tend stopped above its memory limit, whatever it exited with; an OOM kill stays one', () => {
    expect(classifyExit({ kind: 'exited', code: 0 }, { tendKilled: false, overMemory: true })).toEqual({ kind: 'exited', code: 0, limit: 'memory' });
    expect(classifyExit(kill, { tendKilled: false, overMemory: true })).toEqual(kill);
  });
});

describe('step: limits', () => {
  const onFailure = (name: string) => service(name, { restart: { ...service(name).restart, policy: 'on-failure' }, limits: { memory: 32 << 20, cpu: null, pids: null, nofile: null, core: null } });

  it('an OOM kill is logged as one, counted, and restarted per policy', () => {
    let { core } = run(initialCore(graph([onFailure('hog')])), [{ kind: 'boot' }]);
    const result = run(core, [{ kind: 'exited', service: 'hog', pid: 500, status: { kind: 'signaled', signal: SIGKILL, oom: true } }], 2000);
    core = result.core;
    expect(logs(result.effects)).toContain("warn hog: killed by the kernel's OOM killer (SIGKILL)");
    const record = core.services.get('hog')!;
    expect(record.lastExit).toEqual({ kind: 'signaled', signal: SIGKILL, oom: true });
    expect(record.oomKills).toBe(1);
    expect(record.state.id).toBe('backoff');
  });

  it('a SIGKILL tend sent at stop_timeout is not an OOM kill, even with the count risen', () => {
    let { core } = run(initialCore(graph([onFailure('hog')])), [{ kind: 'boot' }]);
    core = run(core, [{ kind: 'stop', names: ['hog'] }], 2000, { hog: [500] }).core;
    core = run(core, [{ kind: 'timer', timer: 'grace', service: 'hog' }], 8000, { hog: [500] }).core;
    expect(core.services.get('hog')!.state).toMatchObject({ id: 'stopping', step: { id: 'killing' } });
    core = run(core, [{ kind: 'exited', service: 'hog', pid: 500, status: { kind: 'signaled', signal: SIGKILL, oom: true } }], 8001).core;
    expect(core.services.get('hog')!.lastExit).toEqual({ kind: 'signaled', signal: SIGKILL });
    expect(core.services.get('hog')!.oomKills).toBeUndefined();
  });

  it("tend's memory check: a graceful stop, then the policy restarts it even though it exited 0", () => {
    let { core } = run(initialCore(graph([onFailure('hog')])), [{ kind: 'boot' }]);
    const over = run(core, [{ kind: 'memory-exceeded', service: 'hog', bytes: 40 << 20, limit: 32 << 20 }], 2000, { hog: [500] });
    core = over.core;
    expect(logs(over.effects)).toContain('warn hog: its processes hold 40.0 MiB, above limits.memory 32.0 MiB (checked by tend: no memory controller); stopping and restarting per its policy');
    expect(over.effects.some((e) => e.kind === 'signal' && e.service === 'hog' && e.signal === 15)).toBe(true);
    expect(core.services.get('hog')!.state).toMatchObject({ id: 'stopping', intent: 'memory-limit' });
    // A second check during the stop changes nothing.
    expect(run(core, [{ kind: 'memory-exceeded', service: 'hog', bytes: 41 << 20, limit: 32 << 20 }], 2500, { hog: [500] }).effects).toEqual([]);
    core = run(core, [{ kind: 'exited', service: 'hog', pid: 500, status: { kind: 'exited', code: 0 } }], 2600).core;
    core = run(core, [{ kind: 'gone', service: 'hog' }], 2601).core;
    const record = core.services.get('hog')!;
    expect(record.lastExit).toEqual({ kind: 'exited', code: 0, limit: 'memory' });
    expect(record.state.id).toBe('backoff');
    expect(record.restarts).toBe(1);
  });

  it('a memory check for a service that is not up is ignored', () => {
    const core = initialCore(graph([onFailure('hog')]));
    expect(run(core, [{ kind: 'memory-exceeded', service: 'hog', bytes: 1, limit: 0 }]).effects).toEqual([]);
  });
});
