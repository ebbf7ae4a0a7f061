// /metrics end to end, tend as PID 1: the Prometheus text parses with a real parser
// (parse-prometheus-text-format, no regexes), has every family of SPEC §7, and its values
// agree with `tend status --json` — restarts, last exit codes, health, process counts,
// states — and with tend's own figures (orphans reaped, RSS, event-loop lag).
import { afterEach, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type Family } from 'parse-prometheus-text-format';
import { canUnshare, tempDir, writeManifest } from '../helpers/tend';
import { allIn, freePort, get, killLeftovers, startManifest } from '../examples/helpers';
import { SERVICE_STATES, HEALTH_STATES } from '../../src/control/api';

afterEach(killLeftovers);

const LOOP = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done"]`;

/** Families by name. */
function families(text: string): Map<string, Family> {
  return new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
}

/** The value of the sample of `name` whose labels include `labels`; undefined when absent. */
function sample(all: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = all.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found?.value === undefined ? undefined : Number(found.value);
}

describe.skipIf(!canUnshare())('/metrics', () => {
  it('parses as Prometheus text with the families of SPEC §7, agreeing with tend status', async () => {
    const dir = tempDir('tend-metrics-');
    const port = await freePort();
    const file = writeManifest(dir, `
settings:
  http: 127.0.0.1:${port}
services:
  app:
    main: true
    command: ${LOOP}
    healthcheck: { command: 'true', interval: 100ms }
  crashy:                       # exits 7 and comes back: restarts_total and last_exit_code
    command: ["sh", "-c", "test -f \\"$DIR/crashed\\" || { touch \\"$DIR/crashed\\"; exit 7; }; trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done"]
    restart: { policy: on-failure, backoff: { initial: 50ms } }
  forker:                       # leaves orphans behind for tend (PID 1) to reap
    command: ["sh", "-c", "for i in 1 2 3; do (sleep 0.05 &); done; trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done"]
`);
    const tend = startManifest(file, { DIR: dir });
    await tend.waitStatus((doc) =>
      allIn(doc, ['app', 'crashy', 'forker'], ['running']) &&
      doc.services.some((s) => s.name === 'crashy' && s.restarts === 1) &&
      doc.services.some((s) => s.name === 'app' && s.health === 'healthy'), 'all running, crashy restarted once, app healthy');

    const reply = await get(`http://127.0.0.1:${port}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const status = await tend.status();
    const all = families(reply.body);

    const perService = {
      tend_service_up: 'GAUGE', tend_service_state: 'GAUGE', tend_service_restarts_total: 'COUNTER',
      tend_service_last_exit_code: 'GAUGE', tend_service_processes: 'GAUGE', tend_service_health: 'GAUGE',
    } as const;
    const own = {
      tend_zombies_reaped_total: 'COUNTER', tend_resident_memory_bytes: 'GAUGE', tend_event_loop_lag_seconds: 'GAUGE',
    } as const;
    for (const [name, type] of Object.entries({ ...perService, ...own })) {
      expect(all.get(name), `family ${name}`).toMatchObject({ type });
      expect(all.get(name)?.help, `HELP of ${name}`).not.toBe('');
    }

    for (const service of status.services) {
      const labels = { service: service.name };
      expect(sample(all, 'tend_service_up', labels), service.name).toBe(service.pid === null ? 0 : 1);
      expect(sample(all, 'tend_service_restarts_total', labels), service.name).toBe(service.restarts);
      expect(sample(all, 'tend_service_processes', labels), service.name).toBe(service.processes.length);
      // One series per state and per health value, exactly one of them 1.
      for (const state of SERVICE_STATES) expect(sample(all, 'tend_service_state', { ...labels, state })).toBe(service.state === state ? 1 : 0);
      for (const health of HEALTH_STATES) expect(sample(all, 'tend_service_health', { ...labels, health })).toBe(service.health === health ? 1 : 0);
    }
    expect(sample(all, 'tend_service_last_exit_code', { service: 'crashy' })).toBe(7);
    expect(sample(all, 'tend_service_last_exit_code', { service: 'app' })).toBeUndefined(); // never exited
    expect(sample(all, 'tend_service_health', { service: 'app', health: 'healthy' })).toBe(1);

    expect(sample(all, 'tend_zombies_reaped_total')).toBeGreaterThanOrEqual(1); // the forker's orphans
    expect(sample(all, 'tend_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    const lag = sample(all, 'tend_event_loop_lag_seconds');
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(1);

    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
  });
});
