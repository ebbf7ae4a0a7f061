// Regression tests for the reliability findings (round two) that live in the config
// layer, each named after its finding. Every one asserts the exact line `tend check` prints.
import { describe, expect, it } from 'vitest';
import { issuesOf, yaml } from './manifest';

describe('finding 3: durations longer than a timer can run are refused, not fired at once', () => {
  it('finding 3: stop_timeout: 999h is a located error naming the maximum', async () => {
    expect(await issuesOf(yaml`
      services:
        db:
          command: x
          stop_timeout: 999h
    `)).toEqual([
      'tend.yaml:4:19: services.db.stop_timeout: 999h is longer than the longest duration tend can time, 596h31m23s (about 24.8 days)',
    ]);
  });

  it('finding 3: every duration key is bounded', async () => {
    const lines = await issuesOf(yaml`
      settings:
        shutdown_timeout: 9999h
        shutdown_delay: 2147484s
      services:
        web:
          command: x
          ready: { http: "http://127.0.0.1:1/", interval: 1000h, timeout: 1000h }
          healthcheck: { tcp: 80, interval: 1000h, timeout: 1000h, start_period: 1000h }
          restart: { backoff: { initial: 1000h, max: 1000h, reset_after: 1000h }, limit: { count: 1, window: 1000h } }
    `);
    expect(lines.map((line) => line.split(': ')[1])).toEqual([
      'settings.shutdown_timeout', 'settings.shutdown_delay',
      'services.web.ready.interval', 'services.web.ready.timeout',
      'services.web.healthcheck.interval', 'services.web.healthcheck.timeout', 'services.web.healthcheck.start_period',
      'services.web.restart.backoff.initial', 'services.web.restart.backoff.max', 'services.web.restart.backoff.reset_after',
      'services.web.restart.limit.window',
    ]);
  });

  it('finding 3: the maximum itself is accepted', async () => {
    expect(await issuesOf(yaml`
      services:
        db: { command: x, stop_timeout: 596h31m23s }
    `)).toEqual([]);
  });
});

describe('finding 18: service names that are cgroup interface files', () => {
  it('finding 18: cgroup.procs, cpu.stat and memory.pressure are refused where they are named', async () => {
    expect(await issuesOf(yaml`
      services:
        cgroup.procs: { command: x }
        cpu.stat: { command: x }
        memory.pressure: { command: x }
        web.cpu: { command: x }
    `)).toEqual([
      'tend.yaml:2:3: services.cgroup.procs: "cgroup.procs" is the name of a cgroup file: each service gets a cgroup directory of its name, and names starting "cgroup." or a controller\'s name ("cpu.", "memory.", "io.", "pids."…) are the kernel\'s',
      'tend.yaml:3:3: services.cpu.stat: "cpu.stat" is the name of a cgroup file: each service gets a cgroup directory of its name, and names starting "cgroup." or a controller\'s name ("cpu.", "memory.", "io.", "pids."…) are the kernel\'s',
      'tend.yaml:4:3: services.memory.pressure: "memory.pressure" is the name of a cgroup file: each service gets a cgroup directory of its name, and names starting "cgroup." or a controller\'s name ("cpu.", "memory.", "io.", "pids."…) are the kernel\'s',
    ]);
  });
});

describe('finding 19: notify_fd values that collide with tend\'s own descriptors', () => {
  it('finding 19: 100 and 5000 are refused with the allowed range', async () => {
    expect(await issuesOf(yaml`
      services:
        svc: { command: x, ready: { notify_fd: 100 } }
        big: { command: x, ready: { notify_fd: 5000 } }
        ok: { command: x, ready: { notify_fd: 99 } }
    `)).toEqual([
      'tend.yaml:2:42: services.svc.ready.notify_fd: expected a descriptor from 3 to 99 (tend\'s exec helper keeps its own at 100 and above), got 100',
      'tend.yaml:3:42: services.big.ready.notify_fd: expected a descriptor from 3 to 99 (tend\'s exec helper keeps its own at 100 and above), got 5000',
    ]);
  });
});
