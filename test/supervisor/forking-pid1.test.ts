// type: forking end to end: real tend as PID 1 of a new PID namespace, real start programs
// that fork a daemon and exit, the daemon re-parented to tend and reaped by it. Shell
// stand-ins cover the edge cases; test/examples/vm-daemons.test.ts runs the real Debian
// daemons (nginx, redis-server) the same way.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, waitFor } from '../helpers/tend';
import { scenario } from './scenario';

const pid1 = canUnshare();

interface Status {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly last_exit: { code: number } | { signal: string } | null;
}

describe.skipIf(!pid1)('type: forking as PID 1', () => {
  it('runs the daemon a start program leaves, reports its own exit, restarts it once, stops it with SIGTERM', async () => {
    const t = scenario(`
services:
  daemon:
    type: forking
    command: [daemonize, '\${DIR}/daemon.pid', '0']
    pid_file: daemon.pid
    restart: { policy: always, backoff: { initial: 100ms, jitter: 0 } }
  app:
    main: true
    command: [sleep, '1000']
    depends_on: [daemon]
`);
    const tend = t.start();
    const status = (): Status | undefined => {
      const result = t.cli('status', '--json');
      if (result.code !== 0) return undefined;
      return (JSON.parse(result.stdout) as { services: Status[] }).services.find((s) => s.name === 'daemon');
    };
    const first = await waitFor(() => { const s = status(); return s?.state === 'running' ? s : undefined; }, { what: () => `daemon running\n${tend.stderr}` });
    const pid = Number(readFileSync(join(t.dir, 'daemon.pid'), 'utf8'));
    expect(first.pid).toBe(pid);
    expect(t.events()).toEqual([`start ${pid}`]);
    await tend.waitOutput(/app: started/);

    // The daemon dies with its own status: tend, its parent now, reaps it and restarts once.
    expect(t.cli('signal', 'daemon', 'KILL').code).toBe(0);
    const second = await waitFor(() => { const s = status(); return s?.state === 'running' && s.pid !== pid ? s : undefined; }, { what: () => `a new daemon\n${tend.stderr}` });
    expect(second.restarts).toBe(1);
    expect(second.last_exit).toEqual({ signal: 'SIGKILL' });
    expect(t.events().filter((e) => e.startsWith('start'))).toHaveLength(2);

    // tend stop: the daemon gets SIGTERM and stays down.
    expect(t.cli('stop', 'daemon').code).toBe(0);
    await waitFor(() => t.events().includes(`stop ${second.pid}`), { what: () => `the daemon's stop\n${t.events().join(', ')}` });
    expect(status()?.state).toBe('stopped');
    expect(status()?.last_exit).toEqual({ code: 0 });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
    expect(t.events().filter((e) => e.startsWith('start'))).toHaveLength(2);
  });

  it('a start program that exits 1 is a failed start; a pid_file that never appears fails after the start timeout', async () => {
    const t = scenario(`
services:
  broken:
    type: forking
    command: [daemonize, '\${DIR}/broken.pid', '1']
    pid_file: broken.pid
    restart: { policy: on-failure, limit: { count: 1, window: 1m }, backoff: { initial: 50ms, jitter: 0 } }
  silent:
    type: forking
    command: [daemonize, '-', '0']
    pid_file: never.pid
    ready: { tcp: '127.0.0.1:1', timeout: 700ms }
    restart: never
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await tend.waitOutput(/broken: its start program exited with 1: the start failed/);
    await tend.waitOutput(/broken: gave up/);
    await tend.waitOutput(new RegExp(`silent: not ready after 700ms \\(its pid_file ${t.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/never.pid has not appeared\\)`));
    await tend.waitOutput(/silent: stopped/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('without a pid_file, the service runs while it owns any process', async () => {
    const t = scenario(`
services:
  pair:
    type: forking
    # two daemons; the first ends early, the second keeps the service up until it is killed
    command: sh -c 'daemonize - 0 0.5; daemonize "$$DIR/second.pid" 0'
    restart: never
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await tend.waitOutput(/pair: daemon running/);
    await tend.waitOutput(/pair: daemon pid \d+ exited with 0; the service still owns processes and runs on/);
    const second = Number(readFileSync(join(t.dir, 'second.pid'), 'utf8'));
    await waitFor(() => {
      const s = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((x) => x.name === 'pair');
      return s?.state === 'running' && s.pid === second;
    }, { what: () => `${tend.stderr}\n${t.events().join(', ')}\n${t.cli('status', '-v').stdout}` });
    expect(t.cli('signal', 'pair', 'KILL').code).toBe(0);
    await waitFor(() => {
      const s = (JSON.parse(t.cli('status', '--json').stdout) as { services: Status[] }).services.find((x) => x.name === 'pair');
      return s?.state === 'exited' && JSON.stringify(s.last_exit) === JSON.stringify({ signal: 'SIGKILL' });
    }, { what: () => tend.stderr });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });
});
