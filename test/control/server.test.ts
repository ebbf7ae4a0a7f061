// The server against hostile and careless clients, with a fake handler. Every test ends
// by proving the server still answers a status request quickly.
import { afterEach, describe, expect, test } from 'vitest';
import { statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connectControl, type ControlClient } from '../../src/control/client';
import { FakeHandler, startServer, type TestServer } from './fake';
import { raw } from './raw';
import { waitFor } from '../helpers/tend';

const servers: TestServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.server.close()));
});

async function serve(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const server = await startServer(...args);
  servers.push(server);
  return server;
}

async function client(path: string): Promise<ControlClient> {
  const connected = await connectControl({ path, source: { kind: 'flag' } }, { uid: 0 });
  if (!connected.ok) throw new Error(connected.message);
  return connected.value;
}

/**
 * Resolves once the server's idle timeout has closed a connection that asks nothing: the
 * witness that a negative check ("this connection was not timed out") waited long enough,
 * without a sleep whose length is a guess.
 */
async function idleTimeoutPassed(path: string): Promise<void> {
  const witness = await raw(path);
  expect(await witness.next(5000)).toMatchObject({ error: { code: 'idle_timeout' } });
  await witness.closed;
}

/** A status round trip on a fresh connection, and how long it took. */
async function statusTime(path: string): Promise<number> {
  const started = performance.now();
  const c = await client(path);
  const reply = await c.request('status', {});
  c.close();
  expect(reply.ok).toBe(true);
  return performance.now() - started;
}

describe('replies', () => {
  test('a request gets a reply with its id; pipelined requests all answer', async () => {
    const { path } = await serve();
    const conn = await raw(path);
    conn.send('{"id":7,"cmd":"version","args":{}}\n{"id":"b","cmd":"health"}\n');
    const first = await conn.next();
    const second = await conn.next();
    expect(first).toMatchObject({ id: 7, ok: true, result: { tend: '9.9.9', protocol: 1, pid: process.pid } });
    expect(second).toMatchObject({ id: 'b', ok: true, result: { healthy: true } });
  });

  test('bad JSON, wrong shapes, unknown commands and bad arguments get error replies, and the connection goes on', async () => {
    const { path } = await serve();
    const conn = await raw(path);
    conn.send('this is not json\n');
    expect(await conn.next()).toMatchObject({ id: null, ok: false, error: { code: 'bad_request' } });
    conn.send('[1,2,3]\n');
    expect(await conn.next()).toMatchObject({ id: null, ok: false, error: { code: 'bad_request' } });
    conn.send('{"id":3,"cmd":"frobnicate"}\n');
    expect(await conn.next()).toMatchObject({ id: 3, ok: false, error: { code: 'unknown_command', message: expect.stringContaining('frobnicate') } });
    conn.send('{"id":4,"cmd":"status","args":{"nmaes":["web"]}}\n');
    expect(await conn.next()).toMatchObject({ id: 4, ok: false, error: { code: 'bad_request' } });
    conn.send('{"id":5,"cmd":"signal","args":{"name":"web","signal":"SIGNOPE"}}\n');
    expect(await conn.next()).toMatchObject({ id: 5, ok: false, error: { code: 'bad_request', message: expect.stringContaining('SIGNOPE') } });
    conn.send(`${'['.repeat(60_000)}\n`);
    expect(await conn.next()).toMatchObject({ id: null, ok: false, error: { code: 'bad_request' } });
    conn.send('{"id":6,"cmd":"status"}\r\n');
    expect(await conn.next()).toMatchObject({ id: 6, ok: true });
  });

  test('non-UTF-8 bytes get bad_request; a character split across writes is fine', async () => {
    const { path, handler } = await serve();
    const conn = await raw(path);
    conn.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    expect(await conn.next()).toMatchObject({ id: null, ok: false, error: { code: 'bad_request', message: expect.stringContaining('UTF-8') } });
    const request = Buffer.from('{"id":1,"cmd":"status","args":{"names":["wéb"]}}\n');
    const split = request.indexOf(0xc3) + 1; // inside the two bytes of é
    // The first part reaches the kernel, then a turn of the loop lets the server read it alone.
    await new Promise<void>((r) => conn.socket.write(request.subarray(0, split), () => setImmediate(r)));
    conn.send(request.subarray(split));
    expect(await conn.next()).toMatchObject({ id: 1, ok: false, error: { code: 'unknown_service', message: expect.stringContaining('wéb') } });
    expect(handler.calls.at(-1)).toMatchObject({ method: 'status', args: [['wéb']] });
  });

  test('a 200 KB line gets too_large and the connection is closed; the server stays responsive', async () => {
    const { path, notices } = await serve();
    const conn = await raw(path);
    conn.send(`{"id":1,"cmd":"status","args":{"names":["${'x'.repeat(200 * 1024)}"]}}\n`);
    expect(await conn.next()).toMatchObject({ id: null, ok: false, error: { code: 'too_large' } });
    await conn.closed;
    expect(notices.some((n) => n.kind === 'too_large')).toBe(true);
    expect(await statusTime(path)).toBeLessThan(500);
  });

  test('an unfinished line over the limit is refused without waiting for its newline', async () => {
    const { path } = await serve();
    const conn = await raw(path);
    conn.send('x'.repeat(70 * 1024));
    expect(await conn.next()).toMatchObject({ error: { code: 'too_large' } });
    await conn.closed;
  });

  test('a handler that throws yields an internal error reply, not a crash', async () => {
    const handler = new FakeHandler();
    handler.throwIn = 'status';
    const { path, notices } = await serve(handler);
    const c = await client(path);
    const reply = await c.request('status', {});
    expect(reply).toMatchObject({ ok: false, code: 'internal', message: expect.stringContaining('fake bug') });
    expect(notices.some((n) => n.kind === 'handler_error')).toBe(true);
    handler.throwIn = null;
    expect((await c.request('status', {})).ok).toBe(true);
    c.close();
  });
});

describe('every command, through the client library', () => {
  test('status, health, start, stop, restart, signal, logs, reload, shutdown, version', async () => {
    const { path, handler } = await serve();
    const c = await client(path);

    const status = await c.request('status', { names: ['web'] });
    expect(status).toMatchObject({ ok: true, value: { services: [{ name: 'web', state: 'running', processes: [1000] }], orphans: [] } });
    expect(await c.request('status', { names: ['nope'] })).toMatchObject({ ok: false, code: 'unknown_service', message: expect.stringContaining('"nope"') });
    expect(await c.request('health', {})).toMatchObject({ ok: true, value: { healthy: true } });

    for (const cmd of ['start', 'stop', 'restart'] as const) {
      expect(await c.request(cmd, { names: ['web', 'db'], wait: true })).toMatchObject({ ok: true, value: { services: [{ name: 'web' }, { name: 'db' }] } });
      expect(handler.calls.at(-1)).toMatchObject({ method: cmd, args: [['web', 'db'], { wait: true }], caller: { uid: 0, pid: process.pid } });
    }
    expect(await c.request('start', { names: [] })).toMatchObject({ ok: false, code: 'bad_request' });

    expect(await c.request('signal', { name: 'web', signal: 'HUP' })).toMatchObject({ ok: true, value: { signal: 'SIGHUP', pids: [1000] } });
    expect(handler.calls.at(-1)).toMatchObject({ method: 'signal', args: ['web', 1, { mainOnly: false }] });
    await c.request('signal', { name: 'web', signal: 15, main: true });
    expect(handler.calls.at(-1)).toMatchObject({ method: 'signal', args: ['web', 15, { mainOnly: true }] });

    handler.emitLog('web', 'one');
    handler.emitLog('web', 'two', 'stderr');
    handler.emitLog('db', 'other');
    expect(await c.request('logs', { name: 'web', lines: 1 })).toMatchObject({ ok: true, value: { lines: [{ line: 'two', stream: 'stderr' }] } });

    expect(await c.request('reload', {})).toMatchObject({ ok: true, value: { added: [] } });
    handler.reloadResult = { ok: false, reason: 'invalid_manifest', message: 'tend.yaml has 2 problems; nothing changed', problems: ['a', 'b'] };
    expect(await c.request('reload', {})).toMatchObject({ ok: false, code: 'invalid_manifest', problems: ['a', 'b'] });

    expect(await c.request('version', {})).toMatchObject({ ok: true, value: { protocol: 1 } });
    expect(await c.request('shutdown', {})).toMatchObject({ ok: true, value: { already: false } });
    expect(await c.request('start', { names: ['web'] })).toMatchObject({ ok: false, code: 'shutting_down' });
    c.close();
  });

  test('wait resolves when the state comes; times out with the current state; releases its waiter', async () => {
    const handler = new FakeHandler();
    handler.setState('web', 'starting');
    const { path } = await serve(handler);
    const c = await client(path);
    const ready = c.request('wait', { name: 'web', until: 'ready' });
    await waitFor(() => handler.waiters.size === 1, { what: 'the waiter' });
    handler.setState('web', 'ready');
    expect(await ready).toMatchObject({ ok: true, value: { name: 'web', state: 'ready' } });

    const late = await c.request('wait', { name: 'web', until: 'stopped', timeout_ms: 50 });
    expect(late).toMatchObject({ ok: false, code: 'timeout', message: 'web: not stopped after 50ms (state: ready)' });
    expect(handler.waiters.size).toBe(0);

    // A client that goes away while waiting leaves nothing behind in the supervisor.
    void c.request('wait', { name: 'web', until: 'stopped' });
    await waitFor(() => handler.waiters.size === 1, { what: 'the waiter' });
    c.close();
    await waitFor(() => handler.waiters.size === 0, { what: 'the waiter released' });
  });

  test('logs --follow: backlog in the reply, then live lines as events, unsubscribed on close', async () => {
    const { path, handler } = await serve();
    handler.emitLog('web', 'old');
    const c = await client(path);
    const events: unknown[] = [];
    const reply = await c.request('logs', { name: 'web', follow: true }, { onEvent: (e) => events.push(e) });
    expect(reply).toMatchObject({ ok: true, value: { lines: [{ line: 'old' }] } });
    handler.emitLog('web', 'new');
    handler.emitLog('db', 'not mine');
    await waitFor(() => events.length === 1, { what: 'a log event' });
    expect(events[0]).toMatchObject({ service: 'web', line: 'new' });
    expect(handler.logListeners.size).toBe(1);
    c.close();
    await waitFor(() => handler.logListeners.size === 0, { what: 'unsubscribe' });
  });

  test('events stream until the server closes; followers are not timed out as idle', async () => {
    const { path, handler, server } = await serve(new FakeHandler(), { limits: { idleMs: 100 } });
    const c = await client(path);
    const events: unknown[] = [];
    expect(await c.request('events', {}, { onEvent: (e) => events.push(e) })).toMatchObject({ ok: true });
    await idleTimeoutPassed(path); // a connection opened later was timed out; the follower stays
    handler.emit({ type: 'state', time: 1, service: 'web', from: 'running', to: 'stopping', pid: 1000 });
    await waitFor(() => events.length === 1, { what: 'an event' });
    expect(events[0]).toMatchObject({ type: 'state', to: 'stopping' });
    await server.close();
    await c.closed;
    expect(handler.eventListeners.size).toBe(0);
  });

  test('shutdown with wait keeps the connection until the server closes', async () => {
    const { path, server } = await serve(new FakeHandler(), { limits: { idleMs: 100 } });
    const c = await client(path);
    expect(await c.request('shutdown', { wait: true })).toMatchObject({ ok: true });
    let closed = false;
    void c.closed.then(() => { closed = true; });
    await idleTimeoutPassed(path);
    expect(closed).toBe(false);
    await server.close();
    await c.closed;
  });

  test('start with wait answers when the handler is done, and other requests answer meanwhile', async () => {
    const handler = new FakeHandler();
    let release!: () => void;
    handler.hold = new Promise((r) => { release = r; });
    const { path } = await serve(handler);
    const c = await client(path);
    let done = false;
    const start = c.request('start', { names: ['web'], wait: true }).then((r) => { done = true; return r; });
    expect((await c.request('status', {})).ok).toBe(true);
    expect(done).toBe(false);
    release();
    expect(await start).toMatchObject({ ok: true });
    c.close();
  });
});

describe('limits', () => {
  test('200 concurrent idle connections leave the server responsive', async () => {
    const { path, server } = await serve();
    const opened = await Promise.all(Array.from({ length: 200 }, () => new Promise<Socket>((resolve) => {
      const s = connect(path, () => resolve(s));
      s.on('error', () => {});
      sockets.push(s);
    })));
    expect(opened).toHaveLength(200);
    // At the cap (64), each newcomer evicts the longest-idle connection.
    await waitFor(() => server.clientCount() <= 64, { what: 'the client cap' });
    const times = [];
    for (let i = 0; i < 5; i++) times.push(await statusTime(path));
    expect(Math.min(...times)).toBeLessThan(100);
  });

  test('when every client is busy, a newcomer gets busy and the rest are untouched', async () => {
    const handler = new FakeHandler();
    handler.setState('web', 'starting');
    const { path } = await serve(handler, { limits: { maxClients: 3 } });
    const waiting = await Promise.all([1, 2, 3].map(() => client(path)));
    for (const c of waiting) void c.request('wait', { name: 'web', until: 'ready' });
    await waitFor(() => handler.waiters.size === 3, { what: 'three waiters' });
    const late = await raw(path);
    expect(await late.next()).toMatchObject({ id: null, ok: false, error: { code: 'busy' } });
    await late.closed;
    handler.setState('web', 'ready');
    for (const c of waiting) c.close();
  });

  test('a connection that asks nothing is closed after idleMs, even if it trickles a partial line', async () => {
    const { path } = await serve(new FakeHandler(), { limits: { idleMs: 200 } });
    const conn = await raw(path);
    const trickle = setInterval(() => conn.send('{'), 50);
    const started = Date.now();
    expect(await conn.next(3000)).toMatchObject({ id: null, ok: false, error: { code: 'idle_timeout' } });
    await conn.closed;
    clearInterval(trickle);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('a flood of requests is answered in batches without starving others', async () => {
    const { path } = await serve();
    const conn = await raw(path);
    const n = 5000;
    conn.send(Array.from({ length: n }, (_, i) => `{"id":${i},"cmd":"version"}\n`).join(''));
    // Meanwhile another client is served promptly.
    expect(await statusTime(path)).toBeLessThan(500);
    await waitFor(() => conn.lines.length === n, { what: 'all replies', timeout: 20_000 });
  });

  test('too many requests in flight on one connection: busy for the excess', async () => {
    const handler = new FakeHandler();
    handler.setState('web', 'starting');
    const { path } = await serve(handler, { limits: { maxPending: 2 } });
    const conn = await raw(path);
    conn.send('{"id":1,"cmd":"wait","args":{"name":"web","until":"ready"}}\n{"id":2,"cmd":"wait","args":{"name":"web","until":"ready"}}\n{"id":3,"cmd":"wait","args":{"name":"web","until":"ready"}}\n');
    expect(await conn.next()).toMatchObject({ id: 3, ok: false, error: { code: 'busy' } });
    handler.setState('web', 'ready');
    expect(await conn.next()).toMatchObject({ id: 1, ok: true });
  });

  test('a client that does not read its events is disconnected instead of buffering without bound', async () => {
    // Meanwhile what waits for it stays under maxBufferedBytes (events are skipped and
    // counted); it is dropped once it has read nothing for slowReaderMs.
    const { path, handler, notices, server } = await serve(new FakeHandler(), { limits: { maxBufferedBytes: 256 * 1024, slowReaderMs: 300 } });
    const conn = await raw(path);
    conn.send('{"id":1,"cmd":"events"}\n');
    expect(await conn.next()).toMatchObject({ ok: true });
    conn.socket.pause(); // stop reading
    const big = 'x'.repeat(4096);
    const deadline = Date.now() + 5000;
    for (let i = 0; Date.now() < deadline && handler.eventListeners.size > 0; i++) {
      handler.emit({ type: 'shutdown', time: i, reason: big });
      if (i % 100 === 0) await new Promise((r) => setImmediate(r)); // the server's turn to write and notice
    }
    expect(handler.eventListeners.size).toBe(0);
    expect(server.clientCount()).toBeLessThanOrEqual(1);
    expect(notices.some((n) => n.kind === 'slow_reader')).toBe(true);
    expect(await statusTime(path)).toBeLessThan(500);
  });

  test('a client that half-closes after its request still gets the reply', async () => {
    const { path } = await serve();
    const conn = await raw(path);
    conn.socket.end('{"id":1,"cmd":"status"}\n');
    expect(await conn.next()).toMatchObject({ id: 1, ok: true });
    await conn.closed;
  });
});

describe('the socket file', () => {
  test('is 0600 by default, 0666 with socket_allow, and socket_mode otherwise', async () => {
    const plain = await serve();
    expect(statSync(plain.path).mode & 0o777).toBe(0o600);
    const shared = await serve(new FakeHandler(), { allow: [{ user: 'nobody', access: 'read' }] });
    expect(statSync(shared.path).mode & 0o777).toBe(0o666);
    const custom = await serve(new FakeHandler(), { mode: 0o660 });
    expect(statSync(custom.path).mode & 0o777).toBe(0o660);
  });

  test('is removed on close', async () => {
    const { path, server } = await serve();
    servers.pop();
    await server.close();
    expect(() => statSync(path)).toThrow();
  });
});
