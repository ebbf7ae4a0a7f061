// The supervisor's core and its loop, driven with a fake process layer and a fake clock:
// no process, no real time. Each scenario starts tend's loop on a hand-built Plan, makes
// things happen to the fake processes (a crash, a SIGTERM ignored, leftovers), moves the
// clock, and checks the states, the signals sent and tend's log.
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan, ServicePlan, SettingsPlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { plan as flatPlan, service } from './fixtures';
import { harness, startedHarnesses, SIGKILL, SIGTERM, type Harness } from './fakes';

/** A Plan whose start and stop waves come from its dependency graph, as the plan builder makes them. */
function graph(services: ServicePlan[], settings: Partial<SettingsPlan> = {}): Plan {
  return { ...flatPlan(services, settings), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

const main = (overrides: Partial<ServicePlan> = {}) => service('app', { main: true, restart: { ...service('app').restart, policy: 'never' }, ...overrides });
const restart = (overrides: Partial<ServicePlan['restart']>) => ({ restart: { ...service('x').restart, ...overrides } });
const noJitter = { initial: 100, max: 30_000, factor: 2, jitter: 0, resetAfter: 10_000 };

// Every transition a scenario makes goes through the table: none is refused (checked after each test).
const start = startedHarnesses();

function pid(h: Harness, name: string): number {
  const record = h.loop.record(name)!;
  const state = record.state;
  if (state.id !== 'starting' && state.id !== 'running' && state.id !== 'ready') throw new Error(`${name} is ${state.id}`);
  if (state.pid === null) throw new Error(`${name} has no pid yet`);
  return state.pid;
}

async function crash(h: Harness, name: string, code = 1): Promise<void> {
  h.port.end(pid(h, name), { kind: 'exited', code });
  await h.clock.advance(0);
}

describe('crash loops', () => {
  it('restart with growing backoff, and the backoff resets after a run that stayed up', async () => {
    const h = start(graph([main(), service('flaky', restart({ backoff: noJitter }))]));
    await h.clock.advance(0);
    expect(h.state('flaky')).toBe('running');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      await crash(h, 'flaky');
      const state = h.loop.record('flaky')!.state;
      expect(state.id).toBe('backoff');
      if (state.id === 'backoff') delays.push(state.delay);
      await h.clock.advance(state.id === 'backoff' ? state.delay - 1 : 0);
      expect(h.state('flaky')).toBe('backoff');
      await h.clock.advance(1);
      expect(h.state('flaky')).toBe('running');
    }
    expect(delays).toEqual([100, 200, 400, 800]);
    // Up for reset_after: the next crash starts the backoff over.
    await h.clock.advance(10_000);
    await crash(h, 'flaky');
    expect(h.loop.record('flaky')!.state).toMatchObject({ id: 'backoff', delay: 100 });
    expect(h.loop.record('flaky')!.restarts).toBe(5);
    expect(h.lines()).toContain('info flaky: restarting in 800ms (restart 4)');
    expect(h.state('app')).toBe('running');
  });

  it('a restart limit makes a critical service give up and end the container with 1; main is stopped in order', async () => {
    const h = start(graph([
      main(),
      service('flaky', { critical: true, ...restart({ policy: 'on-failure', backoff: noJitter, limit: { count: 2, window: 60_000 } }) }),
    ]));
    await h.clock.advance(0);
    await crash(h, 'flaky', 3);
    await h.clock.advance(100);
    await crash(h, 'flaky', 3);
    await h.clock.advance(200);
    const appPid = pid(h, 'app');
    await crash(h, 'flaky', 3);
    // fatal, then stopped by the shutdown it set off
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'state', service: 'flaky', to: 'fatal' }));
    expect(h.lines()).toContain('error flaky: gave up: restarted 2 times within 1m; it stays down until `tend start flaky`');
    expect(h.lines()).toContain('info shutdown begins (critical service flaky gave up (restarted 2 times within 1m))');
    expect(h.port.signals).toContain(`${appPid}:${SIGTERM}`);
    await h.clock.advance(0);
    expect(await h.exitCode()).toBe(1);
  });

  it('a plain sidecar that gives up does not end the container', async () => {
    const h = start(graph([main(), service('flaky', restart({ policy: 'on-failure', backoff: noJitter, limit: { count: 1, window: 60_000 } }))]));
    await h.clock.advance(0);
    await crash(h, 'flaky');
    await h.clock.advance(100);
    await crash(h, 'flaky');
    expect(h.state('flaky')).toBe('fatal');
    expect(h.loop.state.phase.id).toBe('running');
    expect(h.state('app')).toBe('running');
  });

  it("main's end is tend's status: the ordered shutdown, then main's own exit code", async () => {
    const h = start(graph([main(), service('side')]));
    await h.clock.advance(0);
    await crash(h, 'app', 3);
    expect(h.lines()).toContain('info shutdown begins (main service app ended)');
    await h.clock.advance(0);
    expect(h.state('side')).toBe('stopped');
    expect(await h.exitCode()).toBe(3);
  });
});

describe('readiness', () => {
  const db = (ready: Partial<NonNullable<ServicePlan['ready']>> = {}) => service('db', {
    ready: { check: { kind: 'command', command: { argv: ['true'], shell: false } }, interval: 100, timeout: 1000, ...ready },
    ...restart({ policy: 'never' }),
  });
  const app = main({ dependsOn: [{ name: 'db', condition: 'ready' }] });

  it('a dependent waits in starting until the ready probe passes', async () => {
    const h = start(graph([db(), app]));
    await h.clock.advance(0);
    expect(h.state('db')).toBe('starting');
    expect(h.state('app')).toBe('starting');
    expect(h.loop.record('app')!.state.id).toBe('queued');
    await h.report({ kind: 'probe-failed', service: 'db', probe: 'ready', pid: pid(h, 'db'), reason: 'exit 1' });
    await h.clock.advance(300);
    expect(h.state('app')).toBe('starting');
    await h.report({ kind: 'probe-passed', service: 'db', probe: 'ready', pid: pid(h, 'db') });
    expect(h.state('db')).toBe('ready');
    expect(h.state('app')).toBe('running');
    expect(h.lines()).toContain('info db: ready after 300ms');
    expect(h.probes.running.has('ready:db')).toBe(false);
    expect(h.loop.state.phase.id).toBe('running');
  });

  it('a ready timeout stops the service and, restart never, it is fatal: its dependent can never start, the start fails with 1', async () => {
    const h = start(graph([db(), app]));
    await h.clock.advance(0);
    const dbPid = pid(h, 'db');
    await h.report({ kind: 'probe-failed', service: 'db', probe: 'ready', pid: dbPid, reason: 'exit 1' });
    await h.clock.advance(999);
    expect(h.state('db')).toBe('starting');
    await h.clock.advance(1);
    expect(h.lines()).toContain('warn db: not ready after 1s (exit 1)');
    expect(h.port.signals).toContain(`${dbPid}:${SIGTERM}`);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'state', service: 'db', from: 'stopping', to: 'fatal' }));
    expect(h.lines()).toContain('error cannot start app needs db ready, but db gave up (not ready within 1s)');
    await h.clock.advance(0);
    expect(await h.exitCode()).toBe(1);
  });

  it('a late probe result of an earlier run is ignored', async () => {
    const h = start(graph([db(), app]));
    await h.clock.advance(0);
    await h.report({ kind: 'probe-passed', service: 'db', probe: 'ready', pid: 99_999 });
    expect(h.state('db')).toBe('starting');
  });
});

describe('healthchecks', () => {
  const web = (policy: 'always' | 'never') => service('web', {
    healthcheck: { check: { kind: 'tcp', host: '127.0.0.1', port: 1 }, interval: 1000, timeout: 500, retries: 3, startPeriod: 0 },
    ...restart({ policy, backoff: noJitter }),
  });

  it('`retries` failures in a row make it unhealthy and restart it; a pass in between resets the count', async () => {
    const h = start(graph([main(), web('always')]));
    await h.clock.advance(0);
    const first = pid(h, 'web');
    expect(h.probes.running.has('health:web')).toBe(true);
    const fail = () => h.report({ kind: 'probe-failed', service: 'web', probe: 'health', pid: first, reason: 'tcp 127.0.0.1:1: ECONNREFUSED' });
    await fail();
    await fail();
    await h.report({ kind: 'probe-passed', service: 'web', probe: 'health', pid: first });
    expect(h.loop.record('web')!.health).toEqual({ status: 'healthy', failures: 0 });
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'health', service: 'web', health: 'healthy' }));
    await fail();
    await fail();
    expect(h.state('web')).toBe('running');
    await fail();
    expect(h.lines()).toContain('warn web: unhealthy after 3 failed checks (tcp 127.0.0.1:1: ECONNREFUSED); restarting');
    expect(h.port.alive(first)).toBe(false);
    expect(h.state('web')).toBe('backoff');
    expect(h.probes.running.has('health:web')).toBe(false);
    await h.clock.advance(100);
    expect(h.state('web')).toBe('running');
    expect(pid(h, 'web')).not.toBe(first);
  });

  it('with restart never, an unhealthy service keeps running and may become healthy again', async () => {
    const h = start(graph([main(), web('never')]));
    await h.clock.advance(0);
    const p = pid(h, 'web');
    for (let i = 0; i < 3; i++) await h.report({ kind: 'probe-failed', service: 'web', probe: 'health', pid: p, reason: 'down' });
    expect(h.loop.record('web')!.health?.status).toBe('unhealthy');
    expect(h.state('web')).toBe('running');
    await h.report({ kind: 'probe-passed', service: 'web', probe: 'health', pid: p });
    expect(h.loop.record('web')!.health?.status).toBe('healthy');
  });
});

describe('dependency gating', () => {
  it('started, ready and completed conditions, in order; independent services at once', async () => {
    const h = start(graph([
      service('migrate', { type: 'oneshot', ...restart({ policy: 'never' }) }),
      main({ dependsOn: [{ name: 'migrate', condition: 'completed' }] }),
      service('web', { dependsOn: [{ name: 'app', condition: 'started' }] }),
      service('cache'),
    ]));
    await h.clock.advance(0);
    expect(['migrate', 'app', 'web', 'cache'].map((n) => h.state(n))).toEqual(['running', 'starting', 'starting', 'running']);
    h.port.end(pid(h, 'migrate'), { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(['migrate', 'app', 'web'].map((n) => h.state(n))).toEqual(['completed', 'running', 'running']);
    const started = h.port.spawns.map((s) => s.service);
    expect(started.indexOf('migrate')).toBeLessThan(started.indexOf('app'));
    expect(started.indexOf('app')).toBeLessThan(started.indexOf('web'));
    expect(h.loop.state.phase.id).toBe('running');
  });

  it('a failed oneshot blocks its dependents and fails the start with 1', async () => {
    const h = start(graph([
      service('migrate', { type: 'oneshot', ...restart({ policy: 'never' }) }),
      main({ dependsOn: [{ name: 'migrate', condition: 'completed' }] }),
    ]));
    await h.clock.advance(0);
    h.port.end(pid(h, 'migrate'), { kind: 'exited', code: 3 });
    await h.clock.advance(0);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'state', service: 'migrate', to: 'failed' }));
    expect(h.lines()).toContain('error cannot start app needs migrate completed, but migrate failed (exited with 3)');
    expect(h.lines()).toContain('info shutdown begins (the start failed: app needs migrate completed, but migrate failed (exited with 3))');
    expect(h.port.spawns.map((s) => s.service)).not.toContain('app');
    expect(await h.exitCode()).toBe(1);
  });

  it('`tend start X` pulls in its stopped dependencies first', async () => {
    const h = start(graph([main(), service('db', { autostart: false }), service('worker', { autostart: false, dependsOn: [{ name: 'db', condition: 'started' }] })]));
    await h.clock.advance(0);
    expect(h.state('db')).toBe('stopped');
    h.loop.submit({ kind: 'start', names: ['worker'] });
    await h.clock.advance(0);
    expect(h.state('db')).toBe('running');
    expect(h.state('worker')).toBe('running');
    const order = h.port.spawns.map((s) => s.service);
    expect(order.indexOf('db')).toBeLessThan(order.indexOf('worker'));
  });

  it('a command that cannot run gives up at once, whatever its policy, and says how to retry; the start is not blocked', async () => {
    const h = start.unstarted(graph([main(), service('ghost', restart({ backoff: noJitter }))]));
    h.port.failing.add('ghost');
    h.loop.start();
    await h.clock.advance(0);
    expect(h.loop.record('ghost')!.state).toEqual({ id: 'fatal', reason: 'command not found: sleep', cannotStart: true });
    expect(h.loop.record('ghost')!.lastExit).toEqual({ kind: 'failed', code: 127, reason: 'command not found: sleep' });
    expect(h.lines()).toContain('error ghost: cannot start: command not found: sleep; it stays down: `tend start ghost` after fixing it');
    expect(h.lines().some((line) => line.includes('ghost: started'))).toBe(false);
    expect(h.state('app')).toBe('running');
    h.port.failing.delete('ghost');
    h.loop.submit({ kind: 'start', names: ['ghost'] });
    await h.clock.advance(0);
    expect(h.state('ghost')).toBe('running');
  });
});

describe('stop by hand', () => {
  it('stops the service and everything it owns; it stays down; a start by hand brings it back', async () => {
    const h = start(graph([main(), service('side', restart({ backoff: noJitter }))]));
    await h.clock.advance(0);
    const p = pid(h, 'side');
    const daemon = h.port.leftover('side');
    h.loop.submit({ kind: 'stop', names: ['side'] });
    const stopped = h.loop.stopped('side');
    await h.clock.advance(0);
    await stopped;
    expect(h.port.alive(p) || h.port.alive(daemon)).toBe(false);
    expect(h.loop.record('side')!.state).toEqual({ id: 'stopped', byHand: true });
    expect(h.port.released).toContain('side');
    await h.clock.advance(60_000);
    expect(h.state('side')).toBe('stopped');
    h.loop.submit({ kind: 'start', names: ['side'] });
    await h.clock.advance(0);
    expect(h.state('side')).toBe('running');
    expect(h.loop.record('side')!.restarts).toBe(0);
  });

  it('SIGKILL after stop_timeout for what ignores the stop signal; given up on 2 s later if it survives even that', async () => {
    const h = start.unstarted(graph([main(), service('stubborn', { stopTimeout: 500 }), service('stuck', { stopTimeout: 500 })]));
    h.port.tempers.set('stubborn', 'ignores-term');
    h.port.tempers.set('stuck', 'stuck');
    h.loop.start();
    await h.clock.advance(0);
    const [stubborn, stuck] = [pid(h, 'stubborn'), pid(h, 'stuck')];
    h.loop.submit({ kind: 'stop', names: ['stubborn', 'stuck'] });
    await h.clock.advance(499);
    expect(h.state('stubborn')).toBe('stopping');
    await h.clock.advance(1);
    expect(h.lines()).toContain(`warn stubborn: killed with SIGKILL after 500ms (SIGTERM ignored by pid ${stubborn})`);
    expect(h.port.signals).toContain(`${stubborn}:${SIGKILL}`);
    expect(h.state('stubborn')).toBe('stopped');
    expect(h.state('stuck')).toBe('stopping');
    await h.clock.advance(2000);
    expect(h.lines()).toContain(`error stuck: pid ${stuck} survived SIGKILL for 2s (stuck in the kernel?); counting the service as stopped`);
    // Its own process was never reaped: the stop is not done until it is.
    expect(h.state('stuck')).toBe('stopping');
    h.port.end(stuck, { kind: 'signaled', signal: SIGKILL });
    await h.clock.advance(0);
    expect(h.state('stuck')).toBe('stopped');
  });

  it('runs stop_command instead of the stop signal; a failing one falls back to the signal', async () => {
    const h = start(graph([main(), service('graceful', { stopCommand: { argv: ['quit'], shell: false } })]));
    await h.clock.advance(0);
    const p = pid(h, 'graceful');
    h.loop.submit({ kind: 'stop', names: ['graceful'] });
    await h.clock.advance(0);
    expect(h.port.spawns.at(-1)?.argv).toEqual(['quit']);
    expect(h.port.signals).not.toContain(`${p}:${SIGTERM}`);
    h.port.end(p, { kind: 'exited', code: 0 }); // the command asked it to quit
    await h.clock.advance(0);
    expect(h.state('graceful')).toBe('stopped');

    h.port.stopCommandStatus = { kind: 'exited', code: 1 };
    h.loop.submit({ kind: 'start', names: ['graceful'] });
    await h.clock.advance(0);
    const again = pid(h, 'graceful');
    h.loop.submit({ kind: 'stop', names: ['graceful'] });
    await h.clock.advance(0);
    expect(h.lines()).toContain('warn graceful: stop_command exited with 1; sending SIGTERM instead');
    expect(h.port.signals).toContain(`${again}:${SIGTERM}`);
    expect(h.state('graceful')).toBe('stopped');
  });

  it('the last of stop / start / restart wins while a stop is under way', async () => {
    const h = start.unstarted(graph([main(), service('slow', { stopTimeout: 1000 })]));
    h.port.tempers.set('slow', 'ignores-term');
    h.loop.start();
    await h.clock.advance(0);
    h.loop.submit({ kind: 'stop', names: ['slow'] });
    await h.clock.advance(0);
    h.loop.submit({ kind: 'start', names: ['slow'] });
    await h.clock.advance(1000);
    expect(h.state('slow')).toBe('running');
    h.loop.submit({ kind: 'restart', names: ['slow'] });
    await h.clock.advance(0);
    expect(h.state('slow')).toBe('stopping');
    h.loop.submit({ kind: 'stop', names: ['slow'] });
    await h.clock.advance(1000);
    expect(h.loop.record('slow')!.state).toEqual({ id: 'stopped', byHand: true });
  });

  it('`tend signal` reaches every process the service owns; --main only its own', async () => {
    const h = start(graph([main(), service('side')]));
    await h.clock.advance(0);
    const p = pid(h, 'side');
    const daemon = h.port.leftover('side', 'ignores-term');
    expect(h.loop.submit({ kind: 'signal', name: 'side', signal: 10, mainOnly: false }).pids).toEqual([p, daemon]);
    expect(h.loop.submit({ kind: 'signal', name: 'side', signal: 10, mainOnly: true }).pids).toEqual([p]);
  });
});

describe('reload', () => {
  const before = graph([main(), service('keep'), service('change'), service('remove')]);
  const after = graph([main(), service('keep'), service('change', { command: { argv: ['sleep', '2000'], shell: false } }), service('add')]);

  it('adds, removes and restarts what changed; leaves the rest alone', async () => {
    const h = start(before);
    await h.clock.advance(0);
    const keep = pid(h, 'keep');
    const change = pid(h, 'change');
    const reply = h.loop.submit({ kind: 'reload', plan: after });
    expect(reply).toMatchObject({ kind: 'reloaded', diff: { added: ['add'], removed: ['remove'], changed: ['change'], unchanged: ['app', 'keep'] } });
    await h.clock.advance(0);
    expect(h.state('remove')).toBe('gone');
    expect(h.state('add')).toBe('running');
    expect(pid(h, 'keep')).toBe(keep);
    expect(h.port.alive(change)).toBe(false);
    expect(h.state('change')).toBe('running');
    expect(h.port.spawns.at(-1)?.argv).toEqual(['sleep', '2000']);
    expect([...h.loop.state.services.keys()]).toEqual(['app', 'keep', 'change', 'add']);
    expect(h.loop.state.plan.stopWaves.flat().sort()).toEqual(['add', 'app', 'change', 'keep']);
  });

  it('a service stopped by hand stays stopped when it changes; one that gave up gets a fresh start', async () => {
    const h = start(graph([main(), service('byhand'), service('broken', restart({ policy: 'never' }))]));
    await h.clock.advance(0);
    h.loop.submit({ kind: 'stop', names: ['byhand'] });
    await crash(h, 'broken');
    expect(h.state('broken')).toBe('exited');
    const fixed = graph([main(), service('byhand', { env: { A: '1' } }), service('broken', { env: { A: '1' }, ...restart({ policy: 'never' }) })]);
    expect(h.loop.submit({ kind: 'reload', plan: fixed })).toMatchObject({ diff: { changed: ['byhand', 'broken'] } });
    await h.clock.advance(0);
    expect(h.state('byhand')).toBe('stopped');
    expect(h.state('broken')).toBe('running');
  });

  it('regression (finding #2, reload remove + re-add race): a service re-added while its removal still stops is supervised', async () => {
    const x = service('x', { stopTimeout: 5000 });
    const h = start.unstarted(graph([main(), x]));
    h.port.tempers.set('x', 'ignores-term');
    h.loop.start();
    await h.clock.advance(0);
    const old = pid(h, 'x');
    expect(h.loop.submit({ kind: 'reload', plan: graph([main()]) })).toMatchObject({ diff: { removed: ['x'] } });
    await h.clock.advance(300);
    expect(h.state('x')).toBe('stopping');
    expect(h.loop.submit({ kind: 'reload', plan: graph([main(), x]) })).toMatchObject({ diff: { added: ['x'] } });
    await h.clock.advance(5000);
    // The old run is gone, the new one runs, under supervision, in its cgroup leaf.
    expect(h.port.alive(old)).toBe(false);
    expect(h.state('x')).toBe('running');
    expect(h.port.released).not.toContain('x');
    expect([...h.loop.state.services.keys()]).toEqual(['app', 'x']);
    h.port.tempers.set('x', 'obeys');
    h.loop.submit({ kind: 'stop', names: ['x'] });
    await h.clock.advance(5000);
    expect(h.state('x')).toBe('stopped');
    expect(h.port.processesOf('x')).toEqual([]);
  });

  it('regression (finding #17, SIGHUP reload applied during shutdown): refused, nothing changes', async () => {
    const h = start.unstarted(graph([main(), service('slow', { stopTimeout: 4000 }), service('dep')]));
    h.port.tempers.set('slow', 'ignores-term');
    h.loop.start();
    await h.clock.advance(0);
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(500);
    const reply = h.loop.submit({ kind: 'reload', plan: graph([main(), service('slow'), service('dep', { env: { B: '2' } }), service('newbie')]) });
    expect(reply).toMatchObject({ kind: 'refused', reason: 'shutting-down' });
    expect(h.lines()).toContain('warn reload refused: tend is shutting down; nothing changed');
    expect(h.state('newbie')).toBe('gone');
    expect(h.state('dep')).toBe('stopped');
    await h.clock.advance(4000);
    expect(await h.exitCode()).toBe(143);
  });
});

describe('the ordered shutdown', () => {
  it('reverse dependency order, within shutdown_timeout; stragglers killed at the deadline; exit with main\'s status', async () => {
    const h = start.unstarted(graph([
      service('db'),
      main({ dependsOn: [{ name: 'db', condition: 'started' }] }),
      service('web', { dependsOn: [{ name: 'app', condition: 'started' }] }),
      service('slow', { stopTimeout: 30_000 }),
    ], { shutdownTimeout: 2000 }));
    h.port.tempers.set('slow', 'ignores-term');
    h.port.tempers.set('web', 'ignores-term');
    h.loop.start();
    await h.clock.advance(0);
    const pids = Object.fromEntries(['db', 'app', 'web', 'slow'].map((n) => [n, pid(h, n)]));
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(0);
    // Those nothing depends on stop first, in parallel; app and db wait for their dependents.
    expect(h.state('web')).toBe('stopping');
    expect(h.state('slow')).toBe('stopping');
    expect(h.state('app')).toBe('running');
    expect(h.state('db')).toBe('running');
    expect(h.loop.submit({ kind: 'start', names: ['db'] })).toMatchObject({ kind: 'refused' });
    // web lets go after a while; then app, then db.
    await h.clock.advance(700);
    h.port.end(pids.web!, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('web')).toBe('stopped');
    expect(h.state('app')).toBe('stopped');
    expect(h.state('db')).toBe('stopped');
    const terms = h.port.signals.filter((s) => s.endsWith(`:${SIGTERM}`)).map((s) => Number(s.split(':')[0]));
    expect(terms.indexOf(pids.app!)).toBeLessThan(terms.indexOf(pids.db!));
    expect(h.state('slow')).toBe('stopping');
    await h.clock.advance(1300);
    expect(h.lines()).toContain('warn shutdown_timeout (2s) passed; killing what is left (held up by slow)');
    // (finding #20) no second signal came: the log does not say so
    expect(h.lines().filter((l) => /second signal/.test(l))).toEqual([]);
    expect(h.port.signals).toContain(`${pids.slow}:${SIGKILL}`);
    await h.clock.advance(0);
    expect(h.state('slow')).toBe('stopped');
    expect(h.lines()).toContain('info slow held the shutdown up for 2s');
    expect(h.lines().filter((l) => /all services stopped/.test(l))).toEqual([]);
    // app obeyed the SIGTERM: 128+15, passed through as tend's status.
    expect(await h.exitCode()).toBe(143);
    expect(h.clock.pending).toBe(0);
  });

  it('the sweep: SIGTERM to what is left, SIGKILL after a grace of 1 s for what ignores it, then reap', async () => {
    const h = start(graph([main()]));
    await h.clock.advance(0);
    const polite = h.port.stray();
    const rude = h.port.stray('ignores-term');
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(0);
    expect(h.port.alive(polite)).toBe(false);
    expect(h.port.alive(rude)).toBe(true);
    await h.clock.advance(999);
    expect(h.port.alive(rude)).toBe(true);
    await h.clock.advance(1);
    expect(h.port.alive(rude)).toBe(false);
    expect(h.lines()).toContain(`warn sweep: 2 leftover processes got SIGTERM; pid ${rude} needed SIGKILL`);
    expect(h.port.reaps).toBe(1);
    expect(h.lines().some((l) => /all services stopped in/.test(l))).toBe(true);
    expect(await h.exitCode()).toBe(143);
  });

  it('shutdown_delay first: nothing stops before it; a second signal cuts it short and kills everything at once', async () => {
    const h = start(graph([main(), service('side')], { shutdownDelay: 5000 }));
    await h.clock.advance(0);
    const app = pid(h, 'app');
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(4000);
    expect(h.lines()).toContain('info waiting 5s (shutdown_delay) before stopping services');
    expect(h.state('app')).toBe('running');
    h.loop.submit({ kind: 'shutdown', how: 'at-once' });
    await h.clock.advance(0);
    expect(h.lines()).toContain('warn second signal: killing everything with SIGKILL');
    expect(h.port.signals).toContain(`${app}:${SIGKILL}`);
    expect(await h.exitCode()).toBe(137);
  });

  it('with no main: tend ends once nothing is left to run, 0 when all succeeded, 1 otherwise', async () => {
    for (const [code, expected] of [[0, 0], [4, 1]] as const) {
      const h = start(graph([service('job', { type: 'oneshot', ...restart({ policy: 'never' }) }), service('later', { type: 'oneshot', autostart: false })]));
      await h.clock.advance(0);
      await h.clock.advance(1000);
      expect(h.loop.state.phase.id).toBe('starting');
      await crash(h, 'job', code);
      expect(h.lines()).toContain(code === 0 ? 'info shutdown begins (nothing is left to run)' : 'info shutdown begins (the start failed: oneshot job failed (exited with 4))');
      expect(await h.exitCode()).toBe(expected);
    }
    // and a service that ran well by hand, then failed, makes it 1 once nothing is left
    const h = start(graph([main({ main: false, name: 'app', type: 'oneshot' }), service('job', { type: 'oneshot', autostart: false, ...restart({ policy: 'never' }) })]));
    await h.clock.advance(0);
    h.loop.submit({ kind: 'start', names: ['job'] });
    await h.clock.advance(0);
    await crash(h, 'job', 4);
    await crash(h, 'app', 0);
    expect(h.lines()).toContain('info shutdown begins (nothing is left to run)');
    expect(await h.exitCode()).toBe(1);
  });

  it('an internal error: the ordered shutdown, then 70', async () => {
    const h = start(graph([main(), service('side')]));
    await h.clock.advance(0);
    h.loop.fault(new Error('boom'));
    await h.clock.advance(0);
    expect(h.lines().some((l) => l.startsWith('error internal error: Error: boom'))).toBe(true);
    expect(await h.exitCode()).toBe(70);
  });

  it('regression (finding #15, illegal-transition errors at shutdown): crash-looping services with leftovers stop cleanly', async () => {
    const h = start(graph([main(), ...['crash01', 'crash02', 'crash03'].map((n) => service(n, restart({ backoff: { ...noJitter, initial: 10_000 } })))]));
    await h.clock.advance(0);
    const daemons = ['crash01', 'crash02', 'crash03'].map((n) => h.port.leftover(n));
    for (const n of ['crash01', 'crash02', 'crash03']) await crash(h, n);
    expect(h.state('crash02')).toBe('backoff');
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(0);
    for (const daemon of daemons) expect(h.port.alive(daemon)).toBe(false);
    expect(h.lines().filter((l) => /^error/.test(l))).toEqual([]);
    expect(await h.exitCode()).toBe(143);
  });

  it.each(['group', 'mixed', 'main'] as const)('regression (issue 14 item 8, illegal stopped → stopping at shutdown): backoff with leftovers, stop_mode %s', async (stopMode) => {
    const names = ['crash01', 'crash02', 'crash03'];
    const h = start(graph([main(), ...names.map((n) => service(n, { stopMode, ...restart({ backoff: { ...noJitter, initial: 10_000 } }) }))]));
    await h.clock.advance(0);
    const daemons = names.map((n) => h.port.leftover(n));
    for (const n of names) await crash(h, n);
    expect(h.state('crash02')).toBe('backoff');
    // One leftover gone on its own just before the shutdown: the next scan finds none for it.
    h.port.end(daemons[0]!, { kind: 'exited', code: 0 });
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(0);
    await h.clock.advance(10_000);
    for (const daemon of daemons) expect(h.port.alive(daemon)).toBe(false);
    expect(h.lines().filter((l) => /^error/.test(l))).toEqual([]);
    expect(await h.exitCode()).toBe(143);
  });

  it('regression (finding #13, `tend stop` during backoff leaves processes running): they are stopped, then it is stopped', async () => {
    const h = start(graph([main(), service('forker', { ...restart({ policy: 'on-failure', backoff: { ...noJitter, initial: 3000 } }), stopTimeout: 2000 })]));
    await h.clock.advance(0);
    const children = [h.port.leftover('forker'), h.port.leftover('forker', 'ignores-term')];
    await crash(h, 'forker');
    expect(h.state('forker')).toBe('backoff');
    h.loop.submit({ kind: 'stop', names: ['forker'] });
    await h.clock.advance(0);
    expect(h.state('forker')).toBe('stopping');
    expect(h.port.alive(children[0]!)).toBe(false);
    await h.clock.advance(2000);
    expect(h.port.alive(children[1]!)).toBe(false);
    expect(h.loop.record('forker')!.state).toEqual({ id: 'stopped', byHand: true });
    // The backoff was cancelled: it does not start again by itself.
    await h.clock.advance(10_000);
    expect(h.state('forker')).toBe('stopped');
  });

  it('regression (finding #20, "second signal" when shutdown_timeout expires): the timeout says what happened', async () => {
    const h = start.unstarted(graph([main()], { shutdownTimeout: 1000 }));
    h.port.tempers.set('app', 'ignores-term');
    h.loop.start();
    await h.clock.advance(0);
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(1000);
    expect(h.lines()).toContain('warn shutdown_timeout (1s) passed; killing what is left (held up by app)');
    expect(h.lines().filter((l) => /second signal/.test(l))).toEqual([]);
    expect(await h.exitCode()).toBe(137);
  });
});

describe('schedules', () => {
  it('a scheduled oneshot runs when due; a run that would overlap is skipped', async () => {
    const h = start(graph([main(), service('job', { type: 'oneshot', schedule: '* * * * *', ...restart({ policy: 'never' }) })]));
    await h.clock.advance(0);
    expect(h.state('job')).toBe('stopped');
    h.schedules.get('job')!();
    await h.clock.advance(0);
    expect(h.state('job')).toBe('running');
    h.schedules.get('job')!();
    expect(h.lines()).toContain('warn job: scheduled run skipped: the previous run is still running');
    await crash(h, 'job', 0);
    expect(h.state('job')).toBe('completed');
    h.loop.submit({ kind: 'shutdown', how: 'ordered', reason: 'received SIGTERM', requested: true });
    await h.clock.advance(0);
    expect(h.schedules.size).toBe(0);
  });
});
