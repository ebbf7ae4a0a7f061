// The plan's dependency graph in the shapes the core looks things up by — start order,
// stop order, who depends on whom — computed once per Plan (a Plan is frozen, so the
// answer never goes stale). Starting (start.ts) and the ordered shutdown (shutdown.ts)
// both read it; it decides nothing.
import type { Plan } from '../../plan/types';


/** The plan's graph in the shapes the core looks things up by, computed once per Plan. */
interface Lookup {
  /** Position in start order (the plan's start waves, flattened). */
  readonly startIndex: ReadonlyMap<string, number>;
  /** The plan's start waves, flattened. */
  readonly startOrder: readonly string[];
  /** The plan's stop waves, flattened. */
  readonly stopOrder: readonly string[];
  /** Who depends on each service directly. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
}

const lookups = new WeakMap<Plan, Lookup>();

export function lookupOf(plan: Plan): Lookup {
  let lookup = lookups.get(plan);
  if (lookup === undefined) {
    const dependents = new Map<string, string[]>();
    for (const service of plan.services) {
      for (const dep of service.dependsOn) {
        const list = dependents.get(dep.name) ?? [];
        list.push(service.name);
        dependents.set(dep.name, list);
      }
    }
    const startOrder = plan.startWaves.flat();
    lookup = {
      startIndex: new Map(startOrder.map((name, index) => [name, index])),
      startOrder,
      stopOrder: plan.stopWaves.flat(),
      dependents,
    };
    lookups.set(plan, lookup);
  }
  return lookup;
}
