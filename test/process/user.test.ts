// user: sets uid, primary gid, supplementary groups (initgroups) and HOME/USER/LOGNAME.
// A custom /etc/passwd and /etc/group are bind-mounted in a private mount namespace.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tend';
import { bundle, HELPER } from './bundle';

const canMount = process.getuid!() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0;
if (!canMount) console.warn('skipping user: tests: need root and unshare --mount');

describe.skipIf(!canMount)('user:', () => {
  const driver = bundle(join(__dirname, 'drivers', 'user.ts'));
  const dir = tempDir();
  const passwd = join(dir, 'passwd');
  const group = join(dir, 'group');
  writeFileSync(passwd, `${readFileSync('/etc/passwd', 'utf8')}tenduser:x:4321:4321::/home/tenduser:/bin/sh\n`);
  writeFileSync(group, `${readFileSync('/etc/group', 'utf8')}tendgrp:x:4321:\nextra1:x:5001:tenduser\nextra2:x:5002:nobody,tenduser\nother:x:5003:nobody\n`);

  function run(helper: string, ...args: string[]): string {
    const script = `mount --bind ${passwd} /etc/passwd && mount --bind ${group} /etc/group && exec "$@"`;
    const env: NodeJS.ProcessEnv = { ...process.env, TEND_EXEC_HELPER: helper };
    delete env.NODE_EXTRA_CA_CERTS;
    const result = spawnSync('unshare', ['--mount', 'sh', '-c', script, 'sh', process.execPath, driver, ...args], { env, encoding: 'utf8', timeout: 20_000 });
    return result.stdout.trim();
  }

  test('with the helper: uid, gid, supplementary groups, HOME, USER, LOGNAME', () => {
    expect(run(HELPER, 'tenduser')).toBe('4321 4321 4321 5001 5002 /home/tenduser tenduser tenduser');
    // group: replaces the primary group; initgroups still adds the user's own groups.
    expect(run(HELPER, 'tenduser', 'extra1')).toBe('4321 5001 5001 5002 /home/tenduser tenduser tenduser');
    expect(run(HELPER, '4321')).toBe('4321 4321 4321 5001 5002 /home/tenduser tenduser tenduser');
    // A uid with no passwd entry: tend's gid, no supplementary groups, HOME=/.
    expect(run(HELPER, '7777')).toBe('7777 0 0 /');
    expect(run(HELPER, 'nosuchuser')).toBe('{"kind":"failed","code":126,"reason":"unknown user: nosuchuser"}');
  });

  test('without the helper: uid and gid, but the supplementary groups are lost (libuv setgroups(0))', () => {
    expect(run('none', 'tenduser')).toBe('4321 4321 4321 /home/tenduser tenduser tenduser');
  });
});
