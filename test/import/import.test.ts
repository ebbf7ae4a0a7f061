// tend import on realistic inputs of each kind (test/import/fixtures, written the way such
// files look in the wild): the manifest and the stderr list are golden files, reviewed with
// every change of wording or layout (`npx vitest run test/import -u` rewrites them), and
// each manifest passes `tend check`.
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ROOT, runTendSync, tempDir } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

const FIXTURES = join(ROOT, 'test', 'import', 'fixtures');

const CASES = [
  { kind: 'supervisord', args: ['supervisord.conf'], services: ['web', 'nginx', 'worker_01', 'worker_02', 'worker_03', 'beat'] },
  { kind: 'systemd', args: ['.'], services: ['api', 'cleanup', 'migrate', 'redis', 'report', 'worker-emails', 'worker-reports'] },
  { kind: 'procfile', args: ['Procfile'], services: ['release', 'web', 'worker', 'clock'] },
  { kind: 'crontab', args: ['crontab'], services: ['backup', 'find', 'warm-cache', 'poll-orders', 'invoice', 'mail'] },
  { kind: 's6', args: ['etc'], services: ['init-10-permissions', 'init-20-app-key', 'init-db', 'nginx', 'php-fpm', 'queue'] },
] as const;

beforeAll(ensureBuilt, 180_000);

describe.each(CASES)('tend import: $kind', ({ kind, args, services }) => {
  const cwd = join(FIXTURES, kind);

  it('writes the manifest and the list of what did not map (golden)', async () => {
    const result = runTendSync(['import', ...args], { cwd, env: { WEB_PORT: '' } });
    expect(result.code, result.stderr).toBe(0);
    await expect(result.stdout).toMatchFileSnapshot(join('golden', `${kind}.yaml`));
    await expect(result.stderr).toMatchFileSnapshot(join('golden', `${kind}.stderr`));
  });

  it('guesses the kind, writes -o FILE, and tend check accepts it with every service', () => {
    const out = join(tempDir('tend-import-'), 'tend.yaml');
    const imported = runTendSync(['import', ...args, '-o', out], { cwd });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toContain(`# Imported by \`tend import --from ${kind}\``);
    const check = runTendSync(['check', '--json', '-c', out], { cwd, env: { WEB_PORT: '8000' } });
    expect(check.code, check.stderr).toBe(0);
    const plan = JSON.parse(check.stdout) as { services: Array<{ name: string }> };
    expect(plan.services.map((s) => s.name)).toEqual(services);
  });

  it('--strict exits 1 exactly when something did not map', () => {
    const result = runTendSync(['import', '--strict', '--from', kind, ...args], { cwd });
    const lost = result.stderr.split('\n').filter((line) => /^\S+:(\d+:)? /.test(line)).length;
    expect(result.code).toBe(lost > 0 ? 1 : 0);
    if (lost > 0) expect(result.stderr).toMatch(/not imported \(each is a comment in the manifest\); --strict: exit 1\n$/);
  });
});

describe('tend import: its own bundle', () => {
  it('is not in the bundles tend run, tend -- and tend check load', () => {
    const importer = readFileSync(join(ROOT, 'dist', 'import.cjs'), 'utf8');
    expect(importer).toContain('eventlistener');
    for (const mode of ['run', 'tini', 'check', 'client']) {
      expect(readFileSync(join(ROOT, 'dist', `${mode}.cjs`), 'utf8'), mode).not.toMatch(/eventlistener|s6-rc\.d|OnCalendar/);
    }
  });
});

describe('tend import: choosing the kind', () => {
  it('says which kind each file looks like when they differ, and takes --from', () => {
    const mixed = runTendSync(['import', join(FIXTURES, 'procfile', 'Procfile'), join(FIXTURES, 'crontab', 'crontab')]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/cannot tell what to import from the files \(.*Procfile: procfile, .*crontab: crontab\); say it with --from/);
    const unknown = runTendSync(['import', '--from', 'upstart', 'x']);
    expect(unknown.code).toBe(2);
    const missing = runTendSync(['import', 'no-such-file']);
    expect(missing).toMatchObject({ code: 2, stderr: 'tend: no-such-file: cannot read: no such file or directory\n' });
    const unwritable = runTendSync(['import', join(FIXTURES, 'procfile', 'Procfile'), '-o', '/nonexistent/dir/tend.yaml']);
    expect(unwritable).toMatchObject({ code: 2, stderr: 'tend: cannot write /nonexistent/dir/tend.yaml: no such directory\n' });
    const usage = runTendSync(['import']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: tend import');
  });
});
