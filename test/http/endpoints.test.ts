// The HTTP endpoint end to end (SPEC §7), tend as PID 1: /readyz follows ready probes and
// liveness and turns 503 the moment SIGTERM arrives while /healthz stays 200 through
// shutdown_delay; /status only on loopback unless http_status; /status is the document
// `tend status --json` prints.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { canUnshare, stopwatch, tempDir, waitFor, writeManifest } from '../helpers/tend';
import { allIn, freePort, get, killLeftovers, startManifest } from '../examples/helpers';

afterEach(killLeftovers);

// A service that runs until SIGTERM, then exits 0; one long sleep, so its process list is stable.
const LOOP = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done"]`;

/** Waits until GET `url` answers `status`; returns the body. */
async function until(url: string, status: number, timeout = 5000): Promise<string> {
  let last = '';
  const reply = await waitFor(async () => {
    const r = await get(url);
    last = `${r.status} ${r.body.trim()}`;
    return r.status === status ? r : null;
  }, { timeout, interval: 25, what: () => `${url} to answer ${status} (last: ${last})` });
  return reply.body;
}

/** The shape of a JSON value: objects by key, arrays by their elements' shapes, scalars by type. */
function shape(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return [...new Set(value.map((v) => JSON.stringify(shape(v))))].sort();
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, shape(v)]));
  return typeof value;
}

describe.skipIf(!canUnshare())('HTTP endpoint', () => {
  it('/readyz: 503 until ready, on a failing liveness check and while a ready-probed service restarts; 200 each time it recovers', async () => {
    const dir = tempDir('tend-http-');
    const port = await freePort();
    const file = writeManifest(dir, `
settings:
  http: 127.0.0.1:${port}
services:
  app:
    main: true
    command: ${LOOP}
    ready: { command: 'test -f "$DIR/app.ready"', interval: 50ms }
    healthcheck: { command: 'test -f "$DIR/app.alive"', interval: 100ms, retries: 1 }
  side:
    command: ${LOOP}
    ready: { command: 'test -f "$DIR/side.ready"', interval: 50ms }
    restart: { policy: always, backoff: { initial: 100ms } }
  plain:
    command: ${LOOP}
`);
    const tend = startManifest(file, { DIR: dir });
    const url = `http://127.0.0.1:${port}`;
    expect(await until(`${url}/readyz`, 503)).toMatch(/app/);
    expect((await get(`${url}/healthz`)).status).toBe(200);
    expect((await tend.cli(['health'])).code).toBe(1); // Docker HEALTHCHECK: 1 = unhealthy (2 is reserved)

    for (const name of ['app.ready', 'app.alive', 'side.ready']) writeFileSync(join(dir, name), '');
    await until(`${url}/readyz`, 200);
    await tend.waitStatus((doc) => doc.services.some((s) => s.name === 'app' && s.health === 'healthy'), 'app healthy');
    expect((await tend.cli(['health'])).code).toBe(0);

    // Liveness: main's healthcheck fails (restart: never, so main stays up, unhealthy).
    rmSync(join(dir, 'app.alive'));
    expect(await until(`${url}/readyz`, 503)).toMatch(/app.*unhealthy/);
    expect((await tend.cli(['health'])).code).toBe(1); // Docker HEALTHCHECK: 1 = unhealthy (2 is reserved)
    writeFileSync(join(dir, 'app.alive'), '');
    await until(`${url}/readyz`, 200);

    // A ready-probed sidecar crashes and comes back, not ready until its probe passes.
    rmSync(join(dir, 'side.ready'));
    expect((await tend.cli(['signal', 'side', 'KILL'])).code).toBe(0);
    expect(await until(`${url}/readyz`, 503)).toMatch(/side/);
    await tend.waitStatus((doc) => doc.services.some((s) => s.name === 'side' && s.restarts === 1 && s.state === 'starting'), 'side restarted, not ready');
    expect((await get(`${url}/readyz`)).status).toBe(503);
    writeFileSync(join(dir, 'side.ready'), '');
    await until(`${url}/readyz`, 200);

    // A service without a ready probe does not count; neither does one stopped by hand
    // (an operator's decision, not a failure).
    expect((await tend.cli(['signal', 'plain', 'KILL'])).code).toBe(0);
    await tend.waitStatus((doc) => doc.services.some((s) => s.name === 'plain' && s.restarts === 1 && s.state === 'running'), 'plain restarted');
    expect((await tend.cli(['stop', 'side'])).code).toBe(0);
    expect((await get(`${url}/readyz`)).status).toBe(200);

    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
  });

  it('/readyz says 503 as soon as SIGTERM arrives; /healthz stays 200 through shutdown_delay', async () => {
    const dir = tempDir('tend-http-');
    const port = await freePort();
    const file = writeManifest(dir, `
settings:
  http: 127.0.0.1:${port}
  shutdown_delay: 1s
services:
  app:
    main: true
    command: ${LOOP}
    ready: { command: 'true', interval: 50ms }
`);
    const tend = startManifest(file);
    const url = `http://127.0.0.1:${port}`;
    await until(`${url}/readyz`, 200);

    const elapsed = stopwatch();
    await tend.tend.signal('SIGTERM');
    expect(await until(`${url}/readyz`, 503, 1000)).toMatch(/shutting down/);
    expect(elapsed()).toBeLessThan(500);
    // Through the delay: main still runs, and tend answers 200 on /healthz.
    const status = JSON.parse((await get(`${url}/status`)).body) as { shutting_down: boolean; services: { name: string; state: string }[] };
    expect(status.shutting_down).toBe(true);
    expect(status.services.find((s) => s.name === 'app')?.state).toBe('ready');
    const healthz: number[] = [];
    while (elapsed() < 800) healthz.push((await get(`${url}/healthz`)).status);
    expect(healthz.length).toBeGreaterThan(3);
    expect(new Set(healthz)).toEqual(new Set([200]));

    expect((await tend.tend.exited).code).toBe(0);
    expect(elapsed()).toBeGreaterThanOrEqual(950);
  });

  it('a port already taken is a start-up error: exit 2, the address named, nothing started', async () => {
    const dir = tempDir('tend-http-');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const file = writeManifest(dir, `settings: { http: "127.0.0.1:${port}" }\nservices:\n  app: { main: true, command: ["sh", "-c", "touch '${dir}/started'"] }\n`);
      const tend = startManifest(file);
      expect((await tend.tend.exited).code).toBe(2);
      expect(tend.tend.stderr).toContain(`127.0.0.1:${port}: EADDRINUSE`);
      expect(existsSync(join(dir, 'started'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('/status is the `tend status --json` document on loopback; 404 on 0.0.0.0 unless http_status: true', async () => {
    const dir = tempDir('tend-http-');
    const [loopback, open, opened] = [await freePort(), await freePort(), await freePort()];
    const services = `
services:
  app: { main: true, command: ${LOOP} }
  side: { command: ${LOOP} }
`;
    const a = startManifest(writeManifest(dir, `settings: { http: "127.0.0.1:${loopback}" }${services}`, 'loopback.yaml'));
    const b = startManifest(writeManifest(dir, `settings: { http: "0.0.0.0:${open}" }${services}`, 'open.yaml'));
    const c = startManifest(writeManifest(dir, `settings: { http: "0.0.0.0:${opened}", http_status: true }${services}`, 'opened.yaml'));
    for (const t of [a, b, c]) await t.waitStatus((doc) => allIn(doc, ['app', 'side'], ['running']), 'both running');

    const http = await get(`http://127.0.0.1:${loopback}/status`);
    expect(http.status).toBe(200);
    expect(http.type).toMatch(/^application\/json/);
    const fromHttp = JSON.parse(http.body) as Record<string, unknown>;
    const fromCli = await a.status();
    expect(shape(fromHttp)).toEqual(shape(fromCli));
    const stable = (doc: typeof fromCli) => doc.services.map(({ name, type, main, state, pid, restarts, last_exit, health, processes }) => ({ name, type, main, state, pid, restarts, last_exit, health, processes }));
    expect(stable(fromHttp as unknown as typeof fromCli)).toEqual(stable(fromCli));

    expect((await get(`http://127.0.0.1:${open}/status`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${open}/healthz`)).status).toBe(200);
    const served = await get(`http://127.0.0.1:${opened}/status`);
    expect(served.status).toBe(200);
    expect(shape(JSON.parse(served.body))).toEqual(shape(await c.status()));

    for (const t of [a, b, c]) await t.tend.signal('SIGTERM');
    for (const t of [a, b, c]) expect((await t.tend.exited).code).toBe(0);
  });
});
