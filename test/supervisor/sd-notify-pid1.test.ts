// sd_notify end to end: real tend as PID 1, services that send on $NOTIFY_SOCKET as
// libsystemd does (test/fixtures/bin/sd-notify, Python's socket module) and Debian's own
// systemd-notify. READY=1 gates a dependent, STATUS= shows in `tend status`, MAINPID=
// moves the service's pid, EXTEND_TIMEOUT_USEC= extends the start, and a message from a
// process the service does not own is dropped.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, waitFor } from '../helpers/tend';
import { scenario } from './scenario';

const pid1 = canUnshare();
const python = spawnSync('python3', ['-c', 'import socket']).status === 0;
const systemdNotify = spawnSync('systemd-notify', ['--help']).status === 0;
if (!python) console.warn('skipping sd_notify tests: python3 is not installed');

interface Status {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly status_text?: string | null;
  readonly last_exit: unknown;
}

describe.skipIf(!pid1 || !python)('sd_notify as PID 1', () => {
  it('READY=1 gates a dependent, STATUS= shows, a message from outside the service is dropped', async () => {
    const t = scenario(`
services:
  api:
    command: [sh, -c, 'echo "$$NOTIFY_SOCKET" > "$$DIR/socket"; exec sd-notify "STATUS=Warming up" 0.4 "READY=1\\nSTATUS=Serving" forever']
    ready: { sd_notify: true }
  dep:
    command: [svc, dep]
    depends_on: { api: { condition: ready } }
  plain:
    # no sd_notify: it gets no NOTIFY_SOCKET, and what it sends on api's is dropped
    command: [sh, -c, 'echo "plain NOTIFY_SOCKET=$\${NOTIFY_SOCKET:-none}" >> "$$EVENTS"; while [ ! -s "$$DIR/socket" ]; do sleep 0.05; done; sleep 0.6; NOTIFY_SOCKET=$$(cat "$$DIR/socket") sd-notify "STATUS=hijacked"; exec sleep 1000']
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    const status = (name: string): Status | undefined => {
      const result = t.cli('status', '--json');
      return result.code === 0 ? (JSON.parse(result.stdout) as { services: Status[] }).services.find((s) => s.name === name) : undefined;
    };
    await waitFor(() => t.events().includes('start dep'), { what: () => `dep to start\n${tend.stderr}\n${t.events().join('\n')}` });
    const events = t.events();
    expect(events.indexOf('sent READY=1\\nSTATUS=Serving')).toBeGreaterThan(-1);
    expect(events.indexOf('sent READY=1\\nSTATUS=Serving')).toBeLessThan(events.indexOf('start dep'));
    expect(events).toContain('plain NOTIFY_SOCKET=none');
    expect(status('api')).toMatchObject({ state: 'ready', status_text: 'Serving' });
    expect(t.cli('status').stdout).toMatch(/^api\s+ready\s.*Serving$/m);

    await waitFor(() => t.events().includes('sent STATUS=hijacked'), { what: () => t.events().join('\n') });
    await tend.waitOutput(/sd_notify message from pid \d+ \(uid 0\) dropped: no service with sd_notify owns that process \(1 dropped so far\)/);
    expect(status('api')?.status_text).toBe('Serving');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('EXTEND_TIMEOUT_USEC= extends the start; MAINPID= makes the daemon the service\'s pid and its exit the run\'s', async () => {
    const t = scenario(`
services:
  slow:
    command: [sd-notify, EXTEND_TIMEOUT_USEC=5000000, '2', READY=1, forever]
    ready: { sd_notify: true, timeout: 1500ms }
  handover:
    command: [sh, -c, 'daemonize "$$DIR/main.pid" 0; while [ ! -s "$$DIR/main.pid" ]; do sleep 0.02; done; exec sd-notify "MAINPID=$$(cat "$$DIR/main.pid")\\nREADY=1" forever']
    ready: { sd_notify: true }
    restart: never
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await tend.waitOutput(/slow: start timeout extended by 5s \(EXTEND_TIMEOUT_USEC=\)/);
    await tend.waitOutput(/slow: ready after/);
    expect(tend.stderr).not.toMatch(/slow: not ready/);

    await tend.waitOutput(/handover: ready after/);
    const daemon = Number(readFileSync(join(t.dir, 'main.pid'), 'utf8'));
    await tend.waitOutput(`handover: its main process is pid ${daemon} now (MAINPID=)`);
    const listed = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((s) => s.name === 'handover');
    expect(listed?.pid).toBe(daemon);
    // The daemon is killed: that is the run's end, with its status.
    expect(t.cli('signal', '--main', 'handover', 'KILL').code).toBe(0);
    await waitFor(() => {
      const s = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((x) => x.name === 'handover');
      return s?.state === 'stopped' || s?.state === 'exited' ? s : undefined;
    }, { what: () => tend.stderr });
    await tend.waitOutput(/handover: killed by SIGKILL/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it.skipIf(!systemdNotify)('Debian\'s systemd-notify --ready, run from the service\'s shell, makes it ready', async () => {
    const t = scenario(`
services:
  shell:
    command: [sh, -c, 'sleep 0.2; systemd-notify --ready --status="up from systemd-notify"; exec sleep 1000']
    ready: { sd_notify: true, timeout: 10s }
  app: { main: true, command: [sleep, '1000'], depends_on: { shell: { condition: ready } } }
`);
    const tend = t.start();
    await tend.waitOutput(/shell: ready after/);
    await tend.waitOutput(/app: started/);
    const s = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((x) => x.name === 'shell');
    expect(s?.status_text).toBe('up from systemd-notify');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('watchdog: WATCHDOG_USEC and WATCHDOG_PID set; a service that stops pinging gets SIGABRT and a restart', async () => {
    const t = scenario(`
services:
  api:
    # The first run hangs after two pings; the next one pings on (a second hang would
    # restart it again while the test reads its status).
    command: [sh, -c, 'echo "env $$WATCHDOG_USEC $$WATCHDOG_PID $$$$" >> "$$EVENTS"; if [ -e "$$EVENTS.hung" ]; then exec sd-notify READY=1 every 0.2 WATCHDOG=1; fi; touch "$$EVENTS.hung"; exec sd-notify READY=1 0.2 WATCHDOG=1 0.2 WATCHDOG=1 forever']
    ready: { sd_notify: true }
    watchdog: 700ms
    restart: { policy: on-failure, backoff: { initial: 100ms, jitter: 0 } }
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await tend.waitOutput(/api: watchdog: no WATCHDOG=1 for 700ms: it hangs; SIGABRT to pid \d+/);
    const env = t.events().find((e) => e.startsWith('env '))!.split(' ');
    expect(env[1]).toBe('700000');
    expect(env[2]).toBe(env[3]); // WATCHDOG_PID is the service's own pid
    await tend.waitOutput(/api: killed by SIGABRT/);
    await tend.waitOutput(/api: restarting in/);
    await waitFor(() => {
      const s = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((x) => x.name === 'api');
      return s?.state === 'ready' && s.restarts === 1 ? s : undefined;
    }, { what: () => tend.stderr });
    const s = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((x) => x.name === 'api');
    expect(s?.last_exit).toEqual({ signal: 'SIGABRT', reason: 'watchdog' });
    expect(t.cli('status').stdout).toMatch(/^api\s+ready\s.*SIGABRT \(watchdog\)/m);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });
});
