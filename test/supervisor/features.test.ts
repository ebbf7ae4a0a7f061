// More of the supervisor end to end: every readiness probe kind, stop_command,
// leftovers, starting by hand with dependencies, forwarding to main, the no-main rules.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { canUnshare, waitFor, freePort } from '../helpers/tend';
import { scenario } from './scenario';

const pid1 = canUnshare();


describe.skipIf(!pid1)('supervisor features as PID 1', () => {
  it('waits for tcp, http, log and notify_fd readiness before starting dependents', async () => {
    const tcpPort = await freePort();
    const httpPort = await freePort();
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  tcp:
    command: [node, -e, "setTimeout(() => require('net').createServer().listen(${tcpPort}, '127.0.0.1'), 300)"]
    ready: { tcp: "127.0.0.1:${tcpPort}", interval: 50ms }
  http:
    command: [node, -e, "setTimeout(() => require('http').createServer((q, s) => s.end('ok')).listen(${httpPort}, '127.0.0.1'), 300)"]
    ready: { http: "http://127.0.0.1:${httpPort}/", interval: 50ms }
  log:
    command: [sh, -c, 'sleep 0.3; echo "booted and listening"; exec sleep 1000']
    ready: { log: "listening$$" }
  notify:
    command: [sh, -c, 'sleep 0.3; echo >&3; exec sleep 1000']
    ready: { notify_fd: 3 }
  after:
    command: [svc, after]
    depends_on:
      tcp: { condition: ready }
      http: { condition: ready }
      log: { condition: ready }
      notify: { condition: ready }
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start after'), { what: () => `after to start:\n${tend.stderr}` });
    for (const name of ['tcp', 'http', 'log', 'notify']) expect(tend.stderr).toMatch(new RegExp(`${name}: ready after`));
    const status = JSON.parse(t.cli('status', '--json').stdout) as { services: { name: string; state: string }[] };
    for (const name of ['tcp', 'http', 'log', 'notify']) expect(status.services.find((s) => s.name === name)?.state).toBe('ready');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });

  it('runs stop_command instead of the stop signal', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  graceful:
    command: [sh, -c, 'trap "" TERM; echo "start graceful" >> "$EVENTS"; while [ ! -f "$DIR/quit" ]; do sleep 0.05; done; echo "quit graceful" >> "$EVENTS"']
    stop_command: [sh, -c, 'touch "$DIR/quit"']
    stop_timeout: 10s
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start graceful'));
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
    expect(t.events()).toContain('quit graceful');
    expect(tend.stderr).not.toMatch(/graceful: killed with SIGKILL/);
  });

  it('stops what a run left behind before the service starts again', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  forker:
    command: [sh, -c, 'setsid sh -c "trap \\"echo stop-daemon >> \\$$EVENTS; exit 0\\" TERM; echo start-daemon >> \\$$EVENTS; while :; do sleep 0.1; done" & sleep 0.3; exit 1']
    restart: { policy: on-failure, backoff: { initial: 100ms } }
`);
    const tend = t.start();
    await waitFor(() => t.events().filter((l) => l === 'start-daemon').length >= 2, { what: () => `two runs: ${t.events().join(', ')}` });
    const events = t.events();
    // The first run's daemon was stopped before the second run started its own.
    expect(events.indexOf('stop-daemon')).toBeGreaterThan(-1);
    expect(events.indexOf('stop-daemon')).toBeLessThan(events.lastIndexOf('start-daemon'));
    await tend.signal('SIGTERM');
    await tend.exited;
  });

  it('starts a service by hand with its dependencies; a service stopped by hand stays down', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  db: { command: [svc, db], autostart: false }
  worker:
    command: [svc, worker]
    autostart: false
    depends_on: [db]
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start app'));
    expect(t.events()).not.toContain('start db');
    const started = t.cli('start', 'worker');
    expect(started.code).toBe(0);
    // `started` means spawned: tend's own log has the order (the two processes may then
    // reach their first line in either order).
    await tend.waitOutput('worker: started');
    expect(tend.stderr.indexOf('db: started')).toBeGreaterThan(-1);
    expect(tend.stderr.indexOf('db: started')).toBeLessThan(tend.stderr.indexOf('worker: started'));

    expect(t.cli('stop', 'worker').code).toBe(0);
    expect(t.events()).toContain('stop worker');
    const status = JSON.parse(t.cli('status', '--json', 'worker').stdout) as { services: { state: string; reason: string }[] };
    expect(status.services[0]).toMatchObject({ state: 'stopped', reason: 'stopped by hand' });

    const unknown = t.cli('start', 'nope');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown service "nope"/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });

  it('forwards SIGUSR1, SIGUSR2 and SIGWINCH to main, and never opens an inspector', async () => {
    const t = scenario(`
services:
  app:
    main: true
    command: [sh, -c, 'for s in USR1 USR2 WINCH; do trap "echo got-$$s >> \\"$$EVENTS\\"" $$s; done; echo ready >> "$EVENTS"; while :; do sleep 0.05; done']
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('ready'));
    for (const signal of ['SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const) {
      await tend.signal(signal);
      await waitFor(() => t.events().includes(`got-${signal.slice(3)}`), { what: `main to get ${signal}` });
    }
    expect(tend.stderr).not.toMatch(/Debugger listening/);
    await tend.signal('SIGTERM');
    await tend.exited;
  });

  it('waits shutdown_delay before stopping anything', async () => {
    const t = scenario(`
settings: { shutdown_delay: 600ms }
services:
  app: { main: true, command: [svc, app] }
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start app'));
    const t0 = Date.now();
    await tend.signal('SIGTERM');
    await waitFor(() => t.events().includes('stop app'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    expect((await tend.exited).code).toBe(0);
  });

  it('with no main, exits 0 once every service has completed, and 1 when one failed', async () => {
    const ok = scenario(`
services:
  a: { type: oneshot, command: 'true' }
  b: { type: oneshot, command: 'true', depends_on: { a: { condition: completed } } }
`);
    expect((await ok.start().exited).code).toBe(0);
    const failed = scenario(`
services:
  a: { type: oneshot, command: 'true' }
  b: { command: 'exit 4', restart: never }
`);
    expect((await failed.start().exited).code).toBe(1);
  });

  it('a critical sidecar that gives up ends the container with 1; a plain one does not', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  plain:
    command: 'exit 1'
    restart: { policy: on-failure, backoff: { initial: 10ms }, limit: { count: 1, window: 1m } }
`);
    const tend = t.start();
    await tend.waitOutput('plain: gave up');
    expect(tend.child.exitCode).toBeNull();
    const status = JSON.parse(t.cli('status', '--json', 'plain').stdout) as { services: { state: string }[] };
    expect(status.services[0]!.state).toBe('fatal');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });

  it('refuses a broken manifest before starting anything, exit 2', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app], restart: sometimes }
`);
    const result = await t.start().exited;
    expect(result.code).toBe(2);
    expect(t.events()).toEqual([]);
  });
});

describe.skipIf(!pid1)('reload, further', () => {
  it('gives a changed service that had given up a fresh start; a second main is pending, not a main', async () => {
    const base = (command: string, extra = '', appMain = true) => `
services:
  app: { main: ${appMain}, command: [svc, app] }
  broken:
    command: ${command}
    restart: { policy: on-failure, backoff: { initial: 10ms }, limit: { count: 1, window: 1m } }
${extra}`;
    const t = scenario(base("'exit 1'"));
    const tend = t.start();
    await tend.waitOutput('broken: gave up');
    // main moves from app to a new service: the running container keeps app as its main.
    writeFileSync(t.file, base('[svc, broken]', '  other: { main: true, command: [svc, other] }', false));
    const reloaded = t.cli('reload');
    expect(reloaded.stderr).toBe('');
    expect(reloaded.code).toBe(0);
    await waitFor(() => t.events().includes('start broken') && t.events().includes('start other'));
    await tend.waitOutput(/pending until tend restarts: .*services\.other\.main/);
    const status = JSON.parse(t.cli('status', '--json').stdout) as { services: { name: string; main: boolean; state: string }[] };
    expect(status.services.filter((s) => s.main).map((s) => s.name)).toEqual(['app']);
    expect(status.services.find((s) => s.name === 'broken')?.state).toBe('running');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});

describe.skipIf(!pid1)('lazily loaded parts, through the real bundle', () => {
  it('regression (vm-script-dynamic-import): gzip of rotated logs works in the bundle tend runs from', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  talk:
    command: [sh, -c, 'for i in $$(seq 300); do echo "line $$i of some text"; done; exec sleep 1000']
    log: { file: talk.log, max_size: 1KB, keep: 2, compress: true }
`);
    const tend = t.start();
    // The output ends early: once talk.log.2.gz exists, rotation and compression are done.
    await waitFor(() => existsSync(join(t.dir, 'talk.log.2.gz')) && existsSync(join(t.dir, 'talk.log.1.gz')), { what: () => `rotated files:\n${tend.stderr}` });
    await waitFor(() => t.cli('status', '--json').code === 0);
    // A later rotation may be renaming .1.gz onto .2.gz right now: read until one read is whole.
    const rotated = await waitFor(() => {
      try {
        return gunzipSync(readFileSync(join(t.dir, 'talk.log.2.gz'))).toString();
      } catch {
        return null;
      }
    }, { what: 'a whole talk.log.2.gz' });
    expect(rotated).toMatch(/^line \d+ of some text\n/);
    expect(tend.stderr).not.toMatch(/cannot compress/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});

describe.skipIf(!pid1)('commands that cross', () => {
  it('regression (start-during-stop-lost, found by the signal-storm fuzzer): the last of stop / start / restart wins', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  slow:
    # takes 1.5 s to stop, so the next command arrives while it is stopping (each status
    # below is a CLI process of its own: under load one can take a few hundred ms)
    command: [sh, -c, 'trap "sleep 1.5; exit 0" TERM; echo "start slow" >> "$EVENTS"; while :; do sleep 0.05; done']
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start slow'));
    const state = () => (JSON.parse(t.cli('status', '--json', 'slow').stdout) as { services: { state: string }[] }).services[0]!.state;
    for (const last of ['start', 'restart'] as const) {
      expect(t.cli('stop', 'slow', '--no-wait').code).toBe(0);
      await waitFor(() => state() === 'stopping');
      expect(t.cli(last, 'slow', '--no-wait').code).toBe(0);
      await waitFor(() => state() === 'running', { what: () => `slow running after stop then ${last}: ${state()}` });
    }
    // And the other way round: a stop during a restart's stop stays stopped.
    expect(t.cli('restart', 'slow', '--no-wait').code).toBe(0);
    await waitFor(() => state() === 'stopping');
    expect(t.cli('stop', 'slow', '--no-wait').code).toBe(0);
    await waitFor(() => state() === 'stopped', { what: () => `slow stopped: ${state()}` });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});
