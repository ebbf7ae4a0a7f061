// Readiness and liveness checks. A check is one attempt with a timeout; the runner runs
// attempts on the loop's clock. Nothing here decides what a result means for the
// service: results go to the core as facts.
import { connect } from 'node:net';
import type { ProbeCheck, ServicePlan } from '../plan/types';
import type { SpawnSpec, Spawned } from '../process/spawn';
import { signalGroup } from '../process/kill';
import type { Fact } from './events';
import type { Clock, ProbeRunner, TimerHandle } from './port';
import { compileLogPattern, type LinePattern } from '../vocab/pattern';
import { shownCommand } from '../plan/redact';
import { environmentOf } from './loop';
import { SIGKILL } from '../vocab/signals';

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export type Spawner = (spec: SpawnSpec) => Spawned;

const OK: CheckResult = { ok: true };

function tcpCheck(host: string, port: number, timeout: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: CheckResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ ok: false, reason: `tcp ${host}:${port}: no answer within ${timeout}ms` }), timeout);
    socket.once('connect', () => done(OK));
    socket.once('error', (error: NodeJS.ErrnoException) => done({ ok: false, reason: `tcp ${host}:${port}: ${error.code ?? error.message}` }));
  });
}

function httpCheck(url: string, shown: string, timeout: number): Promise<CheckResult> {
  // node:http and node:https (TLS) are required on the first http probe, not at start-up.
  // (require, not import(): the bundle runs from a vm.Script with a code cache, where a
  // dynamic import() has no loader.)
  const { request } = (url.startsWith('https:') ? require('node:https') : require('node:http')) as typeof import('node:http');
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outgoing.destroy();
      resolve(result);
    };
    const outgoing = request(url, { method: 'GET' }, (response) => {
      const status = response.statusCode ?? 0;
      response.resume();
      done(status >= 200 && status < 400 ? OK : { ok: false, reason: `GET ${shown}: HTTP ${status}` });
    });
    const timer = setTimeout(() => done({ ok: false, reason: `GET ${shown}: no answer within ${timeout}ms` }), timeout);
    outgoing.once('error', (error: NodeJS.ErrnoException) => done({ ok: false, reason: `GET ${shown}: ${error.code ?? error.message}` }));
    outgoing.end();
  });
}

/** A command check runs as the service's user, with its environment and cwd. */
async function commandCheck(check: Extract<ProbeCheck, { kind: 'command' }>, service: ServicePlan, timeout: number, spawn: Spawner): Promise<CheckResult> {
  const child = spawn({
    service: service.name,
    argv: check.command.argv,
    ...environmentOf(service),
    cwd: service.cwd,
    user: service.user,
    group: service.group,
    stdin: 'null',
    output: 'null',
    notifyFd: null,
    cgroup: null,
    session: 'new',
  });
  // The check runs in its own session: a timeout kills its whole process group.
  const timer = setTimeout(() => signalGroup(child.pid, SIGKILL), timeout);
  const exit = await child.exit;
  clearTimeout(timer);
  if (exit.kind === 'exited' && exit.code === 0) return OK;
  const what = shownCommand(check.command);
  switch (exit.kind) {
    case 'exited':
      return { ok: false, reason: `${what}: exit ${exit.code}` };
    case 'signaled':
      return { ok: false, reason: `${what}: timed out after ${timeout}ms` };
    case 'failed':
      return { ok: false, reason: exit.reason };
  }
}

/** One attempt of a command, tcp or http check. */
export function runCheck(check: ProbeCheck, service: ServicePlan, timeout: number, spawn: Spawner): Promise<CheckResult> {
  switch (check.kind) {
    case 'tcp':
      return tcpCheck(check.host, check.port, timeout);
    case 'http':
      return httpCheck(check.url, check.shown ?? check.url, timeout);
    case 'command':
      return commandCheck(check, service, timeout, spawn);
    case 'log':
    case 'notify_fd':
    case 'sd_notify':
      return Promise.resolve({ ok: false, reason: `${check.kind} is not a polled check` });
  }
}

/**
 * Runs the checks of one run of a service and reports every result as a fact: a ready
 * probe until it passes (polled checks every `interval`, a `log` pattern against each
 * output line, a newline on the notify fd), a healthcheck after `start_period` and then
 * every `interval`. What a result means — ready, unhealthy after `retries`, a timeout —
 * is the core's decision, not the runner's.
 */
export function createProbeRunner(clock: Clock, spawn: Spawner): ProbeRunner {
  interface Watch {
    cancelled: boolean;
    timer: TimerHandle | null;
    pattern: LinePattern | null;
    report: (fact: Fact) => void;
    pid: number;
  }
  const watches = new Map<string, Watch>();
  const key = (service: string, probe: 'ready' | 'health') => `${probe}\0${service}`;

  const stop = (service: string, probe: 'ready' | 'health'): void => {
    const watch = watches.get(key(service, probe));
    if (watch === undefined) return;
    watch.cancelled = true;
    if (watch.timer !== null) clock.clearTimer(watch.timer);
    watches.delete(key(service, probe));
  };

  return {
    start(probe, plan, pid, spawned, report) {
      stop(plan.name, probe);
      const watch: Watch = { cancelled: false, timer: null, pattern: null, report, pid };
      watches.set(key(plan.name, probe), watch);
      const service = plan.name;
      const result = (outcome: CheckResult): void => {
        if (watch.cancelled) return;
        report(outcome.ok
          ? { kind: 'probe-passed', service, probe, pid }
          : { kind: 'probe-failed', service, probe, pid, reason: outcome.reason });
      };
      if (probe === 'ready') {
        const ready = plan.ready;
        if (ready === null) return;
        const check = ready.check;
        if (check.kind === 'notify_fd') {
          const notify = spawned.notify;
          if (notify !== null) {
            notify.on('data', (chunk: Buffer) => {
              if (chunk.includes(10) && !watch.cancelled) {
                result(OK);
                stop(service, probe);
              }
            });
            notify.on('error', () => undefined);
          }
          return;
        }
        // READY=1 comes to the core as a `notified` fact: nothing to run here.
        if (check.kind === 'sd_notify') return;
        if (check.kind === 'log') {
          watch.pattern = compileLogPattern(check.pattern);
          return;
        }
        const attempt = async (): Promise<void> => {
          watch.timer = null;
          if (watch.cancelled) return;
          const outcome = await runCheck(check, plan, Math.max(ready.interval, 1000), spawn);
          if (watch.cancelled) return;
          result(outcome);
          if (!outcome.ok && !watch.cancelled) watch.timer = clock.setTimer(ready.interval, () => void attempt());
        };
        // The first attempt right away: a fast service should not wait a whole interval.
        watch.timer = clock.setTimer(0, () => void attempt());
        return;
      }
      const health = plan.healthcheck;
      if (health === null) return;
      const attempt = async (): Promise<void> => {
        watch.timer = null;
        if (watch.cancelled) return;
        const outcome = await runCheck(health.check, plan, health.timeout, spawn);
        if (watch.cancelled) return;
        result(outcome);
        if (!watch.cancelled) watch.timer = clock.setTimer(health.interval, () => void attempt());
      };
      watch.timer = clock.setTimer(health.startPeriod || health.interval, () => void attempt());
    },
    stop,
    line(service, text) {
      const watch = watches.get(key(service, 'ready'));
      if (watch === undefined || watch.pattern === null || watch.cancelled) return;
      if (watch.pattern.test(text)) {
        watch.report({ kind: 'probe-passed', service, probe: 'ready', pid: watch.pid });
        stop(service, 'ready');
      }
    },
  };
}
