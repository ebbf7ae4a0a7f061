import { describe, expect, test } from 'vitest';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers/tend';
import { startReaper } from '../../src/process/reaper';
import { spawnProcess } from '../../src/process/spawn';
import {
  exitedCode, getpgid, getsid, peerCredentials, prctlGetChildSubreaper, prctlSetChildSubreaper,
  signaledSignal, signalChild, ErrnoError, coreDumped,
} from '../../native/libc';

describe('native/libc', () => {
  test('peerCredentials reads pid, uid and gid of the connecting process', async () => {
    const path = join(tempDir(), 's.sock');
    const seen = new Promise<{ pid: number; uid: number; gid: number }>((resolve) => {
      const server = createServer((socket: Socket) => {
        const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
        resolve(peerCredentials(fd));
        socket.destroy();
        server.close();
      }).listen(path, () => { connect(path).on('error', () => {}); });
    });
    const cred = await seen;
    expect(cred).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  });

  test('peerCredentials on a non-socket fd throws an ErrnoError naming the errno', () => {
    expect(() => peerCredentials(0x7fff)).toThrow(ErrnoError);
    expect(() => peerCredentials(0x7fff)).toThrow(/EBADF/);
  });

  test('getpgid and getsid of this process and of a pid that does not exist', () => {
    expect(getpgid(0)).toBe(getpgid(process.pid));
    expect(getsid(0)).toBe(getsid(process.pid));
    expect(getpgid(0x3ffffff)).toBeNull();
  });

  test('subreaper: an orphan comes back to us and the reaper thread reaps it; exits of our own children are exact', async () => {
    prctlSetChildSubreaper();
    expect(prctlGetChildSubreaper()).toBe(true);
    const reaper = startReaper();
    const orphans: number[] = [];
    const unsubscribe = reaper.onReap((pass) => orphans.push(...pass.orphans));
    const before = reaper.reaped;
    // The subshells outlive their parent, re-parent to us, and exit 7 / are killed.
    const parent = spawnProcess({
      service: 'x', argv: ['sh', '-c', '(sleep 0.1; exit 7) & echo $!; sh -c "sleep 0.1; kill -9 \\$\\$" & echo $!'], env: {}, cwd: null,
      user: null, group: null, stdin: 'null', output: 'pipe', notifyFd: null, cgroup: null, session: 'new',
    }, { instance: 'x', socket: null });
    let out = '';
    parent.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    expect(await parent.exit).toEqual({ kind: 'exited', code: 0 });
    await waitFor(() => out.split('\n').length >= 3, { what: 'both orphan pids printed' });
    const [a, b] = out.trim().split('\n').map(Number);
    await waitFor(() => orphans.includes(a!) && orphans.includes(b!), { what: `orphans ${a} and ${b} reaped` });
    expect(reaper.reaped - before).toBeGreaterThanOrEqual(2);
    expect(reaper.watching(parent.pid)).toBe(false);
    unsubscribe();
  });

  test('signalChild reaches a running child and refuses one already reaped', async () => {
    const child = spawnProcess({
      service: 'x', argv: ['sleep', '30'], env: {}, cwd: null, user: null, group: null,
      stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
    }, { instance: 'x', socket: null });
    expect(signalChild(child.pid, 15)).toBe(0);
    expect(await child.exit).toEqual({ kind: 'signaled', signal: 15 });
    expect(signalChild(child.pid, 15)).toBe(3); // ESRCH: reaped, never a reused pid
    expect(exitedCode(7 << 8)).toBe(7);
    expect(signaledSignal(9)).toBe(9);
    // WCOREDUMP: SIGSEGV with the core bit; never for an exit code that has 0x80 in it
    expect([coreDumped(11 | 0x80), coreDumped(11), coreDumped(0x80 << 8)]).toEqual([true, false, false]);
  });
});
