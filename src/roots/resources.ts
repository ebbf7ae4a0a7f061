// limits: and usage, wired around the spawner: before a service's process starts, its
// cgroup leaves get its limits (process/limits.ts) and the exec helper joins them; where a
// limit has no cgroup, that is said once per service, and limits.memory goes to tend's own
// check (process/memory-watch.ts). When its process is reaped, a SIGKILL with the memory
// cgroup's OOM-kill count risen is marked `oom` (the core decides whether tend sent it).
import type { Plan } from '../plan/types';
import type { Spawned, SpawnSpec } from '../process/spawn';
import type { ExitStatus } from '../vocab/exit';
import { ServiceResources, CONTROLLERS, type Controller, type ControllerChoice } from '../process/limits';
import { MemoryWatch, procUsage } from '../process/memory-watch';
import { OomWatch } from '../process/oom-watch';
import { formatBytes } from '../cli/format';
import type { ServiceCgroups } from '../process/cgroup';
import { SIGKILL } from '../vocab/signals';

export interface ResourceWiring {
  /** The spawner with limits applied and exits classified. */
  readonly spawn: (spec: SpawnSpec) => Spawned;
  /** A process adopted for the service (a forking daemon): its exit marked `oom` like a spawned one's. */
  readonly adopted: (service: string, exit: Promise<ExitStatus>) => Promise<ExitStatus>;
  /** Memory and CPU time for `tend status` and /metrics: the cgroup's, else summed over the pids. */
  readonly usage: (service: string, pids: readonly number[]) => { memoryBytes: number | null; cpuSeconds: number | null; oomKills: number | null };
  /** How each controller is carried (chosen at the first service with a limit). */
  readonly backends: () => ReadonlyMap<Controller, ControllerChoice>;
  /** The same in words, for `tend status -v`: controller → how. */
  readonly described: () => Record<string, string>;
  close(): void;
}

export interface ResourceDeps {
  readonly plan: () => Plan;
  readonly cgroups: ServiceCgroups | null;
  readonly instance: string;
  readonly noCgroups: boolean;
  readonly spawn: (spec: SpawnSpec) => Spawned;
  readonly processesOf: (service: string) => readonly number[];
  readonly log: { info(message: string): void; warn(message: string): void };
  /** tend's own memory check found the service above its limit. */
  readonly overMemory: (service: string, bytes: number, limit: number) => void;
}

export function wireResources(deps: ResourceDeps): ResourceWiring {
  const resources = new ServiceResources({ cgroups: deps.cgroups, instance: deps.instance, noCgroups: deps.noCgroups });
  const watch = new MemoryWatch(deps.processesOf, deps.overMemory);
  /** `service\0key\0how`: what was said already (once per service, again only if it changes). */
  const said = new Set<string>();
  const sayOnce = (service: string, key: string, how: string, line: string, level: 'info' | 'warn'): void => {
    const id = `${service}\0${key}\0${how}`;
    if (said.has(id)) return;
    said.add(id);
    deps.log[level](line);
  };

  const spawn = (spec: SpawnSpec): Spawned => {
    const limits = spec.cgroupLimits;
    if (limits === undefined) return deps.spawn(spec);
    const service = spec.service;
    const prepared = resources.prepare(service, limits);
    let tendsMemory: number | null = null;
    for (const { key, why } of prepared.notEnforced) {
      if (key === 'memory' && limits.memory !== null) {
        tendsMemory = limits.memory;
        sayOnce(service, key, why, `${service}: limits.memory is enforced by tend, not the kernel (${why}): its processes together are checked every few seconds and the service restarted gracefully above it`, 'warn');
      } else {
        sayOnce(service, key, why, `${service}: limits.${key} is not enforced (${why})`, 'warn');
      }
    }
    for (const key of prepared.enforced) {
      const choice = resources.backends().get(key);
      if (choice !== undefined) sayOnce(service, key, choice.backend, `${service}: limits.${key} through ${choice.detail}`, 'info');
    }
    watch.set(service, tendsMemory);
    if (prepared.enforced.includes('memory')) watchOom(service, limits.memory);
    const count = oomCounter(service);
    const spawned = deps.spawn({ ...spec, joins: prepared.joins });
    return { ...spawned, exit: count(spawned.exit) };
  };

  // Every OOM kill in a service with a memory limit is said as it happens, whichever of its
  // processes it hit: the one tend started is also named when it is reaped; any other is
  // reaped by its own parent, and this line is all the container's log would show of it.
  /** Per watched service: its limit (for the line) and the leaf's count already said. */
  const oomSeen = new Map<string, { limit: number; count: number }>();
  const oom = new OomWatch((service) => {
    const seen = oomSeen.get(service);
    const count = resources.leafOomKills(service);
    if (seen === undefined || count === null || count <= seen.count) return false;
    const killed = count - seen.count;
    seen.count = count;
    deps.log.warn(`${service}: the kernel's OOM killer killed ${killed === 1 ? 'one of its processes' : `${killed} of its processes`} (limits.memory ${formatBytes(seen.limit)}; ${count} since tend started)`);
    return true;
  }, (service, why) => sayOnce(service, 'oom', why, `${service}: OOM kills of its processes other than the one tend started will not be said as they happen (${why})`, 'warn'));
  const watchOom = (service: string, limit: number | null): void => {
    const leaf = resources.memoryLeaf(service);
    if (leaf === null || limit === null) return;
    const seen = oomSeen.get(service);
    if (seen !== undefined) {
      seen.limit = limit;
      return;
    }
    oomSeen.set(service, { limit, count: resources.leafOomKills(service) ?? 0 });
    oom.watch(service, leaf);
  };

  /** Reads the OOM-kill count now; the returned function marks a SIGKILL `oom` if it has risen by the exit. */
  function oomCounter(service: string): (exit: Promise<ExitStatus>) => Promise<ExitStatus> {
    const before = resources.oomKills(service);
    return (exit) => exit.then((status) => {
      if (status.kind !== 'signaled' || status.signal !== SIGKILL) return status;
      const after = resources.oomKills(service);
      return before !== null && after !== null && after > before ? { ...status, oom: true as const } : status;
    });
  }

  const usage = (service: string, pids: readonly number[]): { memoryBytes: number | null; cpuSeconds: number | null; oomKills: number | null } => {
    const fromCgroup = resources.usage(service);
    const needProc = fromCgroup.memoryBytes === null || fromCgroup.cpuSeconds === null;
    const fromProc = needProc ? procUsage(pids) : null;
    return {
      memoryBytes: fromCgroup.memoryBytes ?? fromProc?.memoryBytes ?? null,
      cpuSeconds: fromCgroup.cpuSeconds ?? fromProc?.cpuSeconds ?? null,
      oomKills: resources.leafOomKills(service),
    };
  };

  const wiring: ResourceWiring = {
    spawn,
    // The daemon was forked by a start program tend spawned: an OOM kill since then is its.
    adopted: (service, exit) => oomCounter(service)(exit),
    usage,
    backends: () => {
      // Only asked by `tend status -v` and check: choosing then is what the first limit would do.
      if (!deps.plan().services.some((s) => CONTROLLERS.some((c) => s.limits[c] !== null))) return new Map();
      return resources.backends();
    },
    described: () => {
      const out: Record<string, string> = {};
      for (const [controller, choice] of wiring.backends()) {
        out[controller] = choice.backend !== 'none' ? `through ${choice.detail}`
          : controller === 'memory' ? `tend's own check every 3 s (${choice.detail})` : `not enforced (${choice.detail})`;
      }
      return out;
    },
    close: () => {
      watch.close();
      oom.close();
      resources.close();
    },
  };
  return wiring;
}
