// ProcScanner: repeated /proc scans that re-read only new processes, and never mistake a
// new process under a reused pid for the one it replaced.
import { describe, expect, test } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ProcScanner, scanProcs } from '../../src/process/proc';
import { procList } from '../../native/libc';
import { canUnshare, waitFor } from '../helpers/tend';
import { bundle } from './bundle';

describe('ProcScanner', () => {
  test('lists what a full scan lists, and reuses the entry of a process it has seen', async () => {
    expect(procList()).not.toBeNull(); // libtend.so is built by npm ci
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      const scanner = new ProcScanner();
      await waitFor(() => scanner.scan(() => true).find((e) => e.pid === child.pid)?.comm === 'sleep', { what: 'sleep exec' });
      const first = scanner.scan(() => false);
      const full = scanProcs();
      const second = scanner.scan(() => false);
      // Processes come and go around us (other tests); the long-lived ones agree.
      const pids = (entries: { pid: number }[]) => new Set(entries.map((e) => e.pid));
      for (const pid of [child.pid!, process.pid]) {
        expect(pids(first).has(pid) && pids(full).has(pid) && pids(second).has(pid)).toBe(true);
      }
      const cached = second.find((e) => e.pid === child.pid)!;
      expect(cached).toBe(first.find((e) => e.pid === child.pid)); // not read again
      expect(cached).toEqual(full.find((e) => e.pid === child.pid));
      // fresh: read again, same process.
      const reread = scanner.scan((e) => e.pid === child.pid).find((e) => e.pid === child.pid)!;
      expect(reread).not.toBe(cached);
      expect(reread.starttime).toBe(cached.starttime);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test.skipIf(!canUnshare())('a reused pid is a new process: the next scan reads it, not the cache', () => {
    const driver = bundle(join(__dirname, 'drivers', 'pid-reuse.ts'));
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, driver], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { pid: number; reused: boolean; before: { comm: string; starttime: number } | null; after: { comm: string; starttime: number } | null };
    expect(out.reused).toBe(true);
    expect(out.before?.comm).toBe('sleep');
    expect(out.after?.comm).toBe('cat');
  });
});
