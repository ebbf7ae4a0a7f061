// Hand-built Plans for the supervisor's pure unit tests.
import type { Plan, ServicePlan, SettingsPlan } from '../../src/plan/types';

export function service(name: string, overrides: Partial<ServicePlan> = {}): ServicePlan {
  return {
    name,
    command: { argv: ['sleep', '1000'], shell: false },
    main: false,
    type: 'longrun',
    autostart: true,
    dependsOn: [],
    ready: null,
    healthcheck: null,
    restart: {
      policy: 'always',
      backoff: { initial: 100, max: 30_000, factor: 2, jitter: 0.1, resetAfter: 10_000 },
      limit: null,
    },
    successExitCodes: [0],
    critical: false,
    stopSignal: 15,
    stopCommand: null,
    stopTimeout: 5000,
    // The unit tests were written for stops that signal every process; stop_mode has its own.
    stopMode: 'group',
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
    log: { console: 'prefix', file: null, stderrFile: null, maxSize: 10_000_000, keep: 5, compress: false },
    limits: { memory: null, cpu: null, pids: null, nofile: null, core: null },
    oomScoreAdj: null,
    ...overrides,
  };
}

export const SETTINGS: SettingsPlan = {
  shutdownTimeout: 9000,
  shutdownDelay: 0,
  socket: null,
  socketMode: null,
  socketAllow: [],
  logFormat: 'text',
  logLevel: 'info',
  tracking: 'auto',
  http: null,
  httpStatus: false,
  syslog: null,
};

export function plan(services: ServicePlan[], settings: Partial<SettingsPlan> = {}): Plan {
  return {
    file: '/tmp/tend.yaml',
    settings: { ...SETTINGS, ...settings },
    services,
    main: services.find((s) => s.main)?.name ?? null,
    startWaves: [services.map((s) => s.name)],
    stopWaves: [services.map((s) => s.name)],
  };
}
