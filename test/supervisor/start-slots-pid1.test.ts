// The cap on services mid-start (TEND_START_SLOTS), seen from outside: tend as PID 1 with
// 1,000 services, /proc sampled while they start. A service is mid-start while its exec
// helper (native/build/tend-exec) has not exec'd the command; the core counts it so until
// the loop has seen that exec, which is never sooner, so at no sample may more than the
// cap's number of processes be the helper. And every service still starts.
//
// Without a cap this machine shows at most one helper at a time too (a helper execs its
// command within a millisecond of CPU; what piles up is the commands, after their exec):
// the test shows that the cap holds and costs no start, not that it is needed — the pure
// tests (start-slots.test.ts) show that it binds.
//
// Services started on libtend's direct path (one exec: no helper) are mid-start only while
// tend's own thread waits for their exec, so there is nothing to sample there: this test
// sends every start through the helper (TEND_SPAWN_DIRECT=0), as services with user: go.
import { afterAll, describe, expect, test } from 'vitest';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, ROOT, startTend, tempDir, waitFor, writeManifest, type RunningTend, stopGracefully } from '../helpers/tend';
import { raw, type Raw } from '../control/raw';

const SERVICES = 1000;
const SLOTS = 2;
const HELPER = join(ROOT, 'native', 'build', 'tend-exec');

const why = !canUnshare() ? 'unshare --pid is not available' : null;
if (why !== null) console.warn(`skipping the start cap with ${SERVICES} services: ${why}`);

/**
 * How many processes in the PID namespace `ns` (tend's) run the exec helper right now:
 * other tests' tends, started from the same tree, run it too, in namespaces of their own.
 */
function helpersNow(ns: string): number {
  let n = 0;
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57) continue; // not a pid
    try {
      if (readlinkSync(`/proc/${name}/exe`) === HELPER && readlinkSync(`/proc/${name}/ns/pid`) === ns) n += 1;
    } catch {
      // gone, or a kernel thread
    }
  }
  return n;
}

describe.skipIf(why !== null)(`TEND_START_SLOTS=${SLOTS} with ${SERVICES} services (PID 1)`, () => {
  let tend: RunningTend | null = null;
  let client: Raw | null = null;
  afterAll(async () => {
    client?.socket.destroy();
    await stopGracefully(tend, 60_000);
  }, 90_000);

  test('never more than the cap of exec helpers at once, and every service starts', async () => {
    const dir = tempDir('tend-start-slots-');
    const socket = join(dir, 'tend.sock');
    const services: Record<string, unknown> = {};
    for (let i = 0; i < SERVICES; i++) services[`s${i}`] = { command: ['sleep', '1000'] };
    const manifest = writeManifest(dir, JSON.stringify({ services }));
    tend = startTend(['run', '-c', manifest], { pid1: true, env: { TEND_SOCKET: socket, TEND_START_SLOTS: String(SLOTS), TEND_SPAWN_DIRECT: '0' } });
    const started = tend;
    // tend's namespace: its services' helpers are there (tend itself is its PID 1).
    const ns = readlinkSync(`/proc/${await started.tendPid()}/ns/pid`);
    let most = 0;
    let samples = 0;
    let seen = 0;
    while (!/all services started/.test(started.stderr)) {
      if (started.child.exitCode !== null) throw new Error(`tend ended\n${started.stderr.slice(-2000)}`);
      const now = helpersNow(ns);
      samples += 1;
      if (now > 0) seen += 1;
      most = Math.max(most, now);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(most, `at most ${SLOTS} exec helpers at once (${samples} samples, ${seen} with one or more)`).toBeLessThanOrEqual(SLOTS);
    // The sampler saw helpers at all (else it proved nothing): each takes about a millisecond
    // of CPU to load and exec, 1,000 of them over seconds.
    expect(seen, `${samples} samples`).toBeGreaterThan(0);

    client = await waitFor(async () => { try { return await raw(socket); } catch { return null; } }, { timeout: 30_000, what: () => `tend's socket\n${started.stderr.slice(-2000)}` });
    client.send(`${JSON.stringify({ id: 1, cmd: 'status' })}\n`);
    const reply = await client.next(20_000) as { ok: boolean; result: { services: Array<{ name: string; state: string; pid: number | null }> } };
    expect(reply.ok).toBe(true);
    expect(reply.result.services).toHaveLength(SERVICES);
    expect(reply.result.services.filter((s) => s.state !== 'running' || s.pid === null).map((s) => `${s.name} ${s.state}`)).toEqual([]);
  }, 180_000);
});
