import { describe, expect, it } from 'vitest';
import { planOf, yaml } from '../config/manifest';
import { dependencyClosure, dependentsOf, startWaves, stopWaves } from '../../src/plan/index';

// top depends on left and right, which both depend on base; solo depends on nothing.
const diamond = yaml`
  services:
    top: { command: x, depends_on: [left, right] }
    left: { command: x, depends_on: [base] }
    solo: { command: x }
    right: { command: x, depends_on: { base: { condition: started } } }
    base: { command: x }
`;

describe('dependency graph', () => {
  it('starts a diamond in waves, manifest order inside a wave', async () => {
    const plan = await planOf(diamond);
    expect(plan.startWaves).toEqual([['solo', 'base'], ['left', 'right'], ['top']]);
  });

  it('stops in reverse: a service only after everything that depends on it', async () => {
    const plan = await planOf(diamond);
    expect(plan.stopWaves).toEqual([['top', 'solo'], ['left', 'right'], ['base']]);
  });

  it('gives transitive dependencies in start order', async () => {
    const plan = await planOf(diamond);
    expect(dependencyClosure(plan, 'top')).toEqual(['base', 'left', 'right']);
    expect(dependencyClosure(plan, 'base')).toEqual([]);
  });

  it('gives dependents in stop order, transitive or direct', async () => {
    const plan = await planOf(diamond);
    expect(dependentsOf(plan, 'base')).toEqual(['top', 'left', 'right']);
    expect(dependentsOf(plan, 'base', { direct: true })).toEqual(['left', 'right']);
    expect(dependentsOf(plan, 'solo')).toEqual([]);
  });

  it('computes waves for a chain and for independent services', () => {
    const chain = [
      { name: 'c', dependsOn: [{ name: 'b' }] },
      { name: 'b', dependsOn: [{ name: 'a' }] },
      { name: 'a', dependsOn: [] },
    ];
    expect(startWaves(chain)).toEqual([['a'], ['b'], ['c']]);
    expect(stopWaves(chain)).toEqual([['c'], ['b'], ['a']]);
    const flat = [{ name: 'x', dependsOn: [] }, { name: 'y', dependsOn: [] }];
    expect(startWaves(flat)).toEqual([['x', 'y']]);
    expect(stopWaves(flat)).toEqual([['x', 'y']]);
  });
});
