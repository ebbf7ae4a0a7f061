// What a real migration asked of stops and starts, end to end: real tend as PID 1 of a new
// PID namespace, real processes. stop_mode (who gets the stop signal, per process), a prefork
// master finishing its in-flight jobs on `docker stop`, commands that cannot start going
// fatal at once, critical with restart never, services stopped by hand keeping tend up,
// stop_command's output and MAINPID.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
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
  readonly processes: number[];
}

function statusOf(t: ReturnType<typeof scenario>, name: string): Status | undefined {
  const result = t.cli('status', '--json');
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as { services: Status[] }).services.find((s) => s.name === name);
}

describe.skipIf(!pid1)('stop_mode as PID 1', () => {
  it('mixed: a prefork master gets SIGTERM alone on docker stop, and its workers finish the jobs in hand', async () => {
    const t = scenario(`
services:
  worker:
    command: [prefork, '2', '0.8']
    stop_mode: mixed
    stop_timeout: 5s
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    // The master notes itself once its SIGTERM handler is in place, which can be after its
    // workers have started their jobs.
    await waitFor(() => t.events().some((e) => /^master \d+$/.test(e)) && t.events().filter((e) => e.startsWith('job start')).length >= 2, { what: () => `the master ready and two jobs in hand\n${t.events().join('\n')}\n${tend.stderr}` });
    await tend.signal('SIGTERM');
    const { code } = await tend.exited;
    expect(code).toBe(143); // main's own SIGTERM
    const events = t.events();
    // Every job that started was done; the master exited on its own, not killed.
    const started = events.filter((e) => e.startsWith('job start')).map((e) => e.slice('job start '.length));
    for (const pid of started) expect(events.filter((e) => e === `job done ${pid}`)).toHaveLength(events.filter((e) => e === `job start ${pid}`).length);
    expect(events).toContain('master exit');
    expect(tend.stderr).not.toMatch(/worker: killed with SIGKILL/);
  });

  it('group: the same workers get SIGTERM themselves and their jobs are lost (what mixed is for)', async () => {
    const t = scenario(`
services:
  worker:
    command: [prefork, '2', '2']
    stop_mode: group
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await waitFor(() => t.events().filter((e) => e.startsWith('job start')).length >= 2, { what: () => `two jobs in hand\n${tend.stderr}` });
    await tend.signal('SIGTERM');
    await tend.exited;
    expect(t.events().filter((e) => e.startsWith('job done'))).toEqual([]);
  });

  it('signal delivery per process: group all at once; mixed the master, then what it left; main the master only', async () => {
    const t = scenario(`
services:
  group:  { command: [family, '2', '0.3'], stop_mode: group,  autostart: false, restart: never }
  mixed:  { command: [family, '2', '0.3'], stop_mode: mixed,  autostart: false, restart: never }
  main:   { command: [family, '2', '0.3'], stop_mode: main,   autostart: false, restart: never }
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await tend.waitOutput(/app: started/);
    const run = async (name: string): Promise<{ events: string[]; children: number[] }> => {
      const before = t.events().length;
      expect(t.cli('start', name).code).toBe(0);
      await waitFor(() => t.events().slice(before).filter((e) => / up$/.test(e)).length === 3, { what: () => `${name} up\n${t.events().join('\n')}` });
      const children = t.events().slice(before).filter((e) => e.startsWith('child')).map((e) => Number(e.split(' ')[1]));
      const stop = t.cli('stop', name);
      expect(stop.code, stop.stderr).toBe(0);
      return { events: t.events().slice(before).filter((e) => !e.endsWith(' up')), children };
    };

    const group = await run('group');
    // Both children got SIGTERM while the master still lingered.
    expect(group.events.indexOf('master exit')).toBeGreaterThan(Math.max(...group.children.map((c) => group.events.indexOf(`child ${c} TERM`))));
    expect(group.children.every((c) => group.events.includes(`child ${c} TERM`))).toBe(true);

    const mixed = await run('mixed');
    // The master alone first; its children only once it had exited.
    expect(mixed.events[0]).toBe('master TERM');
    expect(mixed.events[1]).toBe('master exit');
    expect(mixed.children.every((c) => mixed.events.indexOf(`child ${c} TERM`) > 1)).toBe(true);

    const main = await run('main');
    // The master alone; the stop is done once it exited; its children keep running.
    expect(main.events).toEqual(['master TERM', 'master exit']);
    expect(statusOf(t, 'main')?.state).toBe('stopped');
    expect(statusOf(t, 'main')?.processes.sort()).toEqual([...main.children].sort());

    // The shutdown stops them at last (the sweep).
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
    for (const child of main.children) expect(t.events()).toContain(`child ${child} TERM`);
  });

  it('stop_command: its output is the service\'s own (prefixed, in tend logs), with MAINPID', async () => {
    const t = scenario(`
services:
  web:
    command: [sleep, '1000']
    stop_command: [sh, -c, 'echo "stopping main $$MAINPID"; echo "to stderr" >&2; kill $$MAINPID']
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    const web = await waitFor(() => { const s = statusOf(t, 'web'); return s?.state === 'running' ? s : undefined; }, { what: () => tend.stderr });
    expect(t.cli('stop', 'web').code).toBe(0);
    await tend.waitOutput(new RegExp(`web +\| stopping main ${web.pid}`));
    await tend.waitOutput(/web +\| to stderr/);
    const logs = t.cli('logs', 'web');
    expect(logs.stdout).toContain(`stopping main ${web.pid}`);
    expect(statusOf(t, 'web')?.last_exit).toEqual({ signal: 'SIGTERM' });
  });
});

describe.skipIf(!pid1)('fail fast as PID 1', () => {
  it('a command not found, an unknown user, a missing cwd: fatal at once with the reason, 127 for the command, never "started"', async () => {
    const t = scenario(`
services:
  web: { command: [nginxx, -g, 'daemon off;'] }
  side: { command: [sleep, '1000'], user: nobodyx }
  dir: { command: [sleep, '1000'], cwd: /nonexistent/dir }
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await tend.waitOutput(/app: started/);
    await waitFor(() => ['web', 'side', 'dir'].every((name) => statusOf(t, name)?.state === 'fatal'), { what: () => tend.stderr });
    expect(statusOf(t, 'web')).toMatchObject({ restarts: 0, last_exit: { code: 127 }, pid: null });
    expect(statusOf(t, 'side')).toMatchObject({ restarts: 0, last_exit: { code: 126 } });
    await tend.waitOutput('web: cannot start: command not found: nginxx; it stays down: `tend start web` after fixing it');
    await tend.waitOutput('side: cannot start: unknown user: nobodyx');
    await tend.waitOutput(/dir: cannot start: cannot change directory to \/nonexistent\/dir/);
    expect(tend.stderr).not.toMatch(/(web|side|dir): started/);
    expect(tend.stderr).not.toMatch(/(web|side|dir): restarting/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('`tend start NAME` after fixing it: the command made, it starts', async () => {
    const t = scenario(`
services:
  tool: { command: ['\${DIR}/tool'] }
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await waitFor(() => statusOf(t, 'tool')?.state === 'fatal', { what: () => tend.stderr });
    writeFileSync(join(t.dir, 'tool'), '#!/bin/sh\necho "start tool" >> "$EVENTS"\nexec sleep 1000\n', { mode: 0o755 });
    const start = t.cli('start', 'tool');
    expect(start.code, start.stderr).toBe(0);
    await waitFor(() => t.events().includes('start tool'));
    expect(statusOf(t, 'tool')?.state).toBe('running');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('`tend stop` of main gets its answer, then tend exits with main\'s status', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start app'));
    const stop = t.cli('stop', 'app');
    expect(stop.code, stop.stderr).toBe(0);
    expect((await tend.exited).code).toBe(0); // svc exits 0 on SIGTERM
  });

  it('main\'s command not found: tend exits 127', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [nginxx] }
`);
    const tend = t.start();
    expect((await tend.exited).code).toBe(127);
    expect(tend.stderr).not.toMatch(/app: started/);
  });

  it('critical + restart: never: its failure shuts the container down with 1', async () => {
    const t = scenario(`
services:
  db: { command: [sh, -c, 'sleep 0.2; exit 3'], critical: true, restart: never }
  web: { command: [sleep, '1000'] }
`);
    const tend = t.start();
    expect((await tend.exited).code).toBe(1);
    expect(tend.stderr).toContain('shutdown begins (critical service db ended: exited with 3)');
  });
});

describe.skipIf(!pid1)('stopped by hand as PID 1', () => {
  it('with no main, stopping every service by hand leaves tend up; tend shutdown then exits 0', async () => {
    const t = scenario(`
services:
  a: { command: [svc, a] }
  b: { command: [svc, b] }
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start a') && t.events().includes('start b'), { what: () => tend.stderr });
    const stop = t.cli('stop', 'a', 'b');
    expect(stop.code, stop.stderr).toBe(0);
    expect(statusOf(t, 'a')?.state).toBe('stopped');
    expect(statusOf(t, 'b')?.state).toBe('stopped');
    // Still up: the control socket answers, nothing began a shutdown.
    expect(t.cli('status').code).toBe(0);
    expect(tend.stderr).not.toMatch(/shutdown begins/);
    const shutdown = t.cli('shutdown');
    expect(shutdown.code, shutdown.stderr + shutdown.stdout).toBe(0);
    expect((await tend.exited).code).toBe(0);
  });
});

describe.skipIf(!pid1)('issue 14 item 8 as PID 1', () => {
  it('regression (illegal transition stopped → stopping at shutdown): services in backoff that still own processes stop cleanly, in every stop_mode', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [sleep, '1000'] }
  g: { command: [sh, -c, 'sleep 1000 & setsid sleep 1000 & exit 1'], stop_mode: group, restart: { policy: always, backoff: { initial: 30s } } }
  x: { command: [sh, -c, 'sleep 1000 & setsid sleep 1000 & exit 1'], stop_mode: mixed, restart: { policy: always, backoff: { initial: 30s } } }
  m: { command: [sh, -c, 'sleep 1000 & setsid sleep 1000 & exit 1'], stop_mode: main, restart: { policy: always, backoff: { initial: 30s } } }
`);
    const tend = t.start();
    await waitFor(() => ['g', 'x', 'm'].every((name) => { const s = statusOf(t, name); return s?.state === 'backoff' && s.processes.length === 2; }), { what: () => tend.stderr });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
    expect(tend.stderr).not.toMatch(/illegal transition|ERROR/);
  });
});

describe.skipIf(!pid1)('pre_start and post_stop as PID 1', () => {
  it('post_stop sees EXIT_CODE and EXIT_STATUS after a crash and after a stop by hand; its output is the service\'s', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [sleep, '1000'] }
  crash:
    command: [sh, -c, 'exit 3']
    restart: never
    post_stop: [sh, -c, 'echo "post crash $$EXIT_CODE $$EXIT_STATUS" >> "$$EVENTS"; echo cleaning up']
  web:
    command: [svc, web]
    post_stop: [sh, -c, 'echo "post web $$EXIT_CODE $$EXIT_STATUS" >> "$$EVENTS"']
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('post crash exited 3'), { what: () => `${t.events().join('\n')}\n${tend.stderr}` });
    await tend.waitOutput(/crash +\| cleaning up/);
    await waitFor(() => statusOf(t, 'crash')?.state === 'exited', { what: () => tend.stderr });
    await waitFor(() => t.events().includes('start web'));
    const stop = t.cli('stop', 'web');
    expect(stop.code, stop.stderr).toBe(0);
    // The stop's answer comes once post_stop has run: svc exits 0 on SIGTERM.
    expect(t.events()).toContain('post web exited 0');
    expect(statusOf(t, 'web')?.state).toBe('stopped');
    expect(t.cli('logs', 'crash').stdout).toContain('cleaning up');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('pre_start runs before each start; failing, it fails the start (restart policy, then fatal), and the command never runs', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [sleep, '1000'] }
  good:
    command: [sh, -c, 'cat "$$DIR/made" >> "$$EVENTS"; exec sleep 1000']
    pre_start: [sh, -c, 'echo "made by pre_start" > "$$DIR/made"']
  bad:
    command: [svc, bad]
    pre_start: [sh, -c, 'echo "prep bad" >> "$$EVENTS"; exit 4']
    restart: { policy: on-failure, limit: { count: 1, window: 1m }, backoff: { initial: 50ms, jitter: 0 } }
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('made by pre_start'), { what: () => tend.stderr });
    await waitFor(() => statusOf(t, 'bad')?.state === 'fatal', { what: () => tend.stderr });
    expect(t.events().filter((e) => e === 'prep bad')).toHaveLength(2);
    expect(t.events()).not.toContain('start bad');
    await tend.waitOutput('bad: pre_start exited with 4; the start failed');
    expect(statusOf(t, 'bad')?.last_exit).toEqual({ code: 4 });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('a stop while pre_start runs stops it like the service\'s processes and waits for it; the command never runs', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [sleep, '1000'] }
  web:
    command: [svc, web]
    pre_start: [sh, -c, 'trap "echo pre TERM >> \\"$$EVENTS\\"; exit 1" TERM; echo "pre up" >> "$$EVENTS"; while :; do sleep 0.1; done']
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('pre up'), { what: () => tend.stderr });
    expect(statusOf(t, 'web')?.processes.length).toBeGreaterThan(0);
    const stop = t.cli('stop', 'web');
    expect(stop.code, stop.stderr).toBe(0);
    expect(t.events()).toContain('pre TERM');
    expect(statusOf(t, 'web')).toMatchObject({ state: 'stopped', processes: [] });
    expect(t.events()).not.toContain('start web');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });
});
