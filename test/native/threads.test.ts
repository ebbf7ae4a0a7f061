// libtend's helper threads (native/thread.c): each is named, and blocks every signal from
// its first instruction — a signal sent to tend must reach the event loop or the intake,
// never a thread that sleeps in waitid, epoll_wait or recvmsg. Read from the kernel's view
// of each thread, /proc/PID/task/TID/{comm,status}.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTend, tempDir, TEND_LAUNCHER, waitFor, writeManifest, type RunningTend } from '../helpers/tend';

/**
 * Every signal but SIGKILL and SIGSTOP (the kernel never blocks them) and glibc's own 32 and
 * 33 (cancellation, setxid), which must stay deliverable.
 */
const ALL_BLOCKED = 'fffffffe7ffbfeff';
/**
 * The intake while it waits in sigwaitinfo: the kernel unblocks the set it waits for (every
 * signal tend takes) for the wait's length, and the rest stay blocked — SIGILL, SIGTRAP,
 * SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGCHLD and SIGSYS, which are never the intake's.
 */
const INTAKE_WAITING = '00000000400104f8';

let tend: RunningTend | null = null;
afterEach(async () => {
  if (tend === null) return;
  tend.child.kill('SIGTERM');
  await tend.exited;
  tend = null;
});

/** tend's threads by name: each one's blocked-signal mask. */
function threads(pid: number): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const blocked = /SigBlk:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!;
      byName.set(name, [...(byName.get(name) ?? []), blocked]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byName;
}

describe("libtend's threads", () => {
  it.skipIf(!existsSync(TEND_LAUNCHER))('are named and block every signal: the reaper, the signal intake, the syslog receiver', async () => {
    const dir = tempDir('tend-threads-');
    tend = startTend(['-c', writeManifest(dir, `
settings: { syslog: ${join(dir, 'log')} }
services:
  app:
    command: sleep 600
`)]);
    await tend.waitOutput('app: started');
    const pid = tend.child.pid!;
    const seen = await waitFor(() => {
      const now = threads(pid);
      return ['tend-reaper', 'tend-signals', 'tend-dgram'].every((name) => now.has(name)) ? now : null;
    }, { what: () => `libtend's threads among ${[...threads(pid).keys()].join(', ')}` });
    for (const name of ['tend-reaper', 'tend-dgram']) {
      expect({ name, masks: seen.get(name) }).toEqual({ name, masks: [ALL_BLOCKED] });
    }
    expect(seen.get('tend-signals')).toHaveLength(1);
    expect([ALL_BLOCKED, INTAKE_WAITING]).toContain(seen.get('tend-signals')![0]);
  });
});
