// Peer credentials for real: clients run as uid 65534 (nobody) through setpriv, against a
// server in this (root) process. The socket file is 0666 so the filesystem lets them
// connect and only the SO_PEERCRED check stands in the way (FINDINGS).
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync, readFileSync, existsSync, statSync } from 'node:fs';
import { connectControl } from '../../src/control/client';
import { decideAccess, parseAccounts } from '../../src/control/access';
import { listenControl } from '../../src/control/server';
import type { SocketGrant } from '../../src/plan/types';
import { FakeHandler, startServer, type TestServer } from './fake';
import { TEND_BIN, tempDir, waitFor } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const servers: TestServer[] = [];

beforeAll(() => ensureBuilt());

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.server.close()));
});

/** Runs the real CLI as uid/gid 65534 with no supplementary groups. */
function asNobody(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, TEND_BIN, ...args], {
      cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function serveShared(allow: readonly SocketGrant[], mode: number | null = 0o666): Promise<TestServer> {
  const dir = tempDir('tend-peers-');
  chmodSync(dir, 0o755); // let nobody reach the socket file; SO_PEERCRED does the refusing
  const server = await startServer(new FakeHandler(), { dir, allow, mode });
  servers.push(server);
  return server;
}

describe.runIf(isRoot && hasSetpriv)('as another uid', () => {
  test('a peer of another uid is refused even when the socket file is 0666', async () => {
    const { path, handler, notices } = await serveShared([]);
    expect(statSync(path).mode & 0o777).toBe(0o666);
    const result = await asNobody(['status', '--socket', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tend: uid 65534 (nobody) may not use this socket: only root, tend's uid 0 and socket_allow entries may, and none matches\n`);
    expect(handler.calls.filter((c) => c.method === 'status')).toHaveLength(0);
    expect(notices.some((n) => n.kind === 'refused')).toBe(true);
  });

  test('socket_allow read access permits status but refuses stop', async () => {
    const { path, handler } = await serveShared([{ user: 'nobody', access: 'read' }]);
    const status = await asNobody(['status', '--socket', path]);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^NAME\s+STATE/);
    const stop = await asNobody(['stop', 'web', '--socket', path]);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toBe('tend: uid 65534 (nobody) pid ' + stop.stderr.match(/pid (\d+)/)![1] + ' has read access only (socket_allow user nobody); "stop" needs control access\n');
    expect(handler.calls.filter((c) => c.method === 'stop')).toHaveLength(0);
  });

  test('socket_allow by group (name or gid) grants control to the peer\'s gid', async () => {
    const { path, handler } = await serveShared([{ group: 'nogroup', access: 'control' }]);
    const stop = await asNobody(['stop', 'web', '--socket', path]);
    expect(stop.stderr).toBe('');
    expect(stop.code).toBe(0);
    expect(handler.calls.at(-1)).toMatchObject({ method: 'stop', caller: { uid: 65534, gid: 65534 } });
    await servers.splice(0)[0]!.server.close();
    const byGid = await serveShared([{ group: 65534, access: 'read' }]);
    expect((await asNobody(['status', '--socket', byGid.path])).code).toBe(0);
  });
});

describe('access decisions', () => {
  const accounts = parseAccounts(
    'root:x:0:0::/root:/bin/sh\nmonitor:x:1000:1000::/h:/bin/sh\nops1:x:1001:1001::/h:/bin/sh\nbroken line\n',
    'root:x:0:\nmonitor:x:1000:\nops:x:2000:ops1,someone\nmetrics:x:3000:monitor\n',
  );
  const peer = (uid: number, gid = uid) => ({ pid: 1, uid, gid });
  const grants: SocketGrant[] = [
    { user: 'monitor', access: 'read' },
    { group: 'ops', access: 'control' },
    { user: 4242, access: 'control' },
    { group: '5000', access: 'read' },
  ];

  test.each([
    ['root', peer(0), 'control'],
    ["tend's own uid", peer(777), 'control'],
    ['a user granted by name', peer(1000), 'read'],
    ['a supplementary group from /etc/group', peer(1001), 'control'],
    ['a user granted by uid', peer(4242), 'control'],
    ['a numeric group written as a string, matched on the primary gid', peer(9999, 5000), 'read'],
    ['nobody in particular', peer(65534), null],
  ])('%s', (_what, who, expected) => {
    const decision = decideAccess(who, 777, grants, accounts);
    if (expected === null) expect(decision).toMatchObject({ ok: false, message: expect.stringContaining('uid 65534 may not use this socket') });
    else expect(decision).toMatchObject({ ok: true, access: expected });
  });

  test('the best grant wins when several match', () => {
    const decision = decideAccess(peer(1000), 777, [{ user: 'monitor', access: 'read' }, { group: 'metrics', access: 'control' }], accounts);
    expect(decision).toMatchObject({ ok: true, access: 'control', why: 'socket_allow group metrics' });
  });
});

describe('a server whose uid is neither root nor the client\'s', () => {
  test('is refused when the path was discovered, trusted when given explicitly', async () => {
    const server = await startServer();
    servers.push(server);
    const { path } = server;
    const stranger = () => ({ pid: 1, uid: 1234, gid: 1234 });
    const discovered = await connectControl({ path, source: { kind: 'default' } }, { uid: 1000, credentials: stranger });
    expect(discovered).toMatchObject({ ok: false, code: 'untrusted_server', message: expect.stringContaining('served by uid 1234, neither root nor you (uid 1000)') });
    const explicit = await connectControl({ path, source: { kind: 'flag' } }, { uid: 1000, credentials: stranger });
    expect(explicit.ok).toBe(true);
    if (explicit.ok) explicit.value.close();
    // Real SO_PEERCRED from the client side: this server runs as root, which is trusted.
    const real = await connectControl({ path, source: { kind: 'default' } }, { uid: 1000 });
    expect(real.ok).toBe(true);
    if (real.ok) real.value.close();
  });
});

describe('claiming the path', () => {
  test('a second server refuses while the first lives, and takes over once it is dead', async () => {
    const dir = tempDir('tend-stale-');
    const path = `${dir}/tend.sock`;
    // The first "tend" is another process, so that it can die for real (SIGKILL leaves the file).
    const first = spawn(process.execPath, ['-e', `require('net').createServer(() => {}).listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    first.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    await waitFor(() => out.includes('up'), { what: 'the first server' });

    const refused = await listenControl({ path, mode: null, allow: [], handler: new FakeHandler(), version: 'x' });
    expect(refused).toMatchObject({ ok: false, reason: 'in_use', message: expect.stringContaining(`pid ${first.pid}`) });

    const dead = new Promise((r) => first.on('exit', r));
    first.kill('SIGKILL');
    await dead;
    expect(existsSync(path)).toBe(true); // the stale file a dead tend leaves

    const taken = await listenControl({ path, mode: null, allow: [], handler: new FakeHandler(), version: 'x' });
    expect(taken.ok).toBe(true);
    if (!taken.ok) return;
    const c = await connectControl({ path, source: { kind: 'flag' } }, { uid: 0 });
    expect(c.ok && (await c.value.request('version', {})).ok).toBe(true);
    if (c.ok) c.value.close();
    // A live tend (this one) is never stolen, not even by a server in the same process.
    const again = await listenControl({ path, mode: null, allow: [], handler: new FakeHandler(), version: 'x' });
    expect(again).toMatchObject({ ok: false, reason: 'in_use' });
    await taken.server.close();
  });

  test('something that is not a socket is left alone', async () => {
    const dir = tempDir('tend-notsock-');
    const path = `${dir}/tend.sock`;
    writeFileSync(path, 'precious');
    const result = await listenControl({ path, mode: null, allow: [], handler: new FakeHandler(), version: 'x' });
    expect(result).toMatchObject({ ok: false, reason: 'not_a_socket' });
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });
});
