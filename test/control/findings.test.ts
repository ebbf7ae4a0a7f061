// Regression tests for the reliability findings (round two) in the control layer, each
// named after its finding: client slots (5), refused-peer floods (6), memory through
// `logs` (14), and followers that read slowly or not at all (16).
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connectControl } from '../../src/control/client';
import { runClientWith, type ClientIO } from '../../src/roots/client';
import type { PeerCredentials } from '../../native/libc';
import { NO_ACCOUNTS } from '../../src/control/access';
import { FakeHandler, startServer, type TestServer } from './fake';
import { raw, type Raw } from './raw';
import { TEND_BIN, tempDir, waitFor } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

const servers: TestServer[] = [];
const sockets: Socket[] = [];
const raws: Raw[] = [];
const children: ChildProcess[] = [];

beforeAll(() => ensureBuilt());

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const r of raws.splice(0)) r.socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.server.close()));
});

/**
 * A server whose peers' uids come from a queue, in the order they connect (the kernel
 * accepts in connect order): tests connect one at a time. 1000 is tend's own uid.
 */
async function serveAs(handler = new FakeHandler(), limits = {}) {
  const uids: number[] = [];
  const server = await startServer(handler, {
    allow: [{ user: 65534, access: 'read' }, { user: 2000, access: 'control' }],
    ownUid: 1000,
    accounts: () => NO_ACCOUNTS,
    credentials: (): PeerCredentials => {
      const uid = uids.shift() ?? 0;
      return { uid, gid: uid, pid: 7 };
    },
    limits,
  });
  servers.push(server);
  return { ...server, uids };
}

async function rawAs(path: string, uids: number[], uid: number): Promise<Raw> {
  uids.push(uid);
  const r = await raw(path);
  raws.push(r);
  return r;
}

async function statusAs(path: string, uids: number[], uid: number): Promise<boolean> {
  uids.push(uid);
  const connected = await connectControl({ path, source: { kind: 'flag' } }, { uid: 0 });
  if (!connected.ok) return false;
  const reply = await connected.value.request('status', {}, { timeoutMs: 5000 });
  connected.value.close();
  return reply.ok;
}

const WAIT = '{"id":1,"cmd":"wait","args":{"name":"web","until":"stopped"}}\n';

describe('finding 5: a read-only peer cannot lock root out of the socket', () => {
  test('finding 5: 70 `wait`s of a read peer leave room for root and tend\'s uid, and are capped', async () => {
    const { path, uids, server, handler } = await serveAs();
    const held: Raw[] = [];
    for (let i = 0; i < 70; i++) {
      const r = await rawAs(path, uids, 65534);
      r.send(WAIT);
      held.push(r);
    }
    // Each either holds its wait or was told why not.
    await waitFor(() => held.every((r) => r.lines.length > 0 || r.socket.destroyed || handler.waiters.size > 0) && uids.length === 0, { what: 'the read peers to be seen' });
    await waitFor(() => handler.waiters.size + held.filter((r) => r.lines.length > 0 || r.socket.destroyed).length >= 70, { what: () => `every wait answered or held (${handler.waiters.size} held)` });
    expect(handler.waiters.size).toBeLessThanOrEqual(16);
    expect(server.clientCount()).toBeLessThanOrEqual(48);
    expect(await statusAs(path, uids, 0)).toBe(true);
    expect(await statusAs(path, uids, 1000)).toBe(true);
    // A control grant for another uid is not a read peer: it still gets in.
    expect(await statusAs(path, uids, 2000)).toBe(true);
  });

  test('finding 5: at the cap, root replaces the oldest follower of a peer that is neither root nor tend\'s uid', async () => {
    const handler = new FakeHandler();
    const { path, uids } = await serveAs(handler, { maxClients: 8, maxUnprivileged: 6, maxReadClients: 6, maxFollowers: 6 });
    for (let i = 0; i < 6; i++) (await rawAs(path, uids, 65534)).send(WAIT);
    await waitFor(() => handler.waiters.size === 6, { what: 'six read followers' });
    for (let i = 0; i < 2; i++) (await rawAs(path, uids, 0)).send(WAIT);
    await waitFor(() => handler.waiters.size === 8, { what: 'two root followers' });
    expect(await statusAs(path, uids, 0)).toBe(true);
    expect(await statusAs(path, uids, 1000)).toBe(true);
  });
});

const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

describe.runIf(isRoot && hasSetpriv)('finding 6: a connect flood from an unauthorised uid', () => {
  test('finding 6: root\'s requests all succeed and the refusals are summarised, not logged one by one', async () => {
    const dir = tempDir('tend-flood-');
    chmodSync(dir, 0o755);
    const server = await startServer(new FakeHandler(), { dir, allow: [{ user: 'nobody', access: 'read' }], mode: 0o666, limits: { refusalReportMs: 1000 } });
    servers.push(server);
    // uid 4242 reconnects as fast as it can, 24 at a time, for 3 s.
    const flood = `
      const net = require('net'); const end = Date.now() + 3000; let n = 0;
      function one() { if (Date.now() > end) return; const s = net.connect(${JSON.stringify(server.path)});
        s.on('error', () => {}); s.on('close', () => { n++; setImmediate(one); }); s.on('data', () => {}); }
      for (let i = 0; i < 24; i++) one();
      setTimeout(() => { console.log(n); process.exit(0); }, 3200);`;
    const flooder = spawn('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, '-e', flood], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(flooder);
    let attempts = '';
    flooder.stdout!.setEncoding('utf8').on('data', (d: string) => { attempts += d; });
    await waitFor(() => server.notices.some((n) => n.kind === 'refused'), { what: 'the flood to start' });
    const started = Date.now();
    let ok = 0;
    for (let i = 0; i < 50; i++) if (await statusAs(server.path, [], 0)) ok += 1;
    await new Promise<void>((resolve) => flooder.on('exit', () => resolve()));
    const seconds = Math.ceil((Date.now() - started) / 1000);
    expect(ok).toBe(50);
    expect(Number(attempts)).toBeGreaterThan(200);
    // The first refusal is described; the rest are counted, one line per window (1 s here).
    await waitFor(() => server.notices.some((n) => n.kind === 'refused' && /more connections? .*refused/.test(n.message)), { timeout: 3000, what: 'the summary' });
    const refused = server.notices.filter((n) => n.kind === 'refused');
    expect(refused.length).toBeLessThanOrEqual(3 + seconds);
    const counted = refused.reduce((sum, n) => sum + Number(/(\d+) more/.exec(n.message)?.[1] ?? 1), 0);
    expect(counted).toBeGreaterThan(100);
  });
});

describe('finding 14: a read peer cannot make tend buffer logs replies without bound', () => {
  test('finding 14: 64 `logs` requests that are never read hold little memory in tend', async () => {
    const handler = new FakeHandler();
    // Control bytes JSON-escape to 6 bytes each: 40 such lines are ~3.9 MB of reply.
    for (let i = 0; i < 40; i++) handler.emitLog('web', '\u0001'.repeat(16 * 1024));
    const { path, uids, server } = await serveAs(handler);
    // Live memory after a full collection: what tend holds for these clients, not garbage.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const memory = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.external; };
    const heapBefore = memory();
    const stuck: Socket[] = [];
    for (let i = 0; i < 64; i++) {
      uids.push(65534);
      const socket = connect(path);
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.pause(); // never reads
      socket.write('{"id":1,"cmd":"logs","args":{"name":"web"}}\n');
      stuck.push(socket);
      sockets.push(socket);
    }
    await waitFor(() => handler.calls.filter((c) => c.method === 'logs').length >= Math.min(64, server.clientCount()), { what: 'the logs requests' });
    // The replies are written after the requests are seen: measure once what tend holds
    // has stopped changing (two collections 50 ms apart within 256 KiB).
    let previous: number | null = null;
    await waitFor(() => {
      const now = memory();
      const settled = previous !== null && Math.abs(now - previous) < 256 * 1024;
      previous = now;
      return settled;
    }, { interval: 50, what: 'the replies to be written' });
    const grown = memory() - heapBefore;
    // 64 whole replies would be ~250 MB; the cap keeps what waits for them to a few MiB each at most.
    expect(grown).toBeLessThan(40 * 1024 * 1024);
  });

  test('finding 14: a logs reply is cut to the newest lines that fit, and says so', async () => {
    const handler = new FakeHandler();
    for (let i = 0; i < 40; i++) handler.emitLog('web', `${i} ${'\u0001'.repeat(16 * 1024)}`);
    const { path, uids } = await serveAs(handler);
    const r = await rawAs(path, uids, 0);
    r.send('{"id":1,"cmd":"logs","args":{"name":"web"}}\n');
    const reply = (await r.next()) as { ok: boolean; result: { lines: { line: string }[]; truncated?: number } };
    expect(reply.ok).toBe(true);
    expect(reply.result.lines.length).toBeLessThan(40);
    expect(reply.result.lines.at(-1)!.line.startsWith('39 ')).toBe(true);
    expect(reply.result.truncated).toBe(40 - reply.result.lines.length);
  });
});

function capture(): ClientIO & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', env: {}, uid: 0, out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
  return io;
}

describe('finding 16: log followers', () => {
  test('finding 16: a follower that reads, slower than the service writes, stays and is told what it missed', async () => {
    const handler = new FakeHandler();
    const { path, uids, notices } = await serveAs(handler, { maxBufferedBytes: 64 * 1024, slowReaderMs: 1500 });
    const r = await rawAs(path, uids, 0);
    r.send('{"id":1,"cmd":"logs","args":{"name":"web","follow":true}}\n');
    expect(await r.next()).toMatchObject({ id: 1, ok: true });
    // It reads in bursts with pauses, for 2 s, while 30 MB of lines go by.
    const line = 'x'.repeat(1000);
    const until = Date.now() + 2000;
    let paused = false;
    while (Date.now() < until) {
      for (let i = 0; i < 500; i++) handler.emitLog('web', line);
      paused = !paused;
      if (paused) r.socket.pause();
      else r.socket.resume();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    r.socket.resume();
    await waitFor(() => r.lines.some((l) => (l as { event?: { skipped?: number } }).event?.skipped !== undefined), { what: () => `a skipped marker (${r.lines.length} lines, destroyed ${r.socket.destroyed}, ${JSON.stringify(notices)})` });
    expect(r.socket.destroyed).toBe(false);
    // Caught up, it gets new lines again.
    await waitFor(() => {
      handler.emitLog('web', 'the end');
      return r.lines.some((l) => (l as { event?: { line?: string } }).event?.line === 'the end');
    }, { interval: 100, what: 'lines after catching up' });
    expect(r.socket.destroyed).toBe(false);
  });

  test('finding 16: a follower that does not read is told why it was dropped, and the CLI exits non-zero saying so', async () => {
    const handler = new FakeHandler();
    const { path, uids, notices } = await serveAs(handler, { maxBufferedBytes: 64 * 1024, slowReaderMs: 300 });
    uids.push(0);
    const cli = spawn(process.execPath, [TEND_BIN, 'logs', 'web', '-f', '--socket', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(cli);
    let stderr = '';
    cli.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    await waitFor(() => handler.logListeners.size === 1, { what: 'the follower' });
    // Stopped (as a CLI that cannot keep up is, for tend): it reads nothing.
    cli.kill('SIGSTOP');
    const line = 'y'.repeat(4000);
    await waitFor(() => {
      for (let i = 0; i < 200; i++) handler.emitLog('web', line);
      return notices.some((n) => n.kind === 'slow_reader');
    }, { timeout: 15_000, interval: 20, what: 'the follower to be dropped' });
    cli.kill('SIGCONT');
    const code = await new Promise<number | null>((resolve) => cli.on('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/tend: .*does not read/);
  });

  test('finding 16: a follower that tend\'s exit ends still exits 0', async () => {
    const handler = new FakeHandler();
    const { path, uids, server } = await serveAs(handler);
    uids.push(0);
    const io = capture();
    const following = runClientWith({ cmd: 'logs', name: 'web', lines: 0, follow: true }, path, io);
    await waitFor(() => handler.logListeners.size === 1, { what: 'the follower' });
    // tend's own exit still ends a follower with 0.
    servers.pop();
    await server.close();
    expect(await following).toBe(0);
  });
});
