// examples/sidecars as PID 1: an app with a log shipper and a metrics monitor. A killed
// sidecar is restarted and never stops the app; an app crash (CRASH_AFTER) stops the
// container with the app's status 3, sidecars stopped first.
import { afterEach, describe, expect, it } from 'vitest';
import { canUnshare, tempDir } from '../helpers/tend';
import { allIn, killLeftovers, shutdownIndex, startExample, stateIndex } from './helpers';

afterEach(killLeftovers);

describe.skipIf(!canUnshare())('examples/sidecars', () => {
  it('ships the app log, restarts a killed sidecar without touching the app, and stops with 0 on SIGTERM', async () => {
    const box = startExample('sidecars', { LOG_DIR: tempDir('tend-sidecars-') });
    await box.waitStatus((doc) => allIn(doc, ['app'], ['ready']) && allIn(doc, ['shipper', 'metrics'], ['running']), 'app ready, sidecars running');
    box.follow();
    // The shipper follows the app's own log file and prints what it ships, prefixed.
    await box.tend.waitOutput(/shipper +\| \S+ GET \/item\/\d+ 200/);
    const app = await box.service('app');

    for (const sidecar of ['shipper', 'metrics']) {
      const killed = await box.cli(['signal', sidecar, 'KILL']);
      expect(killed, killed.stderr).toMatchObject({ code: 0 });
      await box.waitStatus((doc) => doc.services.some((s) => s.name === sidecar && s.restarts === 1 && s.state === 'running'), `${sidecar} restarted`);
    }
    const after = await box.service('app');
    expect(after).toMatchObject({ state: 'ready', pid: app.pid, restarts: 0 });

    await box.tend.signal('SIGTERM');
    expect((await box.tend.exited).code).toBe(0); // app traps TERM and exits 0
    const events = box.stream();
    const begins = shutdownIndex(events);
    for (const sidecar of ['shipper', 'metrics']) {
      expect(stateIndex(events, sidecar, 'stopped', begins)).toBeGreaterThan(begins);
      expect(stateIndex(events, sidecar, 'stopped', begins)).toBeLessThan(stateIndex(events, 'app', 'stopping', begins));
    }
  });

  it('ends with the app\'s own status 3 when the app crashes, the sidecars stopped', async () => {
    const box = startExample('sidecars', { LOG_DIR: tempDir('tend-sidecars-'), CRASH_AFTER: '1' });
    const { code } = await box.tend.exited;
    expect(code, box.tend.stderr).toBe(3);
    expect(box.tend.stderr).toContain('app: crashing');
    // Both sidecars ran, and both were stopped by the shutdown that main's exit began.
    const log = box.events();
    for (const sidecar of ['shipper', 'metrics']) {
      expect(log.some((m) => m.startsWith(`${sidecar}: started`)), log.join('\n')).toBe(true);
      expect(log.some((m) => m.startsWith(`${sidecar}: stopping`)), log.join('\n')).toBe(true);
    }
  });
});
