// A run's first moves, and its probes: pre_start (when it has one) before the spawn, the
// spawn itself, the health check once it is up, and stopping the probes when the run stops.
// Every concern that starts or ends a run makes these moves — the start (start.ts), a stop
// that cleared leftovers (stop.ts), a pre_start that passed (hooks.ts), readiness — so they
// sit beneath all of them and decide nothing about what comes next.
import type { Draft } from './draft';
import { startTimeout } from './types';

/** pre_start first, when it has one; else the spawn. */
export function begin(d: Draft, name: string): void {
  const plan = d.record(name)!.plan;
  if (plan.preStart == null) {
    spawn(d, name);
    return;
  }
  if (!d.enter(name, { id: 'preparing', since: d.now })) return;
  d.emit({ kind: 'spawn-hook', service: name, hook: 'pre_start', plan, env: {} });
  d.arm('hook', name, startTimeout(plan));
}

export function spawn(d: Draft, name: string): void {
  const record = d.record(name)!;
  if (!d.enter(name, { id: 'spawning', since: d.now, pid: null }, { startedAt: d.now, statusText: null })) return;
  d.emit({ kind: 'spawn', service: name, plan: record.plan });
}

export function startHealth(d: Draft, name: string, pid: number): void {
  const plan = d.record(name)!.plan;
  if (plan.healthcheck === null || plan.type === 'oneshot') return;
  d.update(name, { health: { status: 'starting', failures: 0 } });
  d.emit({ kind: 'probe-start', service: name, probe: 'health', pid, plan });
}

export function stopProbes(d: Draft, name: string): void {
  const record = d.record(name)!;
  if (record.state.id === 'starting') {
    d.cancel('ready', name);
    d.emit({ kind: 'probe-stop', service: name, probe: 'ready' });
  }
  if (record.health !== null) d.emit({ kind: 'probe-stop', service: name, probe: 'health' });
  if (record.state.id === 'ready' && record.plan.watchdog != null) d.cancel('watchdog', name);
}
