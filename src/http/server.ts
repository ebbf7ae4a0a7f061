// The optional HTTP endpoint (settings.http, SPEC §7): /healthz, /readyz, /metrics and
// /status. It reads snapshots through a provider and never reaches into a service.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
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
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  response.end(body);
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
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5000;
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
