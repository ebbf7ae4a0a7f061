// A reload applied: the running Plan becomes the new one (diffed in ../reload.ts) — removed
// services stop and are forgotten, changed ones restart with their new definition, added
// ones start, main and what only a new start of tend can change stay as they run.
import type { Plan, ServicePlan } from '../../plan/types';
import { startWaves, stopWaves } from '../../plan/graph';
import { isUp } from '../state';
import { NO_HISTORY } from '../restart';
import { diffPlans } from '../reload';
import { freshRecord, type Draft } from './draft';
import { arrangeSchedule, dropSchedule } from './job-record';
import { queue } from './start';
import { stop } from './stop';
import type { ServiceRecord } from './types';

/** Applies an already validated Plan (README, "Reload"). */
export function reload(d: Draft, next: Plan, envChanged: readonly string[]): void {
  const diff = diffPlans(d.plan, next, envChanged);
  const mainName = d.plan.main;
  const pending = [...diff.pending];
  // A second main cannot join a running container: an added service marked main runs
  // as a sidecar until the next start, and the change is reported as pending.
  const incoming = next.services.map((service) => {
    if (!service.main || mainName === null || !diff.added.includes(service.name)) return service;
    pending.push(`services.${service.name}.main (the container already has main ${mainName})`);
    return { ...service, main: false };
  });
  const byName = new Map(incoming.map((s) => [s.name, s]));
  // Keep manifest order for the new plan, but main and its pending changes stay as they run.
  const kept: ServicePlan[] = [];
  for (const service of incoming) {
    const running = d.record(service.name);
    if (running !== undefined && !running.removed && (running.plan.main || service.main) && !diff.added.includes(service.name)) kept.push(running.plan);
    else kept.push(service);
  }
  if (mainName !== null && !byName.has(mainName)) kept.push(d.record(mainName)!.plan);
  // The graph is the plan's: recomputed for the services that now make it up.
  d.plan = {
    ...next, main: mainName, services: kept, startWaves: startWaves(kept), stopWaves: stopWaves(kept),
    settings: { ...d.plan.settings, logLevel: next.settings.logLevel },
  };

  for (const name of diff.removed) {
    dropSchedule(d, name);
    d.update(name, { removed: true });
    stop(d, name, 'shutdown');
  }
  for (const name of diff.changed) {
    const service = byName.get(name)!;
    const record = d.update(name, { plan: service });
    dropSchedule(d, name);
    if (service.schedule !== null && service.autostart) arrangeSchedule(d, service);
    if (record.state.id === 'stopped' && record.state.byHand) continue;
    // A run on its way with the old definition — its pre_start running, or its exec helper
    // not yet past exec — is restarted like one that is up; a reload must not leave it be.
    const state = record.state;
    if (isUp(state) || state.id === 'preparing' || (state.id === 'spawning' && state.pid !== null)) stop(d, name, 'restart');
    else if (service.autostart && service.schedule === null) {
      // Exited, fatal or backing off: the new definition gets a fresh start (the usual
      // reason to reload is to fix the service that kept failing).
      d.update(name, { history: NO_HISTORY });
      queue(d, name);
    }
  }
  for (const name of diff.added) {
    const service = byName.get(name)!;
    const retiring = d.record(name);
    if (retiring !== undefined) {
      // Removed by an earlier reload and still stopping: the new definition takes the
      // record over, and starts once that stop is done — never two of one name at once.
      d.update(name, { plan: service, removed: false, history: NO_HISTORY });
      const state = retiring.state;
      if (state.id === 'stopping' && service.autostart && service.schedule === null) d.enter(name, { ...state, intent: 'restart' });
      else if (state.id === 'stopping' && service.autostart && service.schedule !== null) arrangeSchedule(d, service);
      else if (state.id !== 'stopping') startAdded(d, service);
      continue;
    }
    d.services.set(name, freshRecord(service));
    startAdded(d, service);
  }
  // Records in manifest order; those still stopping after their removal at the end.
  const ordered = new Map<string, ServiceRecord>();
  for (const service of kept) ordered.set(service.name, d.services.get(service.name)!);
  for (const [name, record] of d.services) if (!ordered.has(name)) ordered.set(name, record);
  d.services.clear();
  for (const [name, record] of ordered) d.services.set(name, record);
  d.reply = { kind: 'reloaded', diff: { ...diff, pending } };
}

function startAdded(d: Draft, service: ServicePlan): void {
  if (!service.autostart) return;
  if (service.schedule !== null) arrangeSchedule(d, service);
  else queue(d, service.name);
}
