// examples/migrated-vm as PID 1: migrate → app (ready) → web → monitor, a cron job,
// a logrotate sidecar; restarts by hand and by policy; SIGTERM stops them in reverse
// order and tend exits with app's 0 (it closes gracefully on SIGTERM).
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { canUnshare, readText, tempDir } from '../helpers/tend';
import { allIn, at, freePort, get, killLeftovers, outsideAddress, shutdownIndex, startExample, stateIndex } from './helpers';

afterEach(killLeftovers);

describe.skipIf(!canUnshare())('examples/migrated-vm', () => {
  it('starts in order, serves, restarts web and monitor, and stops in reverse order with 0', async () => {
    const [appPort, webPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const data = tempDir('tend-vm-data-');
    // As docker-compose.yml runs it: web and tend's HTTP on 0.0.0.0, so a published port reaches them.
    const vm = startExample('migrated-vm', {
      APP_PORT: String(appPort), WEB_PORT: String(webPort), WEB_HOST: '0.0.0.0', TEND_HTTP: `0.0.0.0:${httpPort}`, DATA_DIR: data,
    });
    const up = await vm.waitStatus((doc) =>
      allIn(doc, ['migrate'], ['completed']) && allIn(doc, ['app', 'web'], ['ready']) && allIn(doc, ['logrotate', 'monitor'], ['running']),
    'every service up');
    expect(up.services.find((s) => s.name === 'report')?.state).toBe('stopped'); // waits for its schedule

    const log = vm.events();
    expect(at(log, 'migrate: completed')).toBeLessThan(at(log, 'app: started'));
    expect(at(log, 'app: ready')).toBeLessThan(at(log, 'web: started'));
    expect(at(log, 'web: started')).toBeLessThan(at(log, 'monitor: started'));

    // The front proxies to the app, which writes its access log where migrate prepared.
    vm.follow();
    const api = await get(`http://${outsideAddress()}:${webPort}/api`);
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body)).toMatchObject({ hits: 1 });
    expect(readText(join(data, 'schema')).trim()).toBe('1');
    expect((await get(`http://${outsideAddress()}:${httpPort}/readyz`)).status).toBe(200);
    expect((await get(`http://${outsideAddress()}:${httpPort}/status`)).status).toBe(404); // not loopback

    // A restart by hand over the socket: web comes back ready with a new pid.
    const webBefore = await vm.service('web');
    const restarted = await vm.cli(['restart', 'web']);
    expect(restarted, restarted.stderr).toMatchObject({ code: 0 });
    const webAfter = await vm.service('web');
    expect(webAfter.state).toBe('ready');
    expect(webAfter.pid).not.toBe(webBefore.pid);
    // A crash: monitor is SIGKILLed and restarted by its policy (always, for a sidecar).
    expect((await vm.cli(['signal', 'monitor', 'KILL'])).code).toBe(0);
    await vm.waitStatus((doc) => doc.services.some((s) => s.name === 'monitor' && s.restarts === 1 && s.state === 'running'), 'monitor restarted');
    expect((await vm.service('app')).restarts).toBe(0);

    await vm.tend.signal('SIGTERM');
    const { code } = await vm.tend.exited;
    expect(code).toBe(0);
    const events = vm.stream();
    const begins = shutdownIndex(events);
    const stopping = (name: string) => stateIndex(events, name, 'stopping', begins);
    const stopped = (name: string) => stateIndex(events, name, 'stopped', begins);
    expect(stopped('monitor')).toBeGreaterThan(begins);
    expect(stopped('monitor')).toBeLessThan(stopping('web'));
    expect(stopped('web')).toBeLessThan(stopping('app'));
    expect(stopping('logrotate')).toBeGreaterThan(begins);
    expect(stopped('app')).toBeGreaterThan(stopped('web'));
  });
});
