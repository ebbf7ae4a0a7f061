// Dependency cycles, each reported once with its members in manifest order.

/**
 * Strongly connected components with more than one member, or a node depending on
 * itself (Tarjan). Each cycle starts at its member that comes first in `order`.
 */
export interface Cycle {
  /** A real loop, starting at its earliest member: a -> b means a depends on b. */
  readonly loop: readonly string[];
  /** Other members of the same tangle, not on that loop. */
  readonly others: readonly string[];
}

export function findCycles(order: readonly string[], edges: readonly (readonly [string, string])[]): Cycle[] {
  const next = new Map<string, string[]>(order.map((name) => [name, []]));
  for (const [from, to] of edges) next.get(from)?.push(to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: Cycle[] = [];
  let counter = 0;

  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      const selfLoop = component.length === 1 && next.get(node)!.includes(node);
      if (component.length > 1 || selfLoop) cycles.push(walkCycle(component, next, order));
    }
  };
  for (const name of order) if (!index.has(name)) visit(name);
  return cycles.sort((a, b) => order.indexOf(a.loop[0]!) - order.indexOf(b.loop[0]!));
}

/**
 * The shortest loop through the component's earliest member (so `a -> b -> a` names real
 * edges), followed by any other members of the component.
 */
function walkCycle(component: readonly string[], next: ReadonlyMap<string, readonly string[]>, order: readonly string[]): Cycle {
  const members = new Set(component);
  const start = [...component].sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!;
  const parent = new Map<string, string>();
  const queue = [start];
  let last: string | null = null;
  while (queue.length > 0 && last === null) {
    const node = queue.shift()!;
    for (const to of next.get(node) ?? []) {
      if (to === start) {
        last = node;
        break;
      }
      if (members.has(to) && !parent.has(to)) {
        parent.set(to, node);
        queue.push(to);
      }
    }
  }
  const loop: string[] = [];
  for (let node: string | undefined = last ?? start; node !== undefined && node !== start; node = parent.get(node)) loop.unshift(node);
  loop.unshift(start);
  const others = component.filter((member) => !loop.includes(member)).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return { loop, others };
}
