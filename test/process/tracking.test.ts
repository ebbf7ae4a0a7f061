// Escaped descendants: a service whose daemons setsid and outlive it, with cgroup
// tracking and with /proc tracking, run in-process with the real reaper as subreaper.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from '../helpers/tend';
import { startReaper, type Reaper } from '../../src/process/reaper';
import { directChildren, killLeftovers } from '../helpers/children';
import { ProcessTracker } from '../../src/process/tracking';
import { ServiceCgroups } from '../../src/process/cgroup';
import { readProc } from '../../src/process/proc';
import { spawnProcess, type SpawnSpec } from '../../src/process/spawn';

const SIGTERM = 15;
const SIGSTOP = 19;
const SIGCONT = 18;

let reaper: Reaper;
beforeAll(() => { reaper = startReaper(); });
afterAll(async () => {
  // Whatever a failed test left behind must not outlive this worker.
  await killLeftovers(new ProcessTracker({ tracking: 'proc', reaper }));
});

function service(tracker: ProcessTracker, name: string, script: string) {
  const spec: SpawnSpec = {
    service: name, argv: ['sh', '-c', script], env: {}, cwd: null, user: null, group: null,
    stdin: 'null', output: 'null', notifyFd: null, cgroup: tracker.leafFor(name), session: 'new',
  };
  const spawned = spawnProcess(spec, { instance: tracker.instance, socket: null });
  tracker.noteSpawned(name, spawned.pid);
  return spawned;
}

const daemons = (n: number, body = 'exec sleep 300') =>
  `for i in $(seq ${n}); do (setsid sh -c '${body}' &); done; exit 0`;

/** Resolves once the service (null: every descendant) owns no live process. */
const gone = (tracker: ProcessTracker, name: string | null, rekill = false) =>
  new Promise<void>((resolve) => { tracker.watchGone(name, rekill, resolve); });

const zombiesOfOurs = () => directChildren().filter((pid) => readProc(pid)?.state === 'Z');

const modes: Array<'proc' | 'cgroup'> = ['proc', ...(ServiceCgroups.available() ? ['cgroup' as const] : [])];
if (modes.length === 1) console.warn('skipping cgroup tracking tests: no writable cgroup v2 here');

for (const mode of modes) {
  describe(`tracking: ${mode}`, () => {
    test('10 daemons that setsid and outlive their service: signalService reaches all, a SIGSTOPped one still stops after SIGCONT', async () => {
      const tracker = new ProcessTracker({ tracking: mode, reaper });
      expect(tracker.mode).toBe(mode);
      const main = service(tracker, 'svc', daemons(10));
      expect(await main.exit).toEqual({ kind: 'exited', code: 0 });
      const pids: number[] = await waitFor(() => { const p = tracker.processesOf('svc'); return p.length === 10 && p.every((pid) => readProc(pid)?.comm === 'sleep') ? p : null; }, { what: '10 daemons' });
      for (const pid of pids) {
        const entry = readProc(pid)!;
        expect(entry.sid).toBe(pid); // each escaped into a session of its own
        expect(entry.ppid).toBe(process.pid); // re-parented to us, the subreaper
      }
      expect(tracker.snapshot().services.svc).toEqual([...pids].sort((a, b) => a - b));
      expect(tracker.orphans().map((pid) => readProc(pid))).toEqual([]);

      expect(tracker.signalService('svc', SIGSTOP).sort()).toEqual([...pids].sort());
      await waitFor(() => pids.every((pid) => readProc(pid)?.state === 'T'), { what: 'all stopped' });

      const started = Date.now();
      expect(tracker.signalService('svc', SIGTERM).sort()).toEqual([...pids].sort());
      for (const pid of pids) expect(tracker.signalPid(pid, SIGCONT)).toBe(true);
      await gone(tracker, 'svc');
      expect(Date.now() - started).toBeLessThan(2000); // told by the reaper and cgroup events, not a slow poll
      expect(tracker.processesOf('svc')).toEqual([]);
      await waitFor(() => zombiesOfOurs().length === 0, { what: 'zombies reaped' });
      tracker.release('svc');
      tracker.close();
    });

    test('killService SIGKILLs what ignores SIGTERM; watchGone with rekill ends once they are gone', async () => {
      const tracker = new ProcessTracker({ tracking: mode, reaper });
      const main = service(tracker, 'stubborn', daemons(3, 'trap "" TERM; exec sleep 300'));
      await main.exit;
      await waitFor(() => { const p = tracker.processesOf('stubborn'); return p.length === 3 && p.every((pid) => readProc(pid)?.comm === 'sleep'); }, { what: '3 daemons' });
      tracker.signalService('stubborn', SIGTERM);
      expect(tracker.killService('stubborn').length).toBe(3);
      await gone(tracker, 'stubborn', true);
      expect(tracker.processesOf('stubborn')).toEqual([]);
      // nothing left: the watch answers at once
      let answered = false;
      tracker.watchGone('stubborn', false, () => { answered = true; });
      expect(answered).toBe(true);
      tracker.close();
    });

    test('a child with a scrubbed environment stays attributed after its parent dies (parent chain)', async () => {
      const tracker = new ProcessTracker({ tracking: mode, reaper });
      const main = service(tracker, 'chain', 'env -i setsid sleep 300 & wait');
      const [child] = await waitFor(() => { const p = tracker.processesOf('chain').filter((pid) => pid !== main.pid); return p.length === 1 && readProc(p[0]!)?.comm === 'sleep' ? p : null; }, { what: 'child seen' });
      process.kill(main.pid, 'SIGKILL');
      await main.exit;
      await waitFor(() => readProc(child!)?.ppid === process.pid, { what: 're-parented' });
      expect(tracker.processesOf('chain')).toEqual([child]);
      expect(tracker.orphans()).toEqual([]);
      expect(tracker.signalService('chain', SIGTERM)).toEqual([child]);
      await gone(tracker, 'chain');
      tracker.close();
    });

    test('an orphan that matches no service is (orphans), and the sweep ends it', async () => {
      const tracker = new ProcessTracker({ tracking: mode, reaper });
      // env -i scrubs the markers; the subshell exits so sleep re-parents to us. Started
      // as no service's (a process tend started for nobody, then gone): the orphan's only
      // evidence is that it is tend's child.
      const starter = spawnProcess({
        service: '', argv: ['sh', '-c', '(env -i setsid sleep 300 >/dev/null 2>&1 &)'], env: {}, cwd: null, user: null, group: null,
        stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
      }, { instance: 'nobody', socket: null, markers: false });
      await starter.exit;
      const orphans: number[] = await waitFor(() => { const o = tracker.orphans(); return o.length === 1 && readProc(o[0]!)?.comm === 'sleep' ? o : null; }, { what: 'one orphan' });
      // What tini mode's sweep and the supervisor's are made of: SIGTERM to what is left, then gone.
      expect(tracker.signalLeft(15, false)).toEqual(orphans);
      await new Promise<void>((settle) => { tracker.watchGone(null, false, settle); });
      expect(tracker.orphans()).toEqual([]);
      tracker.close();
    });
  });
}

// A syslog sender that logs and exits at once (`logger` as a service's command): its
// datagram can be read while it is a zombie — dead, not yet reaped — which no longer counts
// among the service's processes and has not been seen gone either. With tracking: proc the
// message went to "(syslog)" (test/supervisor/syslog-pid1.test.ts, about 1 run in 6 at load 2).
describe('formerOwner, tracking: proc', () => {
  test("a process of the service that has exited but is not reaped yet is still the service's sender", async () => {
    const tracker = new ProcessTracker({ tracking: 'proc', reaper });
    // python's child exits after 0.3 s and is never waited for: it stays a zombie.
    const parent = spawnProcess({
      service: '', argv: ['python3', '-c', 'import os,sys,time\npid=os.fork()\nif pid == 0:\n    time.sleep(0.3)\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(300)'],
      env: {}, cwd: null, user: null, group: null, stdin: 'null', output: 'pipe', notifyFd: null, cgroup: null, session: 'new',
    }, { instance: 'nobody', socket: null, markers: false });
    let text = '';
    parent.stdout!.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    const child = await waitFor(() => (text.includes('\n') ? Number(text.trim()) : null), { what: "python's child's pid" });
    tracker.noteSpawned('svc', child);
    await waitFor(() => readProc(child)?.state === 'Z', { what: 'the child to be a zombie' });
    expect(tracker.processesOf('svc')).toEqual([]); // a zombie is nobody's live process
    expect(tracker.formerOwner(child)).toBe('svc');
    process.kill(parent.pid, 'SIGKILL');
    await parent.exit;
    tracker.close();
  });
});
