// type: forking in the core and its loop, with the fake process layer: the start program
// exits, its daemon (a process of the service, as the tracked set sees it) runs on; the
// daemon is found through its pid_file or the tracked set, and its exit ends the run.
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { plan as flatPlan, service } from './fixtures';
import { harness, startedHarnesses, SIGTERM, type Harness } from './fakes';

const PID_FILE = '/run/redis.pid';
const noJitter = { initial: 100, max: 30_000, factor: 2, jitter: 0, resetAfter: 10_000 };

function forking(name: string, overrides: Partial<ServicePlan> = {}): ServicePlan {
  return service(name, { type: 'forking', restart: { policy: 'always', backoff: noJitter, limit: null }, ...overrides });
}

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

// Every transition a scenario makes goes through the table: none is refused (checked after each test).
const start = startedHarnesses();

/** The start program forks a daemon (a process of the service), optionally writes the pid file, and exits. */
async function daemonize(h: Harness, name: string, options: { pidFile?: string; code?: number } = {}): Promise<number> {
  const starter = h.port.pidOf(name)!;
  const daemon = h.port.leftover(name);
  if (options.pidFile !== undefined) h.port.pidFiles.set(options.pidFile, daemon);
  h.port.end(starter, { kind: 'exited', code: options.code ?? 0 });
  await h.clock.advance(0);
  return daemon;
}

function pidOf(h: Harness, name: string): number | null {
  const state = h.loop.record(name)!.state;
  return state.id === 'running' || state.id === 'ready' || state.id === 'starting' || state.id === 'stopping' ? state.pid : null;
}

describe('type: forking with a pid_file', () => {
  it('is starting while its start program runs, running with the daemon pid once it exited 0', async () => {
    const h = start(graph([forking('redis', { pidFile: PID_FILE })]));
    await h.clock.advance(0);
    expect(h.state('redis')).toBe('starting');
    const daemon = await daemonize(h, 'redis', { pidFile: PID_FILE });
    expect(h.state('redis')).toBe('running');
    expect(pidOf(h, 'redis')).toBe(daemon);
    expect(h.port.adopted).toEqual([daemon]);
    expect(h.lines()).toContain(`info redis: daemon running (pid ${daemon}, from ${PID_FILE})`);
  });

  it('a daemon that exits is the run that ended: its status, the restart policy, one new start', async () => {
    const h = start(graph([forking('redis', { pidFile: PID_FILE })]));
    await h.clock.advance(0);
    const daemon = await daemonize(h, 'redis', { pidFile: PID_FILE });
    h.port.end(daemon, { kind: 'exited', code: 3 });
    await h.clock.advance(0);
    expect(h.state('redis')).toBe('backoff');
    expect(h.loop.record('redis')!.lastExit).toEqual({ kind: 'exited', code: 3 });
    await h.clock.advance(100);
    expect(h.port.spawns.filter((s) => s.service === 'redis')).toHaveLength(2);
    // The pid file of the run that ended is not read as the new run's.
    expect(h.port.pidFiles.has(PID_FILE)).toBe(false);
    expect(h.state('redis')).toBe('starting');
    const second = await daemonize(h, 'redis', { pidFile: PID_FILE });
    expect(pidOf(h, 'redis')).toBe(second);
    expect(h.loop.record('redis')!.restarts).toBe(1);
  });

  it('a pid file written after the start program exited is found by reading it again', async () => {
    const h = start(graph([forking('redis', { pidFile: PID_FILE })]));
    await h.clock.advance(0);
    const daemon = await daemonize(h, 'redis');
    expect(h.state('redis')).toBe('starting');
    await h.clock.advance(50);
    expect(h.state('redis')).toBe('starting');
    h.port.pidFiles.set(PID_FILE, daemon);
    await h.clock.advance(200);
    expect(h.state('redis')).toBe('running');
    expect(pidOf(h, 'redis')).toBe(daemon);
  });

  it('a pid file that never appears fails the start at the start timeout, saying so', async () => {
    const ready = { check: { kind: 'tcp' as const, host: '127.0.0.1', port: 6379 }, interval: 200, timeout: 2000 };
    const h = start(graph([forking('redis', { pidFile: PID_FILE, ready })]));
    await h.clock.advance(0);
    await daemonize(h, 'redis');
    await h.clock.advance(2000);
    await h.clock.advance(0);
    expect(h.lines()).toContain(`warn redis: not ready after 2s (its pid_file ${PID_FILE} has not appeared)`);
    // A failed start: the restart policy (always) tries again.
    expect(h.state('redis')).toBe('backoff');
    // The daemon that never wrote its pid was stopped with the service.
    expect(h.port.processesOf('redis')).toEqual([]);
  });

  it('a start program that exits 1 is a failed start: the restart policy applies', async () => {
    const h = start(graph([forking('redis', { pidFile: PID_FILE })]));
    await h.clock.advance(0);
    h.port.end(h.port.pidOf('redis')!, { kind: 'exited', code: 1 });
    await h.clock.advance(0);
    expect(h.state('redis')).toBe('backoff');
    expect(h.lines()).toContain('warn redis: its start program exited with 1: the start failed');
    expect(h.port.adopted).toEqual([]);
  });

  it('tend stop sends the daemon the stop signal; it stays down', async () => {
    const h = start(graph([forking('redis', { pidFile: PID_FILE })]));
    await h.clock.advance(0);
    const daemon = await daemonize(h, 'redis', { pidFile: PID_FILE });
    h.loop.submit({ kind: 'stop', names: ['redis'] });
    await h.clock.advance(0);
    expect(h.port.signals).toContain(`${daemon}:${SIGTERM}`);
    expect(h.state('redis')).toBe('stopped');
    expect(h.port.spawns.filter((s) => s.service === 'redis')).toHaveLength(1);
  });

  it('a dependent waits for the daemon, not for the start program', async () => {
    const h = start(graph([forking('redis', { pidFile: PID_FILE }), service('app', { dependsOn: [{ name: 'redis', condition: 'started' }] })]));
    await h.clock.advance(0);
    expect(h.state('app')).toBe('starting');
    expect(h.port.spawns.map((s) => s.service)).toEqual(['redis']);
    await daemonize(h, 'redis', { pidFile: PID_FILE });
    expect(h.port.spawns.map((s) => s.service)).toEqual(['redis', 'app']);
  });

  it('a ready probe runs against the daemon once it is found', async () => {
    const ready = { check: { kind: 'tcp' as const, host: '127.0.0.1', port: 6379 }, interval: 200, timeout: 5000 };
    const h = start(graph([forking('redis', { pidFile: PID_FILE, ready })]));
    await h.clock.advance(0);
    expect(h.probes.started).toEqual([]);
    const daemon = await daemonize(h, 'redis', { pidFile: PID_FILE });
    expect(h.probes.started).toEqual([`ready:redis:${daemon}`]);
    await h.report({ kind: 'probe-passed', service: 'redis', probe: 'ready', pid: daemon });
    expect(h.state('redis')).toBe('ready');
  });
});

describe('type: forking without a pid_file: the tracked set decides', () => {
  it('runs while it owns any process; the last one to end gives the status', async () => {
    const h = start(graph([forking('cron')]));
    await h.clock.advance(0);
    const starter = h.port.pidOf('cron')!;
    const first = h.port.leftover('cron');
    const second = h.port.leftover('cron');
    h.port.end(starter, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('cron')).toBe('running');
    expect(pidOf(h, 'cron')).toBe(first);
    h.port.end(first, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('cron')).toBe('running');
    expect(pidOf(h, 'cron')).toBe(second);
    h.port.end(second, { kind: 'signaled', signal: 9 });
    await h.clock.advance(0);
    expect(h.state('cron')).toBe('backoff');
    expect(h.loop.record('cron')!.lastExit).toEqual({ kind: 'signaled', signal: 9 });
  });

  it('a start program that exits 0 and leaves nothing running has ended its run', async () => {
    const h = start(graph([forking('cron', { restart: { policy: 'on-failure', backoff: noJitter, limit: null } }), service('app', { main: true })]));
    await h.clock.advance(0);
    h.port.end(h.port.pidOf('cron')!, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('cron')).toBe('exited');
    expect(h.lines().some((l) => l.includes('cron: no process of it is left'))).toBe(true);
  });
});
