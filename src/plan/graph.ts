// The dependency graph as data the supervisor can act on: start waves (Kahn's
// algorithm, manifest order inside a wave), stop waves (the same on the reversed
// graph, so a service stops as soon as everything that depends on it has stopped),
// and the closures `tend start X` and `tend stop X` need. The config step has already
// rejected cycles and unknown names, so these are total.
import type { Plan } from './types';

interface Node {
  readonly name: string;
  readonly dependsOn: readonly { readonly name: string }[];
}

function waves(order: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const remaining = new Map(order.map((name) => [name, new Set(edges.get(name) ?? [])]));
  const result: string[][] = [];
  while (remaining.size > 0) {
    const wave = order.filter((name) => remaining.get(name)?.size === 0);
    if (wave.length === 0) throw new Error(`dependency cycle among ${[...remaining.keys()].join(', ')}`); // a bug: config rejects cycles
    for (const name of wave) remaining.delete(name);
    for (const pending of remaining.values()) for (const name of wave) pending.delete(name);
    result.push(wave);
  }
  return result;
}

/** Start waves: every service of a wave depends only on services of earlier waves. */
export function startWaves(services: readonly Node[]): string[][] {
  const order = services.map((s) => s.name);
  return waves(order, new Map(services.map((s) => [s.name, s.dependsOn.map((d) => d.name)])));
}

/** Stop waves: every service of a wave is depended on only by services of earlier waves. */
export function stopWaves(services: readonly Node[]): string[][] {
  const order = services.map((s) => s.name);
  const dependents = new Map<string, string[]>(order.map((name) => [name, []]));
  for (const service of services) for (const dep of service.dependsOn) dependents.get(dep.name)?.push(service.name);
  return waves(order, dependents);
}

// Per plan (a Plan is frozen), built once: the core asks for closures service by service,
// and rebuilding these per call made a boot of N services O(N²).
const positions = new WeakMap<Plan, Map<string, number>>();
const byNames = new WeakMap<Plan, Map<string, Plan['services'][number]>>();

function position(plan: Plan): Map<string, number> {
  let order = positions.get(plan);
  if (order === undefined) positions.set(plan, order = new Map(plan.startWaves.flat().map((name, index) => [name, index])));
  return order;
}

function servicesByName(plan: Plan): Map<string, Plan['services'][number]> {
  let byName = byNames.get(plan);
  if (byName === undefined) byNames.set(plan, byName = new Map(plan.services.map((s) => [s.name, s])));
  return byName;
}

/** Every service `name` depends on, transitively, in start order (without `name`). */
export function dependencyClosure(plan: Plan, name: string): string[] {
  const byName = servicesByName(plan);
  const found = new Set<string>();
  const pending = [name];
  while (pending.length > 0) {
    for (const dep of byName.get(pending.pop()!)?.dependsOn ?? []) {
      if (!found.has(dep.name)) {
        found.add(dep.name);
        pending.push(dep.name);
      }
    }
  }
  found.delete(name);
  if (found.size === 0) return [];
  const order = position(plan);
  return [...found].sort((a, b) => order.get(a)! - order.get(b)!);
}

/**
 * Every service that depends on `name`, transitively, in stop order (those to stop
 * first come first; without `name`). `direct: true` gives only the immediate ones.
 */
export function dependentsOf(plan: Plan, name: string, { direct = false }: { direct?: boolean } = {}): string[] {
  const found = new Set<string>();
  const pending = [name];
  while (pending.length > 0) {
    const target = pending.pop()!;
    for (const service of plan.services) {
      if (!found.has(service.name) && service.dependsOn.some((d) => d.name === target)) {
        found.add(service.name);
        if (!direct) pending.push(service.name);
      }
    }
  }
  found.delete(name);
  const stopOrder = new Map(plan.stopWaves.flat().map((n, index) => [n, index]));
  return [...found].sort((a, b) => stopOrder.get(a)! - stopOrder.get(b)!);
}
