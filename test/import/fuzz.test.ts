// Fuzzed inputs of every kind (fast-check): tend import never crashes. It either writes a
// manifest tend's loader accepts, or fails with a message located in an input file — never
// an exception, never a manifest tend check would refuse.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { importPaths } from '../../src/roots/import';
import { loadManifest } from '../../src/config/load';
import { tempDir } from '../helpers/tend';

const RUNS = Number(process.env.TEND_FUZZ_RUNS ?? 100);
// Each run writes a small tree and imports it: on a loaded 2-core machine 100 runs can take a while.
const TIMEOUT = 120_000;

/** Imports the tree; checks the outcome is a valid manifest or a located error. */
async function outcome(kind: string, files: Record<string, string>, path: string): Promise<void> {
  const dir = tempDir('tend-import-fuzz-');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const result = importPaths(kind, [join(dir, path)], dir, {});
  if (!result.ok) {
    // Located: it names a file of the input (with its line when the problem has one).
    expect(result.message, result.message).toMatch(new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\S*?(:\\d+)?: \\S`));
    return;
  }
  const out = join(dir, 'tend.yaml');
  writeFileSync(out, result.text);
  // %(ENV_HOME)s becomes ${HOME}, read from tend's environment when it loads the manifest.
  const loaded = await loadManifest(out, { HOME: '/root' }, { cgroupWritable: () => ({ ok: true }) });
  // An env_file the source named by its absolute path (systemd's EnvironmentFile=/etc/default/x)
  // is on the machine the source came from, not here: whether it can be read is about this
  // machine, not about the manifest.
  const issues = loaded.ok ? [] : loaded.issues.filter((issue) => !/^cannot read env_file \//.test(issue.message));
  expect(issues.map((issue) => `${issue.line}:${issue.col}: ${issue.path}: ${issue.message}`), result.text).toEqual([]);
}

const word = fc.stringMatching(/^[A-Za-z0-9_.@%$\-]{1,8}$/);
/** A name as the formats spell names (keys, process types). */
const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,7}$/);
/** Anything on one line (a newline would make it more lines, which the other arbitraries cover). */
const junk = fc.string({ maxLength: 12 }).map((text) => text.replace(/[\r\n]/g, ' '));
const pick = <T>(...values: T[]) => fc.constantFrom(...values);
const lines = (line: fc.Arbitrary<string>) => fc.array(line, { maxLength: 14 }).map((list) => `${list.join('\n')}\n`);

describe('tend import never crashes', () => {
  it('supervisord', async () => {
    const value = fc.oneof(word, junk, pick('true', 'false', 'unexpected', '0,2', '3', '10', 'TERM', 'QUIT', 'FOO', '50MB', '0', 'NONE', '/dev/stdout',
      '/var/log/x.log', '%(ENV_HOME)s', '%(program_name)s_%(process_num)02d', '%(here)s/x', 'A="1",B=\'2\'', 'A=1,B', '"unclosed', '%%', '%(nope)s'));
    const key = fc.oneof(pick('command', 'process_name', 'numprocs', 'numprocs_start', 'autorestart', 'exitcodes', 'startretries', 'startsecs', 'stopsignal',
      'stopwaitsecs', 'stopasgroup', 'user', 'directory', 'environment', 'redirect_stderr', 'stdout_logfile', 'stdout_logfile_maxbytes',
      'stdout_logfile_backups', 'stderr_logfile', 'priority', 'umask', 'autostart', 'programs', 'files'), name);
    // Mostly well-formed sections with odd values; now and then a line that is not.
    // Most entries are a key with a value of its kind, so that most inputs import.
    const typed = fc.oneof(
      fc.tuple(pick('autorestart'), pick('true', 'false', 'unexpected')),
      fc.tuple(pick('exitcodes'), pick('0', '0,2', '1, 3')),
      fc.tuple(pick('startretries', 'startsecs', 'stopwaitsecs', 'stdout_logfile_backups', 'priority'), pick('0', '3', '10')),
      fc.tuple(pick('numprocs'), pick('1', '2')),
      fc.tuple(pick('process_name'), pick('%(program_name)s_%(process_num)02d', '%(program_name)s')),
      fc.tuple(pick('stopsignal'), pick('TERM', 'QUIT', 'INT', 'KILL', 'HUP')),
      fc.tuple(pick('stopasgroup', 'killasgroup', 'redirect_stderr', 'autostart'), pick('true', 'false')),
      fc.tuple(pick('stdout_logfile', 'stderr_logfile'), pick('/dev/stdout', '/var/log/x.log', 'NONE', 'AUTO', '/var/log/%(program_name)s.log')),
      fc.tuple(pick('stdout_logfile_maxbytes'), pick('0', '1MB', '50MB')),
      fc.tuple(pick('environment'), pick('A="1",B=\'2\'', 'HOME="%(ENV_HOME)s"', 'P="$x"')),
      fc.tuple(pick('directory', 'user', 'umask'), pick('/srv', 'www-data', '022', '%(here)s')),
      fc.tuple(pick('command'), pick('/bin/x "a b" \'c\'', '/bin/x %(program_name)s $HOME', 'sh -c "echo %%d"')),
    ).map(([k, v]) => `${k}=${v}`);
    const entry = fc.oneof(
      { weight: 40, arbitrary: typed },
      { weight: 16, arbitrary: fc.tuple(key, pick('=', ' = ', ':', '= '), value, pick('', '', ' ; note', ' # x')).map(([k, sep, v, c]) => `${k}${sep}${v}${c}`) },
      { weight: 2, arbitrary: value.map((v) => `    ${v}`) },  // a continuation (an error after a blank line)
      { weight: 1, arbitrary: pick('; comment', '# comment') },
      { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: junk }, { weight: 4, arbitrary: pick('') }) },
    );
    const header = fc.tuple(fc.oneof({ weight: 6, arbitrary: pick('program') }, { weight: 1, arbitrary: pick('group', 'eventlistener', 'supervisord', 'include', 'unix_http_server', 'weird') }), word)
      .map(([s, n]) => (s === 'supervisord' || s === 'include' ? `[${s}]` : `[${s}:${n}]`));
    // A key set twice in a section is an error (test/import/malformed.test.ts); here each is set once.
    const once = (entries: string[]) => entries.filter((line, index) => {
      const key = /^(\w+)\s*[=:]/.exec(line)?.[1];
      return key === undefined || entries.findIndex((other) => /^(\w+)\s*[=:]/.exec(other)?.[1] === key) === index;
    });
    const section = fc.tuple(header, fc.nat(9), fc.array(entry, { maxLength: 8 }))
      .map(([h, n, entries]) => [h, ...once([...(n > 0 ? ['command=/bin/sleep 1'] : []), ...entries])].join('\n'));
    const text = fc.array(section, { minLength: 1, maxLength: 4 }).map((list) => `${list.join('\n')}\n`);
    await fc.assert(fc.asyncProperty(text, (conf) => outcome('supervisord', { 'supervisord.conf': conf }, 'supervisord.conf')), { numRuns: RUNS });
  }, TIMEOUT);

  it('systemd', async () => {
    const value = fc.oneof(word, junk, pick('simple', 'forking', 'oneshot', 'notify', 'exec', 'always', 'on-failure', 'no', '5s', '1min 30s', 'infinity',
      '/bin/x --a %i %n', '-/bin/x "$FOO" ${BAR}', '@/bin/x x', '+/bin/x', 'A=1 "B=2 3"', '-/etc/default/x', 'b.service', 'c.service x.target',
      'daily', 'Mon..Fri 09:00', '*-*-* 00:00:00', 'SIGINT', 'mixed', '65536', '150%', '%Q', '"unclosed'));
    const key = fc.oneof(pick('Type', 'ExecStart', 'ExecStartPre', 'ExecStop', 'ExecReload', 'Restart', 'RestartSec', 'User', 'Group', 'WorkingDirectory',
      'Environment', 'EnvironmentFile', 'After', 'Before', 'Requires', 'Wants', 'KillSignal', 'KillMode', 'TimeoutStopSec', 'WatchdogSec',
      'LimitNOFILE', 'CPUQuota', 'StartLimitBurst', 'StartLimitIntervalSec', 'OnCalendar', 'Persistent', 'SuccessExitStatus', 'StandardOutput'), name);
    const typed = fc.oneof(
      fc.tuple(pick('Type'), pick('simple', 'exec', 'forking', 'oneshot', 'notify', 'idle')),
      fc.tuple(pick('Restart'), pick('no', 'always', 'on-failure', 'on-abnormal', 'on-success')),
      fc.tuple(pick('RestartSec', 'TimeoutStopSec', 'TimeoutStartSec', 'WatchdogSec', 'StartLimitIntervalSec'), pick('100ms', '5s', '1min 30s', '0', 'infinity')),
      fc.tuple(pick('StartLimitBurst'), pick('0', '1', '5')),
      fc.tuple(pick('ExecStartPre', 'ExecStop', 'ExecStartPost', 'ExecReload'), pick('/bin/x --a %i', '-/bin/x "$FOO" ${BAR}', '/bin/kill -HUP $MAINPID', ':/bin/x $LITERAL')),
      fc.tuple(pick('After', 'Before', 'Requires', 'Wants'), pick('a.service', 'b.service', 'worker@x.service', 'network.target', 'db.service')),
      fc.tuple(pick('Environment'), pick('A=1', '"B=2 3" C=4', 'D=%n')),
      fc.tuple(pick('EnvironmentFile'), pick('/etc/default/x', '-/etc/default/y')),
      fc.tuple(pick('User', 'Group'), pick('www-data', '1000', 'root')),
      fc.tuple(pick('KillSignal'), pick('SIGINT', 'SIGTERM', 'QUIT')),
      fc.tuple(pick('KillMode'), pick('control-group', 'process', 'mixed', 'none')),
      fc.tuple(pick('OnCalendar'), pick('daily', 'Mon..Fri 09:00', '*-*-* 00:00:00', '*:0/15', '2027-01-01', 'Sat *-*-1..7 10:00')),
      fc.tuple(pick('SuccessExitStatus'), pick('2', '3 SIGUSR1')),
      fc.tuple(pick('StandardOutput', 'StandardError'), pick('journal', 'null', 'file:/var/log/x', 'tty')),
      fc.tuple(pick('LimitNOFILE', 'MemoryMax', 'CPUQuota', 'TasksMax', 'ProtectSystem'), pick('65536', '512M', '150%', 'strict')),
    ).map(([k, v]) => `${k}=${v}`);
    const entry = fc.oneof(
      { weight: 40, arbitrary: typed },
      { weight: 16, arbitrary: fc.tuple(key, value).map(([k, v]) => `${k}=${v}`) },
      { weight: 1, arbitrary: fc.tuple(key, value, value).map(([k, v, w]) => `${k}=${v} \\\n  ${w}`) },
      { weight: 2, arbitrary: pick('# c', '') },
      { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: junk }, { weight: 4, arbitrary: pick('') }) },
    );
    const section = (name: string) => fc.array(entry, { maxLength: 7 }).map((entries) => [`[${name}]`, ...entries].join('\n'));
    const service = fc.tuple(section('Unit'), section('Service'), fc.nat(9))
      .map(([unit, svc, n]) => `${unit}\n${svc}\n${n > 0 ? 'ExecStart=/bin/sleep 1\n' : ''}`);
    const timer = section('Timer').map((t) => `${t}\n`);
    await fc.assert(fc.asyncProperty(service, service, timer, (a, b, t) =>
      outcome('systemd', { 'units/a.service': a, 'units/b.service': b, 'units/worker@.service': b, 'units/multi-user.target.wants/worker@x.service': '', 'units/a.timer': t }, 'units')), { numRuns: RUNS });
  }, TIMEOUT);

  it('procfile', async () => {
    const line = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.oneof(name, pick('web', 'release', 'worker')), fc.oneof(junk, pick('bundle exec puma -p $PORT', 'echo ${X}', 'sh -c "x"', ''))).map(([n, c]) => `${n}: ${c}`) },
      { weight: 2, arbitrary: pick('# comment', '', 'web: x') },
      { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: junk }, { weight: 4, arbitrary: pick('') }) },
    );
    const env = lines(fc.oneof(fc.tuple(word, junk).map(([k, v]) => `${k}=${v}`), junk));
    await fc.assert(fc.asyncProperty(lines(line), env, (procfile, dotenv) => outcome('procfile', { Procfile: procfile, '.env': dotenv }, 'Procfile')), { numRuns: RUNS });
  }, TIMEOUT);

  it('crontab', async () => {
    const command = fc.oneof({ weight: 6, arbitrary: pick('/bin/x', 'echo a%b%c', 'cmd \\% x', 'cd /srv && ./run $HOME') }, { weight: 1, arbitrary: junk });
    const field = fc.oneof({ weight: 30, arbitrary: pick('*', '0', '5', '*/5', '1-5', 'mon-fri', 'jan', '1,2') }, { weight: 1, arbitrary: fc.oneof(pick('61', 'L', '?', '*/0'), word) });
    const line = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(field, field, field, field, field, command).map((parts) => parts.join(' ')) },
      { weight: 3, arbitrary: fc.tuple(fc.oneof({ weight: 20, arbitrary: pick('@daily', '@reboot', '@hourly', '@weekly') }, { weight: 1, arbitrary: pick('@never') }), command).map(([m, c]) => `${m} ${c}`) },
      { weight: 2, arbitrary: fc.tuple(pick('MAILTO', 'SHELL', 'PATH', 'TZ', 'FOO', 'CRON_TZ'), fc.oneof(junk, pick('/bin/bash', '""', 'x@y'))).map(([k, v]) => `${k}=${v}`) },
      { weight: 2, arbitrary: pick('# comment', '') },
      { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: junk }, { weight: 4, arbitrary: pick('') }) },
    );
    await fc.assert(fc.asyncProperty(lines(line), (text) => outcome('crontab', { crontab: text }, 'crontab')), { numRuns: RUNS });
  }, TIMEOUT);

  it('s6', async () => {
    const name = pick('a', 'b', 'c', 'user', 'base', 'init');
    const service = fc.record({
      name,
      type: fc.oneof({ weight: 12, arbitrary: pick('longrun', 'oneshot', 'bundle', 'longrun\n') }, { weight: 1, arbitrary: junk }),
      run: fc.oneof(pick('#!/command/with-contenv sh\nexec x\n', '#!/command/execlineb -P\nx\n', '#!/bin/bash\nexec s6-setuidgid www-data x -F\n', 'exec x'), junk),
      up: fc.oneof(pick('/etc/s6-overlay/scripts/x', 'with-contenv /bin/x "a b"', 'if { x } y', ''), junk),
      deps: fc.array(name, { maxLength: 3 }),
      contents: fc.array(name, { maxLength: 3 }),
      fd: fc.option(fc.oneof({ weight: 6, arbitrary: pick('3', '1', '200') }, { weight: 1, arbitrary: junk }), { freq: 3 }),
      signal: fc.option(fc.oneof({ weight: 6, arbitrary: pick('SIGQUIT', 'TERM', 'FOO') }, { weight: 1, arbitrary: junk }), { freq: 3 }),
    });
    await fc.assert(fc.asyncProperty(fc.array(service, { maxLength: 5 }), fc.array(junk, { maxLength: 3 }), (services, inits) => {
      const files: Record<string, string> = {};
      for (const s of services) {
        const dir = `etc/s6-overlay/s6-rc.d/${s.name}`;
        files[`${dir}/type`] = s.type;
        files[`${dir}/run`] = s.run;
        files[`${dir}/up`] = s.up;
        for (const dep of s.deps) files[`${dir}/dependencies.d/${dep}`] = '';
        for (const inner of s.contents) files[`${dir}/contents.d/${inner}`] = '';
        if (s.fd !== null) files[`${dir}/notification-fd`] = s.fd;
        if (s.signal !== null) files[`${dir}/down-signal`] = s.signal;
      }
      inits.forEach((text, index) => { files[`etc/cont-init.d/${index}0-init`] = `#!/bin/sh\n${text}\n`; });
      if (Object.keys(files).length === 0) files['etc/services.d/x/run'] = '#!/bin/sh\nexec x\n';
      return outcome('s6', files, 'etc');
    }), { numRuns: RUNS });
  }, TIMEOUT);
});
