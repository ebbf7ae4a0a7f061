import { describe, expect, it } from 'vitest';
import { resolveManifestPath } from '../../src/plan/index';

const nothing = () => false;

describe('resolveManifestPath (SPEC §1 lookup)', () => {
  it('prefers -c, then $TEND_CONFIG, then ./tend.yaml, then /etc/tend/tend.yaml', () => {
    const all = () => true;
    expect(resolveManifestPath('my.yaml', { TEND_CONFIG: 'env.yaml' }, { exists: all })).toEqual({ ok: true, path: 'my.yaml', from: '-c' });
    expect(resolveManifestPath(null, { TEND_CONFIG: 'env.yaml' }, { exists: all })).toEqual({ ok: true, path: 'env.yaml', from: 'TEND_CONFIG' });
    expect(resolveManifestPath(null, {}, { cwd: '/srv', exists: (p) => p === '/srv/tend.yaml' })).toEqual({ ok: true, path: 'tend.yaml', from: './tend.yaml' });
    expect(resolveManifestPath(null, {}, { cwd: '/srv', exists: (p) => p === '/etc/tend/tend.yaml' })).toEqual({ ok: true, path: '/etc/tend/tend.yaml', from: '/etc/tend/tend.yaml' });
  });

  it('says where it looked when there is no manifest', () => {
    expect(resolveManifestPath(null, {}, { cwd: '/srv', exists: nothing })).toEqual({
      ok: false,
      message: 'no manifest found: looked for -c FILE, $TEND_CONFIG, /srv/tend.yaml and /etc/tend/tend.yaml',
    });
  });
});
