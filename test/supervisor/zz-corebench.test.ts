import { it } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { initialCore, step, type CoreState, type Seen } from '../../src/supervisor/core';
import type { Event } from '../../src/supervisor/events';
import { plan as flatPlan, service } from './fixtures';
function graph(services: ServicePlan[]): Plan { return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) }; }
const seen: Seen = { now: 1000, random: () => 0.5, owned: () => [] };
function start(slots: number): { ms: number; steps: number } {
  const p = graph(Array.from({ length: 1000 }, (_, i) => service(`s${i}`)));
  let core: CoreState = initialCore(p, slots);
  const t0 = performance.now();
  let pid = 100; let steps = 0;
  const inflight: Event[] = [];
  const queue: Event[] = [{ kind: 'boot' }];
  for (;;) {
    const e = queue.shift() ?? inflight.shift();
    if (e === undefined) break;
    const r = step(core, e, seen); steps++;
    core = r.core;
    for (const ef of r.effects) if (ef.kind === 'spawn') { const p2 = pid++; queue.push({ kind: 'forked', service: ef.service, pid: p2 }); inflight.push({ kind: 'spawned', service: ef.service, pid: p2 }); }
  }
  if (core.phase.id !== 'running') throw new Error(core.phase.id);
  return { ms: performance.now() - t0, steps };
}
it('bench', () => {
  for (const s of [Infinity, 8, Infinity, 8]) console.log(s, JSON.stringify(start(s)));
});
