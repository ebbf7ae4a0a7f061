// The optional HTTP endpoint (settings.http, README: Manifest reference, settings.http): /healthz, /readyz, /metrics and
// /status. It reads snapshots through a provider and never reaches into a service.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { HealthDocument, StatusDocument } from '../control/api';

export interface HttpProvider {
  status(): StatusDocument;
  health(): HealthDocument;
  metrics(): string;
}

export interface HttpOptions {
  readonly host: string;
  readonly port: number;
  /** Serve /status on a non-loopback listener too. */
  readonly statusOnAnyAddress: boolean;
  /** For tests; default HTTP_MAX_CONNECTIONS. */
  readonly maxConnections?: number;
  /** For tests; default HTTP_IDLE_TIMEOUT_MS. */
  readonly idleTimeoutMs?: number;
}

/**
 * The listener is unauthenticated and often on 0.0.0.0 (Kubernetes probes), so whoever
 * can reach the pod can open connections: each holds one of tend's descriptors, which
 * services need too (a 1024-fd tend flooded with idle connects could not restart anything:
 * EMFILE). Probes are a few short requests, so: at most this many connections; a newcomer
 * beyond it replaces the oldest connection with no request in progress (a flood then
 * churns its own sockets and a real probe still gets in), or is closed when all are busy.
 */
export const HTTP_MAX_CONNECTIONS = 64;
/** A connection with no traffic for this long is closed (Node's own check runs every 30 s). */
export const HTTP_IDLE_TIMEOUT_MS = 5000;

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/** Connections in order of arrival; a request in progress makes one busy. */
function limitConnections(server: Server, max: number): void {
  const open = new Set<Socket>();
  const busy = new WeakMap<Socket, number>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    if (open.size <= max) return;
    let victim: Socket = socket;
    for (const candidate of open) {
      if ((busy.get(candidate) ?? 0) === 0 && candidate !== socket) {
        victim = candidate;
        break;
      }
    }
    open.delete(victim);
    victim.destroy();
  });
  server.on('request', (request: { socket: Socket }, response: ServerResponse) => {
    const socket = request.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    response.once('close', () => busy.set(socket, (busy.get(socket) ?? 1) - 1));
  });
}

export type HttpStart = { ok: true; server: Server; close: () => Promise<void> } | { ok: false; message: string };

export function startHttp(options: HttpOptions, provider: HttpProvider): Promise<HttpStart> {
  const statusServed = options.statusOnAnyAddress || isLoopback(options.host);
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain', 'method not allowed\n');
      return;
    }
    try {
      switch (path) {
        case '/healthz':
          // tend answers: it lives. 200 through the whole shutdown, until it exits.
          send(response, 200, 'text/plain', 'ok\n');
          return;
        case '/readyz': {
          const health = provider.health();
          send(response, health.healthy ? 200 : 503, 'text/plain', `${health.reason}\n`);
          return;
        }
        case '/metrics':
          send(response, 200, 'text/plain; version=0.0.4; charset=utf-8', provider.metrics());
          return;
        case '/status':
          if (statusServed) {
            send(response, 200, 'application/json', `${JSON.stringify(provider.status())}\n`);
            return;
          }
          break;
        default:
          break;
      }
      send(response, 404, 'text/plain', 'not found\n');
    } catch (error) {
      send(response, 500, 'text/plain', `${error instanceof Error ? error.message : String(error)}\n`);
    }
  });
  // Probes are short; a slow client must not hold sockets for long.
  const idle = options.idleTimeoutMs ?? HTTP_IDLE_TIMEOUT_MS;
  server.headersTimeout = Math.min(5000, idle);
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = Math.min(5000, idle);
  // Inactivity on the socket itself, whatever the parser's state; with no 'timeout'
  // listener on the server, Node destroys the socket.
  server.setTimeout(idle);
  limitConnections(server, options.maxConnections ?? HTTP_MAX_CONNECTIONS);
  return new Promise((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      resolve({ ok: false, message: `cannot listen on http ${options.host}:${options.port}: ${error.code ?? error.message}` });
    });
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      server.on('error', () => undefined);
      resolve({
        ok: true,
        server,
        close: () => new Promise((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
