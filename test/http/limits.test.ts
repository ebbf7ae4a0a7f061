// Finding 7 (reliability round two): the HTTP listener had no connection cap, and idle
// sockets were only reaped by Node's 30 s check — 1,100 idle connects left a 1024-fd tend
// without descriptors (services could not restart: EMFILE), renewably.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startHttp, type HttpStart } from '../../src/http/server';
import { freePort, waitFor } from '../helpers/tend';
import { get } from '../examples/helpers';

const provider = {
  status: () => ({}) as never,
  health: () => ({ healthy: true, reason: 'ok' }) as never,
  metrics: () => '',
};

const open: Socket[] = [];
let started: HttpStart | undefined;
afterEach(async () => {
  for (const socket of open.splice(0)) socket.destroy();
  if (started?.ok) await started.close();
});

function connections(): Promise<number> {
  return new Promise((resolve, reject) => {
    if (!started?.ok) return reject(new Error('not started'));
    started.server.getConnections((error, count) => (error ? reject(error) : resolve(count)));
  });
}

describe('finding 7: HTTP connection cap and idle timeout', () => {
  it('finding 7: 200 idle connections hold at most the cap, a probe still gets through, and idle ones are closed', async () => {
    const port = await freePort();
    started = await startHttp({ host: '127.0.0.1', port, statusOnAnyAddress: false, maxConnections: 16, idleTimeoutMs: 500 }, provider);
    expect(started.ok).toBe(true);
    let closedByServer = 0;
    for (let i = 0; i < 200; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('close', () => { closedByServer += 1; });
      open.push(socket);
    }
    await waitFor(() => closedByServer >= 200 - 16, { timeout: 5000, what: () => `the server to shed connections beyond its cap (${closedByServer} closed)` });
    expect(await connections()).toBeLessThanOrEqual(17);
    // A probe arriving now is served: an idle connection makes room for it.
    expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // And the idle ones go after the idle timeout, not Node's 30 s.
    await waitFor(async () => (await connections()) === 0, { timeout: 3000, what: 'idle connections to be closed' });
  });

  it('finding 7: the defaults are a cap of 64 and a 5 s idle timeout', async () => {
    const { HTTP_MAX_CONNECTIONS, HTTP_IDLE_TIMEOUT_MS } = await import('../../src/http/server');
    expect([HTTP_MAX_CONNECTIONS, HTTP_IDLE_TIMEOUT_MS]).toEqual([64, 5000]);
  });
});
