// cgroup v2 leaves, one per service: the strongest evidence of what a service owns. A
// process cannot leave its cgroup without write access to another one, so setsid, double
// forks and scrubbed environments all stay inside. Layout: <tend's cgroup>/tend-<pid>/<service>.
// No controller is enabled anywhere: tend only groups processes, it does not limit them
// (and a cgroup with controllers enabled could not keep tend itself in its parent).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { readPidsOf } from '../../native/libc';
import { killCgroup } from './kill';

export interface CgroupV2 {
  /** Where the v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified in hybrid mode). */
  readonly mount: string;
  /** tend's own cgroup directory under that mount. */
  readonly self: string;
}

/** Every cgroup2 filesystem in a /proc/PID/mountinfo text: its root and mount point. */
export function cgroup2Mounts(mountinfo: string): { root: string; mountpoint: string }[] {
  const mounts: { root: string; mountpoint: string }[] = [];
  for (const line of mountinfo.split('\n')) {
    // "id parent major:minor root mountpoint options [optional...] - fstype source superopts"
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined || after.split(' ')[0] !== 'cgroup2') continue;
    const fields = before.split(' ');
    // mountinfo escapes space, tab, newline and backslash as octal.
    const unescape = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (fields[3] !== undefined && fields[4] !== undefined) mounts.push({ root: unescape(fields[3]), mountpoint: unescape(fields[4]) });
  }
  return mounts;
}

/** The cgroup v2 mount (from /proc/self/mountinfo) and tend's place in it, or null. */
export function findCgroupV2(): CgroupV2 | null {
  let mountinfo: string;
  let own: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    own = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return null;
  }
  // Only a mount of the hierarchy's root (as seen from our cgroup namespace) maps paths 1:1.
  const mount = cgroup2Mounts(mountinfo).find((m) => m.root === '/')?.mountpoint ?? null;
  if (mount === null) return null;
  const line = own.split('\n').find((l) => l.startsWith('0::'));
  if (line === undefined) return null;
  const path = line.slice(3);
  // "/../.." appears when tend's cgroup is outside the namespace's root: unusable.
  if (path.includes('/..')) return null;
  const self = join(mount, path);
  return existsSync(join(self, 'cgroup.procs')) ? { mount, self } : null;
}

function readPids(file: string): number[] {
  try {
    const text = readFileSync(file, 'utf8');
    const pids: number[] = [];
    // A process in a PID namespace that is not ours (nor a child of ours) reads as 0: it
    // is not ours to signal — and kill(0, …) would hit tend's own process group.
    for (const line of text.split('\n')) {
      const pid = Number(line);
      if (pid > 0) pids.push(pid);
    }
    return pids;
  } catch {
    return [];
  }
}

/** Where cgroup.procs is read into (one read at a time: the loop is single-threaded). */
let procsBuffer = Buffer.allocUnsafe(16 * 1024);

/**
 * The pids in an open cgroup.procs, read from its start: a read at offset 0 makes the
 * kernel list the leaf afresh. null when the leaf is gone (ENODEV) or the read fails.
 */
function preadPids(fd: number): number[] | null {
  let length = 0;
  try {
    for (;;) {
      if (length === procsBuffer.length) {
        const bigger = Buffer.allocUnsafe(procsBuffer.length * 2);
        procsBuffer.copy(bigger);
        procsBuffer = bigger;
      }
      const n = readSync(fd, procsBuffer, length, procsBuffer.length - length, length);
      if (n === 0) break;
      length += n;
    }
  } catch {
    return null;
  }
  // Decimal pids, one a line. A process in a PID namespace that is not ours (nor a child
  // of ours) reads as 0: it is not ours to signal — and kill(0, …) would hit tend's own group.
  const pids: number[] = [];
  let pid = 0;
  for (let i = 0; i < length; i++) {
    const c = procsBuffer[i]!;
    if (c === 0x0a) {
      if (pid > 0) pids.push(pid);
      pid = 0;
    } else {
      pid = pid * 10 + (c - 0x30);
    }
  }
  if (pid > 0) pids.push(pid);
  return pids;
}

/** The service leaves of one tend. */
export class ServiceCgroups {
  /**
   * cgroup.procs of each leaf, held open while the leaf exists: `status` lists every leaf,
   * and with 1,000 services opening and closing each file (a path walk, an allocation) was
   * most of what a status cost; a read at offset 0 of an open one is a fraction of that.
   */
  private readonly procsFiles = new Map<string, number>();
  /**
   * The leaves this tend made and has not removed: what `status` lists without a readdir of
   * 1,000 directories. Nobody else makes leaves under tend's own directory (it is claimed by mkdir).
   */
  private readonly made = new Set<string>();
  /** procsFiles' fds as Int32s in one buffer for readAll, rebuilt when a file opens or closes. */
  private fdList: { readonly fds: Buffer; readonly services: readonly string[] } | null = null;

  private constructor(readonly root: string, readonly hasKill: boolean) {}

  /**
   * Creates tend's directory `tend-<pid>` under its own cgroup, or returns null when that is
   * not possible (EROFS: Docker's default read-only cgroupfs; EACCES: not delegated to us).
   * As PID 1 of a PID namespace without a cgroup namespace, two tends can both be pid 1: an
   * existing directory is left alone and this tend's gets its instance as a suffix.
   */
  static create(instance: string, cgroup: CgroupV2 | null = findCgroupV2()): ServiceCgroups | null {
    if (cgroup === null) return null;
    // mkdir is the claim: only a directory this tend created is its own. An existing
    // `tend-<pid>` may belong to a live tend — every tend is pid 1 of its namespace, and
    // without a cgroup namespace they share one hierarchy — so it is never removed or
    // reused (sharing a leaf would mix two tends' services); this one takes a name
    // with its instance instead.
    for (const root of [join(cgroup.self, `tend-${process.pid}`), join(cgroup.self, `tend-${process.pid}-${instance}`)]) {
      try {
        mkdirSync(root);
        return new ServiceCgroups(root, existsSync(join(root, 'cgroup.kill')));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        return null; // EROFS (Docker's read-only cgroupfs), EACCES (not delegated to us)
      }
    }
    return null;
  }

  /** Whether a writable cgroup v2 exists for tend (`tracking: cgroup` requires one). */
  static available(): boolean {
    const probe = ServiceCgroups.create(`probe${process.hrtime.bigint()}`);
    if (probe === null) return false;
    probe.removeAll();
    return true;
  }

  /** The service's leaf, created when missing. */
  leaf(service: string): string {
    const dir = join(this.root, service);
    if (!this.made.has(service) || !existsSync(dir)) {
      try {
        mkdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      this.made.add(service);
    }
    return dir;
  }

  /** Live processes in the leaf (the kernel drops a process from it as it exits: no zombies). */
  procs(service: string): number[] {
    let fd = this.procsFiles.get(service);
    if (fd !== undefined) {
      const pids = preadPids(fd);
      if (pids !== null) return pids;
      this.closeProcs(service); // the leaf was removed (and maybe made again) behind our back
    }
    try {
      fd = openSync(join(this.root, service, 'cgroup.procs'), 'r');
    } catch {
      return [];
    }
    this.procsFiles.set(service, fd);
    this.fdList = null;
    return preadPids(fd) ?? readPids(join(this.root, service, 'cgroup.procs'));
  }

  /**
   * The processes of every leaf this tend made, read in one native call (a status lists
   * them all: one read per leaf from JavaScript was most of a status at 1,000 services).
   * A leaf that cannot be read that way (removed behind tend's back) is read as procs() does.
   */
  readAll(): Map<string, number[]> {
    const all = new Map<string, number[]>();
    for (const service of this.made) if (!this.procsFiles.has(service)) all.set(service, this.procs(service));
    if (this.procsFiles.size === 0) return all;
    if (this.fdList === null) {
      const services = [...this.procsFiles.keys()];
      const fds = Buffer.alloc(services.length * 4);
      services.forEach((service, i) => fds.writeInt32LE(this.procsFiles.get(service)!, i * 4));
      this.fdList = { fds, services };
    }
    const { fds, services } = this.fdList;
    let read: ReturnType<typeof readPidsOf>;
    try {
      read = readPidsOf(fds, services.length);
    } catch {
      for (const service of services) all.set(service, this.procs(service)); // no libtend: one read each
      return all;
    }
    const { pids, counts } = read;
    const failed: string[] = [];
    let at = 0;
    for (let i = 0; i < services.length; i++) {
      const count = counts[i]!;
      if (count < 0) {
        failed.push(services[i]!);
        continue;
      }
      const list = new Array<number>(count);
      for (let k = 0; k < count; k++) list[k] = pids[at + k]!;
      at += count;
      all.set(services[i]!, list);
    }
    for (const service of failed) all.set(service, this.procs(service)); // reopens or gives []
    return all;
  }

  private closeProcs(service: string): void {
    const fd = this.procsFiles.get(service);
    if (fd === undefined) return;
    this.procsFiles.delete(service);
    this.fdList = null;
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }

  /** Every process in every leaf. */
  allProcs(): Map<number, string> {
    const owner = new Map<number, string>();
    for (const service of this.services()) for (const pid of this.procs(service)) owner.set(pid, service);
    return owner;
  }

  services(): string[] {
    try {
      return readdirSync(this.root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
  }

  /** cgroup.events "populated 0|1": whether any process is left in the leaf. */
  populated(service: string): boolean {
    try {
      return /^populated 1$/m.test(readFileSync(join(this.root, service, 'cgroup.events'), 'utf8'));
    } catch {
      return false;
    }
  }

  /** SIGKILL to everything in the leaf, including what it forks meanwhile (kill.ts). */
  kill(service: string): number[] {
    const pids = this.procs(service);
    killCgroup(join(this.root, service), this.hasKill, () => this.procs(service));
    return pids;
  }

  /** Calls `listener` when the leaf's cgroup.events changes (populated flips); null when it cannot be watched. */
  watch(service: string, listener: () => void): (() => void) | null {
    const file = join(this.root, service, 'cgroup.events');
    let watcher: FSWatcher;
    try {
      watcher = watch(file, { persistent: false }, () => listener());
      watcher.on('error', () => watcher.close());
    } catch {
      return null;
    }
    return () => watcher.close();
  }

  /** Removes the leaf when it is empty; EBUSY (still populated) leaves it. */
  remove(service: string): boolean {
    this.closeProcs(service);
    try {
      rmdirSync(join(this.root, service));
      this.made.delete(service);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') this.made.delete(service);
      return false;
    }
  }

  /** Removes every empty leaf and tend's directory (at exit). */
  removeAll(): boolean {
    for (const service of [...this.procsFiles.keys()]) this.closeProcs(service);
    this.made.clear();
    return ServiceCgroups.removeTree(this.root);
  }

  private static removeTree(root: string): boolean {
    let entries: string[] = [];
    try {
      entries = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return false;
    }
    for (const name of entries) {
      try {
        rmdirSync(join(root, name));
      } catch {
        // populated
      }
    }
    try {
      rmdirSync(root);
      return true;
    } catch {
      return false;
    }
  }
}

export type CgroupCheck = { readonly ok: true; readonly mount: string } | { readonly ok: false; readonly reason: string };

/**
 * Is there a cgroup v2 hierarchy tend could write to? Asked for `tracking: cgroup`, where
 * its absence is a manifest error (the roots pass this to the manifest check). Docker
 * mounts cgroupfs read-only by default (EROFS), and hybrid hosts mount v2 at
 * /sys/fs/cgroup/unified.
 */
export function writableCgroup2(): CgroupCheck {
  const found = findCgroupV2();
  if (found === null) return { ok: false, reason: "no cgroup2 hierarchy is mounted where tend's own cgroup can be seen" };
  if (!ServiceCgroups.available()) return { ok: false, reason: `${found.self} is not writable (a read-only cgroupfs, as Docker mounts it by default?)` };
  return { ok: true, mount: found.mount };
}
