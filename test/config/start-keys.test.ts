// The keys a migration needed for each start (runtime_directory, umask, env_file entries,
// log.stderr_file), other tools' key names pointed to tend's, and the check's warning about
// a stop_timeout the shutdown deadline cuts short: located, and every mistake at once.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadPlan, formatIssue } from '../../src/plan/index';
import { issuesOf, planOf, writeDir, yaml } from './manifest';

describe('runtime_directory, umask, log.stderr_file', () => {
  it('become /run/NAME, a mode number and an absolute path', async () => {
    const plan = await planOf(yaml`
      services:
        php:
          command: x
          runtime_directory: php
          umask: "0027"
          log: { file: logs/php.log, stderr_file: logs/php.err }
        pg:
          command: x
          runtime_directory: postgresql/14-main
          umask: "077"
    `);
    const [php, pg] = plan.services;
    expect(php!.runtimeDirectory).toBe('/run/php');
    expect(php!.umask).toBe(0o027);
    expect(php!.log.stderrFile).toBe(join(plan.file!, '..', 'logs', 'php.err'));
    expect(pg!.runtimeDirectory).toBe('/run/postgresql/14-main');
    expect(pg!.umask).toBe(0o077);
  });

  it('every mistake at once, each located: a way out of /run, an unquoted or non-octal umask, a shared directory, stderr_file = file', async () => {
    expect(await issuesOf(yaml`
      services:
        a:
          command: x
          runtime_directory: ../etc
          umask: 0027
        b:
          command: x
          runtime_directory: /run/b
          umask: "0o27"
        c:
          command: x
          runtime_directory: shared
          umask: "888"
        d:
          command: x
          runtime_directory: shared
          log: { file: d.log, stderr_file: d.log }
        e:
          command: x
          runtime_directory: ""
          umask: 18
    `)).toEqual([
      'tend.yaml:4:24: services.a.runtime_directory: expected a relative name below /run like "php" or "postgresql/main" (no leading /, no . or .. parts), got "../etc"',
      'tend.yaml:5:12: services.a.umask: YAML reads the unquoted 0027 as the number 27, not as octal; quote it: umask: "0027"',
      'tend.yaml:8:24: services.b.runtime_directory: expected a relative name below /run like "php" or "postgresql/main" (no leading /, no . or .. parts), got "/run/b"',
      'tend.yaml:9:12: services.b.umask: expected an octal umask like "0027", got "0o27"',
      'tend.yaml:13:12: services.c.umask: expected an octal umask like "0027", got "888"',
      'tend.yaml:16:24: services.d.runtime_directory: /run/shared is "c"\'s runtime_directory already: it is removed whenever its service stops; give each service its own, or let one make it',
      'tend.yaml:17:38: services.d.log.stderr_file: stderr_file is log.file: leave stderr_file out to write both streams to that file',
      'tend.yaml:20:24: services.e.runtime_directory: expected a relative name below /run like "php" or "postgresql/main" (no leading /, no . or .. parts), got ""',
      'tend.yaml:21:12: services.e.umask: YAML reads the unquoted 18 as the number 18, not as octal; quote it: umask: "0027"',
    ]);
  });

  it('env_file entries: a path, { path, required } or a list of both; anything else is located', async () => {
    expect(await issuesOf(yaml`
      services:
        a:
          command: x
          env_file: [{ path: a.env, required: maybe }, { file: b.env }, 3]
    `)).toEqual([
      'tend.yaml:4:41: services.a.env_file.0.required: expected a boolean, got "maybe"',
      'tend.yaml:4:50: services.a.env_file.1: expected a file name or { path, required }, got a map',
      'tend.yaml:4:67: services.a.env_file.2: expected a file name or { path, required }, got 3',
    ]);
  });
});

describe('other tools\' key names', () => {
  it('supervisord, systemd, compose and process-compose words get tend\'s key, located, with every other mistake', async () => {
    const issues = await issuesOf(yaml`
      services:
        php:
          command: php-fpm
          autorestart: true
          directory: /srv
          environment: { A: "1" }
          stopwaitsecs: 10
          priority: 5
        web:
          ExecStart: /usr/sbin/nginx
          User: www-data
          WorkingDirectory: /srv
          Restart: always
          EnvironmentFile: /etc/default/web
          TimeoutStopSec: 10
          command: nginx
        app:
          command: app
          working_dir: /srv
          depends_on: { db: { condition: service_healthy } }
          restart: unless-stopped
        db: { command: db, commnd: x }
    `);
    expect(issues).toEqual([
      'tend.yaml:4:5: services.php.autorestart: unknown key; did you mean "restart"? (supervisord\'s autorestart: true is always, unexpected is on-failure, false is never)',
      'tend.yaml:5:5: services.php.directory: unknown key; did you mean "cwd"? (supervisord\'s directory)',
      'tend.yaml:6:5: services.php.environment: unknown key; did you mean "env"? (a map of NAME: value)',
      'tend.yaml:7:5: services.php.stopwaitsecs: unknown key; did you mean "stop_timeout"? (supervisord\'s stopwaitsecs: a duration like 10s)',
      'tend.yaml:8:5: services.php.priority: unknown key; did you mean "depends_on"? (supervisord\'s priority: tend orders services by their dependencies, not by numbers)',
      'tend.yaml:10:5: services.web.ExecStart: unknown key; did you mean "command"? (systemd\'s ExecStart=)',
      'tend.yaml:11:5: services.web.User: unknown key; did you mean "user"?',
      'tend.yaml:12:5: services.web.WorkingDirectory: unknown key; did you mean "cwd"? (systemd\'s WorkingDirectory=)',
      'tend.yaml:13:5: services.web.Restart: unknown key; did you mean "restart"?',
      'tend.yaml:14:5: services.web.EnvironmentFile: unknown key; did you mean "env_file"? (systemd\'s EnvironmentFile=; -/path is { path: /path, required: false })',
      'tend.yaml:15:5: services.web.TimeoutStopSec: unknown key; did you mean "stop_timeout"? (systemd\'s TimeoutStopSec=)',
      'tend.yaml:19:5: services.app.working_dir: unknown key; did you mean "cwd"? (compose\'s and process-compose\'s working_dir)',
      'tend.yaml:20:36: services.app.depends_on.db.condition: expected started | ready | completed, got "service_healthy" (compose\'s service_healthy is tend\'s ready; the dependency needs a ready: probe)',
      'tend.yaml:21:14: services.app.restart: expected always | on-failure | never, got "unless-stopped" (compose\'s unless-stopped is tend\'s always; a service stopped by hand stays stopped)',
      'tend.yaml:22:22: services.db.commnd: unknown key; did you mean "command"?',
    ]);
  });
});

describe('stop_timeout and the shutdown deadline', () => {
  it('warns (no error) when a service\'s stop_timeout is longer than shutdown_timeout, at the key that makes it so', async () => {
    const { file } = writeDir(yaml`
      settings:
        shutdown_timeout: 20s
      services:
        slow: { command: x, stop_timeout: 30s }
        fine: { command: x, stop_timeout: 10s }
    `);
    const result = await loadPlan(file, {});
    expect(result.ok).toBe(true);
    expect(result.warnings.map((w) => formatIssue({ ...w, file: 'tend.yaml' }))).toEqual([
      'tend.yaml:4:23: services.slow.stop_timeout: slow\'s stop_timeout (30s) is longer than settings.shutdown_timeout (20s): at shutdown it is killed with SIGKILL at the deadline, before its stop_timeout is over; raise shutdown_timeout',
    ]);
    const short = writeDir(yaml`
      settings:
        shutdown_timeout: 2s
      services:
        web: { command: x }
    `);
    const second = await loadPlan(short.file, {});
    expect(second.warnings.map((w) => formatIssue({ ...w, file: 'tend.yaml' }))).toEqual([
      'tend.yaml:2:3: settings.shutdown_timeout: web\'s stop_timeout (5s) is longer than settings.shutdown_timeout (2s): at shutdown it is killed with SIGKILL at the deadline, before its stop_timeout is over; raise shutdown_timeout',
    ]);
  });
});

describe('the machine\'s look at env_files (tend check)', () => {
  it('a PATH set in an env_file counts for "not on PATH", as it will at the start', async () => {
    const { file } = writeDir(yaml`
      services:
        web: { command: [myapp], env_file: app.env }
    `, { 'app.env': 'PATH=/opt/app/bin\n' });
    const paths: string[] = [];
    const machine = {
      commandFound: (_command: string, path: string) => { paths.push(path); return true; },
      userExists: () => true, groupExists: () => true, directoryExists: () => true,
    };
    const result = await loadPlan(file, { PATH: '/usr/bin' }, { machine });
    expect(result.ok).toBe(true);
    expect(paths).toEqual(['/opt/app/bin']);
  });
});
