// sd_notify in the core, with the fake process layer: what each field of a `notified`
// fact does. The socket, the credentials and the attribution to a service are the process
// layer's (test/supervisor/sd-notify-pid1.test.ts runs them for real).
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { plan as flatPlan, service } from './fixtures';
import { startedHarnesses, type Harness } from './fakes';

const notifying = (name: string, overrides: Partial<ServicePlan> = {}): ServicePlan =>
  service(name, { ready: { check: { kind: 'sd_notify' }, interval: 200, timeout: 1000 }, ...overrides });

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

// Every transition a scenario makes goes through the table: none is refused (checked after each test).
const started = startedHarnesses();
async function start(plan: Plan): Promise<Harness> {
  const h = started(plan);
  await h.clock.advance(0);
  return h;
}

const say = (h: Harness, name: string, ...fields: [string, string][]) =>
  h.report({ kind: 'notified', service: name, pid: h.port.pidOf(name)!, fields });

describe('sd_notify in the core', () => {
  it('READY=1 makes it ready and starts what waits for it; STATUS= is kept, and forgotten at the next start', async () => {
    const h = await start(graph([notifying('api'), service('web', { dependsOn: [{ name: 'api', condition: 'ready' }] })]));
    expect(h.state('api')).toBe('starting');
    await say(h, 'api', ['STATUS', 'Warming up']);
    expect(h.loop.record('api')!.statusText).toBe('Warming up');
    expect(h.state('web')).toBe('starting');
    await say(h, 'api', ['READY', '1'], ['STATUS', 'Serving']);
    expect(h.state('api')).toBe('ready');
    expect(h.loop.record('api')!.statusText).toBe('Serving');
    expect(h.port.spawns.map((s) => s.service)).toEqual(['api', 'web']);
    h.port.end(h.port.pidOf('api')!, { kind: 'exited', code: 1 });
    await h.clock.advance(1000);
    expect(h.loop.record('api')!.statusText).toBeNull();
  });

  it('no READY=1 within the timeout is a failed start, saying what was missing', async () => {
    const h = await start(graph([notifying('api')]));
    await h.clock.advance(1000);
    expect(h.lines()).toContain('warn api: not ready after 1s (no READY=1 on its NOTIFY_SOCKET)');
  });

  it('EXTEND_TIMEOUT_USEC= moves the start timeout', async () => {
    const h = await start(graph([notifying('api')]));
    await h.clock.advance(900);
    await say(h, 'api', ['EXTEND_TIMEOUT_USEC', '3000000']);
    await h.clock.advance(2900);
    expect(h.state('api')).toBe('starting');
    await say(h, 'api', ['READY', '1']);
    expect(h.state('api')).toBe('ready');
  });

  it('MAINPID= of a process it owns becomes its pid; of one it does not own, is refused', async () => {
    const h = await start(graph([notifying('api'), service('other')]));
    const own = h.port.pidOf('api')!;
    const stranger = h.port.pidOf('other')!;
    await say(h, 'api', ['MAINPID', String(stranger)]);
    expect(h.lines()).toContain(`warn api: MAINPID=${stranger} from pid ${own} ignored: the service does not own that process`);
    const child = h.port.leftover('api');
    await say(h, 'api', ['MAINPID', String(child)], ['READY', '1']);
    expect(h.state('api')).toBe('ready');
    expect(h.port.adopted).toEqual([child]);
    const state = h.loop.record('api')!.state;
    expect(state.id === 'ready' ? state.pid : null).toBe(child);
    // The new main process's exit ends the run, with its status.
    h.port.end(child, { kind: 'exited', code: 4 });
    await h.clock.advance(0);
    expect(h.loop.record('api')!.lastExit).toEqual({ kind: 'exited', code: 4 });
    expect(h.state('api')).not.toBe('ready');
  });

  it('unknown fields are ignored, STOPPING=1 and RELOADING=1 are logged', async () => {
    const h = await start(graph([notifying('api')]));
    await say(h, 'api', ['X_FOO', 'bar'], ['STOPPING', '1'], ['RELOADING', '1']);
    expect(h.lines()).toContain('info api: says it is stopping (STOPPING=1)');
    expect(h.lines()).toContain('info api: says it is reloading (RELOADING=1)');
    expect(h.state('api')).toBe('starting');
  });

  it('watchdog: WATCHDOG=1 keeps it up; silence for the watchdog time is a hang: SIGABRT to main, stopped, restarted, last exit says watchdog', async () => {
    const h = await start(graph([notifying('api', { watchdog: 500, restart: { ...service('x').restart, policy: 'always' } })]));
    const pid = h.port.pidOf('api')!;
    await say(h, 'api', ['READY', '1']);
    await h.clock.advance(400);
    await say(h, 'api', ['WATCHDOG', '1']);
    await h.clock.advance(400);
    expect(h.state('api')).toBe('ready');
    await h.clock.advance(100);
    expect(h.lines()).toContain(`error api: watchdog: no WATCHDOG=1 for 500ms: it hangs; SIGABRT to pid ${pid}, then it is stopped and its restart policy applies`);
    expect(h.port.signals[0]).toBe(`${pid}:6`);
    // SIGABRT takes the stop signal's place (systemd's WatchdogSignal): no SIGTERM beside it
    // could end the process before the abort does. The fake process ignores SIGABRT, so
    // SIGKILL follows at stop_timeout.
    expect(h.port.signals).not.toContain(`${pid}:15`);
    expect(h.state('api')).toBe('stopping');
    await h.clock.advance(h.loop.record('api')!.plan.stopTimeout);
    expect(h.port.signals).toContain(`${pid}:9`);
    expect(h.loop.record('api')!.lastExit).toMatchObject({ kind: 'signaled', signal: 9, watchdog: true });
    expect(h.state('api')).toBe('backoff');
    await h.clock.advance(1000);
    expect(h.port.spawns).toHaveLength(2);
  });

  it('WATCHDOG=trigger is a hang at once; a service stopped by hand has no watchdog left armed', async () => {
    const h = await start(graph([notifying('api', { watchdog: 500 }), notifying('web', { watchdog: 500 })]));
    await say(h, 'api', ['READY', '1']);
    await say(h, 'web', ['READY', '1']);
    await say(h, 'api', ['WATCHDOG', 'trigger']);
    expect(h.lines().some((l) => l.startsWith('error api: watchdog: it sent WATCHDOG=trigger'))).toBe(true);
    h.loop.submit({ kind: 'stop', names: ['web'] });
    await h.clock.advance(5000);
    expect(h.lines().some((l) => l.startsWith('error web: watchdog'))).toBe(false);
  });
});
