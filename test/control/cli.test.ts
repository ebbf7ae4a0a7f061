// The client commands: a few through the real built CLI (node bin/tend.cjs ...), the rest
// through runClientWith with captured output, all against a real server and fake handler.
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { runClientWith, type ClientIO } from '../../src/roots/client';
import type { ClientCommand } from '../../src/cli/args';
import { formatDuration, formatStatus } from '../../src/cli/format';
import { FakeHandler, fakeService, startServer, type TestServer } from './fake';
import { ROOT, TEND_BIN, waitFor } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

const servers: TestServer[] = [];

beforeAll(() => ensureBuilt());

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.server.close()));
});

async function serve(handler = new FakeHandler()): Promise<TestServer> {
  const server = await startServer(handler);
  servers.push(server);
  return server;
}

function tend(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TEND_BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function capture(): ClientIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    env: {},
    uid: 0,
    out: (text: string) => { io.stdout += text; },
    err: (text: string) => { io.stderr += text; },
  };
  return io;
}

async function run(command: ClientCommand, path: string) {
  const io = capture();
  const code = await runClientWith(command, path, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('the built CLI', () => {
  test('tend status prints a table; --json the status document', async () => {
    const handler = new FakeHandler([]);
    handler.services.set('web', fakeService('web', { main: true, pid: 4242, uptime_ms: 192_000, health: 'healthy', processes: [4242, 4250, 4300], process_info: [
      { pid: 4242, command: 'nginx', escaped: false }, { pid: 4250, command: 'nginx', escaped: false }, { pid: 4300, command: 'daemon', escaped: true },
    ] }));
    handler.services.set('cron', fakeService('cron', { type: 'oneshot', state: 'backoff', pid: null, uptime_ms: null, restarts: 4, last_exit: { code: 1 }, processes: [], reason: 'exit 1' }));
    handler.orphans = [777];
    const { path } = await serve(handler);

    const table = await tend(['status', '--socket', path]);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    expect(table.stdout).toBe([
      'NAME        STATE    PID   UPTIME  RESTARTS  LAST EXIT  HEALTH   PROCS          NOTE',
      'web (main)  running  4242  3m12s   0         -          healthy  3 (1 escaped)',
      'cron        backoff  -     -       4         exit 1     -        0              exit 1',
      '(orphans)   -        -     -       -         -          -        1              swept at shutdown',
      '',
    ].join('\n'));

    const verbose = await tend(['status', '-v', 'web', '--socket', path]);
    expect(verbose.stdout).toContain('    4242  nginx (own process)\n    4250  nginx\n    4300  daemon (escaped)\n');

    const json = await tend(['status', '--json', '--socket', path]);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(doc.services.map((s: { name: string }) => s.name)).toEqual(['web', 'cron']);
    expect(doc.services[1]).toMatchObject({ state: 'backoff', pid: null, last_exit: { code: 1 }, processes: [] });
    expect(doc.orphans).toEqual([777]);
  });

  test('an unknown service: exit 1 and one line naming it', async () => {
    const { path } = await serve();
    const result = await tend(['stop', 'wbe', '--socket', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tend: unknown service "wbe" (known: web, db)\n');
  });

  test('tend health exits 0 only when healthy', async () => {
    const { path, handler } = await serve();
    expect((await tend(['health'], { TEND_SOCKET: path })).code).toBe(0);
    handler.healthy = false;
    const sick = await tend(['health'], { TEND_SOCKET: path });
    expect(sick.code).toBe(1);
    expect(sick.stderr).toBe('tend: unhealthy: main web is backoff\n');
  });

  test('an unreachable socket names the path and how it was chosen', async () => {
    const result = await tend(['status'], { TEND_SOCKET: '/nonexistent/tend.sock' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tend: cannot reach /nonexistent/tend.sock (TEND_SOCKET): no such file — is tend running? set --socket or TEND_SOCKET\n');
  });
});

describe('client commands', () => {
  test('start, stop and restart wait and report each service; --no-wait does not wait', async () => {
    const { path, handler } = await serve();
    handler.setState('db', 'stopped');
    expect(await run({ cmd: 'start', names: ['web', 'db'], wait: true }, path)).toEqual({ code: 0, stdout: 'web: already running\ndb: running\n', stderr: '' });
    expect(await run({ cmd: 'stop', names: ['web'], wait: true }, path)).toMatchObject({ code: 0, stdout: 'web: stopped\n' });
    expect(await run({ cmd: 'restart', names: ['db'], wait: false }, path)).toMatchObject({ code: 0, stdout: 'db: starting\n' });
    expect(handler.calls.at(-1)).toMatchObject({ method: 'restart', args: [['db'], { wait: false }] });
  });

  test('signal reports the pids; a service with no process is an error', async () => {
    const { path, handler } = await serve();
    handler.services.set('web', fakeService('web', { processes: [10, 11] }));
    expect(await run({ cmd: 'signal', name: 'web', signal: 'HUP', mainOnly: false }, path)).toMatchObject({ code: 0, stdout: 'web: SIGHUP sent to 2 processes: 10 11\n' });
    handler.services.set('web', fakeService('web', { pid: null, processes: [] }));
    expect(await run({ cmd: 'signal', name: 'web', signal: 'TERM', mainOnly: true }, path)).toMatchObject({ code: 1, stderr: 'tend: web has no process to send SIGTERM to\n' });
    expect(await run({ cmd: 'signal', name: 'web', signal: 'BOGUS', mainOnly: true }, path)).toMatchObject({ code: 2, stderr: 'tend: unknown signal "BOGUS" (write TERM, SIGTERM or 15)\n' });
  });

  test('wait: succeeds when the state comes, times out with a message, rejects a bad duration', async () => {
    const { path, handler } = await serve();
    handler.setState('web', 'starting');
    const waiting = run({ cmd: 'wait', name: 'web', until: 'ready', timeout: '10s' }, path);
    await waitFor(() => handler.waiters.size === 1, { what: 'the waiter' });
    handler.setState('web', 'ready');
    expect(await waiting).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await run({ cmd: 'wait', name: 'web', until: 'stopped', timeout: '250ms' }, path))
      .toEqual({ code: 1, stdout: '', stderr: 'tend: web: not stopped after 250ms (state: ready)\n' });
    expect(await run({ cmd: 'wait', name: 'web', until: 'stopped', timeout: 'soon' }, path))
      .toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout expects a duration') });
  });

  test('logs -n prints the last lines to their streams; -f follows until tend goes away', async () => {
    const { path, handler, server } = await serve();
    handler.emitLog('web', 'a');
    handler.emitLog('web', 'b', 'stderr');
    handler.emitLog('web', 'c');
    expect(await run({ cmd: 'logs', name: 'web', lines: 2, follow: false }, path)).toEqual({ code: 0, stdout: 'c\n', stderr: 'b\n' });

    const io = capture();
    const following = runClientWith({ cmd: 'logs', name: 'web', lines: 1, follow: true }, path, io);
    await waitFor(() => handler.logListeners.size === 1, { what: 'the follower' });
    handler.emitLog('web', 'd');
    await waitFor(() => io.stdout === 'c\nd\n', { what: 'the followed line' });
    servers.pop();
    await server.close();
    expect(await following).toBe(0);
  });

  test('events stream in text and JSON', async () => {
    const { path, handler, server } = await serve();
    const text = capture();
    const json = capture();
    const streams = [
      runClientWith({ cmd: 'events', json: false }, path, text),
      runClientWith({ cmd: 'events', json: true }, path, json),
    ];
    await waitFor(() => handler.eventListeners.size === 2, { what: 'two subscribers' });
    const time = new Date(2026, 0, 1, 12, 0, 1, 234).getTime();
    handler.emit({ type: 'state', time, service: 'web', from: 'starting', to: 'running', pid: 5 });
    handler.emit({ type: 'exit', time, service: 'web', pid: 5, exit: { signal: 'SIGKILL' } });
    await waitFor(() => text.stdout.split('\n').length === 3 && json.stdout.split('\n').length === 3, { what: 'the events' });
    expect(text.stdout).toBe('12:00:01.234 web: starting → running (pid 5)\n12:00:01.234 web: pid 5 killed by SIGKILL\n');
    expect(JSON.parse(json.stdout.split('\n')[0]!)).toMatchObject({ type: 'state', to: 'running' });
    servers.pop();
    await server.close();
    expect(await Promise.all(streams)).toEqual([0, 0]);
  });

  test('reload prints what changed, or every problem of a broken manifest', async () => {
    const { path, handler } = await serve();
    handler.reloadResult = { ok: true, value: { added: ['cron'], removed: [], changed: ['web'], unchanged: ['db'], pending: ['main web: its change applies at the next start of tend'] } };
    expect(await run({ cmd: 'reload' }, path)).toEqual({
      code: 0,
      stdout: 'reloaded: added cron; changed web\npending until tend restarts: main web: its change applies at the next start of tend\n',
      stderr: '',
    });
    handler.reloadResult = { ok: false, reason: 'invalid_manifest', message: 'tend.yaml has 2 problems; nothing changed', problems: ['tend.yaml:3:5: services.web.comand: unknown key; did you mean "command"?', 'tend.yaml:9:7: services.db.restart: expected always | on-failure | never, got "sometimes"'] };
    expect(await run({ cmd: 'reload' }, path)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'tend: tend.yaml has 2 problems; nothing changed\n  tend.yaml:3:5: services.web.comand: unknown key; did you mean "command"?\n  tend.yaml:9:7: services.db.restart: expected always | on-failure | never, got "sometimes"\n',
    });
  });

  test('shutdown --wait returns once tend has closed the socket', async () => {
    const { path, handler, server } = await serve();
    let done = false;
    const shutting = run({ cmd: 'shutdown', wait: true }, path).then((r) => { done = true; return r; });
    await waitFor(() => handler.shuttingDown, { what: 'the shutdown request' });
    // A whole second client run, start to answer, is the witness: the first would have
    // exited well within it had it not waited for the close.
    expect((await run({ cmd: 'stop', names: ['web'], wait: false }, path)).code).toBeDefined();
    expect(done).toBe(false);
    servers.pop();
    await server.close();
    expect(await shutting).toEqual({ code: 0, stdout: 'tend is shutting down\n', stderr: '' });
  });
});

describe('formatting', () => {
  test.each([
    [0, '0ms'], [850, '850ms'], [45_000, '45s'], [192_000, '3m12s'], [3_600_000, '1h'], [7_500_000, '2h5m'], [273_600_000, '3d4h'],
  ])('formatDuration(%d) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test('a shutting-down tend says so under the table', () => {
    expect(formatStatus({ services: [], orphans: [], shutting_down: true }, false)).toContain('tend is shutting down');
  });
});
