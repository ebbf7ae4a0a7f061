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
      // finding 12: the pid → service table got an entry per spawn in cgroup mode and was
      // never pruned there (16,934 → 24,385 entries in a churn run with ~22 processes alive).
      expect(knownCount(tracker)).toBe(0);
      tracker.close();
    });
  }
});

const knownCount = (tracker: ProcessTracker): number => (tracker as unknown as { known: Map<number, unknown> }).known.size;

describe('regression: finding 22 (proc-mode status cost)', () => {
  test('asking for 50 services\' processes at once scans /proc once, not once per service', async () => {
    const tracker = new ProcessTracker({ tracking: 'proc', reaper });
    const scanner = (tracker as unknown as { scanner: { scan: (...args: unknown[]) => unknown } }).scanner;
    const scan = scanner.scan.bind(scanner);
    let scans = 0;
    scanner.scan = (...args: unknown[]) => { scans++; return scan(...args); };
    const names = Array.from({ length: 50 }, (_, i) => `s${i}`);
    const children = names.map((name) => {
      const spawned = spawnProcess({
        service: name, argv: ['sleep', '30'], env: {}, cwd: null, user: null, group: null,
        stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
      }, { instance: tracker.instance, socket: null });
      tracker.noteSpawned(name, spawned.pid);
      return spawned;
    });
    try {
      scans = 0;
      const owned = names.map((name) => tracker.processesOf(name));
      expect(owned.map((pids, i) => pids.includes(children[i]!.pid))).toEqual(names.map(() => true));
      tracker.snapshot();
      expect(scans).toBe(1);
      // Code that runs later sees /proc afresh.
      await Promise.resolve();
      tracker.processesOf('s0');
      expect(scans).toBe(2);
    } finally {
      for (const child of children) process.kill(child.pid, 'SIGKILL');
      await Promise.all(children.map((child) => child.exit));
      tracker.close();
    }
  });
});
