import { describe, expect, test } from 'vitest';
import { createServer, connect, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers/tend';
import {
  exitedCode, getpgid, getsid, peerCredentials, prctlGetChildSubreaper, prctlSetChildSubreaper,
  signaledSignal, waitpidNoHang, ErrnoError,
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

  test('subreaper: an orphan comes back to us and waitpidNoHang decodes its status', async () => {
    prctlSetChildSubreaper();
    expect(prctlGetChildSubreaper()).toBe(true);
    // The subshell outlives its parent, re-parents to us, and exits 7 / is killed.
    const out = spawnSync('sh', ['-c', '(sleep 0.1; exit 7) & echo $!; sh -c "sleep 0.1; kill -9 \\$\\$" & echo $!'], { encoding: 'utf8' });
    const [a, b] = out.stdout.trim().split('\n').map(Number);
    const first = await waitFor(() => waitpidNoHang(a!), { what: `orphan ${a} to end` });
    expect(exitedCode(first.status)).toBe(7);
    expect(signaledSignal(first.status)).toBeNull();
    const second = await waitFor(() => waitpidNoHang(b!), { what: `orphan ${b} to end` });
    expect(signaledSignal(second.status)).toBe(9);
    expect(exitedCode(second.status)).toBeNull();
    expect(waitpidNoHang(a!)).toBeNull(); // ECHILD: already reaped
  });
});
