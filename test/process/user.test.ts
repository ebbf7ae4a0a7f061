// user: sets uid, primary gid, supplementary groups (initgroups) and HOME/USER/LOGNAME.
// A custom /etc/passwd and /etc/group are bind-mounted in a private mount namespace.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tend';
import { bundle } from './bundle';

const canMount = process.getuid!() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0;
if (!canMount) console.warn('skipping user: tests: need root and unshare --mount');

describe.skipIf(!canMount)('user:', () => {
  const driver = bundle(join(__dirname, 'drivers', 'user.ts'));
  const dir = tempDir();
  const passwd = join(dir, 'passwd');
  const group = join(dir, 'group');
  writeFileSync(passwd, `${readFileSync('/etc/passwd', 'utf8')}tenduser:x:4321:4321::/home/tenduser:/bin/sh\n`);
  writeFileSync(group, `${readFileSync('/etc/group', 'utf8')}tendgrp:x:4321:\nextra1:x:5001:tenduser\nextra2:x:5002:nobody,tenduser\nother:x:5003:nobody\n`);

  function run(...args: string[]): string {
    const script = `mount --bind ${passwd} /etc/passwd && mount --bind ${group} /etc/group && exec "$@"`;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const result = spawnSync('unshare', ['--mount', 'sh', '-c', script, 'sh', process.execPath, driver, ...args], { env, encoding: 'utf8', timeout: 20_000 });
    return result.stdout.trim();
  }

  test('uid, gid, supplementary groups, HOME, USER, LOGNAME', () => {
    expect(run('tenduser')).toBe('4321 4321 4321 5001 5002 /home/tenduser tenduser tenduser');
    // group: replaces the primary group; initgroups still adds the user's own groups.
    expect(run('tenduser', 'extra1')).toBe('4321 5001 5001 5002 /home/tenduser tenduser tenduser');
    expect(run('4321')).toBe('4321 4321 4321 5001 5002 /home/tenduser tenduser tenduser');
    // A uid with no passwd entry: tend's gid, no supplementary groups, HOME=/.
    expect(run('7777')).toBe('7777 0 0 /');
    expect(run('nosuchuser')).toBe('{"kind":"failed","code":126,"reason":"unknown user: nosuchuser"}');
  });
});
