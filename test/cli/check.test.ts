// End to end: the built tend binary's `check` and `schema` commands.
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runTendSync, tempDir, writeManifest } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

const fixtures = join(ROOT, 'test', 'fixtures', 'manifests');

beforeAll(() => ensureBuilt());

describe('tend check', () => {
  it('exits 2 with every located problem for a bad manifest, and never prints env values', () => {
    const result = runTendSync(['check', '-c', 'test/fixtures/manifests/bad.yaml']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const file = 'test/fixtures/manifests/bad.yaml';
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      `${file}:4:16: settings.socket_mode: YAML reads the unquoted 0600 as the number 600, not as octal; quote it: socket_mode: "0600"`,
      `${file}:6:3: services.web.command: required key is missing`,
      `${file}:7:5: services.web.comand: unknown key; did you mean "command"?`,
      `${file}:9:15: services.web.restart.policy: expected always | on-failure | never, got "sometimes"`,
      `${file}:10:18: services.web.depends_on.0: unknown service "db"`,
      `${file}:17:25: services.api.depends_on.web.condition: "web" has no ready probe; add ready: to "web" or use condition: started`,
      `${file}:20:11: services.worker.main: only one service can be main; "api" is main already`,
      `tend: ${file}: 7 problems; nothing was started`,
    ]);
    expect(result.stderr).not.toContain('s3cret-value');
  });

  it('exits 0 and prints the start plan for a good manifest', () => {
    const result = runTendSync(['check', '-c', join(fixtures, 'good.yaml')]);
    // Its commands are not on this machine: warnings only (a setup step may install them).
    expect(result.stderr.split('\n').filter((line) => line !== '' && !line.includes(': warning: '))).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok, 4 services, main: app');
    expect(result.stdout).toMatch(/start waves:\n {2}1\. migrate, rotate\n {2}2\. app\n {2}3\. logship\n/);
    expect(result.stdout).toMatch(/logship +longrun, restart always \(at most 10 in 300s\), after app ready/);
    expect(result.stdout).not.toContain('hunter2-secret');
  });

  it('warns, without failing, about a command not on PATH, an unknown user or group, a missing cwd; refuses a critical that can never act', () => {
    const dir = tempDir();
    const file = writeManifest(dir, [
      'services:',
      '  web: { command: [nginxx, -g, "daemon off;"], user: nobodyx, group: nogroupx, cwd: /nonexistent/dir }',
      '  ok: { command: [sleep, "1"], user: root, cwd: /tmp }',
      '  app: { main: true, command: [sleep, "1000"] }',
      '',
    ].join('\n'));
    const warned = runTendSync(['check', '-c', file]);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain(`${file}:2:20: services.web.command.0: warning: command "nginxx" is not on PATH; it fails to start unless something creates it first`);
    expect(warned.stderr).toContain('services.web.user: warning: user "nobodyx" is not in the passwd database');
    expect(warned.stderr).toContain('services.web.group: warning: group "nogroupx" is not in the group database');
    expect(warned.stderr).toContain('services.web.cwd: warning: directory /nonexistent/dir does not exist');
    expect(warned.stderr).not.toContain('services.ok');
    writeManifest(dir, [
      'services:',
      '  db: { command: [sleep, "1000"], critical: true }',
      '  job: { command: [sleep, "1"], critical: true, restart: { policy: on-failure, limit: { count: 3, window: 1m } } }',
      '  app: { main: true, command: [sleep, "1000"] }',
      '',
    ].join('\n'));
    const refused = runTendSync(['check', '-c', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${file}:2:45: services.db.critical: critical can never act: with restart: always and no restart limit the service restarts forever and never gives up`);
    expect(refused.stderr).not.toContain('services.job.critical');
  });

  it('prints the plan as JSON with env values redacted', () => {
    const result = runTendSync(['check', '--json', '-c', join(fixtures, 'good.yaml')]);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.main).toBe('app');
    expect(plan.startWaves).toEqual([['migrate', 'rotate'], ['app'], ['logship']]);
    expect(plan.services[1].env).toEqual({ DATABASE_PASSWORD: '(redacted)' });
    expect(plan.services[2].log.file).toBe(join(fixtures, 'logs', 'ship.log'));
    expect(result.stdout).not.toContain('hunter2-secret');
  });

  it('finds the manifest through $TEND_CONFIG and ./tend.yaml', () => {
    expect(runTendSync(['check'], { env: { TEND_CONFIG: join(fixtures, 'good.yaml') } }).code).toBe(0);
    const demo = join(ROOT, 'examples', 'demo');
    const fromCwd = runTendSync(['check'], { cwd: demo, env: { TEND_CONFIG: '' } });
    expect(fromCwd.code).toBe(0);
    expect(fromCwd.stdout).toMatch(/^tend\.yaml: ok/);
  });

  it('exits 2 naming the file when the manifest does not exist', () => {
    const result = runTendSync(['check', '-c', '/nonexistent/tend.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('/nonexistent/tend.yaml: cannot read the manifest: no such file');
  });

  const examples = readdirSync(join(ROOT, 'examples'))
    .map((dir) => join('examples', dir, 'tend.yaml'))
    .filter((file) => existsSync(join(ROOT, file)));

  it('has examples to check', () => expect(examples.length).toBeGreaterThan(0));

  it.each(examples)('accepts %s', (file) => {
    const result = runTendSync(['check', '-c', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('tend schema', () => {
  it('prints a JSON Schema of the manifest', () => {
    const result = runTendSync(['schema']);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.properties.services).toBeDefined();
    const service = schema.properties.services.additionalProperties;
    expect(service.required).toEqual(['command']);
    expect(service.additionalProperties).toBe(false);
    // Durations and sizes are written as strings or numbers.
    expect(service.properties.stop_timeout.type).toEqual(['number', 'string']);
    expect(service.properties.log.properties.max_size.type).toEqual(['number', 'string']);
    expect(service.properties.restart.anyOf).toHaveLength(2);
  });
});
