// ServiceCgroups.readAll: every leaf's cgroup.procs in one native call, against the
// kernel's own listing of each leaf — leaves read before and not, one emptied, one removed
// behind tend's back.
import { afterAll, describe, expect, test } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceCgroups } from '../../src/process/cgroup';
import { waitFor } from '../helpers/tend';

const available = ServiceCgroups.available();
if (!available) console.warn('skipping ServiceCgroups.readAll tests: no writable cgroup v2 here');

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** A `sleep` moved into `leaf` (as the exec helper moves a service's process). */
function sleeperIn(leaf: string): number {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(child);
  writeFileSync(join(leaf, 'cgroup.procs'), String(child.pid));
  return child.pid!;
}

const listed = (leaf: string): number[] => readFileSync(join(leaf, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number).sort((a, b) => a - b);
const sorted = (pids: readonly number[] | undefined): number[] => [...(pids ?? [])].sort((a, b) => a - b);

describe.skipIf(!available)('ServiceCgroups.readAll', () => {
  test('lists every leaf as the kernel does, through leaves emptied and removed behind its back', async () => {
    const cgroups = ServiceCgroups.create(`readall${process.pid}`)!;
    try {
      const names = Array.from({ length: 40 }, (_, i) => `svc${i}`);
      const expected = new Map<string, number[]>();
      for (const [i, name] of names.entries()) {
        const leaf = cgroups.leaf(name);
        const pids = Array.from({ length: i % 4 }, () => sleeperIn(leaf)); // 0 to 3 processes
        expected.set(name, pids.sort((a, b) => a - b));
      }
      // Half the leaves already open (procs() read them once), half not yet.
      for (const name of names.slice(0, 20)) cgroups.procs(name);

      const all = cgroups.readAll();
      expect([...all.keys()].sort()).toEqual([...names].sort());
      for (const name of names) {
        expect(sorted(all.get(name)), name).toEqual(expected.get(name));
        expect(sorted(all.get(name)), name).toEqual(listed(join(cgroups.root, name)));
      }

      // svc3's processes end; then its leaf is removed by someone else while tend holds it open.
      const gone = expected.get('svc3')!;
      for (const pid of gone) process.kill(pid, 'SIGKILL');
      await waitFor(() => cgroups.readAll().get('svc3')?.length === 0, { what: 'svc3 emptied' });
      rmdirSync(join(cgroups.root, 'svc3'));
      const after = cgroups.readAll();
      expect(after.get('svc3')).toEqual([]);
      for (const name of names.filter((n) => n !== 'svc3')) expect(sorted(after.get(name)), name).toEqual(expected.get(name));

      // Made again: its new processes are listed.
      const again = sleeperIn(cgroups.leaf('svc3'));
      expect(cgroups.readAll().get('svc3')).toEqual([again]);

      // A removed leaf is no longer listed.
      process.kill(again, 'SIGKILL');
      await waitFor(() => cgroups.remove('svc3'), { what: 'svc3 removed' });
      expect(cgroups.readAll().has('svc3')).toBe(false);
    } finally {
      for (const child of children) child.kill('SIGKILL');
      await waitFor(() => cgroups.removeAll(), { what: 'leaves removed' });
    }
  });
});
