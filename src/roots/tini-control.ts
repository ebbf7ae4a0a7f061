// The control socket of tini mode (`tend --socket PATH -- CMD`, or TEND_SOCKET set): one
// service, `main`, that is CMD. status, health, signal, wait, shutdown and `stop main`
// (= shutdown) work as with a manifest; what needs a manifest or captured output (start,
// restart, logs, reload) answers with the reason instead.
import { signalName } from '../vocab/signals';
import { waitFor } from '../control/wait';
import type { ExitStatus } from '../vocab/exit';
import {
  fail, ok,
  type CallContext, type ControlHandler, type HealthDocument, type LastExit, type Result, type ServiceStatus,
  type TendEvent, type Unsubscribe, type WaitCondition, type WaitResult,
} from '../control/api';

export const TINI_SERVICE = 'main';

export interface TiniTarget {
  readonly pid: number;
  readonly startedAt: number;
  /** Delivers a signal the way tini mode forwards them (to CMD's group); returns the pids reached. */
  signal(signal: number, mainOnly: boolean): number[];
  /** The ordered shutdown of tini mode: SIGTERM to CMD's group, as `docker stop` sends. */
  shutdown(): void;
}

function lastExit(exit: ExitStatus | null): LastExit | null {
  if (exit === null) return null;
  return exit.kind === 'signaled' ? { signal: signalName(exit.signal) } : { code: exit.code };
}

export class TiniHandler implements ControlHandler {
  private exit: ExitStatus | null = null;
  private exitedAt: number | null = null;
  private shuttingDown = false;
  private readonly listeners = new Set<(event: TendEvent) => void>();

  constructor(private readonly target: TiniTarget) {}

  /** CMD was reaped. */
  exited(exit: ExitStatus): void {
    this.exit = exit;
    this.exitedAt = Date.now();
    const event: TendEvent = { type: 'state', time: this.exitedAt, service: TINI_SERVICE, from: 'running', to: 'exited', pid: null };
    for (const listener of [...this.listeners]) listener(event);
  }

  private unknown(names: readonly string[]): Result<never> | null {
    const other = names.find((name) => name !== TINI_SERVICE);
    return other === undefined ? null : fail('unknown_service', `unknown service "${other}" (tini mode runs one command, "${TINI_SERVICE}")`);
  }

  private service(): ServiceStatus {
    const running = this.exit === null;
    return {
      name: TINI_SERVICE,
      type: 'longrun',
      main: true,
      state: running ? 'running' : 'exited',
      pid: running ? this.target.pid : null,
      since: running ? this.target.startedAt : this.exitedAt,
      uptime_ms: running ? Date.now() - this.target.startedAt : null,
      restarts: 0,
      last_exit: lastExit(this.exit),
      health: 'none',
      processes: running ? [this.target.pid] : [],
    };
  }

  status(names: readonly string[]) {
    return this.unknown(names) ?? ok({ services: [this.service()], orphans: [], shutting_down: this.shuttingDown });
  }

  health(): HealthDocument {
    if (this.shuttingDown) return { healthy: false, reason: 'shutting down', shutting_down: true };
    return this.exit === null
      ? { healthy: true, reason: `main ${TINI_SERVICE} is running`, shutting_down: false }
      : { healthy: false, reason: `main ${TINI_SERVICE} has exited`, shutting_down: false };
  }

  async start(names: readonly string[]) {
    return this.unknown(names) ?? fail('failed', 'tini mode runs one command: there is nothing to start (use a manifest for services)');
  }

  async stop(names: readonly string[], options: { readonly wait: boolean }, context: CallContext) {
    const refused = this.unknown(names);
    if (refused !== null) return refused;
    this.shutdown();
    if (options.wait) await this.wait(TINI_SERVICE, 'stopped', context);
    return ok({ services: [{ name: TINI_SERVICE, state: this.service().state, changed: true }] });
  }

  async restart(names: readonly string[]) {
    return this.unknown(names) ?? fail('failed', 'tini mode cannot restart its command: its exit ends the container');
  }

  signal(name: string, signal: number, options: { readonly mainOnly: boolean }) {
    const refused = this.unknown([name]);
    if (refused !== null) return refused;
    const pids = this.exit === null ? this.target.signal(signal, options.mainOnly) : [];
    return ok({ name, signal: signalName(signal), pids });
  }

  wait(name: string, until: WaitCondition, context: CallContext): Promise<Result<WaitResult>> {
    const refused = this.unknown([name]);
    if (refused !== null) return Promise.resolve(refused);
    const check = (): Result<WaitResult> | null => {
      if (until === 'stopped') return this.exit === null ? null : ok({ name, state: 'exited' });
      return this.exit === null ? ok({ name, state: 'running' }) : fail('failed', `${name} has exited`);
    };
    // A restart passes through stopping and backoff: each state change re-checks.
    return waitFor(check, (listener) => this.subscribe(listener), context.signal, `${name} to be ${until}`);
  }

  logs(name: string) {
    return this.unknown([name]) ?? fail('failed', "tini mode does not capture output: the command writes straight to tend's stdout and stderr");
  }

  followLogs(name: string): Result<Unsubscribe> {
    return this.unknown([name]) ?? fail('failed', "tini mode does not capture output: the command writes straight to tend's stdout and stderr");
  }

  async reload() {
    return fail('failed', 'tini mode has no manifest to reload');
  }

  shutdown() {
    const already = this.shuttingDown;
    if (!already) {
      this.shuttingDown = true;
      const event: TendEvent = { type: 'shutdown', time: Date.now(), reason: 'requested over the control socket' };
      for (const listener of [...this.listeners]) listener(event);
      if (this.exit === null) this.target.shutdown();
    }
    return ok({ already });
  }

  subscribe(listener: (event: TendEvent) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * Claims the socket and serves `handler` on it: tini mode's one entry into the control
 * layer, built as a bundle of its own (dist/tini-control.cjs) so that `tend -- CMD`
 * without a socket never parses the protocol's zod schemas.
 */
export async function openTiniControl(socket: string, target: TiniTarget, version: string): Promise<
  { ok: true; handler: TiniHandler; close: () => Promise<void> } | { ok: false; message: string }
> {
  const { listenControl } = await import('../control/server');
  const { serverSocketPath } = await import('../control/socketpath');
  const chosen = serverSocketPath({ flag: socket, env: process.env, uid: process.getuid?.() ?? 0, settingsSocket: null, manifest: null });
  if (!chosen.ok) return chosen;
  const handler = new TiniHandler(target);
  const listened = await listenControl({ path: chosen.path, mode: null, allow: [], handler, version });
  if (!listened.ok) return listened;
  return { ok: true, handler, close: () => listened.server.close() };
}
