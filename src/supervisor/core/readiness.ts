// From a command that runs to a service that is up, and whether it stays well: what it
// must show to be ready (a ready probe, READY=1 on sd_notify, a forking start program's
// exit 0 and its daemon found), the start timeout, health checks, the watchdog, MAINPID=
// and the other sd_notify fields, and tend's own memory check. Failing these stops the
// service (stop.ts) or ends its run (after-run.ts).
import type { ExitStatus } from '../../vocab/exit';
import { describeExit } from '../../vocab/exit';
import * as say from '../../log/messages';
import { isUp, pidOf, type ServiceState } from '../state';
import { succeeded } from '../restart';
import { SIGKILL } from './constants';
import type { Draft } from './draft';
import { afterRun } from './after-run';
import { exitedZero } from './exit-status';
import { startHealth, stopProbes } from './run';
import { stop } from './stop';
import { ranFor, startTimeout } from './types';

export function spawned(d: Draft, name: string, pid: number): void {
  const record = d.record(name);
  if (record === undefined || record.state.id !== 'spawning' || (record.state.pid !== null && record.state.pid !== pid)) {
    // A stop took the exec helper over before it exec'd: that stop goes on.
    if (record !== undefined && pidOf(record.state) === pid) return;
    // Nobody waits for this process any more (a bug if it happens): do not leave it running unmanaged.
    d.emit({ kind: 'signal-pid', pid, signal: SIGKILL });
    return;
  }
  const plan = record.plan;
  d.log('info', say.started(name, pid));
  if (plan.type === 'oneshot' && plan.job?.timeout != null) d.arm('timeout', name, plan.job.timeout);
  if (plan.type === 'forking') {
    // The start program runs; the service is up once it has exited 0 and its daemon is found.
    if (!d.enter(name, { id: 'starting', pid, since: d.now, lastReason: `its start program (pid ${pid}) has not exited`, awaiting: 'start-program' })) return;
    d.arm('ready', name, startTimeout(plan));
    return;
  }
  if (plan.ready !== null) {
    const reason = plan.ready.check.kind === 'notify_fd' ? `nothing written to fd ${plan.ready.check.fd}`
      : plan.ready.check.kind === 'sd_notify' ? 'no READY=1 on its NOTIFY_SOCKET'
      : plan.ready.check.kind === 'log' ? `no output line matched /${plan.ready.check.pattern}/`
        : 'no check has passed yet';
    if (!d.enter(name, { id: 'starting', pid, since: d.now, lastReason: reason })) return;
    d.arm('ready', name, plan.ready.timeout);
    d.emit({ kind: 'probe-start', service: name, probe: 'ready', pid, plan });
  } else {
    if (!d.enter(name, { id: 'running', pid, since: d.now })) return;
    startHealth(d, name, pid);
  }
}

export function readyResult(d: Draft, name: string, pid: number, failure: string | null): void {
  const record = d.record(name);
  if (record === undefined || record.state.id !== 'starting' || record.state.pid !== pid) return;
  if (failure !== null) {
    d.enter(name, { ...record.state, lastReason: failure });
    return;
  }
  d.cancel('ready', name);
  d.emit({ kind: 'probe-stop', service: name, probe: 'ready' });
  d.log('info', say.ready(name, ranFor(record, d.now)));
  if (d.enter(name, { id: 'ready', pid, since: d.now })) {
    startHealth(d, name, pid);
    const watchdog = record.plan.watchdog ?? null;
    if (watchdog !== null) d.arm('watchdog', name, watchdog);
  }
}

export function healthResult(d: Draft, name: string, pid: number, failure: string | null): void {
  const record = d.record(name);
  if (record === undefined || record.health === null || pidOf(record.state) !== pid || !isUp(record.state)) return;
  const health = record.health;
  if (failure === null) {
    if (health.status !== 'healthy') d.log('info', say.healthy(name));
    d.update(name, { health: { status: 'healthy', failures: 0 } });
    return;
  }
  const check = record.plan.healthcheck!;
  const failures = health.failures + 1;
  if (failures < check.retries || health.status === 'unhealthy') {
    d.update(name, { health: { status: health.status, failures } });
    return;
  }
  const restarts = record.plan.restart.policy !== 'never';
  d.log('warn', say.unhealthy(name, check.retries, failure, restarts));
  d.update(name, { health: { status: 'unhealthy', failures } });
  // With restart `never` it stays up, unhealthy; checks go on and may find it healthy again.
  if (restarts) stop(d, name, 'unhealthy');
}

/** tend's own memory check found the service above limits.memory: a graceful stop, then its policy. */
export function memoryExceeded(d: Draft, name: string, bytes: number, limit: number): void {
  const record = d.record(name);
  if (record === undefined || !isUp(record.state) || d.shuttingDown) return;
  d.log('warn', say.overMemory(name, bytes, limit, record.plan.restart.policy !== 'never'));
  stop(d, name, 'memory-limit');
}

/** No WATCHDOG=1 in time (or WATCHDOG=trigger): the service hangs. SIGABRT to its main process, then the usual stop; its policy decides what follows. */
export function watchdogFired(d: Draft, name: string, triggered: boolean): void {
  const record = d.record(name);
  const state = record?.state;
  if (record === undefined || state === undefined || state.id !== 'ready') return;
  d.log('error', say.watchdogFired(name, record.plan.watchdog ?? 0, state.pid, triggered));
  stop(d, name, 'watchdog');
}

/**
 * A forking service's start program or daemon ended. The start program's exit 0 means
 * "started": the daemon is looked for. Without a pid_file the service runs as long as it
 * owns a process: the daemon that ended hands over to one that is left. True when this
 * handled the exit; false: it ends the run, as any service's exit.
 */
export function forkingExited(d: Draft, name: string, state: ServiceState, status: ExitStatus): boolean {
  const plan = d.record(name)!.plan;
  if (state.id === 'starting' && state.awaiting === 'start-program') {
    if (!exitedZero(status)) {
      d.log('warn', say.startProgramFailed(name, describeExit(status)));
      return false;
    }
    const reason = plan.pidFile != null ? `its pid_file ${plan.pidFile} has not appeared` : 'no daemon found';
    d.enter(name, { id: 'starting', pid: null, since: state.since, lastReason: reason, awaiting: 'daemon' });
    d.emit({ kind: 'find-daemon', service: name, plan });
    return true;
  }
  if ((state.id === 'running' || state.id === 'ready' || state.id === 'starting') && plan.pidFile == null && d.owns(name)) {
    d.update(name, { lastExit: status });
    d.log('info', say.daemonHandsOver(name, pidOf(state) ?? 0, describeExit(status)));
    d.emit({ kind: 'find-daemon', service: name, plan });
    return true;
  }
  return false;
}

export function daemonFound(d: Draft, name: string, pid: number): void {
  const record = d.record(name);
  if (record === undefined || record.plan.type !== 'forking') return;
  const state = record.state;
  if ((state.id === 'running' || state.id === 'ready') || (state.id === 'starting' && state.awaiting === undefined)) {
    // The tracked set's new main process, after the previous one ended.
    if (state.pid !== pid) {
      d.log('info', say.daemonFound(name, pid, null));
      d.enter(name, { ...state, pid });
    }
    return;
  }
  if (state.id !== 'starting' || state.awaiting !== 'daemon') return;
  const plan = record.plan;
  d.log('info', say.daemonFound(name, pid, plan.pidFile ?? null));
  if (plan.ready !== null) {
    // The ready timer armed at the spawn goes on: it covers the whole start.
    if (!d.enter(name, { id: 'starting', pid, since: state.since, lastReason: 'no check has passed yet' })) return;
    d.emit({ kind: 'probe-start', service: name, probe: 'ready', pid, plan });
    return;
  }
  d.cancel('ready', name);
  if (!d.enter(name, { id: 'running', pid, since: d.now })) return;
  startHealth(d, name, pid);
}

export function daemonMissing(d: Draft, name: string, reason: string): void {
  const record = d.record(name);
  if (record === undefined || record.plan.type !== 'forking') return;
  const state = record.state;
  if (state.id !== 'starting' && state.id !== 'running' && state.id !== 'ready') return;
  if (state.id === 'starting' && state.awaiting === 'daemon' && record.plan.pidFile != null) {
    // Looked for again until the start timeout; the reason is what the timeout will say.
    if (state.lastReason !== reason) d.enter(name, { ...state, lastReason: reason });
    return;
  }
  if (state.id === 'starting' && state.awaiting === 'start-program') return;
  // Without a pid_file the tracked set decides: nothing is left, so the run has ended.
  stopProbes(d, name);
  // Its start program's exit 0, or the status of the last daemon that ended.
  const exit = state.id === 'starting' ? { kind: 'exited' as const, code: 0 } : record.lastExit ?? { kind: 'exited' as const, code: 0 };
  d.log(succeeded(record.plan, exit) ? 'info' : 'warn', say.daemonGone(name, reason, describeExit(exit)));
  afterRun(d, name, exit, ranFor(record, d.now), null);
}

/**
 * An sd_notify message from a process the service owns (the process layer checked the
 * sender's credentials). Fields tend does not know are ignored, as systemd does.
 */
export function notified(d: Draft, name: string, sender: number, fields: readonly (readonly [string, string])[]): void {
  const record = d.record(name);
  if (record === undefined) return;
  // A message from its process is proof that the command runs, should it come before the
  // exec's answer (the two reach the loop on different fds).
  if (record.state.id === 'spawning' && record.state.pid !== null) spawned(d, name, record.state.pid);
  for (const [key, value] of fields) {
    const state = d.record(name)!.state;
    switch (key) {
      case 'STATUS':
        d.update(name, { statusText: value === '' ? null : value });
        break;
      case 'READY':
        if (value === '1' && state.id === 'starting' && state.pid !== null && record.plan.ready?.check.kind === 'sd_notify') readyResult(d, name, state.pid, null);
        break;
      case 'MAINPID': {
        const pid = /^[1-9][0-9]*$/.test(value) ? Number(value) : null;
        if (pid === null || !isUp(state) || state.pid === null || state.pid === pid) break;
        if (!d.seen.owned(name).includes(pid)) {
          d.log('warn', say.mainPidRefused(name, value, sender));
          break;
        }
        d.log('info', say.mainPid(name, pid));
        d.enter(name, { ...state, pid });
        d.emit({ kind: 'adopt-main', service: name, pid, previous: state.pid! });
        break;
      }
      case 'EXTEND_TIMEOUT_USEC': {
        const usec = /^[0-9]+$/.test(value) ? Number(value) : null;
        if (usec === null || state.id !== 'starting') break;
        d.log('info', say.startExtended(name, Math.ceil(usec / 1000)));
        d.arm('ready', name, Math.ceil(usec / 1000));
        break;
      }
      case 'WATCHDOG': {
        const watchdog = record.plan.watchdog ?? null;
        if (watchdog === null || state.id !== 'ready') break;
        if (value === '1') d.arm('watchdog', name, watchdog);
        else if (value === 'trigger') watchdogFired(d, name, true);
        break;
      }
      case 'STOPPING':
        if (value === '1') d.log('info', say.saysStopping(name));
        break;
      case 'RELOADING':
        if (value === '1') d.log('info', say.saysReloading(name));
        break;
      default:
        break;
    }
  }
}

/** The process layer could not watch the pid MAINPID= named: the previous main process stays the service's. */
export function mainRefused(d: Draft, service: string, pid: number, previous: number, reason: string): void {
  const record = d.record(service);
  const state = record?.state;
  if (state === undefined || !isUp(state) || state.pid !== pid) return;
  d.log('warn', say.mainPidUnwatchable(service, pid, reason));
  d.enter(service, { ...state, pid: previous });
}

/** The start timeout passed before the service was ready: it is stopped, then its policy decides. */
export function readyTimedOut(d: Draft, name: string): void {
  const record = d.record(name);
  if (record?.state.id !== 'starting') return;
  d.log('warn', say.notReady(name, startTimeout(record.plan), record.state.lastReason));
  stop(d, name, 'not-ready');
}
