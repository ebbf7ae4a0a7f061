// Regression (tracker-roots-grow-per-restart), found by the soak: the tracker recorded
// every process tend started for a service as a "root" and never forgot one while the
// service kept restarting. A crash-looping service added a root per run; in cgroup mode
// processesOf() then read /proc once per dead root on every call (every status request,
// every supervisor check), so status slowed down as restarts piled up, and the table grew
// without bound. Roots that are gone are now forgotten.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startReaper, type Reaper } from '../../src/process/reaper';
import { ProcessTracker } from '../../src/process/tracking';
import { killLeftovers } from '../helpers/children';
import { ServiceCgroups } from '../../src/process/cgroup';
import { spawnProcess, type SpawnSpec } from '../../src/process/spawn';

let reaper: Reaper;
beforeAll(() => { reaper = startReaper(); });
afterAll(async () => {
  await killLeftovers(new ProcessTracker({ tracking: 'proc', reaper }));
});

const modes: Array<'proc' | 'cgroup'> = ['proc', ...(ServiceCgroups.available() ? ['cgroup' as const] : [])];
if (modes.length === 1) console.warn('tracker-roots: cgroup mode skipped: no writable cgroup v2 here');

const rootCount = (tracker: ProcessTracker, service: string): number =>
  (tracker as unknown as { roots: Map<string, Map<number, number>> }).roots.get(service)?.size ?? 0;

describe('regression: tracker-roots-grow-per-restart', () => {
  for (const mode of modes) {
    test(`${mode}: 40 runs of a crash-looping service leave no dead roots behind`, async () => {
      const tracker = new ProcessTracker({ tracking: mode, reaper });
      for (let run = 0; run < 40; run++) {
        const spec: SpawnSpec = {
          service: 'crashy', argv: ['sh', '-c', 'sleep 0.01; exit 1'], env: {}, cwd: null, user: null, group: null,
          stdin: 'null', output: 'null', notifyFd: null, cgroup: tracker.leafFor('crashy'), session: 'new',
        };
        const spawned = spawnProcess(spec, { instance: tracker.instance, socket: null });
        tracker.noteSpawned('crashy', spawned.pid);
        expect(await spawned.exit).toEqual({ kind: 'exited', code: 1 });
        expect(tracker.processesOf('crashy')).toEqual([]);
      }
      expect(rootCount(tracker, 'crashy')).toBe(0);
      tracker.close();
    });
  }
});
