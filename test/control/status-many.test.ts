// `status` with a few hundred real services, tend as PID 1 with cgroup tracking: every
// leaf is read in one native call (native/libtend.c tend_read_pids), so what each service
// owns, the orphans and the states must come out as they did with one read per leaf.
import { afterAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceCgroups } from '../../src/process/cgroup';
import { canUnshare, childrenOf, startTend, tempDir, waitFor, writeManifest, type RunningTend, stopGracefully } from '../helpers/tend';
import { raw, type Raw } from './raw';

const SLEEPERS = 300;

interface Status {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly processes: readonly number[];
}
interface StatusReply {
  readonly ok: boolean;
  readonly result: { readonly services: readonly Status[]; readonly orphans: readonly number[] };
}

const why = !canUnshare() ? 'unshare --pid is not available' : !ServiceCgroups.available() ? 'no writable cgroup v2 here' : null;
if (why !== null) console.warn(`skipping status with ${SLEEPERS} services: ${why}`);

/** The pid of a host process as its own PID namespace (tend's) numbers it. */
function nsPid(hostPid: number): number {
  const line = readFileSync(`/proc/${hostPid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'))!;
  return Number(line.trim().split(/\s+/).pop());
}

describe.skipIf(why !== null)(`status with ${SLEEPERS} services (PID 1, tracking: cgroup)`, () => {
  let tend: RunningTend | null = null;
  let client: Raw | null = null;
  afterAll(async () => {
    client?.socket.destroy();
    await stopGracefully(tend, 30_000);
  }, 60_000);

  test('processes, orphans and states of every service', async () => {
    const dir = tempDir('tend-status-many-');
    const socket = join(dir, 'tend.sock');
    const services: Record<string, unknown> = {};
    for (let i = 0; i < SLEEPERS; i++) services[`s${i}`] = { command: ['sleep', '1000'] };
    services.daemon = { command: 'setsid sleep 1000 & exec sleep 1000' }; // one escaped descendant
    services.setup = { type: 'oneshot', command: ['true'] };
    services.broken = { command: ['sh', '-c', 'exit 3'], restart: 'never' };
    const manifest = writeManifest(dir, JSON.stringify({ settings: { tracking: 'cgroup' }, services }));
    tend = startTend(['run', '-c', manifest], { pid1: true, env: { TEND_SOCKET: socket } });
    const started = tend;
    client = await waitFor(async () => { try { return await raw(socket); } catch { return null; } }, { timeout: 60_000, what: () => `tend's socket\n${started.stderr}` });
    const c = client;
    let id = 0;
    const status = async (): Promise<StatusReply['result']> => {
      c.send(`${JSON.stringify({ id: ++id, cmd: 'status' })}\n`);
      const reply = await c.next(20_000) as StatusReply;
      expect(reply.ok).toBe(true);
      return reply.result;
    };
    const settled = (doc: StatusReply['result']): boolean => doc.services.every((s) =>
      s.name === 'setup' ? s.state === 'completed'
        : s.name === 'broken' ? s.state !== 'running' && s.state !== 'starting'
          : s.state === 'running' && s.processes.length === (s.name === 'daemon' ? 2 : 1));
    let doc = await waitFor(async () => { const d = await status(); return settled(d) ? d : null; }, { timeout: 90_000, interval: 100, what: () => `every service settled\n${started.stderr.slice(-2000)}` });

    // An orphan: a process in tend's namespace that is in no service's leaf. Entered with
    // nsenter (as `docker exec` would), its parent exits and it is re-parented to tend.
    const tendPid = await tend.tendPid();
    const entered = spawnSync('nsenter', ['-t', String(tendPid), '-p', '-m', '--', 'sh', '-c', 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & exit 0'], { encoding: 'utf8', timeout: 10_000 });
    expect(entered.status, entered.stderr).toBe(0);
    const inLeaf = (pid: number): boolean => /\/tend-[^/\n]+\/[^/\n]+$/m.test(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    const hostOrphan = await waitFor(() => childrenOf(tendPid).find((pid) => !inLeaf(pid)), { what: 'the orphan re-parented to tend' });
    const orphan = nsPid(hostOrphan);
    doc = await waitFor(async () => { const d = await status(); return d.orphans.length > 0 ? d : null; }, { what: 'the orphan listed' });

    expect(doc.services).toHaveLength(SLEEPERS + 3);
    expect(doc.orphans).toEqual([orphan]);
    // Every pid tend's namespace has, each in exactly one place: its service's processes or the orphans.
    const listed = new Map<number, string>();
    for (const s of doc.services) {
      for (const pid of s.processes) {
        expect(listed.get(pid), `pid ${pid} listed twice`).toBeUndefined();
        listed.set(pid, s.name);
      }
    }
    const namespace = childrenOf(tendPid).flatMap((pid) => [pid, ...childrenOf(pid)]).map(nsPid);
    expect(new Set([...listed.keys(), orphan])).toEqual(new Set(namespace));
    for (const s of doc.services) {
      if (s.name === 'setup' || s.name === 'broken') {
        expect(s.processes, s.name).toEqual([]);
        expect(s.pid, s.name).toBeNull();
      } else {
        expect(s.state, s.name).toBe('running');
        expect(s.processes, s.name).toContain(s.pid);
        expect(s.processes, s.name).toHaveLength(s.name === 'daemon' ? 2 : 1);
      }
    }
  }, 180_000);
});
