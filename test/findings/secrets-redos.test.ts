// Regression tests for findings 8 (interpolated secrets printed) and 11 (a `ready.log`
// regex that backtracks for ever pinned PID 1), end to end against the built tend.
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { canUnshare, runTendSync, tempDir, waitFor, writeManifest } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';
import { scenario } from '../supervisor/scenario';
import { compileLogPattern } from '../../src/vocab/pattern';

beforeAll(() => ensureBuilt());

const SECRETS = { API_KEY: 'sekrit-key-111', ADMIN_PASS: 'hunter2-pass', API_TOKEN: 'tok-XYZZY-999' };
const LEAK = /sekrit-key-111|hunter2-pass|tok-XYZZY-999/;

const SECRET_MANIFEST = (socket: string) => `
settings: { socket: ${socket} }
services:
  app: { main: true, command: ["sleep", "100000"], env: { API_KEY: "\${API_KEY}" } }
  web:
    command: ["sleep", "100000"]
    ready: { http: "http://admin:\${ADMIN_PASS}@127.0.0.1:1/health", timeout: 1s, interval: 100ms }
    restart: never
  worker:
    command: ["sh", "-c", "exec sleep 100000 # \${API_TOKEN}"]
    ready: { command: "test -n '\${API_TOKEN}' && exit 3", timeout: 1s, interval: 100ms }
    healthcheck: { command: "curl -fsS -H 'Authorization: Bearer \${API_TOKEN}' http://127.0.0.1:1/ping || exit 7", interval: 200ms, retries: 1 }
    stop_command: "echo stopping with \${API_TOKEN}; exit 1"
`;

describe('finding 8: interpolated secrets are never printed', () => {
  it('finding 8: tend check --json shows ${NAME} where a value came from the environment', () => {
    const dir = tempDir();
    const file = writeManifest(dir, SECRET_MANIFEST(join(dir, 's.sock')));
    const result = runTendSync(['check', '--json', '-c', file], { env: SECRETS });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(LEAK);
    const plan = JSON.parse(result.stdout) as { services: Array<{ name: string; command: { argv: string[] }; ready: { check: Record<string, unknown> } | null; stopCommand: { argv: string[] } | null }> };
    const worker = plan.services.find((s) => s.name === 'worker')!;
    expect(worker.stopCommand!.argv[2]).toBe('echo stopping with ${API_TOKEN}; exit 1');
    expect(worker.command.argv[2]).toBe('exec sleep 100000 # ${API_TOKEN}');
    expect(plan.services.find((s) => s.name === 'web')!.ready!.check.url).toBe('http://admin:${ADMIN_PASS}@127.0.0.1:1/health');
  });

  it.skipIf(!canUnshare())('finding 8: probe failures in tend\'s log name the variable, not its value (as PID 1)', async () => {
    const t = scenario(SECRET_MANIFEST('tend.sock').replace('socket: tend.sock', 'log_level: info'));
    const tend = t.startWith(SECRETS);
    await tend.waitOutput(/web: not ready after/);
    await tend.waitOutput(/worker: not ready after/);
    await tend.signal('SIGTERM');
    await tend.exited;
    expect(tend.stderr).toContain('GET http://admin:${ADMIN_PASS}@127.0.0.1:1/health');
    expect(tend.stderr).toContain("test -n '${API_TOKEN}' && exit 3: exit 3");
    expect(tend.stderr).not.toMatch(LEAK);
  });
});

describe('finding 11: a ready.log regex runs in linear time', () => {
  it('finding 11: the catastrophic pattern of the report matches its 45-byte line at once', () => {
    const matcher = compileLogPattern('^GET /(a|aa)+$');
    const started = performance.now();
    expect(matcher.test(`GET /${'a'.repeat(42)}!`)).toBe(false);
    expect(matcher.test(`GET /${'a'.repeat(42)}`)).toBe(true);
    // A backtracking engine needs ~2^21 steps (minutes) for the first line.
    expect(matcher.test(`GET /${'a'.repeat(65_000)}!`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('finding 11: patterns a linear-time engine cannot run are refused by check, located', () => {
    const dir = tempDir();
    const file = writeManifest(dir, 'services:\n  web:\n    command: x\n    ready: { log: "(a)\\\\1" }\n');
    const result = runTendSync(['check', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:4:19: services.web.ready.log: `);
    expect(result.stderr).toContain('backreferences');
  });

  it.skipIf(!canUnshare())('finding 11: the report\'s service: tend stays responsive and the ready timeout fires (as PID 1)', async () => {
    const t = scenario(`
services:
  app: { main: true, command: ["sleep", "100000"] }
  web:
    command: "echo 'GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'; sleep 100000"
    ready: { log: "^GET /(a|aa)+$$", timeout: 1s }
    restart: never
`);
    const tend = t.start();
    await tend.waitOutput(/web: not ready after 1s/, 15_000);
    await waitFor(() => t.cli('status').code === 0, { timeout: 5000, what: 'status to answer' });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });
});
