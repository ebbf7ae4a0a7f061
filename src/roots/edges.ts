// The edges of a running tend: the control socket and the optional HTTP endpoint. Both
// read snapshots through SupervisorHandler and submit commands; neither reaches into a
// service. Opened after the services are defined, closed last, just before tend exits.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Plan } from '../plan/types';
import { listenControl, type ControlNotice } from '../control/server';
import { serverSocketPath, describeSource } from '../control/socketpath';
import { SupervisorHandler, type HandlerDeps } from '../control/supervisor-handler';
import type { TendLogger } from '../supervisor/logs';
import pkg from '../../package.json';
import type { SyslogCounts } from '../http/metrics';

export interface Edges {
  readonly socketPath: string;
  readonly handler: SupervisorHandler;
  close(): Promise<void>;
}

export interface EdgeOptions extends HandlerDeps {
  readonly plan: Plan;
  readonly socketFlag: string | null;
  readonly reaped: () => number;
  readonly log: TendLogger;
  /** settings.syslog's counts for /metrics (null: off). */
  readonly syslog?: () => SyslogCounts | null;
}

function describeNotice(notice: ControlNotice): string {
  switch (notice.kind) {
    case 'refused':
      return `control: refused ${notice.peer}: ${notice.message}`;
    case 'busy':
      return `control: ${notice.peer}: ${notice.message}`;
    case 'evicted':
      return `control: closed ${notice.peer}, idle for ${Math.round(notice.idleMs / 1000)}s`;
    case 'too_large':
      return `control: closed ${notice.peer}: request line over 64 KiB`;
    case 'slow_reader':
      return `control: closed ${notice.peer}: it does not read its replies (${notice.buffered} bytes waiting)`;
    case 'handler_error':
      return `control: internal error handling ${notice.cmd} from ${notice.peer}: ${notice.error instanceof Error ? notice.error.stack ?? notice.error.message : String(notice.error)}`;
    case 'server_error':
      return `control: server error: ${notice.error instanceof Error ? notice.error.message : String(notice.error)}`;
  }
}

export async function openEdges(options: EdgeOptions): Promise<{ ok: true; edges: Edges } | { ok: false; message: string }> {
  const { plan, log } = options;
  const chosen = serverSocketPath({
    flag: options.socketFlag,
    env: process.env,
    uid: process.getuid?.() ?? 0,
    settingsSocket: plan.settings.socket,
    manifest: plan.file,
  });
  if (!chosen.ok) return { ok: false, message: chosen.message };
  // Services learn where to reach tend (README: Command line): the spawner exports TEND_SOCKET.
  process.env.TEND_SOCKET = chosen.path;

  const handler = new SupervisorHandler(options);
  const listened = await listenControl({
    path: chosen.path,
    mode: plan.settings.socketMode,
    allow: plan.settings.socketAllow,
    handler,
    version: pkg.version,
    onNotice: (notice) => {
      const message = describeNotice(notice);
      if (notice.kind === 'handler_error' || notice.kind === 'server_error') log.error(message);
      else log.warn(message);
    },
  });
  if (!listened.ok) return { ok: false, message: `${listened.message} (socket path from ${describeSource(chosen.source)})` };
  const control = listened.server;

  let closeHttp: (() => Promise<void>) | null = null;
  let lag: ReturnType<typeof monitorEventLoopDelay> | null = null;
  const http = plan.settings.http;
  if (http !== null) {
    lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    const histogram = lag;
    const started = Date.now();
    const statusDocument = () => {
      const result = handler.status([], { detail: true });
      if (!result.ok) throw new Error(result.message);
      return result.value;
    };
    // Loaded only when settings.http is set: node:http is a few ms of start-up.
    const [{ startHttp }, { renderMetrics }] = await Promise.all([import('../http/server'), import('../http/metrics')]);
    const result = await startHttp(
      { host: http.host, port: http.port, statusOnAnyAddress: plan.settings.httpStatus },
      {
        status: statusDocument,
        health: () => handler.health(),
        metrics: () => {
          const figures = {
            zombiesReaped: options.reaped(),
            syslog: options.syslog?.() ?? null,
            residentBytes: process.memoryUsage.rss(),
            eventLoopLag: Number.isNaN(histogram.mean) ? 0 : histogram.mean / 1e9,
            startTime: started,
          };
          histogram.reset();
          return renderMetrics(statusDocument(), figures);
        },
      },
    );
    if (!result.ok) {
      await control.close();
      return { ok: false, message: result.message };
    }
    closeHttp = result.close;
    log.info(`http: listening on ${http.host}:${http.port}`);
  }

  return {
    ok: true,
    edges: {
      socketPath: control.path,
      handler,
      async close() {
        lag?.disable();
        await Promise.all([control.close(), closeHttp?.()]);
      },
    },
  };
}
