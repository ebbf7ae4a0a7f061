// The core alone, for what a real migration asked of stops and starts: stop_mode (who gets
// the stop signal, what SIGKILL reaches, when a stop is done), a spawn that cannot succeed
// (never "started", fatal at once), critical on any final failure, and services stopped
// by hand keeping tend up. Hand-made events through `step`, exact effects.
import { describe, expect, it } from 'vitest';
import type { Plan, ServicePlan } from '../../src/plan/types';
import { startWaves, stopWaves } from '../../src/plan/graph';
import { exitVariables, initialCore, step, type CoreState, type Effect, type Seen } from '../../src/supervisor/core';
import type { Event } from '../../src/supervisor/events';
import { plan as flatPlan, service } from './fixtures';

function graph(services: ServicePlan[]): Plan {
  return { ...flatPlan(services), startWaves: startWaves(services), stopWaves: stopWaves(services) };
}

const seen = (now: number, owned: Record<string, number[]> = {}): Seen => ({ now, random: () => 0.5, owned: (s) => owned[s] ?? [] });

const kinds = (effects: readonly Effect[]) => effects.map((e) => {
  if (e.kind === 'log') return `log ${e.level} ${e.message}`;
  if (e.kind === 'signal-pid') return `signal-pid ${e.pid} ${e.signal}`;
  if (e.kind === 'signal') return `signal ${e.service} ${e.signal}${e.cont ? ' +CONT' : ''}`;
  if (e.kind === 'arm' || e.kind === 'cancel') return `${e.kind} ${e.timer}${e.service !== null ? ` ${e.service}` : ''}`;
  return `${e.kind}${'service' in e && e.service !== null ? ` ${e.service}` : ''}`;
});

/** A core to drive one event at a time; `owned` is what the process layer would list. */
function driver(plan: Plan) {
  let core: CoreState = initialCore(plan);
  let now = 1000;
  let owned: Record<string, number[]> = {};
  const d = {
    get core() { return core; },
    state: (name: string) => core.services.get(name)!.state,
    own: (next: Record<string, number[]>) => { owned = next; },
    send(event: Event, at = now): string[] {
      now = at;
      const result = step(core, event, seen(now, owned));
      core = result.core;
      return kinds(result.effects);
    },
    /** Boots and answers every spawn: the helper forks (pid), then exec's. */
    boot(pids: Record<string, number>): void {
      const out = step(core, { kind: 'boot' }, seen(now, owned));
      core = out.core;
      const pending = out.effects.filter((e) => e.kind === 'spawn').map((e) => (e as { service: string }).service);
      while (pending.length > 0) {
        const name = pending.shift()!;
        for (const event of [{ kind: 'forked', service: name, pid: pids[name]! }, { kind: 'spawned', service: name, pid: pids[name]! }] as const) {
          const r = step(core, event, seen(now, owned));
          core = r.core;
          for (const e of r.effects) if (e.kind === 'spawn') pending.push(e.service);
        }
      }
    },
  };
  return d;
}

const never = (s: ServicePlan): ServicePlan['restart'] => ({ ...s.restart, policy: 'never' });

describe('stop_mode', () => {
  const sidecar = (mode: ServicePlan['stopMode'], extra: Partial<ServicePlan> = {}) => service('worker', { stopMode: mode, ...extra });
  const app = service('app', { main: true, restart: never(service('app')) });

  it('group: the stop signal and SIGCONT to every process it owns; done when all are gone', () => {
    const d = driver(graph([app, sidecar('group')]));
    d.boot({ app: 10, worker: 20 });
    d.own({ worker: [20, 21] });
    expect(d.send({ kind: 'stop', names: ['worker'] })).toEqual([
      'log info worker: stopping (SIGTERM)', 'signal worker 15 +CONT', 'arm grace worker', 'watch-gone worker',
    ]);
  });

  it('mixed: the stop signal to its own process only; once it has exited, to what it left; SIGKILL to everything at stop_timeout', () => {
    const d = driver(graph([app, sidecar('mixed')]));
    d.boot({ app: 10, worker: 20 });
    d.own({ worker: [20, 21] });
    expect(d.send({ kind: 'stop', names: ['worker'] })).toEqual([
      'log info worker: stopping (SIGTERM)', 'signal-pid 20 15', 'signal-pid 20 18', 'arm grace worker', 'watch-gone worker',
    ]);
    // The master exits (its workers done); a straggler it left is asked to stop too.
    d.own({ worker: [21] });
    expect(d.send({ kind: 'exited', service: 'worker', pid: 20, status: { kind: 'exited', code: 0 } })).toEqual([
      'log info worker: exited with 0', 'signal worker 15 +CONT',
    ]);
    expect(d.state('worker')).toMatchObject({ id: 'stopping', pid: null, step: { id: 'grace' } });
    expect(d.send({ kind: 'timer', timer: 'grace', service: 'worker' }, 7000)).toEqual([
      expect.stringMatching(/^log warn worker: .*21/), 'kill worker', 'watch-gone worker', 'arm stuck worker',
    ]);
    d.own({});
    d.send({ kind: 'gone', service: 'worker' });
    expect(d.state('worker')).toEqual({ id: 'stopped', byHand: true });
  });

  it('mixed with only leftovers (no own process): they get the stop signal', () => {
    const d = driver(graph([app, sidecar('mixed')]));
    d.boot({ app: 10, worker: 20 });
    d.own({ worker: [21] });
    d.send({ kind: 'exited', service: 'worker', pid: 20, status: { kind: 'exited', code: 0 } });
    expect(d.state('worker').id).toBe('backoff');
    expect(d.send({ kind: 'stop', names: ['worker'] })).toEqual([
      'cancel backoff worker', 'log info worker: stopping (SIGTERM)', 'signal worker 15 +CONT', 'arm grace worker', 'watch-gone worker',
    ]);
  });

  it('main: the stop signal to its own process; done when it has exited, whatever it left; SIGKILL to it alone', () => {
    const d = driver(graph([app, sidecar('main')]));
    d.boot({ app: 10, worker: 20 });
    d.own({ worker: [20, 21] });
    expect(d.send({ kind: 'stop', names: ['worker'] })).toEqual([
      'log info worker: stopping (SIGTERM)', 'signal-pid 20 15', 'signal-pid 20 18', 'arm grace worker',
    ]);
    expect(d.send({ kind: 'timer', timer: 'grace', service: 'worker' }, 7000)).toEqual([
      'log warn worker: killed with SIGKILL after 5s (SIGTERM ignored by pid 20)', 'signal-pid 20 9', 'arm stuck worker',
    ]);
    d.own({ worker: [21] });
    expect(d.send({ kind: 'exited', service: 'worker', pid: 20, status: { kind: 'signaled', signal: 9 } })).toEqual([
      'log info worker: killed by SIGKILL', 'cancel stuck worker', 'unwatch-gone worker', 'log info worker: stopped after 6s', 'release worker', 
    ]);
    expect(d.state('worker')).toEqual({ id: 'stopped', byHand: true });
  });

  it('main: the next run starts beside what the previous one left (no clearing); a stop of a service with only leftovers leaves them', () => {
    const d = driver(graph([app, sidecar('main')]));
    d.boot({ app: 10, worker: 20 });
    d.own({ worker: [21] });
    d.send({ kind: 'exited', service: 'worker', pid: 20, status: { kind: 'exited', code: 1 } });
    expect(d.send({ kind: 'timer', timer: 'backoff', service: 'worker' }, 1200)).toEqual([
      'log info worker: 1 process left by its previous run keeps running beside the new one (stop_mode: main)', 'spawn worker',
    ]);
    d.send({ kind: 'forked', service: 'worker', pid: 22 });
    d.send({ kind: 'exited', service: 'worker', pid: 22, status: { kind: 'exited', code: 1 } });
    d.send({ kind: 'stop', names: ['worker'] });
    expect(d.state('worker')).toEqual({ id: 'stopped', byHand: true });
  });

  it('stop_command gets MAINPID: the own process, or none for leftovers', () => {
    const d = driver(graph([app, sidecar('mixed', { stopCommand: { argv: ['quit'], shell: false } })]));
    d.boot({ app: 10, worker: 20 });
    const result = step(d.core, { kind: 'stop', names: ['worker'] }, seen(2000, { worker: [20] }));
    expect(result.effects.find((e) => e.kind === 'spawn-stop-command')).toMatchObject({ service: 'worker', mainPid: 20 });
  });
});

describe('a spawn that cannot succeed', () => {
  const app = service('app', { main: true, restart: never(service('app')) });

  it('the exec helper forks (a pid), then exec\'s: "started" only then', () => {
    const d = driver(graph([app, service('web', { autostart: false })]));
    d.boot({ app: 10 });
    const out = step(d.core, { kind: 'start', names: ['web'] }, seen(1000));
    expect(out.core.services.get('web')!.state.id).toBe('spawning');
    const forked = step(out.core, { kind: 'forked', service: 'web', pid: 30 }, seen(1000));
    expect(forked.effects).toEqual([]);
    expect(forked.core.services.get('web')!.state).toMatchObject({ id: 'spawning', pid: 30 });
    const ran = step(forked.core, { kind: 'spawned', service: 'web', pid: 30 }, seen(1001));
    expect(kinds(ran.effects)).toEqual(['log info web: started (pid 30)']);
    expect(ran.core.services.get('web')!.state).toMatchObject({ id: 'running', pid: 30 });
  });

  it('the helper exits before exec (command not found): fatal at once, whatever the policy, with the reason and how to retry; never "started"', () => {
    const d = driver(graph([app, service('web', { autostart: false })]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['web'] });
    d.send({ kind: 'forked', service: 'web', pid: 30 });
    const effects = d.send({ kind: 'exited', service: 'web', pid: 30, status: { kind: 'failed', code: 127, reason: 'command not found: nginxx' } });
    expect(effects).toEqual(['log error web: cannot start: command not found: nginxx; it stays down: `tend start web` after fixing it']);
    expect(d.state('web')).toEqual({ id: 'fatal', reason: 'command not found: nginxx', cannotStart: true });
    expect(d.core.services.get('web')!.lastExit).toEqual({ kind: 'failed', code: 127, reason: 'command not found: nginxx' });
    expect(d.core.services.get('web')!.restarts).toBe(0);
    expect(d.core.phase.id).toBe('running');
  });

  it('tend short of fds or processes is no fault of the command: retried by policy', () => {
    const d = driver(graph([app, service('web', { autostart: false })]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['web'] });
    d.send({ kind: 'spawn-failed', service: 'web', status: { kind: 'failed', code: 126, reason: 'cannot start x: no more processes allowed (EAGAIN)', transient: true } });
    expect(d.state('web').id).toBe('backoff');
  });

  it('a oneshot that cannot be started has failed', () => {
    const d = driver(graph([app, service('setup', { type: 'oneshot', restart: never(service('setup')), autostart: false })]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['setup'] });
    d.send({ kind: 'forked', service: 'setup', pid: 30 });
    d.send({ kind: 'exited', service: 'setup', pid: 30, status: { kind: 'failed', code: 126, reason: 'unknown user: nobodyx' } });
    expect(d.state('setup')).toEqual({ id: 'failed', reason: 'unknown user: nobodyx' });
  });

  it('main that cannot be started ends the container with its 127, not 1', () => {
    const d = driver(graph([app]));
    const out = step(d.core, { kind: 'boot' }, seen(1000));
    const failed = step(out.core, { kind: 'spawn-failed', service: 'app', status: { kind: 'failed', code: 127, reason: 'command not found: nginxx' } }, seen(1000));
    expect(kinds(failed.effects)).toContain('log info shutdown begins (main service app cannot be started (command not found: nginxx))');
    const swept = step(failed.core, { kind: 'swept', signal: 15, pids: [] }, seen(1000));
    expect(swept.core.phase).toEqual({ id: 'done', code: 127 });
  });

  it('a stop while the helper runs stops it like the command; its exec then changes nothing', () => {
    const d = driver(graph([app, service('web', { autostart: false })]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['web'] });
    d.send({ kind: 'forked', service: 'web', pid: 30 });
    d.own({ web: [30] });
    expect(d.send({ kind: 'stop', names: ['web'] })).toEqual(['log info web: stopping (SIGTERM)', 'signal web 15 +CONT', 'arm grace web', 'watch-gone web']);
    expect(d.state('web')).toMatchObject({ id: 'stopping', pid: 30, intent: 'stop' });
    expect(d.send({ kind: 'spawned', service: 'web', pid: 30 })).toEqual([]);
  });
});

describe('critical acts on any final failure', () => {
  it('critical + restart never: exiting 1 shuts the container down with 1', () => {
    const d = driver(graph([service('db', { critical: true, restart: never(service('db')) }), service('web')]));
    d.boot({ db: 10, web: 20 });
    const effects = d.send({ kind: 'exited', service: 'db', pid: 10, status: { kind: 'exited', code: 1 } });
    expect(effects).toContain('log info shutdown begins (critical service db ended: exited with 1)');
    expect(d.core.phase).toMatchObject({ id: 'shutting-down', ending: { cause: 'critical' } });
  });

  it('critical + restart never exiting 0 is no failure; a critical oneshot that fails is', () => {
    const job = service('job', { type: 'oneshot', critical: true, autostart: false, restart: never(service('job')) });
    const d = driver(graph([service('db', { critical: true, restart: never(service('db')) }), job, service('web')]));
    d.boot({ db: 10, web: 20 });
    d.send({ kind: 'exited', service: 'db', pid: 10, status: { kind: 'exited', code: 0 } });
    expect(d.core.phase.id).toBe('running');
    d.send({ kind: 'start', names: ['job'] });
    d.send({ kind: 'forked', service: 'job', pid: 11 });
    d.send({ kind: 'spawned', service: 'job', pid: 11 });
    const effects = d.send({ kind: 'exited', service: 'job', pid: 11, status: { kind: 'exited', code: 3 } });
    expect(effects).toContain('log info shutdown begins (critical service job failed (exited with 3))');
  });
});

describe('stopped by hand is not failed', () => {
  it('with no main, stopping every service by hand leaves tend up; a shutdown then exits 0', () => {
    const d = driver(graph([service('a'), service('b')]));
    d.boot({ a: 10, b: 20 });
    d.own({ a: [10], b: [20] });
    d.send({ kind: 'stop', names: ['a', 'b'] });
    for (const [name, pid] of [['a', 10], ['b', 20]] as const) {
      d.own({});
      d.send({ kind: 'gone', service: name });
      d.send({ kind: 'exited', service: name, pid, status: { kind: 'signaled', signal: 15 } });
    }
    expect(d.state('a')).toEqual({ id: 'stopped', byHand: true });
    expect(d.state('b')).toEqual({ id: 'stopped', byHand: true });
    expect(d.core.phase.id).toBe('running');
    d.send({ kind: 'shutdown', how: 'ordered', reason: 'asked by tend shutdown', requested: true });
    d.send({ kind: 'swept', signal: 15, pids: [] });
    expect(d.core.phase).toEqual({ id: 'done', code: 0 });
  });
});

describe('pre_start and post_stop', () => {
  const app = service('app', { main: true, restart: never(service('app')) });
  const hooks = (extra: Partial<ServicePlan> = {}) => service('web', {
    autostart: false, restart: { ...service('web').restart, backoff: { ...service('web').restart.backoff, jitter: 0 } },
    preStart: { argv: ['prepare'], shell: false }, postStop: { argv: ['cleanup'], shell: false }, ...extra,
  });

  it('pre_start runs first (preparing); exit 0 spawns; its start timeout is armed', () => {
    const d = driver(graph([app, hooks()]));
    d.boot({ app: 10 });
    expect(d.send({ kind: 'start', names: ['web'] })).toEqual(['spawn-hook web', 'arm hook web']);
    expect(d.state('web')).toEqual({ id: 'preparing', since: 1000 });
    expect(d.send({ kind: 'hook-exited', service: 'web', hook: 'pre_start', status: { kind: 'exited', code: 0 } })).toEqual(['cancel hook web', 'spawn web']);
  });

  it('pre_start failing fails the start: the restart policy decides (post_stop runs first, with its status)', () => {
    const d = driver(graph([app, hooks()]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['web'] });
    const result = step(d.core, { kind: 'hook-exited', service: 'web', hook: 'pre_start', status: { kind: 'exited', code: 3 } }, seen(1000));
    expect(kinds(result.effects)).toEqual([
      'cancel hook web', 'log warn web: pre_start exited with 3; the start failed', 'spawn-hook web', 'arm hook web', 'log info web: restarting in 100ms (restart 1)', 'arm backoff web',
    ]);
    expect(result.effects.find((e) => e.kind === 'spawn-hook')).toMatchObject({ hook: 'post_stop', env: { EXIT_CODE: 'exited', EXIT_STATUS: '3' } });
    expect(result.core.services.get('web')!.state).toEqual({ id: 'finishing', since: 1000, then: { id: 'backoff', until: 1100, delay: 100 } });
  });

  it('a stop while pre_start runs stops it as one of the service\'s processes, and waits for it', () => {
    const d = driver(graph([app, hooks()]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['web'] });
    d.own({ web: [40] });
    expect(d.send({ kind: 'stop', names: ['web'] })).toEqual(['cancel hook web', 'log info web: stopping (SIGTERM)', 'signal web 15 +CONT', 'arm grace web', 'watch-gone web']);
    expect(d.state('web')).toMatchObject({ id: 'stopping', pid: null, intent: 'stop' });
    expect(d.send({ kind: 'hook-exited', service: 'web', hook: 'pre_start', status: { kind: 'signaled', signal: 15 } })).toEqual([]);
    d.own({});
    d.send({ kind: 'gone', service: 'web' });
    // No run began: no post_stop.
    expect(d.state('web')).toEqual({ id: 'stopped', byHand: true });
  });

  it('a pre_start that cannot run at all (not found) is fatal at once', () => {
    const d = driver(graph([app, hooks({ postStop: null })]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['web'] });
    expect(d.send({ kind: 'hook-exited', service: 'web', hook: 'pre_start', status: { kind: 'failed', code: 127, reason: 'command not found: prepare' } })).toEqual([
      'cancel hook web', 'log error web: cannot start: pre_start: command not found: prepare; it stays down: `tend start web` after fixing it',
    ]);
    expect(d.state('web')).toEqual({ id: 'fatal', reason: 'pre_start: command not found: prepare', cannotStart: true });
  });

  it('a run that ends: post_stop with EXIT_CODE/EXIT_STATUS, then what the end decided; the backoff left of its delay', () => {
    const d = driver(graph([app, hooks({ preStart: null, autostart: true })]));
    d.boot({ app: 10, web: 20 });
    const result = step(d.core, { kind: 'exited', service: 'web', pid: 20, status: { kind: 'signaled', signal: 11 } }, seen(2000));
    expect(result.effects.find((e) => e.kind === 'spawn-hook')).toMatchObject({ hook: 'post_stop', env: { EXIT_CODE: 'killed', EXIT_STATUS: 'SEGV' } });
    expect(result.changes).toEqual([{ type: 'state', service: 'web', from: 'running', to: 'stopping', pid: null, reason: null }]);
    let core = result.core;
    const done = step(core, { kind: 'hook-exited', service: 'web', hook: 'post_stop', status: { kind: 'exited', code: 0 } }, seen(2060));
    core = done.core;
    expect(kinds(done.effects)).toEqual(['cancel hook web', 'arm backoff web']);
    expect(done.effects.find((e) => e.kind === 'arm')).toMatchObject({ timer: 'backoff', ms: 40 });
    expect(core.services.get('web')!.state).toEqual({ id: 'backoff', until: 2100, delay: 100 });
  });

  it('a stop by hand: post_stop after the stop (killed by TERM), then stopped by hand; a stop while post_stop runs after a crash makes it stopped', () => {
    const d = driver(graph([app, hooks({ preStart: null, autostart: true })]));
    d.boot({ app: 10, web: 20 });
    d.own({ web: [20] });
    d.send({ kind: 'stop', names: ['web'] });
    d.own({});
    d.send({ kind: 'gone', service: 'web' });
    const effects = step(d.core, { kind: 'exited', service: 'web', pid: 20, status: { kind: 'signaled', signal: 15 } }, seen(1000, {}));
    expect(effects.effects.find((e) => e.kind === 'spawn-hook')).toMatchObject({ hook: 'post_stop', env: { EXIT_CODE: 'killed', EXIT_STATUS: 'TERM' } });
    expect(effects.core.services.get('web')!.state).toMatchObject({ id: 'finishing', then: { id: 'stopped', byHand: true } });
    const after = step(effects.core, { kind: 'hook-exited', service: 'web', hook: 'post_stop', status: { kind: 'exited', code: 1 } }, seen(1010));
    expect(kinds(after.effects)).toEqual(['cancel hook web', 'log warn web: post_stop exited with 1', 'release web']);
    expect(after.core.services.get('web')!.state).toEqual({ id: 'stopped', byHand: true });

    const d2 = driver(graph([app, hooks({ preStart: null, autostart: true })]));
    d2.boot({ app: 10, web: 20 });
    d2.send({ kind: 'exited', service: 'web', pid: 20, status: { kind: 'exited', code: 1 } });
    expect(d2.send({ kind: 'stop', names: ['web'] })).toEqual(['cancel backoff web']);
    expect(d2.state('web')).toMatchObject({ id: 'finishing', then: { id: 'stopped', byHand: true } });
  });

  it('a stop of what an ended run left runs no second post_stop; a post_stop past stop_timeout is killed', () => {
    const d = driver(graph([app, hooks({ preStart: null, autostart: true, restart: never(service('web')) })]));
    d.boot({ app: 10, web: 20 });
    d.own({ web: [21] });
    d.send({ kind: 'exited', service: 'web', pid: 20, status: { kind: 'exited', code: 0 } });
    expect(d.send({ kind: 'timer', timer: 'hook', service: 'web' }, 7000)).toEqual(['log warn web: post_stop still runs after 5s; killing it with SIGKILL', 'kill-hook web']);
    d.send({ kind: 'hook-exited', service: 'web', hook: 'post_stop', status: { kind: 'signaled', signal: 9 } });
    expect(d.state('web')).toEqual({ id: 'exited', exit: { kind: 'exited', code: 0 } });
    d.send({ kind: 'stop', names: ['web'] });
    d.own({});
    const effects = d.send({ kind: 'gone', service: 'web' });
    expect(effects.some((e) => e.startsWith('spawn-hook'))).toBe(false);
    expect(d.state('web')).toEqual({ id: 'stopped', byHand: true });
  });
});

describe('post_stop\'s variables, as systemd sets them', () => {
  it('exited N, killed SIGNAME, dumped SIGNAME; a command that could not start reads exited 127', () => {
    expect(exitVariables({ kind: 'exited', code: 3 })).toEqual({ EXIT_CODE: 'exited', EXIT_STATUS: '3' });
    expect(exitVariables({ kind: 'signaled', signal: 15 })).toEqual({ EXIT_CODE: 'killed', EXIT_STATUS: 'TERM' });
    expect(exitVariables({ kind: 'signaled', signal: 11, core: true })).toEqual({ EXIT_CODE: 'dumped', EXIT_STATUS: 'SEGV' });
    expect(exitVariables({ kind: 'failed', code: 127, reason: 'command not found: x' })).toEqual({ EXIT_CODE: 'exited', EXIT_STATUS: '127' });
  });
});

describe('sd_notify before the exec\'s answer', () => {
  it('READY=1 from the forked process counts: the command runs, and it is ready', () => {
    const api = service('api', { autostart: false, ready: { check: { kind: 'sd_notify' }, interval: 200, timeout: 60_000 } as ServicePlan['ready'] });
    const d = driver(graph([service('app', { main: true, restart: never(service('app')) }), api]));
    d.boot({ app: 10 });
    d.send({ kind: 'start', names: ['api'] });
    d.send({ kind: 'forked', service: 'api', pid: 30 });
    d.send({ kind: 'notified', service: 'api', pid: 30, fields: [['READY', '1']] });
    expect(d.state('api')).toMatchObject({ id: 'ready', pid: 30 });
    expect(d.send({ kind: 'spawned', service: 'api', pid: 30 })).toEqual([]);
  });
});

describe('hooks and a reload', () => {
  it('a service removed while its pre_start runs: the hook is signalled and the service forgotten', () => {
    const app = service('app', { main: true, restart: never(service('app')) });
    const web = service('web', { preStart: { argv: ['prepare'], shell: false } });
    const d = driver(graph([app, web]));
    d.boot({ app: 10 });
    expect(d.state('web').id).toBe('preparing');
    const effects = d.send({ kind: 'reload', plan: graph([app]) });
    expect(effects).toContain('kill-hook web');
    expect(effects).toContain('release web');
    expect(d.core.services.has('web')).toBe(false);
  });
});
