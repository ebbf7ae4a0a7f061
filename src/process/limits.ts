// Per-service resource limits through cgroups, OOM-kill counters and usage. Each of the
// three cgroup controllers (memory, cpu, pids) goes through the first backend that can
// carry it, chosen once when a service first asks for it and kept for tend's life:
//
//   cgroup2  the service's v2 leaf (the tracker's), once the controller is enabled in the
//            leaves' parent. cgroup v2 allows that only for a cgroup with no process of
//            its own ("no internal processes"), so tend first moves itself into a leaf of
//            its own, `<its cgroup>/tend-<pid>-supervisor` — which it does only when it is
//            the only process in its cgroup (a container's PID 1 in a private cgroup
//            namespace, a privileged container, a Kubernetes pod's container cgroup);
//   cgroup1  a leaf in the controller's v1 hierarchy (hybrid hosts, where v2 has no memory,
//            cpu or pids), `<tend's v1 cgroup>/tend-<pid>-<instance>/<service>`, joined by
//            the exec helper;
//   none     cpu and pids are then not enforced (said once per service); memory is enforced
//            by tend itself, on a slow timer (memory-watch.ts).
//
// `tracking: proc` means tend uses no cgroup at all, for limits either.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroupV2, type CgroupV2, type ServiceCgroups } from './cgroup';

export type Controller = 'memory' | 'cpu' | 'pids';
export const CONTROLLERS: readonly Controller[] = ['memory', 'cpu', 'pids'];
export type Backend = 'cgroup2' | 'cgroup1' | 'none';

/** The cgroup limits of one service (null: none). */
export interface CgroupLimits {
  readonly memory: number | null;
  readonly cpu: number | null;
  readonly pids: number | null;
}

export interface ControllerChoice {
  readonly backend: Backend;
  /** Where, or why not: shown by `tend check` and `tend status -v`, and in the once-per-service lines. */
  readonly detail: string;
}

export interface Prepared {
  /** v1 leaves the exec helper joins (the v2 leaf is the tracker's). */
  readonly joins: readonly string[];
  /** Limits written, by key, and the ones that could not be applied through a cgroup. */
  readonly enforced: readonly Controller[];
  readonly notEnforced: readonly { readonly key: Controller; readonly why: string }[];
}

export interface Usage {
  readonly memoryBytes: number | null;
  readonly cpuSeconds: number | null;
}

/** The CPU period tend writes with a quota: 100 ms, the kernel's default. */
const CPU_PERIOD_US = 100_000;

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** `key value` lines (memory.events, memory.stat, cpu.stat, memory.oom_control): the value for key. */
export function keyedValue(text: string | null, key: string): number | null {
  if (text === null) return null;
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return match === null ? null : Number(match[1]);
}

/** A v1 hierarchy: the controllers it carries (from its superoptions), its mount point and root. */
export function cgroup1Mounts(mountinfo: string): { controllers: string[]; root: string; mountpoint: string }[] {
  const mounts: { controllers: string[]; root: string; mountpoint: string }[] = [];
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const [fstype, , superopts] = after.split(' ');
    if (fstype !== 'cgroup' || superopts === undefined) continue;
    const fields = before.split(' ');
    if (fields[3] === undefined || fields[4] === undefined) continue;
    mounts.push({ controllers: superopts.split(','), root: fields[3], mountpoint: fields[4] });
  }
  return mounts;
}

/** tend's path in each v1 hierarchy, by controller, from a /proc/self/cgroup text. */
export function cgroup1Paths(procCgroup: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of procCgroup.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match === null || match[1] === '') continue;
    for (const controller of match[1]!.split(',')) paths.set(controller, match[2]!);
  }
  return paths;
}

/** The kind of place tend's cgroup is, in the words of the README's container settings. */
export function describePlace(path: string): string {
  if (path === '/') return 'the root of a private cgroup namespace (--cgroupns=private)';
  if (/kubepods/.test(path)) return "a Kubernetes pod's container cgroup";
  if (/docker|containerd|crio|libpod/.test(path)) return "the container's cgroup, seen from the host's cgroup namespace";
  return path;
}

export interface ResourceOptions {
  /** The tracker's v2 leaves (null: tracking proc, or no writable cgroup2). */
  readonly cgroups: ServiceCgroups | null;
  readonly instance: string;
  /** tracking: proc — no cgroup at all. */
  readonly noCgroups: boolean;
  /** For tests: where tend's v2 cgroup is, and the mountinfo / cgroup texts v1 is found from. */
  readonly v2?: CgroupV2 | null;
  readonly mountinfo?: string;
  readonly procCgroup?: string;
  readonly pid?: number;
}

export class ServiceResources {
  private readonly choices = new Map<Controller, ControllerChoice>();
  /** v1: the directory tend made in each controller's hierarchy (removed at close). */
  private readonly v1Roots = new Map<Controller, string>();
  private v2Supervisor: string | null = null;
  private v2Enabled: readonly Controller[] = [];
  private chosen = false;

  /** tend's v2 cgroup as it was at start: once tend has moved into its own leaf, /proc/self/cgroup names that leaf. */
  private readonly cg: CgroupV2 | null;
  /** The container's v1 memory.oom_control (null: none), once looked for. */
  private v1OomFile: string | null | undefined;

  constructor(private readonly options: ResourceOptions) {
    this.cg = options.v2 !== undefined ? options.v2 : findCgroupV2();
  }

  /** How each controller is (or would be) carried; chooses on first call. */
  backends(): ReadonlyMap<Controller, ControllerChoice> {
    this.choose();
    return this.choices;
  }

  private choose(): void {
    if (this.chosen) return;
    this.chosen = true;
    if (this.options.noCgroups) {
      for (const c of CONTROLLERS) this.choices.set(c, { backend: 'none', detail: 'tracking: proc — tend uses no cgroup' });
      return;
    }
    const v2 = this.enableV2();
    const v1 = this.findV1();
    for (const c of CONTROLLERS) {
      if (v2.enabled.includes(c)) this.choices.set(c, { backend: 'cgroup2', detail: v2.detail });
      else if (v1.has(c)) this.choices.set(c, { backend: 'cgroup1', detail: `cgroup v1 ${v1.get(c)!}` });
      else this.choices.set(c, { backend: 'none', detail: `${v2.why}${v1.size === 0 && v2.why !== '' ? '; ' : ''}${v1.size === 0 ? `no writable cgroup v1 ${c} hierarchy` : ''}` });
    }
  }

  /**
   * Enables memory, cpu and pids for the tracker's leaves. Needs each controller offered in
   * tend's cgroup (cgroup.controllers), and tend's cgroup free of processes: tend moves
   * itself into its own leaf first, but only when it is alone there — moving other
   * processes of the container would change their limits behind their back.
   */
  private enableV2(): { enabled: Controller[]; detail: string; why: string } {
    const leaves = this.options.cgroups;
    const cg = this.cg;
    if (leaves === null || cg === null) return { enabled: [], detail: '', why: 'no writable cgroup2 for the services\' leaves' };
    const place = describePlace(cg.self.slice(cg.mount.length) || '/');
    const offered = (read(join(cg.self, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
    const wanted = CONTROLLERS.filter((c) => offered.includes(c));
    if (wanted.length === 0) {
      return { enabled: [], detail: '', why: `cgroup2 at ${cg.self} offers no memory, cpu or pids controller (${offered.length === 0 ? 'none at all' : `only ${offered.join(' ')}`}: a hybrid host keeps them on cgroup v1)` };
    }
    const enabledIn = (dir: string) => (read(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/).filter(Boolean);
    let enabled = wanted.filter((c) => enabledIn(cg.self).includes(c));
    if (enabled.length < wanted.length) {
      const procs = (read(join(cg.self, 'cgroup.procs')) ?? '').split('\n').filter((l) => l.trim() !== '');
      const pid = this.options.pid ?? process.pid;
      if (procs.some((p) => Number(p) !== pid)) {
        return { enabled: [], detail: '', why: `tend's cgroup ${cg.self} (${place}) holds ${procs.length - 1} other process(es): cgroup v2 enables controllers only below a cgroup with no process of its own, and tend moves only itself (run tend as the container's PID 1)` };
      }
      const own = `${leaves.root}-supervisor`;
      try {
        if (!existsSync(own)) mkdirSync(own);
        writeFileSync(join(own, 'cgroup.procs'), String(pid));
        this.v2Supervisor = own;
        // The kernel refuses the write as a whole if it cannot enable every one of them.
        writeFileSync(join(cg.self, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
      } catch (error) {
        return { enabled: [], detail: '', why: `cannot enable ${wanted.join(', ')} in ${cg.self} (${place}): ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
      }
      enabled = wanted;
    }
    try {
      writeFileSync(join(leaves.root, 'cgroup.subtree_control'), enabled.map((c) => `+${c}`).join(' '));
    } catch (error) {
      return { enabled: [], detail: '', why: `cannot enable ${enabled.join(', ')} in ${leaves.root}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
    }
    this.v2Enabled = enabled;
    const missing = CONTROLLERS.filter((c) => !this.v2Enabled.includes(c));
    return {
      enabled: [...this.v2Enabled],
      detail: `cgroup2 ${leaves.root} (tend in ${place}${this.v2Supervisor !== null ? `, moved to ${this.v2Supervisor}` : ''})`,
      why: missing.length > 0 ? `cgroup2 at ${cg.self} does not offer ${missing.join(', ')}` : '',
    };
  }

  /** Writable v1 hierarchies for the controllers: a directory of tend's own in each. */
  private findV1(): Map<Controller, string> {
    const found = new Map<Controller, string>();
    const mountinfo = this.options.mountinfo ?? read('/proc/self/mountinfo') ?? '';
    const paths = cgroup1Paths(this.options.procCgroup ?? read('/proc/self/cgroup') ?? '');
    const mounts = cgroup1Mounts(mountinfo);
    for (const c of CONTROLLERS) {
      const mount = mounts.find((m) => m.controllers.includes(c) && m.root === '/');
      const path = paths.get(c);
      if (mount === undefined || path === undefined || path.includes('/..')) continue;
      const base = join(mount.mountpoint, path);
      // The instance in the name: tends in sibling PID namespaces share the hierarchy.
      const dir = join(base, `tend-${this.options.pid ?? process.pid}-${this.options.instance}`);
      try {
        mkdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') continue; // EROFS, EACCES: not ours to use
      }
      this.v1Roots.set(c, dir);
      found.set(c, dir);
    }
    return found;
  }

  /**
   * Makes the service's leaves and writes its limits (a reload's new values too), before a
   * spawn. Never throws: a limit that cannot be written is reported as not enforced.
   */
  prepare(service: string, limits: CgroupLimits): Prepared {
    const wanted = CONTROLLERS.filter((c) => limits[c] !== null);
    if (wanted.length === 0 && this.v1Roots.size === 0 && !this.chosen) return { joins: [], enforced: [], notEnforced: [] };
    this.choose();
    const joins = new Set<string>();
    const enforced: Controller[] = [];
    const notEnforced: { key: Controller; why: string }[] = [];
    for (const c of CONTROLLERS) {
      const choice = this.choices.get(c)!;
      let dir: string | null = null;
      if (choice.backend === 'cgroup2') dir = this.options.cgroups!.leaf(service);
      if (choice.backend === 'cgroup1') {
        dir = join(this.v1Roots.get(c)!, service);
        try {
          if (!existsSync(dir)) mkdirSync(dir);
          // Every v1 leaf is joined, limit or not, so a limit a reload adds takes effect at
          // the next start and usage can be read.
          joins.add(dir);
        } catch (error) {
          notEnforced.push({ key: c, why: `cannot make ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
          continue;
        }
      }
      if (limits[c] === null) {
        // A limit a reload took away: back to none.
        if (dir !== null) this.write(choice.backend, c, dir, null);
        continue;
      }
      if (dir === null) {
        notEnforced.push({ key: c, why: choice.detail });
        continue;
      }
      const problem = this.write(choice.backend, c, dir, limits[c]);
      if (problem === null) enforced.push(c);
      else notEnforced.push({ key: c, why: problem });
    }
    return { joins: [...joins], enforced, notEnforced };
  }

  /** Writes one limit (null: none); the problem, or null. */
  private write(backend: Backend, c: Controller, dir: string, value: number | null): string | null {
    const writes: [string, string][] = [];
    if (backend === 'cgroup2') {
      if (c === 'memory') writes.push(['memory.max', value === null ? 'max' : String(value)]);
      if (c === 'cpu') writes.push(['cpu.max', value === null ? `max ${CPU_PERIOD_US}` : `${Math.max(1000, Math.round(value * CPU_PERIOD_US))} ${CPU_PERIOD_US}`]);
      if (c === 'pids') writes.push(['pids.max', value === null ? 'max' : String(value)]);
    } else {
      if (c === 'memory') writes.push(['memory.limit_in_bytes', value === null ? '-1' : String(value)]);
      if (c === 'cpu') writes.push(['cpu.cfs_period_us', String(CPU_PERIOD_US)], ['cpu.cfs_quota_us', value === null ? '-1' : String(Math.max(1000, Math.round(value * CPU_PERIOD_US)))]);
      if (c === 'pids') writes.push(['pids.max', value === null ? 'max' : String(value)]);
    }
    for (const [file, text] of writes) {
      try {
        writeFileSync(join(dir, file), text);
      } catch (error) {
        return `cannot write ${text} to ${join(dir, file)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      }
    }
    return null;
  }

  /** The memory controller's leaf of the service, or null where memory has no cgroup. */
  memoryLeaf(service: string): { backend: 'cgroup1' | 'cgroup2'; dir: string } | null {
    if (!this.chosen) return null;
    const choice = this.choices.get('memory');
    if (choice?.backend === 'cgroup2') return { backend: 'cgroup2', dir: join(this.options.cgroups!.root, service) };
    if (choice?.backend === 'cgroup1') return { backend: 'cgroup1', dir: join(this.v1Roots.get('memory')!, service) };
    return null;
  }

  /**
   * OOM kills counted for the service's leaf (v2 memory.events, v1 memory.oom_control), or
   * — where the service has no memory leaf — for tend's own (the container's) cgroup; null
   * when neither can be read.
   */
  oomKills(service: string): number | null {
    const leaf = this.memoryLeaf(service);
    if (leaf !== null) {
      const count = keyedValue(read(join(leaf.dir, leaf.backend === 'cgroup2' ? 'memory.events' : 'memory.oom_control')), 'oom_kill');
      if (count !== null) return count;
    }
    return this.containerOomKills();
  }

  /** The container's count: memory.events of tend's own v2 cgroup (its parent once tend moved), or its v1 memory cgroup. */
  containerOomKills(): number | null {
    const cg = this.cg;
    if (cg !== null) {
      const count = keyedValue(read(join(cg.self, 'memory.events')), 'oom_kill');
      if (count !== null) return count;
    }
    // Reading the container's count needs no cgroup of tend's: tracking: proc names OOM kills too.
    // Where it is does not change while tend runs: found once (a spawn asks, before and after).
    if (this.v1OomFile === undefined) {
      const mountinfo = this.options.mountinfo ?? read('/proc/self/mountinfo') ?? '';
      const path = cgroup1Paths(this.options.procCgroup ?? read('/proc/self/cgroup') ?? '').get('memory');
      const mount = cgroup1Mounts(mountinfo).find((m) => m.controllers.includes('memory') && m.root === '/');
      this.v1OomFile = path === undefined || mount === undefined ? null : join(mount.mountpoint, path, 'memory.oom_control');
    }
    return this.v1OomFile === null ? null : keyedValue(read(this.v1OomFile), 'oom_kill');
  }

  /**
   * OOM kills in the service's own memory leaf since tend made it — any of its processes,
   * not only the one tend started (a worker under a master) — or null without such a leaf.
   */
  leafOomKills(service: string): number | null {
    const leaf = this.memoryLeaf(service);
    if (leaf === null) return null;
    return keyedValue(read(join(leaf.dir, leaf.backend === 'cgroup2' ? 'memory.events' : 'memory.oom_control')), 'oom_kill');
  }

  /** Memory and CPU time of the service's leaf; null fields where no leaf has them (read on request). */
  usage(service: string): Usage {
    if (!this.chosen) return { memoryBytes: null, cpuSeconds: null };
    let memoryBytes: number | null = null;
    let cpuSeconds: number | null = null;
    const leaf = this.memoryLeaf(service);
    if (leaf?.backend === 'cgroup2') {
      // memory.current counts page cache too; anon + kernel is what the service itself holds.
      const stat = read(join(leaf.dir, 'memory.stat'));
      const anon = keyedValue(stat, 'anon');
      memoryBytes = anon !== null ? anon + (keyedValue(stat, 'kernel') ?? 0) : keyedValue(`current ${(read(join(leaf.dir, 'memory.current')) ?? '').trim()}`, 'current');
    } else if (leaf?.backend === 'cgroup1') {
      const stat = read(join(leaf.dir, 'memory.stat'));
      const rss = keyedValue(stat, 'total_rss');
      memoryBytes = rss === null ? null : rss + (keyedValue(stat, 'total_mapped_file') ?? 0);
    }
    if (this.options.cgroups !== null) {
      // cpu.stat is there in every v2 cgroup, controller enabled or not.
      const usec = keyedValue(read(join(this.options.cgroups!.root, service, 'cpu.stat')), 'usage_usec');
      if (usec !== null) cpuSeconds = usec / 1e6;
    }
    return { memoryBytes, cpuSeconds };
  }

  /** Removes tend's v1 directories (empty leaves only) and, for v2, moves tend back where it was. */
  close(): void {
    for (const root of this.v1Roots.values()) {
      try {
        for (const entry of readdirSync(root, { withFileTypes: true })) if (entry.isDirectory()) {
          try { rmdirSync(join(root, entry.name)); } catch { /* populated */ }
        }
        rmdirSync(root);
      } catch {
        // populated, or already gone
      }
    }
    this.v1Roots.clear();
    const cg = this.cg;
    if (this.v2Supervisor !== null && cg !== null) {
      // Undo in reverse: controllers off below tend's cgroup, then tend back in it.
      try {
        writeFileSync(join(this.options.cgroups!.root, 'cgroup.subtree_control'), this.v2Enabled.map((c) => `-${c}`).join(' '));
        writeFileSync(join(cg.self, 'cgroup.subtree_control'), this.v2Enabled.map((c) => `-${c}`).join(' '));
        writeFileSync(join(cg.self, 'cgroup.procs'), String(this.options.pid ?? process.pid));
        rmdirSync(this.v2Supervisor);
      } catch {
        // best effort: a container's cgroup goes with the container
      }
    }
  }
}


/**
 * What `tend check` says about each controller here, changing nothing: a cgroup2 that
 * offers it and can be written, else a writable v1 hierarchy, else what tend would do.
 */
export function surveyBackends(options: { noCgroups: boolean }): ReadonlyMap<Controller, string> {
  const out = new Map<Controller, string>();
  if (options.noCgroups) {
    for (const c of CONTROLLERS) out.set(c, `${c === 'memory' ? "tend's own check every 3 s" : 'not enforced'} (tracking: proc uses no cgroup)`);
    return out;
  }
  const writable = (path: string): boolean => {
    try {
      accessSync(path, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  const v2 = findCgroupV2();
  const offered = v2 === null ? [] : (read(join(v2.self, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
  const v2Writable = v2 !== null && writable(join(v2.self, 'cgroup.subtree_control'));
  const mounts = cgroup1Mounts(read('/proc/self/mountinfo') ?? '');
  const paths = cgroup1Paths(read('/proc/self/cgroup') ?? '');
  for (const c of CONTROLLERS) {
    if (v2 !== null && offered.includes(c) && v2Writable) {
      out.set(c, `cgroup2 ${v2.self} (${describePlace(v2.self.slice(v2.mount.length) || '/')}), if tend is the only process in it`);
      continue;
    }
    const mount = mounts.find((m) => m.controllers.includes(c) && m.root === '/');
    const path = paths.get(c);
    if (mount !== undefined && path !== undefined && writable(join(mount.mountpoint, path))) {
      out.set(c, `cgroup v1 ${join(mount.mountpoint, path)}`);
      continue;
    }
    const why = v2 === null ? 'no cgroup2 where tend can see its cgroup' : !offered.includes(c) ? `cgroup2 ${v2.self} does not offer ${c}` : `${v2.self} is not writable`;
    out.set(c, `${c === 'memory' ? "tend's own check every 3 s" : 'not enforced'} (${why}; no writable cgroup v1 ${c} hierarchy)`);
  }
  return out;
}
