// settings.syslog end to end: real tend as PID 1, services that log with util-linux
// `logger` (RFC 3164 local format and RFC 5424) and Python's socket module. A message
// reaches its sender's service's output — console prefix, log.file, `tend logs` — with
// its facility.severity and tag; one from outside any service goes to tend's own log as
// (syslog); an unusable path is said once and tend runs on. Most tests use a path in a
// temporary directory; the /dev/log test gives tend a private /dev (tend's PID namespace
// comes with its own mount namespace), so the machine's /dev/log is never touched.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, freePort, lines, privateDev, readText, waitFor } from '../helpers/tend';
import { scenario } from './scenario';
import { ServiceCgroups } from '../../src/process/cgroup';

const pid1 = canUnshare();
const logger = spawnSync('logger', ['--help']).status === 0;
const python = spawnSync('python3', ['-c', 'import socket']).status === 0;
const cgroups = ServiceCgroups.available();
if (!cgroups) console.warn('skipping the syslog cgroup attribution test: no writable cgroup v2 here');
if (!logger) console.warn('skipping syslog tests: util-linux logger is not installed');

// Sends argv[1..] as datagrams to the socket argv[0] (or COUNT copies of one, numbered).
const SEND = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
if sys.argv[2] == '--count':
    for i in range(int(sys.argv[3])):
        s.send(('<14>flood[1]: message %d' % i).encode())
else:
    for text in sys.argv[2:]:
        s.send(text.encode('utf-8', 'surrogateescape') if text != '--big' else b'<12>big: ' + b'x' * 100000)
`;

describe.skipIf(!pid1 || !logger)('settings.syslog as PID 1', () => {
  it('logger in a service reaches its output, file and `tend logs`; from outside it goes to (syslog); /metrics counts both', async () => {
    const port = await freePort();
    const t = scenario(`
settings:
  syslog: ./log.sock
  http: 127.0.0.1:${port}
services:
  app:
    command: [sh, -c, 'logger -u "$$DIR/log.sock" -t app hello from app; logger -u "$$DIR/log.sock" -p daemon.err -i -t app "$$(printf "two\\nlines")"; logger -u "$$DIR/log.sock" --rfc5424 -t five rfc5424 message; echo done > "$$DIR/sent"; exec sleep 1000']
    log: { file: ./app.log }
  main: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    const file = join(t.dir, 'app.log');
    await waitFor(() => readText(file).includes('five: rfc5424 message'), { what: () => `app.log to fill\n${readText(file)}\n${tend.stderr}` });
    const logged = lines(file);
    expect(logged[0]).toBe('user.notice app: hello from app');
    expect(logged[1]).toMatch(/^daemon\.err app\[\d+\]: two$/);
    expect(logged[2]).toMatch(/^daemon\.err app\[\d+\]: lines$/);
    expect(logged[3]).toBe('user.notice five: rfc5424 message');
    // The console: with the service's prefix; err and worse on tend's stderr, as the service's stderr.
    await tend.waitOutput('five: rfc5424 message');
    expect(tend.stdout).toMatch(/^app +\| user\.notice app: hello from app$/m);
    expect(tend.stdout).toMatch(/^app +\| user\.notice five: rfc5424 message$/m);
    expect(tend.stderr).toMatch(/^app +\| daemon\.err app\[\d+\]: two$/m);
    // `tend logs`: the same lines.
    const shown = t.cli('logs', 'app');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('user.notice app: hello from app');
    expect(shown.stdout).toContain('user.notice five: rfc5424 message');
    expect(tend.stderr).not.toContain('(syslog)');

    // A sender outside tend's PID namespace has no pid tend can see: no service owns it.
    spawnSync('logger', ['-u', join(t.dir, 'log.sock'), '-t', 'stranger', '-p', 'user.warning', 'from outside']);
    await tend.waitOutput(/WARN +tend: \(syslog\) user\.warning stranger: from outside/);
    expect(readText(file)).not.toContain('stranger');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('tend_syslog_messages_total{service="app"} 3'); // three datagrams, four lines
    expect(metrics).toContain('tend_syslog_unattributed_messages_total 1');
    expect(metrics).toContain('tend_syslog_cut_messages_total 0');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it.skipIf(!cgroups)('a service whose own process sends and exits at once is still its sender (cgroup tracking: its cgroup, read as it sent)', async () => {
    const t = scenario(`
settings:
  syslog: ./log.sock
  tracking: cgroup
services:
  once:
    command: [logger, -u, ./log.sock, -t, once, main process says bye]
    cwd: .
    restart: never
    log: { file: ./once.log }
  main: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await waitFor(() => readText(join(t.dir, 'once.log')).includes('bye'), { what: () => tend.stderr });
    expect(lines(join(t.dir, 'once.log'))).toEqual(['user.notice once: main process says bye']);
    expect(tend.stderr).not.toContain('(syslog)');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('a path that cannot be used is said once, and tend runs on', async () => {
    for (const [setup, path, why] of [
      ['file', 'not-a-socket', 'it exists and is not a socket (tend leaves it alone)'],
      ['none', 'missing/dir/log', 'its directory does not exist'],
    ] as const) {
      const t = scenario(`
settings:
  syslog: ./${path}
services:
  app: { main: true, command: [sh, -c, 'echo started >> "$$EVENTS"; exec sleep 1000'] }
`);
      if (setup === 'file') writeFileSync(join(t.dir, path), 'precious\n');
      const tend = t.start();
      await waitFor(() => t.events().includes('started'), { what: () => tend.stderr });
      await tend.waitOutput(`syslog: cannot receive on ${join(t.dir, path)}: ${why}; tend runs on without it`);
      expect(tend.stderr.split('syslog: cannot receive').length - 1).toBe(1);
      if (setup === 'file') expect(readText(join(t.dir, path))).toBe('precious\n');
      expect(t.cli('status').code).toBe(0);
      await tend.signal('SIGTERM');
      expect((await tend.exited).code).toBe(143);
    }
  });

  it.skipIf(!python)('a live receiver on the path is left alone; a leftover socket is taken', async () => {
    const t = scenario(`
settings:
  syslog: ./log.sock
services:
  app: { main: true, command: [sleep, '1000'] }
`);
    const sock = join(t.dir, 'log.sock');
    // Someone else's syslogd: bound and receiving.
    const other = spawn('python3', ['-c', `import socket,sys,time\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\ntime.sleep(60)`, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => other.stdout.once('data', () => resolve()));
      const tend = t.start();
      await tend.waitOutput(`syslog: cannot receive on ${sock}: another syslog receiver is listening on it`);
      await tend.signal('SIGTERM');
      await tend.exited;
    } finally {
      other.kill('SIGKILL');
    }
    await new Promise((resolve) => other.once('exit', resolve));
    // Its socket file is left behind, with nobody on it: tend takes it.
    const tend = t.start();
    await waitFor(() => {
      spawnSync('logger', ['-u', sock, '-t', 'x', 'again']);
      return tend.stderr.includes('(syslog) user.notice x: again');
    }, { what: () => tend.stderr });
    await tend.signal('SIGTERM');
    await tend.exited;
  });

  it.skipIf(!python)('json mode keeps level, tag, facility and severity; a long datagram is cut and said; a flood loses nothing', async () => {
    const t = scenario(`
settings:
  syslog: ./log.sock
  log_format: json
services:
  app:
    command: [sh, -c, 'python3 -c "$$SEND" "$$DIR/log.sock" "<11>1 - - web 42 ID7 - RFC 5424 line" --big; python3 -c "$$SEND" "$$DIR/log.sock" --count 5000; exec sleep 1000']
    log: { file: ./app.log }
  main: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.startWith({ SEND });
    const file = join(t.dir, 'app.log');
    await waitFor(() => readText(file).includes('message 4999'), { timeout: 20_000, what: () => `the flood to reach app.log\n${tend.stderr.slice(-2000)}` });
    const logged = lines(file);
    expect(logged[0]).toBe('user.err web[42]: RFC 5424 line');
    expect(logged[1]).toMatch(/^user\.warning big: x{65527} \[cut: 65536 of 100009 bytes\]$/);
    const flood = logged.filter((line) => line.startsWith('user.info flood[1]: message '));
    expect(flood).toHaveLength(5000);
    expect(flood.map((line) => Number(line.slice('user.info flood[1]: message '.length)))).toEqual([...Array(5000).keys()]);
    await tend.waitOutput('RFC 5424 line');
    const record = tend.stderr.split('\n').find((line) => line.includes('RFC 5424 line'))!;
    expect(JSON.parse(record)).toMatchObject({ level: 50, service: 'app', stream: 'stderr', tag: 'web[42]', facility: 'user', severity: 'err', msg: 'RFC 5424 line' });
    expect(tend.stderr).toMatch(/syslog: a message longer than 64KB was cut to that \(1 message cut so far\)/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('plain `logger -t app msg` reaches its service through /dev/log (a private /dev for tend)', async () => {
    const devLogBefore = existsSync('/dev/log') ? lstatSync('/dev/log').ino : null;
    const t = scenario(`
settings:
  syslog: /dev/log
services:
  app:
    command: [sh, -c, 'logger -t app msg through dev log; exec sleep 1000']
    log: { file: ./app.log }
  main: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.startWith({}, privateDev(join(t.dir, 'dev')));
    await waitFor(() => readText(join(t.dir, 'app.log')).includes('msg through dev log'), { what: () => tend.stderr });
    expect(lines(join(t.dir, 'app.log'))).toEqual(['user.notice app: msg through dev log']);
    await tend.waitOutput(/^app +\| user\.notice app: msg through dev log$/m);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
    // The machine's own /dev was not touched.
    expect(devLogBefore === null ? existsSync('/dev/log') : lstatSync('/dev/log').ino).toBe(devLogBefore ?? false);
  });
});
