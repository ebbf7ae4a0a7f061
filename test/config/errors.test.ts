// Every class of manifest mistake SPEC §2 names, asserted as the exact line tend prints.
import { describe, expect, it } from 'vitest';
import { issuesOf, noCgroup, yaml } from './manifest';

describe('manifest errors', () => {
  it('reports malformed YAML with its line', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: [sleep, 1
    `)).toEqual([expect.stringMatching(/^tend\.yaml:4:1: invalid YAML: /)]);
  });

  it('reports a duplicate key with the position of the second one', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: a
          command: b
    `)).toEqual(['tend.yaml:4:5: services.web.command: duplicate key']);
  });

  it('reports an unknown key with a suggestion', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          comand: [sleep, "1"]
          command: [sleep, "1"]
          frobnicate: true
    `)).toEqual([
      'tend.yaml:3:5: services.web.comand: unknown key; did you mean "command"?',
      'tend.yaml:5:5: services.web.frobnicate: unknown key',
    ]);
  });

  it('reports an unknown settings key with a suggestion', async () => {
    expect(await issuesOf(yaml`
      settings:
        shutdown_timout: 5s
      services:
        web: { command: x }
    `)).toEqual(['tend.yaml:2:3: settings.shutdown_timout: unknown key; did you mean "shutdown_timeout"?']);
  });

  it('reports a missing command at the service it belongs to', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          main: true
    `)).toEqual(['tend.yaml:2:3: services.web.command: required key is missing']);
  });

  it('reports a bad enum with the accepted values', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: x
          restart:
            policy: sometimes
          type: daemon
    `)).toEqual([
      'tend.yaml:5:15: services.web.restart.policy: expected always | on-failure | never, got "sometimes"',
      'tend.yaml:6:11: services.web.type: expected longrun | oneshot | forking, got "daemon"',
    ]);
  });

  it('reports a bad short-form restart policy', async () => {
    expect(await issuesOf(yaml`
      services:
        web: { command: x, restart: sometimes }
    `)).toEqual(['tend.yaml:2:31: services.web.restart: expected always | on-failure | never, got "sometimes"']);
  });

  it('reports a bad duration and a bad size', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: x
          stop_timeout: 10 sec
          log: { max_size: 10XB }
    `)).toEqual([
      'tend.yaml:4:19: services.web.stop_timeout: expected a duration like 250ms, 10s, 2m, 1h or a number of seconds, got "10 sec"',
      'tend.yaml:5:22: services.web.log.max_size: expected a size like 512KB, 10MB, 1GB or a number of bytes, got "10XB"',
    ]);
  });

  it('names the members of a dependency cycle', async () => {
    expect(await issuesOf(yaml`
      services:
        a: { command: x, depends_on: [b] }
        b: { command: x, depends_on: [c] }
        c: { command: x, depends_on: [a] }
        d: { command: x, depends_on: [d] }
    `)).toEqual([
      'tend.yaml:2:32: services.a.depends_on: dependency cycle: a -> b -> c -> a',
      'tend.yaml:5:32: services.d.depends_on: dependency cycle: d -> d',
    ]);
  });

  it('reports a dependency on an unknown service, in list and map form', async () => {
    expect(await issuesOf(yaml`
      services:
        web: { command: x, depends_on: [dbb] }
        api:
          command: x
          depends_on:
            cache: { condition: started }
        db: { command: x }
    `)).toEqual([
      'tend.yaml:2:35: services.web.depends_on.0: unknown service "dbb"; did you mean "db"?',
      'tend.yaml:6:7: services.api.depends_on.cache: unknown service "cache"',
    ]);
  });

  it('reports two mains', async () => {
    expect(await issuesOf(yaml`
      services:
        a: { command: x, main: true }
        b: { command: x, main: true }
    `)).toEqual(['tend.yaml:3:26: services.b.main: only one service can be main; "a" is main already']);
  });

  it('reports an unknown signal with a suggestion', async () => {
    expect(await issuesOf(yaml`
      services:
        a: { command: x, stop_signal: SIGTREM }
        b: { command: x, stop_signal: 99 }
    `)).toEqual([
      'tend.yaml:2:33: services.a.stop_signal: unknown signal "SIGTREM"; did you mean "SIGTERM"?',
      'tend.yaml:3:33: services.b.stop_signal: unknown signal 99',
    ]);
  });

  it('reports condition: ready on a service without a ready probe', async () => {
    expect(await issuesOf(yaml`
      services:
        db: { command: x }
        web:
          command: x
          depends_on:
            db: { condition: ready }
    `)).toEqual(['tend.yaml:6:24: services.web.depends_on.db.condition: "db" has no ready probe; add ready: to "db" or use condition: started']);
  });

  it('reports condition: completed on a longrun', async () => {
    expect(await issuesOf(yaml`
      services:
        db: { command: x }
        web:
          command: x
          depends_on: { db: { condition: completed } }
    `)).toEqual(['tend.yaml:5:36: services.web.depends_on.db.condition: "db" is a longrun and never completes; condition: completed needs type: oneshot']);
  });

  it('reports schedule on a longrun and on main', async () => {
    expect(await issuesOf(yaml`
      services:
        app: { command: x, main: true, type: oneshot, schedule: "* * * * *" }
        rotate: { command: x, schedule: "0 * * * *" }
        ok: { command: x, type: oneshot, schedule: "*/5 * * * *" }
    `)).toEqual([
      'tend.yaml:2:59: services.app.schedule: schedule cannot be used on main: main runs once and its exit ends the container',
      'tend.yaml:3:35: services.rotate.schedule: schedule needs type: oneshot ("rotate" is a longrun)',
    ]);
  });

  it('reports an invalid cron expression', async () => {
    expect(await issuesOf(yaml`
      services:
        job: { command: x, type: oneshot, schedule: "61 * * * *" }
    `)).toEqual([expect.stringMatching(/^tend\.yaml:2:47: services\.job\.schedule: invalid cron expression "61 \* \* \* \*": .*minute/)]);
  });

  it('reports stdin: inherit off main', async () => {
    expect(await issuesOf(yaml`
      services:
        app: { command: x, main: true, stdin: inherit }
        side: { command: x, stdin: inherit }
    `)).toEqual(["tend.yaml:3:30: services.side.stdin: stdin: inherit is only allowed on main (only one process can own tend's stdin)"]);
  });

  it('explains an unquoted socket_mode and suggests quoting it', async () => {
    expect(await issuesOf(yaml`
      settings:
        socket_mode: 0600
      services:
        a: { command: x }
    `)).toEqual(['tend.yaml:2:16: settings.socket_mode: YAML reads the unquoted 0600 as the number 600, not as octal; quote it: socket_mode: "0600"']);
  });

  it('reports more than one probe kind, and none', async () => {
    expect(await issuesOf(yaml`
      services:
        a:
          command: x
          ready: { tcp: "127.0.0.1:80", http: "http://127.0.0.1/" }
          healthcheck: { interval: 5s }
    `)).toEqual([
      'tend.yaml:4:12: services.a.ready: expected exactly one of command | tcp | http | log | notify_fd | sd_notify, got tcp and http',
      'tend.yaml:5:18: services.a.healthcheck: expected exactly one of command | tcp | http, got none',
    ]);
  });

  it('rejects a log probe in a healthcheck as an unknown key', async () => {
    expect(await issuesOf(yaml`
      services:
        a: { command: x, healthcheck: { log: ready } }
    `)).toEqual([
      'tend.yaml:2:35: services.a.healthcheck.log: unknown key',
      'tend.yaml:2:33: services.a.healthcheck: expected exactly one of command | tcp | http, got none',
    ].sort());
  });

  it('reports tracking: cgroup without a writable cgroup v2', async () => {
    expect(await issuesOf(yaml`
      settings: { tracking: cgroup }
      services:
        a: { command: x }
    `, {}, noCgroup)).toEqual(['tend.yaml:1:23: settings.tracking: cgroup needs a writable cgroup v2 hierarchy: no cgroup2 filesystem is mounted; use auto or proc']);
  });

  it('reports bad values of several kinds', async () => {
    expect(await issuesOf(yaml`
      settings:
        http: "localhost"
        log_level: loud
      services:
        "9lives": { command: x }
        a:
          command: []
          success_exit_codes: [0, 300]
          ready: { tcp: "host:99999", interval: -1 }
          user: [root]
    `)).toEqual([
      'tend.yaml:2:9: settings.http: expected "host:port" with a port from 1 to 65535, got "localhost"',
      'tend.yaml:3:14: settings.log_level: expected trace | debug | info | warn | error | fatal | silent, got "loud"',
      'tend.yaml:5:3: services.9lives: a service name starts with a letter and has only letters, digits, _ . and -',
      'tend.yaml:7:14: services.a.command: the command is empty',
      'tend.yaml:8:29: services.a.success_exit_codes.1: must be at most 255, got 300',
      'tend.yaml:9:19: services.a.ready.tcp: expected "host:port" or a port number, got "host:99999"',
      'tend.yaml:9:43: services.a.ready.interval: expected a duration like 250ms, 10s, 2m, 1h or a number of seconds, got -1',
      'tend.yaml:10:11: services.a.user: expected a user name or id, got a list',
    ]);
  });

  it('reports an empty manifest and an empty services map', async () => {
    expect(await issuesOf('')).toEqual(['tend.yaml:1:1: the manifest is empty; define services:']);
    expect(await issuesOf('services: {}\n')).toEqual(['tend.yaml:1:11: services: define at least one service']);
  });

  it('reports several mistakes together, each at its own position', async () => {
    expect(await issuesOf(yaml`
      settings:
        log_formt: json
      services:
        web:
          command: ["nginx"]
          restart: { policy: sometimes }
          depends_on: [api, db]
        api:
          command: run
          main: true
          stop_signal: NOPE
        worker:
          command: w
          main: true
          stdin: inherit
    `)).toEqual([
      'tend.yaml:2:3: settings.log_formt: unknown key; did you mean "log_format"?',
      'tend.yaml:6:24: services.web.restart.policy: expected always | on-failure | never, got "sometimes"',
      'tend.yaml:7:23: services.web.depends_on.1: unknown service "db"',
      'tend.yaml:11:18: services.api.stop_signal: unknown signal "NOPE"',
      'tend.yaml:14:11: services.worker.main: only one service can be main; "api" is main already',
    ]);
  });

  it('reports a missing manifest without a position', async () => {
    const { loadPlan, formatIssue } = await import('../../src/plan/index');
    const result = await loadPlan('/nonexistent/tend.yaml', {});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map(formatIssue)).toEqual(['/nonexistent/tend.yaml: cannot read the manifest: no such file']);
  });
});

describe('sharing settings', () => {
  it('accepts top-level x-* extension keys and << merge keys, as compose does', async () => {
    const { planOf } = await import('./manifest');
    const plan = await planOf(yaml`
      x-defaults: &defaults
        stop_timeout: 2s
        restart: on-failure
      services:
        a: { <<: *defaults, command: x }
        b:
          <<: *defaults
          command: y
          stop_timeout: 1s
    `);
    expect(plan.services.map((s) => [s.name, s.stopTimeout, s.restart.policy])).toEqual([['a', 2000, 'on-failure'], ['b', 1000, 'on-failure']]);
  });

  it('still rejects other unknown top-level keys', async () => {
    expect(await issuesOf('servics: {}\nservices:\n  a: { command: x }\n')).toEqual(['tend.yaml:1:1: servics: unknown key; did you mean "services"?']);
  });
});
