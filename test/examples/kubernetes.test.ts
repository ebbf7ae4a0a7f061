// examples/kubernetes as PID 1: probes on 0.0.0.0 with /status off; on SIGTERM /readyz
// turns 503 at once while /healthz stays 200 and the app keeps serving through
// shutdown_delay (5 s), then an ordered stop and app's 0.
import { afterEach, describe, expect, it } from 'vitest';
import { canUnshare, stopwatch, waitFor } from '../helpers/tend';
import { allIn, freePort, get, killLeftovers, outsideAddress, shutdownIndex, startExample, stateIndex } from './helpers';

afterEach(killLeftovers);

describe.skipIf(!canUnshare())('examples/kubernetes', () => {
  it('serves probes on 0.0.0.0 without /status, restarts the shipper, and drains for shutdown_delay on SIGTERM', async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const pod = startExample('kubernetes', { PORT: String(port), TEND_HTTP_PORT: String(httpPort) });
    // kubelet probes connect to the pod IP, not to loopback.
    const tend = `http://${outsideAddress()}:${httpPort}`;
    await pod.waitStatus((doc) => allIn(doc, ['app'], ['ready']) && allIn(doc, ['shipper'], ['running']), 'app ready');
    pod.follow();
    expect(pod.tend.stderr).toContain(`"msg":"http: listening on 0.0.0.0:${httpPort}"`); // log_format: json

    expect((await get(`${tend}/healthz`)).status).toBe(200);
    expect((await get(`${tend}/readyz`)).status).toBe(200);
    expect((await get(`${tend}/metrics`)).status).toBe(200);
    expect((await get(`${tend}/status`)).status).toBe(404); // not loopback, http_status: false
    expect((await pod.cli(['health'])).code).toBe(0);

    const before = await pod.service('shipper');
    const restarted = await pod.cli(['restart', 'shipper']);
    expect(restarted, restarted.stderr).toMatchObject({ code: 0 });
    expect((await pod.service('shipper')).pid).not.toBe(before.pid);

    const elapsed = stopwatch();
    await pod.tend.signal('SIGTERM');
    await waitFor(async () => (await get(`${tend}/readyz`)).status === 503, { timeout: 1000, what: '/readyz to say 503' });
    expect(elapsed()).toBeLessThan(1000);
    // Draining: tend lives, the app still serves, nothing has been stopped yet.
    expect((await get(`${tend}/healthz`)).status).toBe(200);
    expect((await get(`http://${outsideAddress()}:${port}/`)).status).toBe(200);
    expect((await pod.cli(['health'])).code).toBe(1);
    expect((await pod.service('app')).state).toBe('ready');

    const { code } = await pod.tend.exited;
    expect(code).toBe(0); // app closes on SIGTERM and exits 0
    expect(elapsed()).toBeGreaterThanOrEqual(4900); // shutdown_delay: 5s
    expect(elapsed()).toBeLessThan(9000);
    const events = pod.stream();
    const begins = shutdownIndex(events);
    expect(stateIndex(events, 'shipper', 'stopped', begins)).toBeLessThan(stateIndex(events, 'app', 'stopping', begins));
  });
});
