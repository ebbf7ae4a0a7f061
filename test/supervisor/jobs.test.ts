// Scheduled oneshots in the pure core, driven with the fake process layer and clock:
// each concurrency policy's transitions (forbid skips and counts, replace stops the old
// run first, allow runs both), timeouts of the service's own run and of detached runs,
// the counts /metrics shows, and next-run times across DST with a fixed clock.
import { describe, expect, it } from 'vitest';
import type { JobPlan, Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { nextRunAfter } from '../../src/supervisor/schedule';
import { plan as flatPlan, service } from './fixtures';
import { startedHarnesses, SIGKILL, SIGTERM, type Harness } from './fakes';

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

const main = service('app', { main: true, restart: { ...service('app').restart, policy: 'never' } });
const job = (overrides: Partial<JobPlan> = {}, more: Partial<ServicePlan> = {}) => service('job', {
  type: 'oneshot', schedule: '*/5 * * * *', restart: { ...service('job').restart, policy: 'never' },
  job: { concurrency: 'forbid', timeout: null, timeZone: null, ...overrides }, ...more,
});

const start = startedHarnesses();

async function due(h: Harness): Promise<void> {
  h.schedules.get('job')!();
  await h.clock.advance(0);
}

function ownPid(h: Harness): number {
  const state = h.loop.record('job')!.state;
  if (state.id !== 'running') throw new Error(`job is ${state.id}`);
  return state.pid;
}

const counts = (h: Harness) => h.loop.record('job')!.job?.counts;

describe('scheduled jobs: concurrency', () => {
  it('forbid (the default): a run due while one runs is skipped and counted; the running one is untouched', async () => {
    const h = start(graph([main, service('job', { type: 'oneshot', schedule: '* * * * *', restart: { ...service('job').restart, policy: 'never' } })]));
    await h.clock.advance(0);
    await due(h);
    const first = ownPid(h);
    await due(h);
    await due(h);
    expect(ownPid(h)).toBe(first);
    expect(h.port.signals).toEqual([]);
    expect(counts(h)).toEqual({ success: 0, failure: 0, skipped: 2, replaced: 0 });
    expect(h.lines()).toContain('warn job: scheduled run skipped: the previous run is still running');
    h.port.end(first, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('job')).toBe('completed');
    expect(counts(h)).toEqual({ success: 1, failure: 0, skipped: 2, replaced: 0 });
    expect(h.loop.record('job')!.job!.last).toMatchObject({ result: 'success', detail: 'exited with 0', at: h.clock.now() });
    expect(h.loop.record('job')!.job!.lastSuccess).toBe(h.clock.now());
    // Each result is published too (tend events), in the order it happened.
    expect(h.events.filter((e) => e.type === 'job').map((e) => e.type === 'job' && `${e.result}: ${e.detail}`)).toEqual([
      'skipped: due while the previous run was running', 'skipped: due while the previous run was running', 'success: exited with 0',
    ]);
    // The next due time runs it again.
    await due(h);
    expect(ownPid(h)).not.toBe(first);
  });

  it('replace: the running run is stopped first (counted replaced), then the due run starts', async () => {
    const h = start(graph([main, job({ concurrency: 'replace' })]));
    await h.clock.advance(0);
    await due(h);
    const first = ownPid(h);
    h.port.tempers.set('job', 'obeys');
    await due(h);
    // The stop signal went to the old run before any new spawn.
    expect(h.port.signals[0]).toBe(`${first}:${SIGTERM}`);
    const second = ownPid(h);
    expect(second).not.toBe(first);
    expect(h.port.alive(first)).toBe(false);
    expect(counts(h)).toEqual({ success: 0, failure: 0, skipped: 0, replaced: 1 });
    expect(h.lines()).toContain(`info job: scheduled run: stopping the previous run (pid ${first}) first (concurrency: replace)`);
    expect(h.loop.record('job')!.job!.last).toMatchObject({ result: 'replaced' });
  });

  it('replace waits for a run that ignores SIGTERM: SIGKILL at stop_timeout, and only then the new run', async () => {
    const h = start(graph([main, job({ concurrency: 'replace' }, { stopTimeout: 1000 })]));
    await h.clock.advance(0);
    h.port.tempers.set('job', 'ignores-term');
    await due(h);
    const first = ownPid(h);
    await due(h);
    expect(h.state('job')).toBe('stopping');
    const spawnsBefore = h.port.spawns.length;
    await h.clock.advance(999);
    expect(h.port.spawns.length).toBe(spawnsBefore);
    await h.clock.advance(1);
    expect(h.port.signals).toContain(`${first}:${SIGKILL}`);
    expect(h.port.spawns.length).toBe(spawnsBefore + 1);
    expect(ownPid(h)).not.toBe(first);
  });

  it('allow: the running run goes on detached and the due run starts beside it; each is counted when it ends', async () => {
    const h = start(graph([main, job({ concurrency: 'allow' })]));
    await h.clock.advance(0);
    await due(h);
    const first = ownPid(h);
    await due(h);
    const second = ownPid(h);
    expect(second).not.toBe(first);
    expect(h.port.alive(first)).toBe(true);
    expect(h.port.signals).toEqual([]);
    expect(h.loop.record('job')!.job!.detached.map((r) => r.pid)).toEqual([first]);
    await due(h);
    const third = ownPid(h);
    expect(h.loop.record('job')!.job!.detached.map((r) => r.pid)).toEqual([first, second]);
    // The earlier runs end in any order, each counted by its own exit.
    h.port.end(second, { kind: 'exited', code: 3 });
    await h.clock.advance(0);
    h.port.end(first, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('job')).toBe('running');
    expect(counts(h)).toEqual({ success: 1, failure: 1, skipped: 0, replaced: 0 });
    expect(h.lines()).toContain(`warn job: earlier run (pid ${second}) exited with 3 (failure)`);
    h.port.end(third, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('job')).toBe('completed');
    expect(counts(h)).toEqual({ success: 2, failure: 1, skipped: 0, replaced: 0 });
    expect(h.loop.record('job')!.job!.detached).toEqual([]);
  });

  it('allow: processes of a detached run are not leftovers the next run would stop first', async () => {
    const h = start(graph([main, job({ concurrency: 'allow' })]));
    await h.clock.advance(0);
    await due(h);
    const first = ownPid(h);
    h.port.end(first, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    await due(h);
    const second = ownPid(h);
    await due(h); // second goes on detached
    const third = ownPid(h);
    h.port.end(third, { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('job')).toBe('completed');
    await due(h); // second still runs: not cleared as a leftover
    expect(h.port.alive(second)).toBe(true);
    expect(h.state('job')).toBe('running');
  });

  it('a stop by hand stops every run, the detached ones too, without counting them', async () => {
    const h = start(graph([main, job({ concurrency: 'allow' })]));
    await h.clock.advance(0);
    await due(h);
    const first = ownPid(h);
    await due(h);
    const second = ownPid(h);
    h.loop.submit({ kind: 'stop', names: ['job'] });
    await h.clock.advance(0);
    expect(h.port.alive(first)).toBe(false);
    expect(h.port.alive(second)).toBe(false);
    expect(h.state('job')).toBe('stopped');
    expect(counts(h)).toEqual({ success: 0, failure: 0, skipped: 0, replaced: 0 });
    expect(h.loop.record('job')!.job!.detached).toEqual([]);
  });
});

describe('scheduled jobs: timeout', () => {
  it('a run past its timeout is stopped and counts as failed; the job is failed with the reason', async () => {
    const h = start(graph([main, job({ timeout: 30_000 }, { stopTimeout: 2000 })]));
    await h.clock.advance(0);
    await due(h);
    const first = ownPid(h);
    await h.clock.advance(29_999);
    expect(h.port.signals).toEqual([]);
    await h.clock.advance(1);
    expect(h.port.signals).toContain(`${first}:${SIGTERM}`);
    expect(h.loop.record('job')!.state).toEqual({ id: 'failed', reason: 'timed out after 30s' });
    expect(counts(h)).toEqual({ success: 0, failure: 1, skipped: 0, replaced: 0 });
    expect(h.loop.record('job')!.job!.last).toMatchObject({ result: 'failure', detail: 'timed out after 30s' });
    expect(h.lines()).toContain(`warn job: run (pid ${first}) still going after its timeout of 30s; stopping it (counted as failed)`);
    // The next due time runs it again.
    await due(h);
    expect(ownPid(h)).not.toBe(first);
  });

  it('a run that ends in time cancels its timeout: a later run gets its own', async () => {
    const h = start(graph([main, job({ timeout: 30_000 })]));
    await h.clock.advance(0);
    await due(h);
    h.port.end(ownPid(h), { kind: 'exited', code: 0 });
    await h.clock.advance(20_000);
    await due(h);
    const second = ownPid(h);
    await h.clock.advance(20_000); // 40 s after the first start: the first run's timer must not fire
    expect(h.port.signals).toEqual([]);
    await h.clock.advance(10_000);
    expect(h.port.signals).toContain(`${second}:${SIGTERM}`);
  });

  it('a reload that drops the timeout leaves no stale timer behind to stop a later run', async () => {
    const h = start(graph([main, job({ timeout: 30_000 })]));
    await h.clock.advance(0);
    await due(h);
    h.loop.submit({ kind: 'reload', plan: graph([main, job({ timeout: null })]) });
    await h.clock.advance(0);
    const later = ownPid(h); // the changed job restarted
    await h.clock.advance(60_000);
    expect(h.port.alive(later)).toBe(true);
    expect(h.lines().filter((l) => /timeout/.test(l))).toEqual([]);
  });

  it('a detached run (allow) past its timeout gets the stop signal, then SIGKILL after stop_timeout, and counts as failed', async () => {
    const h = start(graph([main, job({ concurrency: 'allow', timeout: 10_000 }, { stopTimeout: 1000 })]));
    await h.clock.advance(0);
    h.port.tempers.set('job', 'ignores-term');
    await due(h);
    const first = ownPid(h);
    await h.clock.advance(4000);
    await due(h);
    const second = ownPid(h);
    await h.clock.advance(6000); // first: 10 s
    expect(h.port.signals).toContain(`${first}:${SIGTERM}`);
    expect(h.port.alive(first)).toBe(true);
    await h.clock.advance(1000);
    expect(h.port.signals).toContain(`${first}:${SIGKILL}`);
    expect(h.port.alive(first)).toBe(false);
    expect(counts(h)).toEqual({ success: 0, failure: 1, skipped: 0, replaced: 0 });
    expect(h.loop.record('job')!.job!.last).toMatchObject({ result: 'failure', detail: 'timed out after 10s' });
    // The service's own run has its own deadline, 10 s after its start.
    expect(h.port.alive(second)).toBe(true);
    await h.clock.advance(3000);
    expect(h.port.signals).toContain(`${second}:${SIGTERM}`);
  });
});

describe('scheduled jobs: tend start JOB', () => {
  it('runs the job once now, and the schedule stays armed', async () => {
    const h = start(graph([main, job()]));
    await h.clock.advance(0);
    h.loop.submit({ kind: 'start', names: ['job'] });
    await h.clock.advance(0);
    h.port.end(ownPid(h), { kind: 'exited', code: 0 });
    await h.clock.advance(0);
    expect(h.state('job')).toBe('completed');
    expect(counts(h)).toEqual({ success: 1, failure: 0, skipped: 0, replaced: 0 });
    expect(h.loop.state.schedules.has('job')).toBe(true);
  });
});

describe('next run', () => {
  const at = (iso: string): number => Date.parse(iso);
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

  it('time_zone shifts the next run, and follows the zone across DST', () => {
    const daily = { expression: '0 9 * * *', timeZone: 'Europe/Paris' };
    // Winter: 09:00 in Paris is 08:00 UTC; summer (from 29 March 2026): 07:00 UTC.
    expect(iso(nextRunAfter(daily, at('2026-03-28T12:00:00Z')))).toBe('2026-03-29T07:00:00.000Z');
    expect(iso(nextRunAfter(daily, at('2026-03-27T12:00:00Z')))).toBe('2026-03-28T08:00:00.000Z');
    expect(iso(nextRunAfter({ ...daily, timeZone: 'UTC' }, at('2026-03-28T12:00:00Z')))).toBe('2026-03-29T09:00:00.000Z');
    expect(iso(nextRunAfter({ ...daily, timeZone: 'America/New_York' }, at('2026-03-28T12:00:00Z')))).toBe('2026-03-28T13:00:00.000Z');
    // Autumn: 25 October 2026 back to CET.
    expect(iso(nextRunAfter(daily, at('2026-10-25T00:00:00Z')))).toBe('2026-10-25T08:00:00.000Z');
  });

  it('a time the spring change skips runs once just after it; a time the autumn change repeats runs once', () => {
    const night = { expression: '30 2 * * *', timeZone: 'Europe/Paris' };
    // 02:30 does not exist on 29 March 2026 in Paris: the run comes at 03:00 CEST (01:00 UTC).
    expect(iso(nextRunAfter(night, at('2026-03-28T12:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    // 02:30 happens twice on 25 October 2026: the first (CEST, 00:30 UTC) runs, the repeat does not.
    const first = nextRunAfter(night, at('2026-10-24T12:00:00Z'))!;
    expect(iso(first)).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(nextRunAfter(night, first))).toBe('2026-10-26T01:30:00.000Z');
  });
});
