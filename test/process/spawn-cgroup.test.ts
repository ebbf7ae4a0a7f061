// A service is born in its cgroup v2 leaf: libtend starts it with clone3(CLONE_INTO_CGROUP),
// so the exec helper has no cgroup.procs to write (a move that waits for an RCU grace
// period). Where clone3 is refused — Docker's default seccomp profile answers ENOSYS — the
// spawn falls back, once for the process, to posix_spawn and the helper's join, and
// nothing else differs. Both paths for real: as PID 1 of a PID namespace, as a subreaper
// outside one, and under a real seccomp filter.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { canUnshare, readText, startTend, tempDir, waitFor, writeManifest } from '../helpers/tend';
import { findCgroupV2, ServiceCgroups } from '../../src/process/cgroup';
import { bundle } from './bundle';

const driver = bundle(join(__dirname, 'drivers', 'cgroup-birth.ts'));
const pid1 = canUnshare();
const cgroupV2 = findCgroupV2() !== null && ServiceCgroups.available();
if (!cgroupV2) console.warn('skipping cgroup birth tests: no writable cgroup v2 hierarchy here');

/** no-clone3 ERRNO COMMAND...: COMMAND under a seccomp filter failing clone3 (test/process/drivers/no-clone3.c). */
const noClone3 = ((): string | null => {
  const out = join(tempDir('tend-no-clone3-'), 'no-clone3');
  const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-o', out, join(__dirname, 'drivers', 'no-clone3.c')], { encoding: 'utf8' });
  const probe = cc.status === 0 ? spawnSync(out, ['38', 'true'], { encoding: 'utf8' }) : null;
  if (cc.status !== 0 || probe?.status !== 0) {
    console.warn(`skipping the seccomp fallback tests: ${cc.status !== 0 ? `cannot compile no-clone3.c (${cc.error?.message ?? cc.stderr.trim()})` : `seccomp filters cannot be installed here (${probe?.stderr.trim()})`}`);
    return null;
  }
  return out;
})();

interface Seen {
  services: { expected: string; cgroup: string; sid: number; pid: number; exit: unknown }[];
  failures: unknown[];
  noLeaf: { text: string; exit: unknown; pid: number };
  gone: string;
  raw: string | null;
  rawExpected: string;
  stats: { clone3: boolean; refusal: string | null; bornInLeaf: number; joinedLeaf: number; clone3Failures: number; direct: number; viaHelper: number; directUsable: boolean };
}

function run(prefix: readonly string[]): Seen {
  const argv = [...prefix, process.execPath, driver];
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Seen;
}

function expectInLeaves(seen: Seen): void {
  for (const service of seen.services) {
    expect(service.exit).toEqual({ kind: 'exited', code: 0 });
    expect(service.cgroup).toBe(service.expected);
    // The session was made before the spawn returned, as posix_spawn makes it.
    expect(service.sid).toBe(service.pid);
  }
  expect(seen.failures).toEqual([
    { kind: 'failed', code: 127, reason: 'command not found: nginxx' },
    { kind: 'failed', code: 126, reason: 'cannot change directory to /nonexistent/dir: no such file' },
    { kind: 'failed', code: 126, reason: 'unknown user: no-such-user-x' },
    { kind: 'failed', code: 126, reason: `cannot join cgroup ${seen.gone}: no such file` },
  ]);
  expect(seen.noLeaf.exit).toEqual({ kind: 'exited', code: 0 });
  expect(seen.noLeaf.text).toBe(`${seen.noLeaf.pid} ${seen.noLeaf.pid}\n`);
}

const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];

describe.skipIf(!cgroupV2)('spawn: born in the cgroup leaf', () => {
  it('as a subreaper: clone3 starts each service in its leaf; a program no helper joins is in its leaf too', () => {
    const seen = run([]);
    expectInLeaves(seen);
    // One exec (libtend's child does the helper's steps): the three services, the command
    // not found, the missing cwd, the one with no leaf; through the helper: the unknown
    // user (NSS) and the removed leaf (a join).
    expect(seen.stats).toEqual({ clone3: true, refusal: null, bornInLeaf: 7, joinedLeaf: 1, clone3Failures: 0, direct: 6, viaHelper: 2, directUsable: true });
    // Born in its leaf; every signal unblocked and none ignored (Node ignores SIGPIPE); its own session.
    expect(seen.raw).toBe(`${seen.rawExpected}\nsession: its own\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000`);
  });

  it.skipIf(!pid1)('as PID 1 of a PID namespace: the same', () => {
    const seen = run(UNSHARE);
    expectInLeaves(seen);
    // One exec (libtend's child does the helper's steps): the three services, the command
    // not found, the missing cwd, the one with no leaf; through the helper: the unknown
    // user (NSS) and the removed leaf (a join).
    expect(seen.stats).toEqual({ clone3: true, refusal: null, bornInLeaf: 7, joinedLeaf: 1, clone3Failures: 0, direct: 6, viaHelper: 2, directUsable: true });
    expect(seen.raw).toBe(`${seen.rawExpected}\nsession: its own\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000`);
  });

  it.skipIf(noClone3 === null)('clone3 refused by seccomp (ENOSYS, as Docker does): tried once, then posix_spawn and the join; nothing else differs', () => {
    const seen = run([noClone3!, '38']);
    expectInLeaves(seen);
    // No clone3 at all: every start with a leaf goes through the helper, as before; the
    // one without a leaf is started by clone, one exec.
    expect(seen.stats).toEqual({ clone3: false, refusal: 'ENOSYS', bornInLeaf: 0, joinedLeaf: 7, clone3Failures: 1, direct: 1, viaHelper: 7, directUsable: true });
    const inPid1 = run([noClone3!, '38', ...UNSHARE]);
    expectInLeaves(inPid1);
    expect(inPid1.stats.joinedLeaf).toBe(7);
    expect(inPid1.stats.direct).toBe(1);
  });

  describe.skipIf(!pid1)('tend end to end', () => {
    const manifest = `
services:
  first:
    command: ["sh", "-c", "cat /proc/self/cgroup > $DIR/seen; exec sleep 1000"]
`;
    const cases: [string, string | undefined | null][] = [['clone3', undefined], ['seccomp refusing clone3', noClone3 === null ? null : `exec ${noClone3} 38 "$@"`]];
    for (const [title, prelude] of cases) {
      it.skipIf(prelude === null)(`a service's first action sees its leaf (${title})`, async () => {
        const dir = tempDir();
        const file = writeManifest(dir, manifest);
        const tend = startTend(['run', '-c', file], { pid1: true, env: { DIR: dir, TEND_SOCKET: join(dir, 'tend.sock') }, ...(prelude != null ? { prelude } : {}) });
        try {
          await waitFor(() => readText(join(dir, 'seen')).includes('0::'), { what: () => `first to start\n${tend.stderr}` });
          expect(readText(join(dir, 'seen'))).toMatch(/^0::\/(.*\/)?tend-1(-[^/]+)?\/first$/m);
        } finally {
          tend.child.kill('SIGKILL');
        }
      });
    }
  });
});
