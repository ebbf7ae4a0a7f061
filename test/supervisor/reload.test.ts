import { describe, expect, it } from 'vitest';
import { diffPlans } from '../../src/supervisor/reload';
import { plan, service } from './fixtures';

describe('reload diff', () => {
  const web = service('web', { dependsOn: [{ name: 'app', condition: 'started' }] });
  const app = service('app', { main: true });
  const cron = service('cron', { type: 'oneshot', schedule: '* * * * *' });
  const current = plan([app, web, cron]);

  it('finds added, removed, changed and unchanged services', () => {
    const next = plan([app, service('web', { ...web, env: { A: '1' } }), service('shipper')]);
    const diff = diffPlans(current, next);
    expect(diff.added).toEqual(['shipper']);
    expect(diff.removed).toEqual(['cron']);
    expect(diff.changed).toEqual(['web']);
    expect(diff.unchanged).toEqual(['app']);
    expect(diff.pending).toEqual([]);
  });

  it('never restarts main: its change is pending', () => {
    const next = plan([service('app', { ...app, command: { argv: ['other'], shell: false } }), web, cron]);
    const diff = diffPlans(current, next);
    expect(diff.changed).toEqual([]);
    expect(diff.pending).toEqual(['services.app (main is not restarted by a reload)']);
  });

  it('a changed dependency does not change its dependents', () => {
    const next = plan([app, web, service('cron', { ...cron, schedule: '*/5 * * * *' })]);
    expect(diffPlans(current, next).changed).toEqual(['cron']);
  });

  it('applies log_level at once and reports settings that need a restart', () => {
    const next = plan([app, web, cron], { logLevel: 'debug', socket: '/tmp/x.sock', http: { host: '0.0.0.0', port: 9099 } });
    const diff = diffPlans(current, next);
    expect(diff.logLevel).toBe('debug');
    expect(diff.pending).toEqual(['settings.socket', 'settings.http']);
  });
});
