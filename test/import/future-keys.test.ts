// The keys of SPEC §8, §10 and §13 that tend's schema does not have yet are written as
// "not imported" comments today (import.test.ts). Once the schema accepts one, the importer
// writes the key itself (src/import/supports.ts asks the schema). This pretends every such
// key exists and checks the shapes the importers would write, so that path is not untested.
import { describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { parse } from 'yaml';
import { writeFileSync } from 'node:fs';
import { ROOT, tempDir } from '../helpers/tend';

vi.mock('../../src/import/supports', async (original) => ({
  ...(await original<typeof import('../../src/import/supports')>()),
  serviceKey: () => true,
  readyKey: () => true,
  serviceType: () => true,
  optionalEnvFiles: () => true,
}));

const { importPaths } = await import('../../src/roots/import');

describe('keys tend does not have yet, once it has them', () => {
  it('systemd: type forking with pid_file, sd_notify, watchdog, limits, sockets, stop_mode, pre_start, optional env_file', () => {
    const fixtures = join(ROOT, 'test', 'import', 'fixtures', 'systemd');
    const result = importPaths('systemd', [fixtures], fixtures, {});
    expect(result.ok ? '' : result.message).toBe('');
    if (!result.ok) return;
    const { services } = parse(result.text) as { services: Record<string, Record<string, unknown>> };
    expect(Object.keys(services)).not.toContain('api-pre');
    expect(services.api).toMatchObject({
      pre_start: ['/usr/bin/api-server', 'check-config', '--config', '/etc/api/api.toml'],
      ready: { sd_notify: true },
      watchdog: '30s',
      limits: { nofile: 65536, memory: '512MB' },
      sockets: [{ listen: '8080' }],
      env_file: [{ path: '/etc/default/api', required: false }],
    });
    expect(services.redis).toMatchObject({ type: 'forking', pid_file: '/run/redis/redis-server.pid', umask: '007', runtime_directory: 'redis' });
    expect(services['worker-emails']).toMatchObject({ stop_mode: 'mixed' });
    // Written as keys, so no longer listed as not imported.
    expect(result.lost.map((note: { setting: string }) => note.setting)).not.toContain('Type=notify');
  });

  it('supervisord: stopasgroup=true is stop_mode group; otherwise tend\'s default (mixed) signals the program\'s own process, as supervisord does', () => {
    const tmp = tempDir('tend-import-');
    writeFileSync(join(tmp, 'supervisord.conf'), '[program:a]\ncommand=/bin/a\nstopasgroup=false\n[program:b]\ncommand=/bin/b\nstopasgroup=false\nkillasgroup=true\n[program:c]\ncommand=/bin/c\n[program:d]\ncommand=/bin/d\nstopasgroup=true\n');
    const result = importPaths('supervisord', [join(tmp, 'supervisord.conf')], tmp, {});
    expect(result.ok ? '' : result.message).toBe('');
    if (!result.ok) return;
    const { services } = parse(result.text) as { services: Record<string, Record<string, unknown>> };
    expect([services.a?.stop_mode, services.b?.stop_mode, services.c?.stop_mode, services.d?.stop_mode]).toEqual([undefined, undefined, undefined, 'group']);
  });
});
