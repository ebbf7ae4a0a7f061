// `tend top` as a person uses it: in a real terminal (tmux), typing with send-keys and
// reading the screen with capture-pane, against a real tend with real services.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { FakeHandler, startServer, type TestServer } from '../control/fake';
import { childrenOf, ROOT, startTend, tempDir, TEND_BIN, waitFor, writeManifest, type RunningTend } from '../helpers/tend';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
if (!hasTmux) console.warn('skipping tend top terminal tests: tmux is not installed (.ci/run installs it)');

const running: RunningTend[] = [];
const servers: TestServer[] = [];
const work = tempDir('tend-top-');
const TMUX_SOCKET = join(work, 'tmux.sock');

beforeAll(() => ensureBuilt(), 120_000);

afterEach(async () => {
  spawnSync('tmux', ['-S', TMUX_SOCKET, 'kill-server']);
  await Promise.all(servers.splice(0).map((s) => s.server.close()));
  for (const t of running.splice(0)) {
    if (t.child.exitCode === null && t.child.signalCode === null) {
      t.child.kill('SIGTERM');
      const timer = setTimeout(() => t.child.kill('SIGKILL'), 10_000);
      await t.exited;
      clearTimeout(timer);
    }
  }
});

afterAll(() => {
  spawnSync('tmux', ['-S', TMUX_SOCKET, 'kill-server']);
});

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-S', TMUX_SOCKET, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, TERM: 'xterm-256color' } });
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `command` in a fresh tmux pane of `columns`×`rows`. When it ends, the pane shows
 * its exit status and whether the terminal is back in canonical (cooked) mode, and stays.
 */
let session = 'top';
let sessions = 0;

function openTerminal(command: readonly string[], columns = 120, rows = 30): void {
  // A new session each time: killing the last one ends the server, and a new session made
  // while it exits can find it dying.
  session = `top${sessions++}`;
  const line = `${command.map(quote).join(' ')}; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{0,1\\}icanon'; sleep 3600`;
  tmux('new-session', '-d', '-s', session, '-x', String(columns), '-y', String(rows), line);
}

function capture(): string {
  return tmux('capture-pane', '-p', '-t', session);
}

async function screenUntil(predicate: (screen: string) => boolean, what: string, timeout = 15_000): Promise<string> {
  let last = '';
  return waitFor(() => {
    last = capture();
    return predicate(last) ? last : null;
  }, { timeout, interval: 50, what: () => `${what}; the screen:\n${last}` });
}

/** The terminal's modes: the alternate screen and the cursor's visibility. */
function terminalModes(): { alternate: boolean; cursor: boolean } {
  const [alternate, cursor] = tmux('display', '-p', '-t', session, '#{alternate_on} #{cursor_flag}').trim().split(' ');
  return { alternate: alternate === '1', cursor: cursor === '1' };
}

interface ScreenRow { state: string; pid: number | null; restarts: number; lastExit: string }

/** A service's row as the list shows it. */
function rowOf(screen: string, name: string): ScreenRow | null {
  const match = new RegExp(`^${name}(?: \\(main\\))?\\s+(\\w+)\\s+(\\d+|-)\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+(exit \\d+|SIG\\w+|-)`, 'm').exec(screen);
  if (match === null) return null;
  return { state: match[1]!, pid: match[2] === '-' ? null : Number(match[2]), restarts: Number(match[4]), lastExit: match[6]! };
}

function cli(socket: string, ...args: string[]): { code: number | null; stdout: string } {
  const result = spawnSync(process.execPath, [TEND_BIN, ...args, '--socket', socket], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout };
}

async function tendWith(yaml: string): Promise<{ tend: RunningTend; socket: string; dir: string }> {
  const dir = tempDir('tend-top-');
  chmodSync(dir, 0o755); // a peer of another uid must reach the socket file; SO_PEERCRED decides
  const socket = join(dir, 'tend.sock');
  const tend = startTend(['-c', writeManifest(dir, yaml)], { env: { TEND_SOCKET: socket } });
  running.push(tend);
  await waitFor(() => cli(socket, 'status').code === 0, { what: () => `tend's socket\n${tend.stderr}` });
  return { tend, socket, dir };
}

const MANIFEST = `
services:
  app:
    main: true
    command: "echo app is up; exec sleep 1000"
  worker:
    command: "echo worker started; exec sleep 1000"
    restart: { policy: always, backoff: { initial: 100ms } }
`;

/** No JavaScript stack trace on the screen. */
const STACK = /^\s+at .+[(:]\d+/m;

describe.runIf(hasTmux)('tend top in a terminal', () => {
  test('the list appears and follows a crash and restart; r restarts the selected service; q restores the terminal', async () => {
    const { socket } = await tendWith(MANIFEST);
    openTerminal([process.execPath, TEND_BIN, 'top', '--socket', socket]);
    let screen = await screenUntil((s) => rowOf(s, 'worker')?.state === 'running' && rowOf(s, 'app')?.state === 'running', 'both services listed as running');
    expect(terminalModes()).toEqual({ alternate: true, cursor: false });
    expect(screen).toMatch(/NAME\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+HEALTH\s+LAST EXIT/);
    // tend status carries usage (cpu_percent, memory_bytes): top shows its columns.
    expect(screen).toMatch(/CPU/);
    expect(screen).toMatch(/MEM/);
    // The selected (first) service's output below the list.
    await screenUntil((s) => /── app latest output/.test(s) && s.includes('app is up'), "app's output");
    const first = rowOf(screen, 'worker')!;
    expect(first).toMatchObject({ restarts: 0, lastExit: '-' });

    // A crash: the row follows from events alone — new pid, a restart, how it ended.
    process.kill(first.pid!, 'SIGKILL');
    screen = await screenUntil((s) => {
      const row = rowOf(s, 'worker');
      return row !== null && row.state === 'running' && row.pid !== first.pid && row.restarts === 1;
    }, 'worker restarted after its crash');
    const second = rowOf(screen, 'worker')!;
    expect(second.lastExit).toBe('SIGKILL');

    // Select worker, then `r`.
    tmux('send-keys', '-t', session, 'j');
    await screenUntil((s) => /── worker latest output/.test(s) && s.includes('worker started'), "worker's output below the list");
    tmux('send-keys', '-t', session, 'r');
    screen = await screenUntil((s) => {
      const row = rowOf(s, 'worker');
      return row !== null && row.state === 'running' && row.pid !== second.pid && row.pid !== null;
    }, 'worker restarted by r');
    expect(screen).toMatch(/^restart: worker: /m);
    expect(rowOf(screen, 'worker')).toMatchObject({ restarts: 1, lastExit: 'SIGTERM' }); // by hand: not counted
    expect(JSON.parse(cli(socket, 'status', '--json').stdout).services[1].pid).toBe(rowOf(screen, 'worker')!.pid);

    // The full-screen output, and back.
    tmux('send-keys', '-t', session, 'Enter');
    screen = await screenUntil((s) => /^ worker running\s+output · following/m.test(s), 'the log view');
    expect(screen).toMatch(/^\d\d:\d\d:\d\d worker started$/m);
    tmux('send-keys', '-t', session, 'Escape');
    await screenUntil((s) => /^NAME\s+STATE/m.test(s), 'the list again');

    // A resize redraws at the new size.
    tmux('resize-window', '-t', session, '-x', '60', '-y', '12');
    screen = await screenUntil((s) => s.split('\n').length >= 12 && /^↑↓ select/m.test(s.split('\n')[11] ?? ''), 'the footer on the last of 12 rows');
    for (const l of screen.split('\n')) expect([...l].length).toBeLessThanOrEqual(60);

    tmux('send-keys', '-t', session, 'q');
    screen = await screenUntil((s) => /^-?icanon$/m.test(s), 'top to exit');
    expect(screen).toMatch(/^EXIT=0$/m);
    expect(screen).toMatch(/^icanon$/m); // cooked mode again, not -icanon
    expect(terminalModes()).toEqual({ alternate: false, cursor: true });
  }, 60_000);

  test.runIf(isRoot && hasSetpriv)("a read-only peer's x is refused with the reason, and nothing is stopped", async () => {
    const { socket } = await tendWith(`settings:\n  socket_allow: [{ user: nobody, access: read }]\n${MANIFEST}`);
    openTerminal(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, TEND_BIN, 'top', '--socket', socket], 200, 20);
    await screenUntil((s) => rowOf(s, 'worker')?.state === 'running', 'the list, as nobody');
    tmux('send-keys', '-t', session, 'j');
    await screenUntil((s) => /── worker latest output/.test(s), 'worker selected');
    tmux('send-keys', '-t', session, 'x');
    const screen = await screenUntil((s) => s.includes('stop worker: refused'), 'the refusal');
    expect(screen).toMatch(/^stop worker: refused: uid 65534 \(nobody\) pid \d+ has read access only \(socket_allow user nobody\); "stop" needs control access$/m);
    expect(rowOf(screen, 'worker')!.state).toBe('running');
    expect(JSON.parse(cli(socket, 'status', '--json').stdout).services[1].state).toBe('running');
  }, 60_000);

  test('a reload that adds and removes services shows up in the list', async () => {
    const { socket, dir } = await tendWith(MANIFEST);
    openTerminal([process.execPath, TEND_BIN, 'top', '--socket', socket]);
    await screenUntil((s) => rowOf(s, 'worker')?.state === 'running', 'the list');
    writeManifest(dir, `${MANIFEST.replace(/  worker:\n.*\n.*\n/, '')}  extra:\n    command: ["sleep", "1000"]\n`);
    expect(cli(socket, 'reload').code).toBe(0);
    const screen = await screenUntil((s) => rowOf(s, 'extra')?.state === 'running' && rowOf(s, 'worker') === null, 'extra listed, worker gone');
    expect(screen).toMatch(/^ tend top  2 services · 2 up/m);
  }, 60_000);

  test('a log stream tend drops (this view read nothing for a while) is followed again', async () => {
    // A real server with a fake supervisor, and small allowances for unread output.
    const server = await startServer(new FakeHandler(['web', 'db']), { limits: { maxBufferedBytes: 16 * 1024, slowReaderMs: 300 } });
    servers.push(server);
    const { handler, path } = server;
    openTerminal([process.execPath, TEND_BIN, 'top', '--socket', path]);
    await waitFor(() => handler.calls.some((c) => c.method === 'followLogs'), { what: 'top to follow web' });
    handler.emitLog('web', 'before the flood');
    await screenUntil((s) => s.includes('before the flood'), 'the first line');
    // top stopped while 1 MB of lines come: the kernel's socket buffer fills, the rest
    // waits in the server's heap, nothing is read for slowReaderMs, and the server drops it.
    const shell = Number(tmux('display', '-p', '-t', session, '#{pane_pid}').trim());
    const top = childrenOf(shell)[0]!;
    process.kill(top, 'SIGSTOP');
    try {
      for (let i = 0; i < 10_000; i++) handler.emitLog('web', `flood ${i} ${'x'.repeat(100)}`);
      await waitFor(() => server.notices.some((n) => n.kind === 'slow_reader'), { what: 'the server to drop the slow reader' });
    } finally {
      process.kill(top, 'SIGCONT');
    }
    await waitFor(() => handler.calls.filter((c) => c.method === 'followLogs').length >= 2, { what: 'top to follow web again' });
    handler.emitLog('web', 'after the flood');
    const screen = await screenUntil((s) => s.includes('after the flood'), 'a line after the drop');
    expect(screen).toMatch(/── web latest output/);
    expect(screen).not.toMatch(STACK);
  }, 60_000);

  test('tend stopped: the view says the connection was lost, restores the terminal, no stack trace', async () => {
    const { tend, socket } = await tendWith(MANIFEST);
    openTerminal([process.execPath, TEND_BIN, 'top', '--socket', socket]);
    await screenUntil((s) => rowOf(s, 'worker')?.state === 'running', 'the list');
    await tend.signal('SIGTERM');
    const screen = await screenUntil((s) => /^-?icanon$/m.test(s), 'top to exit');
    expect(screen).toMatch(/^tend: top: connection lost: tend shut down \(.*tend\.sock\)$/m);
    expect(screen).toMatch(/^EXIT=1$/m);
    expect(screen).toMatch(/^icanon$/m);
    expect(screen).not.toMatch(STACK);
    expect(terminalModes()).toEqual({ alternate: false, cursor: true });
  }, 60_000);

  test('SIGTERM and SIGINT to top itself restore the terminal', async () => {
    const { socket } = await tendWith(MANIFEST);
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      openTerminal([process.execPath, TEND_BIN, 'top', '--socket', socket]);
      await screenUntil((s) => rowOf(s, 'worker')?.state === 'running', 'the list');
      const shell = Number(tmux('display', '-p', '-t', session, '#{pane_pid}').trim());
      const top = await waitFor(() => childrenOf(shell)[0], { what: 'top under the pane\'s shell' });
      process.kill(top, signal);
      const screen = await screenUntil((s) => /^-?icanon$/m.test(s), `top to exit on ${signal}`);
      expect(screen).toMatch(new RegExp(`^EXIT=${code}$`, 'm'));
      expect(screen).toMatch(/^icanon$/m);
      expect(screen).not.toMatch(STACK);
      expect(terminalModes()).toEqual({ alternate: false, cursor: true });
    }
  }, 60_000);
});

describe('tend top without a terminal', () => {
  test('stdout not a terminal: a plain table, printed again when it changes', async () => {
    const { socket } = await tendWith(MANIFEST);
    const child = spawn(process.execPath, [TEND_BIN, 'top', '--socket', socket], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => rowOf(out, 'worker')?.state === 'running', { what: () => `the table\n${out}\n${err}` });
      expect(out).not.toContain('\x1b'); // no escape sequences in a file or a pipe
      expect(out).toMatch(/^tend top \d\d:\d\d:\d\d — 2 services · 2 up\nNAME\s+STATE\s+PID/m);
      const pid = rowOf(out, 'worker')!.pid!;
      process.kill(pid, 'SIGKILL');
      await waitFor(() => {
        const tables = out.split('\n\n').filter((t) => t.includes('NAME'));
        const last = rowOf(tables.at(-1) ?? '', 'worker');
        return last !== null && last.state === 'running' && last.restarts === 1 && last.pid !== pid;
      }, { what: () => `a later table with worker restarted\n${out}` });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(143);
    expect(err).toBe('');
  }, 60_000);

  test('tend not running: one line saying so, exit 1', () => {
    const result = spawnSync(process.execPath, [TEND_BIN, 'top', '--socket', join(work, 'none.sock')], { encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^tend: cannot reach .*none\.sock \(--socket\): no such file — is tend running\?/);
    expect(result.stderr.split('\n')).toHaveLength(2);
  });

  test('the view is client-side only: tend run never loads it, and its bundle holds none of it', () => {
    // dist/top.cjs is a bundle of its own (scripts/build.mjs).
    expect(readFileSync(join(ROOT, 'dist', 'top.cjs'), 'utf8')).toContain('filter services');
    for (const bundle of ['run.cjs', 'tend.cjs', 'client.cjs']) expect(readFileSync(join(ROOT, 'dist', bundle), 'utf8')).not.toContain('filter services');
    // At run time: record every dist/ file tend reads while it runs a manifest to the end.
    const dir = tempDir('tend-top-');
    const record = join(dir, 'read');
    const preload = join(dir, 'preload.cjs');
    writeFileSync(preload, `
      const fs = require('node:fs');
      const read = fs.readFileSync;
      fs.readFileSync = function (file, ...rest) {
        if (typeof file === 'string' && file.includes('/dist/')) fs.appendFileSync(${JSON.stringify(record)}, file + '\\n');
        return read.call(this, file, ...rest);
      };
    `);
    const manifest = writeManifest(dir, 'services:\n  app: { main: true, command: ["true"] }\n');
    const result = spawnSync(process.execPath, ['-r', preload, TEND_BIN, '-c', manifest], { cwd: dir, encoding: 'utf8', env: { ...process.env, TEND_SOCKET: join(dir, 's.sock') }, timeout: 20_000 });
    expect(result.status, result.stderr).toBe(0);
    const read = readFileSync(record, 'utf8');
    expect(read).toContain('/dist/run.cjs');
    expect(read).not.toContain('top.cjs');
  });
});
