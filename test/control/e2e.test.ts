// The control socket end to end: a real tend with real children, driven by the real CLI.
import { afterEach, describe, expect, test } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resultSchemas } from '../../src/control/replies';
import { startTend, tempDir, waitFor, writeManifest, ROOT, TEND_BIN, type RunningTend } from '../helpers/tend';

const running: RunningTend[] = [];

afterEach(async () => {
  for (const t of running.splice(0)) {
    if (t.child.exitCode === null && t.child.signalCode === null) {
      // SIGTERM first: tend (not PID 1 here) stops its services' escaped daemons too;
      // SIGKILL would leave them to the host's init.
      t.child.kill('SIGTERM');
      const timer = setTimeout(() => t.child.kill('SIGKILL'), 10_000);
      await t.exited;
      clearTimeout(timer);
    }
  }
});

function cli(socket: string, args: readonly string[], uid?: number) {
  const argv = uid === undefined
    ? [process.execPath, TEND_BIN, ...args]
    : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, TEND_BIN, ...args];
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: uid === undefined ? ROOT : '/', env: { PATH: process.env.PATH, TEND_SOCKET: socket }, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function tendWith(yaml: string): Promise<{ tend: RunningTend; socket: string; dir: string }> {
  const dir = tempDir('tend-e2e-control-');
  const socket = join(dir, 'tend.sock');
  const manifest = writeManifest(dir, yaml);
  const tend = startTend(['-c', manifest], { env: { TEND_SOCKET: socket } });
  running.push(tend);
  await waitFor(() => cli(socket, ['status', '--json']).code === 0, { what: () => `tend's socket\n${tend.stderr}` });
  return { tend, socket, dir };
}

const MANIFEST = `
services:
  app:
    main: true
    command: ["sleep", "1000"]
  daemon:
    # leaves a descendant in its own session, as a double-forking daemon does
    command: "setsid sleep 1000 & exec sleep 1000"
  ticker:
    command: "n=0; while true; do n=$$((n+1)); echo tick $$n; sleep 0.1; done"
`;

describe('against a real tend', () => {
  test('status --json is the documented document; escaped descendants are counted and listed', async () => {
    const { socket } = await tendWith(MANIFEST);
    const doc = await waitFor(() => {
      const parsed = JSON.parse(cli(socket, ['status', '--json']).stdout);
      const daemon = parsed.services.find((s: { name: string }) => s.name === 'daemon');
      return daemon.processes.length === 2 ? parsed : null;
    }, { what: 'the escaped descendant in status' });
    expect(resultSchemas.status.safeParse(doc).success).toBe(true);
    expect(doc.services.map((s: { name: string; state: string }) => [s.name, s.state])).toEqual([['app', 'running'], ['daemon', 'running'], ['ticker', 'running']]);
    const table = cli(socket, ['status', '-v', 'daemon']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^daemon\s+running\s+\d+\s+\S+\s+0\s+-\s+-\s+2\b/m);
    expect(table.stdout.split('\n').filter((l) => /^ {4}\d+/.test(l))).toHaveLength(2);
  });

  test('stop, start, restart, wait and signal a sidecar', async () => {
    const { socket } = await tendWith(MANIFEST);
    expect(cli(socket, ['stop', 'ticker'])).toMatchObject({ code: 0, stdout: 'ticker: stopped\n' });
    expect(cli(socket, ['wait', 'ticker', '--stopped', '--timeout', '1s']).code).toBe(0);
    expect(cli(socket, ['start', 'ticker'])).toMatchObject({ code: 0, stdout: 'ticker: running\n' });
    expect(cli(socket, ['restart', 'ticker'])).toMatchObject({ code: 0, stdout: 'ticker: running\n' });
    expect(cli(socket, ['wait', 'ticker', '--timeout', '5s']).code).toBe(0);
    expect(cli(socket, ['signal', 'ticker', 'CONT', '--main'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ticker: SIGCONT sent to pid \d+\n$/) });
    expect(cli(socket, ['stop', 'nope'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^tend: unknown service "nope" \(known: app, daemon, ticker\)\n$/) });
  });

  test('logs -f follows live lines until interrupted', async () => {
    const { socket } = await tendWith(MANIFEST);
    const follower = spawn(process.execPath, [TEND_BIN, 'logs', 'ticker', '-n', '1', '-f'], { env: { PATH: process.env.PATH, TEND_SOCKET: socket }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    await waitFor(() => out.split('\n').length > 4, { what: () => `followed lines, got ${JSON.stringify(out)}` });
    const numbers = out.trim().split('\n').map((l) => Number(/^tick (\d+)$/.exec(l)![1]));
    // The last line kept, then live ones, in order, none twice.
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    const exited = new Promise<number | null>((r) => follower.on('exit', (code) => r(code)));
    follower.kill('SIGINT');
    expect(await exited).toBe(130);
  });

  test('a second tend on the same socket exits 2 and leaves the first alone', async () => {
    const { socket, dir } = await tendWith(MANIFEST);
    const second = spawnSync(process.execPath, [TEND_BIN, '-c', join(dir, 'tend.yaml')], { env: { PATH: process.env.PATH, TEND_SOCKET: socket }, encoding: 'utf8', timeout: 20_000 });
    expect(second.status).toBe(2);
    expect(second.stderr).toContain('is in use');
    expect(cli(socket, ['health'])).toMatchObject({ code: 0 });
  });

  test('shutdown --wait returns once tend has exited and removed its socket', async () => {
    const { socket, tend } = await tendWith(MANIFEST);
    const result = cli(socket, ['shutdown', '--wait']);
    expect(result).toMatchObject({ code: 0, stdout: 'tend is shutting down\n' });
    expect(existsSync(socket)).toBe(false);
    expect((await tend.exited).code).toBe(143);
    expect(cli(socket, ['status'])).toMatchObject({ code: 1, stderr: `tend: cannot reach ${socket} (TEND_SOCKET): no such file — is tend running? set --socket or TEND_SOCKET\n` });
  });

  test.runIf(process.getuid?.() === 0)('socket_allow read: nobody may ask for status, not stop', async () => {
    const { socket } = await tendWith(`
settings:
  socket_allow:
    - { user: nobody, access: read }
services:
  app:
    main: true
    command: ["sleep", "1000"]
`);
    const dirMode = spawnSync('chmod', ['755', join(socket, '..')]);
    expect(dirMode.status).toBe(0);
    expect(cli(socket, ['status'], 65534)).toMatchObject({ code: 0, stderr: '' });
    expect(cli(socket, ['stop', 'app'], 65534)).toMatchObject({ code: 1, stderr: expect.stringContaining('has read access only') });
    expect(cli(socket, ['health'])).toMatchObject({ code: 0 });
  });
});
