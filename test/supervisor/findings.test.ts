// Findings of the December reliability review, reproduced end to end with real tend as
// PID 1: each test is the reproduction, asserting what should happen. (The core's unit
// tests in loop.test.ts pin the same decisions without processes.)
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { canUnshare, waitFor } from '../helpers/tend';
import { scenario } from './scenario';

const pid1 = canUnshare();

interface Status { services: { name: string; state: string; processes: number[]; reason: string | null }[] }

describe.skipIf(!pid1)('findings, end to end', () => {
  it('regression (finding #2, reload remove + re-add race): the re-added service is supervised', async () => {
    const withX = `
services:
  app: { main: true, command: [svc, app] }
  x:
    command: [sh, -c, 'trap "echo stop x >> \\"$$EVENTS\\"; sleep 1; exit 0" TERM; echo "start x" >> "$$EVENTS"; while :; do sleep 0.1; done']
    stop_timeout: 5s
`;
    const t = scenario(withX);
    const tend = t.start();
    await waitFor(() => t.events().includes('start x'));
    writeFileSync(t.file, 'services:\n  app: { main: true, command: [svc, app] }\n');
    expect(t.cli('reload').code).toBe(0);
    await waitFor(() => t.events().includes('stop x'), { what: 'the removal to reach x' });
    writeFileSync(t.file, withX);
    const readded = t.cli('reload');
    expect(readded.code, readded.stderr).toBe(0);
    await waitFor(() => t.events().filter((l) => l === 'start x').length === 2, { what: () => `x to start again: ${t.events().join(', ')}` });
    const status = JSON.parse(t.cli('status', '--json', 'x').stdout) as Status;
    expect(status.services[0]).toMatchObject({ name: 'x', state: 'running' });
    expect(t.cli('stop', 'x').code).toBe(0);
    expect((JSON.parse(t.cli('status', '--json', 'x').stdout) as Status).services[0]).toMatchObject({ state: 'stopped', processes: [] });
    expect(tend.stderr).not.toMatch(/cannot join cgroup|illegal transition/);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });

  it('regression (finding #13, `tend stop` during backoff leaves processes running): they are stopped', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  forker:
    command: 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 60 & done; echo forked >> "$$EVENTS"; exit 1'
    restart: { policy: on-failure, backoff: { initial: 30s } }
    stop_timeout: 2s
`);
    const tend = t.start();
    await tend.waitOutput('forker: restarting in');
    const before = (JSON.parse(t.cli('status', '--json', 'forker').stdout) as Status).services[0]!;
    expect(before.state).toBe('backoff');
    expect(before.processes.length).toBe(10);
    expect(t.cli('stop', 'forker').code).toBe(0);
    const after = (JSON.parse(t.cli('status', '--json', 'forker').stdout) as Status).services[0]!;
    expect(after).toMatchObject({ state: 'stopped', processes: [], reason: 'stopped by hand' });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
    expect(tend.stderr).not.toMatch(/illegal transition/);
  });

  it('regression (finding #17, SIGHUP reload applied during shutdown): refused and said so', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  slow:
    command: [sh, -c, 'trap "sleep 1.5; exit 0" TERM; echo "start slow" >> "$$EVENTS"; while :; do sleep 0.1; done']
`);
    const tend = t.start();
    await waitFor(() => t.events().includes('start slow') && t.events().includes('start app'));
    writeFileSync(t.file, `
services:
  app: { main: true, command: [svc, app] }
  slow: { command: [svc, slow] }
  newbie: { command: [svc, newbie] }
`);
    await tend.signal('SIGTERM');
    await tend.waitOutput('shutdown begins');
    await tend.signal('SIGHUP');
    await tend.waitOutput('reload refused: tend is shutting down');
    expect((await tend.exited).code).toBe(0);
    expect(tend.stderr).not.toMatch(/reloaded|newbie: started/);
    expect(t.events()).not.toContain('start newbie');
  });
});
