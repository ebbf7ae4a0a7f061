// limits: and oom_score_adj: as a manifest states them: units parsed once, ranges the
// kernel sets refused where they are written.
import { describe, expect, it } from 'vitest';
import { issuesOf, planOf, yaml } from '../config/manifest';

describe('limits: in the manifest', () => {
  it('parses sizes, cores, counts and "unlimited" into the plan', async () => {
    const plan = await planOf(yaml`
      services:
        worker:
          command: x
          limits: { memory: 512MB, cpu: 1.5, pids: 256, nofile: 65536, core: unlimited }
          oom_score_adj: 500
        plain: { command: x }
    `);
    expect(plan.services[0]!.limits).toEqual({ memory: 512 * 1024 ** 2, cpu: 1.5, pids: 256, nofile: 65536, core: -1 });
    expect(plan.services[0]!.oomScoreAdj).toBe(500);
    expect(plan.services[1]!.limits).toEqual({ memory: null, cpu: null, pids: null, nofile: null, core: null });
    expect(plan.services[1]!.oomScoreAdj).toBeNull();
  });

  it('refuses bad units and out-of-range values, each where it is written', async () => {
    expect(await issuesOf(yaml`
      services:
        w:
          command: x
          limits:
            memory: 12 apples
            cpu: 0
            pids: 2.5
            nofile: 99999999
            core: lots
            swap: 1GB
          oom_score_adj: 2000
        v:
          command: x
          limits: { memory: 1000 }
    `)).toEqual([
      'tend.yaml:5:15: services.w.limits.memory: expected a size like 512KB, 10MB, 1GB or a number of bytes, got "12 apples"',
      'tend.yaml:6:12: services.w.limits.cpu: expected a number of cores from 0.01 to 1024, like 0.5 or 2, got 0',
      'tend.yaml:7:13: services.w.limits.pids: expected a whole number of processes from 1 to 4194304, got 2.5',
      'tend.yaml:8:15: services.w.limits.nofile: expected a whole number of open files from 1 to 1048576, got 99999999',
      'tend.yaml:9:13: services.w.limits.core: expected a size like 512KB, 10MB, 1GB or a number of bytes or "unlimited", got "lots"',
      'tend.yaml:10:7: services.w.limits.swap: unknown key',
      'tend.yaml:11:20: services.w.oom_score_adj: expected a whole number from -1000 to 1000, got 2000',
      'tend.yaml:14:23: services.v.limits.memory: a memory limit below 1MB cannot hold a process, got 1000',
    ]);
  });
});

describe('tend check', () => {
  it('shows each service\'s limits and where tend would put them here', async () => {
    const { describePlan } = await import('../../src/roots/check');
    const plan = await planOf(yaml`
      settings: { tracking: proc }
      services:
        w:
          command: x
          limits: { memory: 1GB, cpu: 2, nofile: 1024, core: unlimited }
          oom_score_adj: -100
    `);
    const text = describePlan('tend.yaml', plan);
    expect(text).toContain('w  longrun, restart always, limits memory 1GB cpu 2 nofile 1024 core unlimited, oom_score_adj -100, stop SIGTERM');
    expect(text).toContain("limits here:\n  memory: tend's own check every 3 s (tracking: proc uses no cgroup)\n  cpu: not enforced (tracking: proc uses no cgroup)\n");
  });
});
