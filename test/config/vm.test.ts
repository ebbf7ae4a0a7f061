// The keys of services as they ran on a VM (type: forking, pid_file): located errors.
import { describe, expect, it } from 'vitest';
import { issuesOf, yaml } from './manifest';

describe('type: forking and pid_file', () => {
  it('accepts a forking service with or without a pid_file, and condition ready on it', async () => {
    expect(await issuesOf(yaml`
      services:
        redis:
          type: forking
          command: [redis-server, /etc/redis/redis.conf]
          pid_file: /run/redis/redis-server.pid
        cron:
          type: forking
          command: [cron]
        app:
          command: [sleep, "1"]
          depends_on: { redis: { condition: ready } }
    `)).toEqual([]);
  });

  it('refuses pid_file on a service that is not forking, and notify_fd on one that is', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: [nginx]
          pid_file: /run/nginx.pid
        db:
          type: forking
          command: [pg_ctl, start]
          ready: { notify_fd: 3 }
    `)).toEqual([
      'tend.yaml:4:15: services.web.pid_file: pid_file needs type: forking ("web" is a longrun)',
      'tend.yaml:8:25: services.db.ready.notify_fd: notify_fd cannot be used with type: forking: the daemon is not the process tend started',
    ]);
  });

  it('names the three types when the type is unknown', async () => {
    const issues = await issuesOf(yaml`
      services:
        web:
          type: simple
          command: [nginx]
    `);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^tend\.yaml:3:11: services\.web\.type: .*longrun.*oneshot.*forking/);
  });

  it('accepts ready: { sd_notify: true } and refuses anything but true, or a second kind', async () => {
    expect(await issuesOf(yaml`
      services:
        api:
          command: [api]
          ready: { sd_notify: true, timeout: 90s }
    `)).toEqual([]);
    const issues = await issuesOf(yaml`
      services:
        api:
          command: [api]
          ready: { sd_notify: yes please }
        web:
          command: [web]
          ready: { sd_notify: true, tcp: "127.0.0.1:80" }
    `);
    expect(issues).toEqual([
      expect.stringMatching(/^tend\.yaml:4:\d+: services\.api\.ready\.sd_notify: expected true/),
      expect.stringMatching(/^tend\.yaml:7:\d+: services\.web\.ready: expected exactly one of .*sd_notify, got tcp and sd_notify/),
    ]);
  });

  it('refuses watchdog without ready: { sd_notify: true }', async () => {
    expect(await issuesOf(yaml`
      services:
        api:
          command: [api]
          watchdog: 30s
        ok:
          command: [api]
          ready: { sd_notify: true }
          watchdog: 30s
    `)).toEqual(['tend.yaml:4:15: services.api.watchdog: watchdog needs ready: { sd_notify: true }: the service sends WATCHDOG=1 on $NOTIFY_SOCKET']);
  });
});
