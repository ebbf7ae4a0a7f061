// A ControlHandler the tests drive by hand: services are plain records, every call is
// recorded, waits resolve when a test sets a state, logs and events are emitted on demand.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fail, ok,
  type ActionResult, type CallContext, type ControlHandler, type HealthDocument, type LogLine, type ReloadSummary,
  type Result, type ServiceStateName, type ServiceStatus, type ShutdownResult, type SignalResult, type StatusDocument,
  type TendEvent, type Unsubscribe, type WaitCondition, type WaitResult,
} from '../../src/control/api';
import { listenControl, type ControlServer, type ControlServerOptions } from '../../src/control/server';
import type { ControlNotice } from '../../src/control/connection';

export function fakeService(name: string, overrides: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    name, type: 'longrun', main: false, state: 'running', pid: 1000, since: Date.now() - 5000, uptime_ms: 5000,
    restarts: 0, last_exit: null, health: 'none', processes: [1000], ...overrides,
  };
}

interface Waiter {
  readonly name: string;
  readonly until: WaitCondition;
  readonly resolve: (result: Result<WaitResult>) => void;
}

export class FakeHandler implements ControlHandler {
  services = new Map<string, ServiceStatus>();
  orphans: number[] = [];
  healthy = true;
  shuttingDown = false;
  reloadResult: Result<ReloadSummary> = ok({ added: [], removed: [], changed: [], unchanged: [], pending: [] });
  /** When set, start/stop/restart with wait block until released(). */
  hold: Promise<void> | null = null;
  readonly calls: { method: string; args: unknown[]; caller: CallContext['caller'] | null }[] = [];
  readonly waiters = new Set<Waiter>();
  readonly logLines: LogLine[] = [];
  readonly logListeners = new Set<(line: LogLine) => void>();
  readonly eventListeners = new Set<(event: TendEvent) => void>();
  /** Tests make a handler method throw to check the server survives a bug. */
  throwIn: string | null = null;

  constructor(names: readonly string[] = ['web', 'db']) {
    for (const name of names) this.services.set(name, fakeService(name));
  }

  private record(method: string, args: unknown[], context: CallContext | null = null): void {
    this.calls.push({ method, args, caller: context?.caller ?? null });
    if (this.throwIn === method) throw new Error(`fake bug in ${method}`);
  }

  private unknown(names: readonly string[]): Result<never> | null {
    const missing = names.filter((n) => !this.services.has(n));
    return missing.length === 0 ? null : fail('unknown_service', `unknown service "${missing[0]}" (known: ${[...this.services.keys()].join(', ')})`);
  }

  setState(name: string, state: ServiceStateName): void {
    const service = this.services.get(name)!;
    this.services.set(name, { ...service, state });
    for (const waiter of [...this.waiters]) {
      if (waiter.name === name && holds(state, waiter.until)) {
        this.waiters.delete(waiter);
        waiter.resolve(ok({ name, state }));
      }
    }
  }

  emitLog(service: string, line: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const entry: LogLine = { service, stream, time: Date.now(), line };
    this.logLines.push(entry);
    for (const listener of this.logListeners) listener(entry);
  }

  emit(event: TendEvent): void {
    for (const listener of this.eventListeners) listener(event);
  }

  status(names: readonly string[]): Result<StatusDocument> {
    this.record('status', [names]);
    const unknown = this.unknown(names);
    if (unknown) return unknown;
    const services = names.length === 0 ? [...this.services.values()] : names.map((n) => this.services.get(n)!);
    return ok({ services, orphans: this.orphans, shutting_down: this.shuttingDown });
  }

  health(): HealthDocument {
    this.record('health', []);
    return this.healthy
      ? { healthy: true, reason: 'main web is ready', shutting_down: false }
      : { healthy: false, reason: 'main web is backoff', shutting_down: this.shuttingDown };
  }

  private async act(method: string, names: readonly string[], wait: boolean, context: CallContext, to: ServiceStateName): Promise<Result<ActionResult>> {
    this.record(method, [names, { wait }], context);
    const unknown = this.unknown(names);
    if (unknown) return unknown;
    if (this.shuttingDown) return fail('shutting_down', 'tend is shutting down');
    if (wait && this.hold !== null) await this.hold;
    return ok({ services: names.map((name) => ({ name, state: wait ? to : 'starting', changed: this.services.get(name)!.state !== to })) });
  }

  start(names: readonly string[], options: { wait: boolean }, context: CallContext): Promise<Result<ActionResult>> {
    return this.act('start', names, options.wait, context, 'running');
  }

  stop(names: readonly string[], options: { wait: boolean }, context: CallContext): Promise<Result<ActionResult>> {
    return this.act('stop', names, options.wait, context, 'stopped');
  }

  restart(names: readonly string[], options: { wait: boolean }, context: CallContext): Promise<Result<ActionResult>> {
    return this.act('restart', names, options.wait, context, 'running');
  }

  signal(name: string, signal: number, options: { mainOnly: boolean }, context: CallContext): Result<SignalResult> {
    this.record('signal', [name, signal, options], context);
    const unknown = this.unknown([name]);
    if (unknown) return unknown;
    const service = this.services.get(name)!;
    const pids = options.mainOnly ? (service.pid === null ? [] : [service.pid]) : [...service.processes];
    return ok({ name, signal: signal === 1 ? 'SIGHUP' : signal === 15 ? 'SIGTERM' : `signal ${signal}`, pids });
  }

  wait(name: string, until: WaitCondition, context: CallContext): Promise<Result<WaitResult>> {
    this.record('wait', [name, until], context);
    const unknown = this.unknown([name]);
    if (unknown) return Promise.resolve(unknown);
    const state = this.services.get(name)!.state;
    if (holds(state, until)) return Promise.resolve(ok({ name, state }));
    return new Promise((resolve) => {
      const waiter: Waiter = { name, until, resolve };
      this.waiters.add(waiter);
      context.signal.addEventListener('abort', () => this.waiters.delete(waiter), { once: true });
    });
  }

  logs(name: string, lines: number | null): Result<readonly LogLine[]> {
    this.record('logs', [name, lines]);
    const unknown = this.unknown([name]);
    if (unknown) return unknown;
    const mine = this.logLines.filter((l) => l.service === name);
    return ok(lines === null ? mine : mine.slice(Math.max(0, mine.length - lines)));
  }

  followLogs(name: string, listener: (line: LogLine) => void): Result<Unsubscribe> {
    this.record('followLogs', [name]);
    const filtered = (line: LogLine): void => {
      if (line.service === name) listener(line);
    };
    this.logListeners.add(filtered);
    return ok(() => this.logListeners.delete(filtered));
  }

  async reload(context: CallContext): Promise<Result<ReloadSummary>> {
    this.record('reload', [], context);
    return this.reloadResult;
  }

  shutdown(context: CallContext): Result<ShutdownResult> {
    this.record('shutdown', [], context);
    const already = this.shuttingDown;
    this.shuttingDown = true;
    return ok({ already });
  }

  subscribe(listener: (event: TendEvent) => void): Unsubscribe {
    this.record('subscribe', []);
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }
}

function holds(state: ServiceStateName, until: WaitCondition): boolean {
  switch (until) {
    case 'running':
      return state === 'running' || state === 'ready';
    case 'ready':
      return state === 'ready';
    case 'stopped':
      return state === 'stopped' || state === 'exited' || state === 'fatal';
  }
}

export interface TestServer {
  readonly server: ControlServer;
  readonly path: string;
  readonly dir: string;
  readonly handler: FakeHandler;
  readonly notices: ControlNotice[];
}

/** A real server on a socket in a fresh temporary directory. */
export async function startServer(
  handler = new FakeHandler(),
  options: Partial<Omit<ControlServerOptions, 'handler' | 'path'>> & { dir?: string; name?: string } = {},
): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tend-control-'));
  const path = join(dir, options.name ?? 'tend.sock');
  const notices: ControlNotice[] = [];
  const listened = await listenControl({
    mode: null, allow: [], version: '9.9.9', ...options, path, handler,
    onNotice: (n) => {
      notices.push(n);
      options.onNotice?.(n);
    },
  });
  if (!listened.ok) throw new Error(listened.message);
  return { server: listened.server, path, dir, handler, notices };
}
