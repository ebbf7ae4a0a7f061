// Malformed input is exit 2 with a located message — one case per way each format can be
// wrong — and the semantics that need more than a fixture: numprocs, %(ENV_X)s,
// continuation lines, specifiers, calendars, dependency cycles.
import { describe, expect, it } from 'vitest';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { importPaths, manifestProblems } from '../../src/roots/import';
import { calendarToCron } from '../../src/import/calendar';
import { tempDir } from '../helpers/tend';

/** Writes files into a fresh directory; returns it. */
function tree(files: Record<string, string>): string {
  const dir = tempDir('tend-import-');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Imports `file` of a tree; the error with the directory left out, or the manifest as data. */
function run(kind: string | null, files: Record<string, string>, path = Object.keys(files)[0]!) {
  const dir = tree(files);
  const result = importPaths(kind, [join(dir, path)], dir, {});
  if (!result.ok) return { error: result.message.split(`${dir}/`).join('') };
  expect(manifestProblems(result.text)).toEqual([]);
  const doc = parse(result.text) as { services: Record<string, Record<string, unknown>> };
  return { services: doc.services, text: result.text, lost: result.lost.map((n) => `${n.setting}: ${n.text}`) };
}

describe('malformed input: exit 2, located', () => {
  it.each([
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x\nnot a pair\n' }, 'a.conf:3: expected "key = value" or a [section], got "not a pair"'],
    ['supervisord', { 'a.conf': 'command=/bin/x\n' }, 'a.conf:1: a setting before any [section]'],
    ['supervisord', { 'a.conf': '[program:x]\nautostart=true\n' }, 'a.conf:1: [program:x] has no command='],
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x "unclosed\n' }, 'a.conf:2: command: no closing quotation'],
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x\nnumprocs=2\n' }, 'a.conf:3: numprocs=2 needs %(process_num)s in process_name, so that each process has its own name'],
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x %(nope)s\n' }, 'a.conf:2: %(nope)s cannot be expanded here (known: ENV_X, here, program_name, process_num, group_name, numprocs, host_node_name)'],
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x\nautorestart=sometimes\n' }, 'a.conf:3: autorestart: expected true, false or unexpected, got "sometimes"'],
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x\nstopsignal=FOO\n' }, 'a.conf:3: stopsignal: unknown signal "FOO"'],
    ['supervisord', { 'a.conf': '[program:x]\ncommand=/bin/x\n[program:x]\ncommand=/bin/y\n' }, 'a.conf:3: [program:x] is defined twice (first at a.conf:1)'],
    ['systemd', { 'a.service': '[Service]\nType=simple\n' }, 'a.service:1: a.service has no ExecStart='],
    ['systemd', { 'a.service': 'ExecStart=/bin/x\n' }, 'a.service:1: an assignment before any [Section]'],
    ['systemd', { 'a.service': '[Service]\nExecStart=/bin/x\nRestart=sometimes\n' }, 'a.service:3: Restart=sometimes: expected no, always, on-success, on-failure, on-abnormal, on-abort or on-watchdog'],
    ['systemd', { 'a.service': '[Service]\nExecStart=/bin/x --name %Q\n' }, 'a.service:2: unknown specifier %Q'],
    ['systemd', { 'a.service': '[Service]\nExecStart=/bin/x\nTimeoutStopSec=soon\n' }, 'a.service:3: expected a time span like 5s or 1min 30s, got "soon"'],
    ['systemd', { 'a.service': '[Service]\nType=simple\nExecStart=/bin/x\nExecStart=/bin/y\n' }, 'a.service:4: more than one ExecStart= is only allowed with Type=oneshot'],
    ['procfile', { Procfile: 'web: ok\nthis is not a process\n' }, 'Procfile:2: expected "name: command", got "this is not a process"'],
    ['procfile', { Procfile: 'web: a\nweb: b\n' }, 'Procfile:2: "web" is defined twice (first at line 1)'],
    ['procfile', { Procfile: 'web:\n' }, 'Procfile:1: "web" has no command'],
    ['crontab', { crontab: '* * * *\n' }, 'crontab:1: expected "minute hour day month weekday command" or "@daily command", got "* * * *"'],
    ['crontab', { crontab: '61 * * * * /bin/x\n' }, /^crontab:1: invalid schedule "61 \* \* \* \*": /],
    ['crontab', { crontab: '@fortnightly /bin/x\n' }, 'crontab:1: unknown schedule @fortnightly; expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @reboot'],
    ['s6', { 'etc/s6-overlay/s6-rc.d/x/run': '#!/bin/sh\nexec x\n' }, 'etc/s6-overlay/s6-rc.d/x: no type file: expected longrun, oneshot or bundle in it'],
    ['s6', { 'etc/s6-overlay/s6-rc.d/x/type': 'daemon\n' }, 'etc/s6-overlay/s6-rc.d/x/type:1: expected longrun, oneshot or bundle, got "daemon"'],
    ['s6', { 'etc/s6-overlay/s6-rc.d/x/type': 'oneshot\n' }, 'etc/s6-overlay/s6-rc.d/x: a oneshot with no up file'],
    ['s6', { 'etc/s6-overlay/s6-rc.d/x/type': 'longrun\n', 'etc/s6-overlay/s6-rc.d/x/run': 'exec x\n', 'etc/s6-overlay/s6-rc.d/x/notification-fd': 'three\n' }, 'etc/s6-overlay/s6-rc.d/x/notification-fd:1: expected a file descriptor number, got "three"'],
  ] as const)('%s: %j', (kind, files, message) => {
    const path = kind === 's6' ? 'etc' : Object.keys(files)[0]!;
    const result = run(kind, files as Record<string, string>, path);
    if (typeof message === 'string') expect(result).toEqual({ error: message });
    else expect(result.error).toMatch(message);
  });
});

describe('supervisord semantics', () => {
  it('numprocs gives one service per process, %(ENV_X)s is ${X}, a literal $ stays one, continuation lines join', () => {
    const { services } = run('supervisord', {
      'supervisord.conf': [
        '[program:queue]',
        'command = /usr/bin/consume --name %(program_name)s-%(process_num)d',
        '    --token %(ENV_TOKEN)s --price $5   ; inline comment',
        'process_name=%(program_name)s_%(process_num)02d',
        'numprocs=2',
        'autorestart=unexpected',
        'exitcodes=0,3',
        'startretries=0',
        '',
      ].join('\n'),
    });
    expect(Object.keys(services!)).toEqual(['queue_00', 'queue_01']);
    expect(services!.queue_01).toMatchObject({
      command: ['/usr/bin/consume', '--name', 'queue-1', '--token', '${TOKEN}', '--price', '$$5'],
      restart: { policy: 'on-failure', limit: { count: 0, window: '1s' } },
      success_exit_codes: [0, 3],
      stop_timeout: '10s',
    });
  });
});

describe('systemd semantics', () => {
  it('resolves specifiers of template instances, and breaks an After= cycle with a note', () => {
    const dir = tree({
      'units/web@.service': '[Unit]\nAfter=b.service\n[Service]\nExecStart=/bin/web --unit %n --inst %i --prefix %p --run %t/%I\n',
      'units/b.service': '[Unit]\nAfter=web@a\\x2db.service\n[Service]\nExecStart=/bin/b\n',
      'units/c.service': '[Unit]\nAfter=b.service\n[Service]\nType=oneshot\nExecStart=-/bin/c one\nExecStart=/bin/c two\n',
    });
    symlinkSync('web@.service', join(dir, 'units', 'web@a\\x2db.service'));
    const result = importPaths('systemd', [join(dir, 'units')], dir, {});
    expect(result.ok ? '' : result.message).toBe('');
    if (!result.ok) return;
    expect(manifestProblems(result.text)).toEqual([]);
    const doc = parse(result.text) as { services: Record<string, Record<string, unknown>> };
    expect(doc.services['web-a-x2db']?.command).toEqual(['/bin/web', '--unit', 'web@a\\x2db.service', '--inst', 'a\\x2db', '--prefix', 'web', '--run', '/run/a-b']);
    expect(doc.services.c).toMatchObject({ command: "{ /bin/c one || true; } && /bin/c two", type: 'oneshot', depends_on: ['b'] });
    expect(result.lost.map((n) => `${n.setting}: ${n.text}`)).toContain('After=web@a\\x2db.service: a dependency cycle: systemd breaks it at start; tend refuses it, so this order is dropped');
  });

  // Found by the fuzz test: `WorkingDirectory=-` became `cwd: ""`, which tend's loader refuses.
  // systemd: an empty value resets the setting; a path after '-' that is not absolute is
  // ignored with a warning; without '-', a relative path fails the unit.
  it.each([
    ['WorkingDirectory=', undefined, null],
    ['WorkingDirectory=-', undefined, 'WorkingDirectory=-: not an absolute path: systemd ignores it (the "-" makes it non-fatal)'],
    ['WorkingDirectory=-srv', undefined, 'WorkingDirectory=-srv: not an absolute path: systemd ignores it (the "-" makes it non-fatal)'],
    ['WorkingDirectory=-/srv/app', '/srv/app', null],
    ['WorkingDirectory=/srv/app', '/srv/app', null],
  ])('%s imports as cwd %s', (line, cwd, note) => {
    const result = run('systemd', { 'a.service': `[Service]\nExecStart=/bin/x\n${line}\n` });
    expect(result.error).toBeUndefined();
    expect(result.services?.a?.cwd).toBe(cwd);
    if (note !== null) expect(result.lost).toContain(note);
  });

  it('WorkingDirectory= with a relative path and no "-" fails the unit, as systemd does', () => {
    expect(run('systemd', { 'a.service': '[Service]\nExecStart=/bin/x\nWorkingDirectory=srv\n' })).toEqual({ error: 'a.service:3: WorkingDirectory=srv: systemd wants an absolute path (or ~)' });
  });

  it.each([
    ['daily', '0 0 * * *'],
    ['weekly', '0 0 * * 1'],
    ['*-*-* 04:00:00', '0 4 * * *'],
    ['Mon..Fri 09:30', '30 9 * * 1-5'],
    ['Sat,Sun *-*-* 10:00', '0 10 * * 0,6'],
    ['*:0/15', '0-59/15 * * * *'],
    ['*-*-01 02:00', '0 2 1 * *'],
    ['quarterly', '0 0 1 1,4,7,10 *'],
    ['*-*-* 12:00:30', '30 0 12 * * *'],
  ])('OnCalendar=%s is cron %s', (calendar, cron) => {
    expect(calendarToCron(calendar)).toEqual({ ok: true, cron });
  });

  it.each([
    ['2027-01-01 00:00', /a year/],
    ['*-*~1 00:00', /end of the month/],
    ['Mon *-*-1..7 09:00', /both a weekday and a day of the month/],
    ['*-*-* 00:00 Europe/Paris', /time zone/],
    ['Funday 10:00', /unknown weekday/],
  ])('OnCalendar=%s has no cron equivalent', (calendar, why) => {
    const result = calendarToCron(calendar);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.why).toMatch(why);
  });
});

describe('crontab semantics', () => {
  it('CRON_TZ reads the schedules below it in that zone (time_zone); an unknown zone, and TZ, are noted', () => {
    const result = run('crontab', {
      crontab: ['0 1 * * * /bin/early', 'CRON_TZ=Europe/Paris', '30 2 * * * /bin/backup', 'CRON_TZ=Mars/Olympus', '0 3 * * * /bin/late', 'TZ=UTC', ''].join('\n'),
    });
    if ('error' in result) throw new Error(result.error);
    expect(result.services.early?.time_zone).toBeUndefined();
    expect(result.services.backup).toMatchObject({ schedule: '30 2 * * *', time_zone: 'Europe/Paris' });
    // An unknown zone is not carried over: the zone the jobs below it had stays.
    expect(result.services.late).toMatchObject({ schedule: '0 3 * * *', time_zone: 'Europe/Paris' });
    expect(result.lost).toContain('CRON_TZ=Mars/Olympus: not a zone tend knows; the jobs below it keep Europe/Paris');
  });
});
