// Readiness and liveness checks. A check is one attempt with a timeout; a watch runs
// attempts on a timer. Nothing here decides what a result means for the service: the
// watches report to callbacks and the service runner acts.
import { connect } from 'node:net';
import type { ProbeCheck, ReadyProbe, HealthCheck, ServicePlan } from '../plan/types';
import type { SpawnSpec, Spawned } from '../process/spawn';
import { compileLogPattern, type LinePattern } from '../config/pattern';
import { shownCommand } from '../plan/redact';

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

/** A command check runs as the service's user, with its environment and cwd (SPEC §2). */
async function commandCheck(check: Extract<ProbeCheck, { kind: 'command' }>, service: ServicePlan, timeout: number, spawn: Spawner): Promise<CheckResult> {
  const child = spawn({
    service: service.name,
    argv: check.command.argv,
    env: service.env,
    secretFiles: service.secretFiles,
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
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone: nothing to kill.
    }
  }, timeout);
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
      return Promise.resolve({ ok: false, reason: `${check.kind} is not a polled check` });
  }
}

export interface ReadyWatchHooks {
  readonly onReady: () => void;
  readonly onTimeout: (lastReason: string) => void;
}

/**
 * Waits until a freshly spawned service is ready: polls command/tcp/http checks every
 * `interval`, matches `log` against output lines, or waits for a newline on the
 * notify fd. Cancelled by the runner when the service stops or exits first.
 */
export class ReadyWatch {
  private cancelled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly deadline: NodeJS.Timeout;
  private lastReason = 'no check has passed yet';
  private readonly pattern: LinePattern | null;

  constructor(
    private readonly probe: ReadyProbe,
    private readonly service: ServicePlan,
    spawned: Spawned,
    private readonly spawn: Spawner,
    private readonly hooks: ReadyWatchHooks,
  ) {
    this.deadline = setTimeout(() => this.finish(() => hooks.onTimeout(this.lastReason)), probe.timeout);
    this.pattern = probe.check.kind === 'log' ? compileLogPattern(probe.check.pattern) : null;
    if (probe.check.kind === 'notify_fd') {
      this.lastReason = `nothing written to fd ${probe.check.fd}`;
      const notify = spawned.notify;
      if (notify !== null) {
        notify.on('data', (chunk: Buffer) => {
          if (chunk.includes(10)) this.finish(hooks.onReady);
        });
        notify.on('error', () => undefined);
      }
    } else if (probe.check.kind === 'log') {
      this.lastReason = `no output line matched /${probe.check.pattern}/`;
    } else {
      // The first attempt right away: a fast service should not wait a whole interval.
      setImmediate(() => void this.attempt());
    }
  }

  /** Fed every output line of the service, for `log` probes. */
  line(text: string): void {
    if (this.pattern !== null && !this.cancelled && this.pattern.test(text)) this.finish(this.hooks.onReady);
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.deadline);
    clearTimeout(this.timer);
  }

  private finish(then: () => void): void {
    if (this.cancelled) return;
    this.cancel();
    then();
  }

  private async attempt(): Promise<void> {
    if (this.cancelled) return;
    const result = await runCheck(this.probe.check, this.service, Math.max(this.probe.interval, 1000), this.spawn);
    if (this.cancelled) return;
    if (result.ok) {
      this.finish(this.hooks.onReady);
      return;
    }
    this.lastReason = result.reason;
    this.timer = setTimeout(() => void this.attempt(), this.probe.interval);
  }
}

export type Health = 'starting' | 'healthy' | 'unhealthy';

export interface HealthWatchHooks {
  readonly onChange: (health: Health, reason: string | null) => void;
  /** `retries` consecutive failures: the service is unhealthy. */
  readonly onUnhealthy: (reason: string) => void;
}

/** Liveness: after `start_period`, a check every `interval`; `retries` failures in a row → unhealthy. */
export class HealthWatch {
  private cancelled = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  health: Health = 'starting';

  constructor(
    private readonly check: HealthCheck,
    private readonly service: ServicePlan,
    private readonly spawn: Spawner,
    private readonly hooks: HealthWatchHooks,
  ) {
    this.timer = setTimeout(() => void this.attempt(), check.startPeriod || check.interval);
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.timer);
  }

  private async attempt(): Promise<void> {
    if (this.cancelled) return;
    const result = await runCheck(this.check.check, this.service, this.check.timeout, this.spawn);
    if (this.cancelled) return;
    if (result.ok) {
      this.failures = 0;
      if (this.health !== 'healthy') {
        this.health = 'healthy';
        this.hooks.onChange('healthy', null);
      }
    } else {
      this.failures += 1;
      if (this.failures >= this.check.retries && this.health !== 'unhealthy') {
        this.health = 'unhealthy';
        this.hooks.onChange('unhealthy', result.reason);
        // The runner restarts the service (cancelling this watch) or, with restart
        // `never`, leaves it running; then checks go on and may find it healthy again.
        this.hooks.onUnhealthy(result.reason);
        if (this.cancelled) return;
      }
    }
    this.timer = setTimeout(() => void this.attempt(), this.check.interval);
  }
}
