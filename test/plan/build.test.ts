// Defaults per role, and the Plan's shape and immutability.
import { describe, expect, it } from 'vitest';
import { planOf, yaml } from '../config/manifest';
import { DEFAULTS } from '../../src/plan/index';

const manifest = yaml`
  services:
    app:
      command: ["app", "--serve"]
      main: true
    sidecar:
      command: tail -F /var/log/app.log
    migrate:
      type: oneshot
      command: [migrate]
`;

describe('buildPlan defaults', () => {
  it('gives main restart never, a longrun sidecar always, a oneshot never', async () => {
    const plan = await planOf(manifest);
    const policy = Object.fromEntries(plan.services.map((s) => [s.name, s.restart.policy]));
    expect(policy).toEqual({ app: 'never', sidecar: 'always', migrate: 'never' });
    expect(plan.main).toBe('app');
  });

  it('fills every default of a service', async () => {
    const plan = await planOf(manifest);
    expect(plan.services[1]).toEqual({
      name: 'sidecar',
      command: { argv: ['/bin/sh', '-c', 'tail -F /var/log/app.log'], shell: true },
      main: false,
      type: 'longrun',
      autostart: true,
      dependsOn: [],
      ready: null,
      healthcheck: null,
      restart: { policy: 'always', backoff: { initial: 100, max: 30_000, factor: 2, jitter: 0.1, resetAfter: 10_000 }, limit: null },
      successExitCodes: [0],
      critical: false,
      stopSignal: 15,
      stopCommand: null,
      stopTimeout: 5000,
      stopMode: 'mixed',
      user: null,
      group: null,
      cwd: null,
      stdin: 'null',
      env: {},
      envFiles: [],
      envCleared: [],
      secretFiles: {},
      runtimeDirectory: null,
      umask: null,
      schedule: null,
      log: { console: 'prefix', file: null, stderrFile: null, maxSize: 10 * 1024 * 1024, keep: 5, compress: false },
      limits: { memory: null, cpu: null, pids: null, nofile: null, core: null },
      oomScoreAdj: null,
    });
    expect(plan.services[0]!.command).toEqual({ argv: ['app', '--serve'], shell: false });
  });

  it('fills every default of settings', async () => {
    const plan = await planOf(manifest);
    expect(plan.settings).toEqual({
      shutdownTimeout: 9000, shutdownDelay: 0, socket: null, socketMode: null, socketAllow: [],
      logFormat: 'text', logLevel: 'info', tracking: 'auto', http: null, httpStatus: false, syslog: null,
    });
  });

  it('defaults probes, keeps given values and applies role defaults inside a long-form restart', async () => {
    const plan = await planOf(yaml`
      settings:
        http: 127.0.0.1:9099
        socket_mode: "0660"
        socket_allow: [{ group: ops, access: control }, { user: 1001 }]
      services:
        web:
          command: x
          main: true
          ready: { tcp: 8080 }
          healthcheck: { http: "http://127.0.0.1:8080/healthz", retries: 5 }
          restart: { backoff: { initial: 1s }, limit: { count: 5, window: 1m } }
          stop_signal: QUIT
          stop_timeout: 2.5
          success_exit_codes: [0, 143]
    `);
    const web = plan.services[0]!;
    expect(web.ready).toEqual({ check: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, interval: 200, timeout: 60_000 });
    expect(web.healthcheck).toEqual({ check: { kind: 'http', url: 'http://127.0.0.1:8080/healthz' }, interval: 10_000, timeout: 2000, retries: 5, startPeriod: 0 });
    expect(web.restart).toEqual({ policy: 'never', backoff: { ...DEFAULTS.backoff, initial: 1000 }, limit: { count: 5, window: 60_000 } });
    expect(web.stopSignal).toBe(3);
    expect(web.stopTimeout).toBe(2500);
    expect(web.successExitCodes).toEqual([0, 143]);
    expect(plan.settings.http).toEqual({ host: '127.0.0.1', port: 9099 });
    expect(plan.settings.socketMode).toBe(0o660);
    expect(plan.settings.socketAllow).toEqual([{ group: 'ops', access: 'control' }, { user: 1001, access: 'read' }]);
  });

  it('maps each ready probe kind', async () => {
    const plan = await planOf(yaml`
      services:
        a: { command: x, ready: { command: "test -f /tmp/ready" } }
        b: { command: x, ready: { log: "listening on \\\\d+" } }
        c: { command: x, ready: { notify_fd: 3, timeout: 5s } }
    `);
    expect(plan.services.map((s) => s.ready?.check)).toEqual([
      { kind: 'command', command: { argv: ['/bin/sh', '-c', 'test -f /tmp/ready'], shell: true } },
      { kind: 'log', pattern: 'listening on \\d+' },
      { kind: 'notify_fd', fd: 3 },
    ]);
  });

  it('is deeply frozen', async () => {
    const plan = await planOf(manifest);
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.services[0]!.command.argv)).toBe(true);
    expect(Object.isFrozen(plan.startWaves[0])).toBe(true);
    expect(() => { (plan.services[0]!.restart as { policy: string }).policy = 'always'; }).toThrow(TypeError);
  });
});

describe('commandRedactor (tend status -v)', () => {
  it('shows each value a command took from tend\'s environment as ${NAME}, in any command line it appears in', async () => {
    const { commandRedactor } = await import('../../src/plan/redact');
    const plan = await planOf(yaml`
      services:
        api: { command: ["api", "--token=\${TOKEN}", "\${SHORT}"] }
        sh: { command: "run \${TOKEN}" }
    `, { TOKEN: 's3cr3t-value', SHORT: 'ab' });
    const redact = commandRedactor(plan);
    expect(redact('api --token=s3cr3t-value ab')).toBe('api --token=${TOKEN} ${SHORT}');
    expect(redact('/bin/sh -c run s3cr3t-value')).toBe('/bin/sh -c run ${TOKEN}');
    // A child the shell started: the value alone; a value of one or two characters only as a whole word of the plan's.
    expect(redact('worker s3cr3t-value lab ab ab')).toBe('worker ${TOKEN} lab ${SHORT} ${SHORT}');
    expect(commandRedactor(await planOf('services:\n  a: { command: [x] }\n'))('x y')).toBe('x y');
  });
});
