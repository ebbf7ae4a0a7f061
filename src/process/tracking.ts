// Which processes each service owns — including the ones that escaped with setsid or a
// double fork and whose parent has exited — and how to signal and stop all of them.
//
// Evidence, strongest first (README: What tend does as PID 1): the service's cgroup v2 leaf; the parent chain seen
// while the parent lived; session and process group; the TEND_SERVICE + TEND_INSTANCE
// markers in /proc/PID/environ, read while the process lives. With a cgroup the leaf is
// the whole answer (nothing leaves a cgroup without privilege). Without one, every /proc
// scan extends a table of pid+starttime → service, so a pid reused by the kernel is never
// mistaken for the process it replaced.
import { newInstanceId } from './instance-id';
import { signalEveryone, signalPid, signalStarted } from './kill';
import { ServiceCgroups } from './cgroup';
import { childrenOf, ProcScanner, readMarkers, readProc, type ProcEntry } from './proc';
import { childrenOfProcess } from '../../native/libc';
import type { ReapPass, Reaper } from './reaper';
import { SIGKILL, SIGTERM, SIGCONT } from '../vocab/signals';

export type TrackingMode = 'auto' | 'cgroup' | 'proc';

export interface TrackerOptions {
  readonly tracking: TrackingMode;
  /** TEND_INSTANCE of this tend (random per start); generated when omitted. */
  readonly instance?: string;
  /** Re-scans during stops and sweeps are driven by its passes. */
  readonly reaper: Reaper | null;
}


export interface TrackerSnapshot {
  readonly mode: 'cgroup' | 'proc';
  readonly services: Readonly<Record<string, readonly number[]>>;
  readonly orphans: readonly number[];
}

/** Name under which status shows processes that match no service. */
export const ORPHANS = '(orphans)';

const STOP_RESCAN_MS = 100;
/** Ticks of STOP_RESCAN_MS between re-reads of a leaf that tells when it empties. */
const LEAF_RESCAN_TICKS = 10;
const REFRESH_MS = 1000;
/** How long a gone process's service is remembered: a syslog datagram it sent may be read after its reap. */
const DEPARTED_MS = 5000;

/** One watchGone: what it watches, and its re-check. */
interface GoneWatch {
  readonly service: string | null;
  readonly check: () => void;
  /** The service's cgroup.events is watched: the leaf tells when it empties. */
  readonly leafWatched: boolean;
}

interface Known {
  readonly starttime: number;
  readonly service: string;
}

export class ProcessTracker {
  readonly mode: 'cgroup' | 'proc';
  readonly instance: string;
  private readonly cgroups: ServiceCgroups | null;
  private readonly reaper: Reaper | null;
  /** pid → (starttime, service): /proc attribution learnt so far. */
  private readonly known = new Map<number, Known>();
  /** `${pid}:${starttime}` → markers (null: none), read once while the process lived. */
  private readonly markers = new Map<string, { service: string; instance: string } | null>();
  /** The processes tend started for each service, with their start times. */
  private readonly roots = new Map<string, Map<number, number>>();
  /** pid → service of attributed processes seen gone in the last DEPARTED_MS (formerOwner). */
  private readonly departed = new Map<number, { readonly service: string; readonly at: number }>();
  private readonly scanner = new ProcScanner();
  private lastRefresh = 0;
  /** The /proc scan made by the code running now, if any (refresh()). */
  private scanOfThisTurn: ProcEntry[] | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly goneWatches = new Set<GoneWatch>();
  private goneTimer: NodeJS.Timeout | null = null;
  private goneOnReap: (() => void) | null = null;

  constructor(options: TrackerOptions) {
    this.instance = options.instance ?? newInstanceId();
    this.reaper = options.reaper;
    const cgroups = options.tracking === 'proc' ? null : ServiceCgroups.create(this.instance);
    if (options.tracking === 'cgroup' && cgroups === null) {
      // The manifest check refuses this before anything starts; reaching here is a bug.
      throw new Error('tracking: cgroup, but no writable cgroup v2 is available');
    }
    this.cgroups = cgroups;
    this.mode = cgroups === null ? 'proc' : 'cgroup';
    // Without a cgroup, the parent chain is only evidence if a scan sees the child while
    // its parent lives. Processes come and go around SIGCHLD, so a reaper pass schedules a
    // background scan — at most one per REFRESH_MS: the full scan is off the reaping path.
    if (this.mode === 'proc' && this.reaper !== null) {
      this.unsubscribe = this.reaper.onReap(() => this.scheduleRefresh());
    }
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer !== null || this.roots.size === 0) return;
    const delay = Math.max(0, this.lastRefresh + REFRESH_MS - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh();
    }, delay);
    this.refreshTimer.unref();
  }

  /** The v2 leaves (null in proc mode): the limits put their controllers on them. */
  serviceCgroups(): ServiceCgroups | null {
    return this.cgroups;
  }

  /** The service's cgroup leaf (created on demand), or null in proc mode. */
  leafFor(service: string): string | null {
    return this.cgroups?.leaf(service) ?? null;
  }

  /** Records a process tend started for `service` (its main process, a stop command...). */
  noteSpawned(service: string, pid: number): void {
    const entry = readProc(pid);
    if (entry === null) {
      // Already gone (it ran and exited before this was told): it was still the service's.
      this.depart(pid, service);
      return;
    }
    // The pid → service table is the proc mode's evidence; with a cgroup the leaf answers,
    // and an entry per spawn would only pile up (one per restart, until pid_max).
    if (this.cgroups === null) {
      this.known.set(pid, { starttime: entry.starttime, service });
      this.scanOfThisTurn = null; // a scan made before this spawn does not list it
    }
    let roots = this.roots.get(service);
    if (roots === undefined) this.roots.set(service, roots = new Map());
    roots.set(pid, entry.starttime);
  }

  /** Every live process the service owns, escaped ones included (zombies are gone). */
  processesOf(service: string): number[] {
    if (this.cgroups !== null) return this.ownedIn(service, this.cgroups.procs(service));
    const owned: number[] = [];
    for (const entry of this.refresh()) {
      if (entry.state !== 'Z' && this.known.get(entry.pid)?.service === service) owned.push(entry.pid);
    }
    return owned;
  }

  /**
   * What one read-only request (`status`) needs, each leaf read once: the processes of
   * every service and the orphans. A status of N services asked processesOf N times and
   * then read every leaf again for the orphans.
   */
  view(): { processesOf(service: string): number[]; orphans(): number[] } {
    const cgroups = this.cgroups;
    if (cgroups === null) return { processesOf: (service) => this.processesOf(service), orphans: () => this.orphans() };
    // Every leaf at once (one native call): the orphans need them all anyway.
    const leaves = cgroups.readAll();
    return {
      processesOf: (service) => this.ownedIn(service, leaves.get(service) ?? []),
      orphans: () => {
        // Most of the time tend has no child it did not start: no set of every leaf's pids then.
        const candidates = this.descendants(true).filter((entry) => entry.state !== 'Z');
        if (candidates.length === 0) return [];
        const owner = new Set<number>();
        for (const pids of leaves.values()) for (const pid of pids) owner.add(pid);
        return candidates.filter((entry) => !owner.has(entry.pid)).map((entry) => entry.pid).sort((a, b) => a - b);
      },
    };
  }

  /** cgroup mode: the service's processes, its leaf's `inLeaf` plus roots that have not joined it yet. */
  private ownedIn(service: string, inLeaf: number[]): number[] {
    // Right after spawn() the child has not yet run the exec helper that moves it into
    // the leaf: it is still in tend's own cgroup. Its root pid, recorded at spawn, keeps
    // it owned meanwhile — a stop that comes that early must still reach it.
    const roots = this.roots.get(service);
    if (roots === undefined) return inLeaf;
    // Usually every root is in the leaf: say so without a Set per service (a status of
    // 1,000 services asks this 1,000 times).
    let outside = false;
    for (const pid of roots.keys()) {
      if (!inLeaf.includes(pid)) {
        outside = true;
        break;
      }
    }
    if (!outside) return inLeaf;
    const owned = new Set(inLeaf);
    for (const [pid, starttime] of roots) {
      if (owned.has(pid)) continue;
      const entry = readProc(pid);
      // Gone (reaped), or the pid now names another process: forget it. A service that
      // crash-loops adds a root per run; kept, they cost a /proc read each per call,
      // forever (the soak saw status slow down as restarts piled up).
      if (entry === null || entry.starttime !== starttime) {
        roots.delete(pid);
        this.depart(pid, service);
      } else if (entry.state !== 'Z') owned.add(pid);
    }
    return owned.size === inLeaf.length ? inLeaf : [...owned].sort((a, b) => a - b);
  }


  /**
   * The service that owned `pid` if it has exited since: gone (at most 5 s ago), or dead and
   * not yet reaped — a process that sends a message and exits at once (a syslog datagram
   * read after its exit). Ask processesOf first: a live process's owner is the answer, and
   * that call's scan leaves in the proc table only processes that still exist, so one
   * there that processesOf did not count is a zombie.
   */
  formerOwner(pid: number): string | null {
    const entry = this.departed.get(pid);
    if (entry !== undefined && Date.now() - entry.at <= DEPARTED_MS) return entry.service;
    return this.known.get(pid)?.service ?? null;
  }

  private depart(pid: number, service: string): void {
    const now = Date.now();
    for (const [old, entry] of this.departed) {
      if (now - entry.at <= DEPARTED_MS) break; // oldest first: the rest are younger
      this.departed.delete(old);
    }
    this.departed.delete(pid);
    this.departed.set(pid, { service, at: now });
  }

  /** tend's descendants that match no service (re-parented orphans), excluding tend's own helpers. */
  orphans(): number[] {
    return this.snapshot().orphans as number[];
  }

  snapshot(): TrackerSnapshot {
    const services: Record<string, number[]> = {};
    const orphans: number[] = [];
    if (this.cgroups !== null) {
      const owner = this.cgroups.allProcs();
      for (const [pid, service] of owner) (services[service] ??= []).push(pid);
      for (const entry of this.descendants(true)) {
        if (!owner.has(entry.pid) && entry.state !== 'Z') orphans.push(entry.pid);
      }
    } else {
      const entries = this.refresh();
      const byPid = new Map(entries.map((e) => [e.pid, e]));
      for (const entry of entries) {
        if (entry.state === 'Z') continue;
        const known = this.known.get(entry.pid);
        if (known !== undefined) (services[known.service] ??= []).push(entry.pid);
        else if (entry.pid !== process.pid && this.isUnownedDescendant(entry, byPid)) orphans.push(entry.pid);
      }
    }
    for (const list of Object.values(services)) list.sort((a, b) => a - b);
    return { mode: this.mode, services, orphans: orphans.sort((a, b) => a - b) };
  }

  /** Sends `signal` to every process the service owns; returns the pids it reached. */
  signalService(service: string, signal: number): number[] {
    const reached: number[] = [];
    for (const pid of this.processesOf(service)) if (signalPid(pid, signal)) reached.push(pid);
    return reached;
  }

  /**
   * One signal to one process (never 0 or -1); false when it is gone. A process tend
   * started is signalled only while it is still tend's unreaped child (kill.ts), so a
   * reused pid is never hit.
   */
  signalPid(pid: number, signal: number): boolean {
    return this.reaper?.watching(pid) === true ? signalStarted(pid, signal) : signalPid(pid, signal);
  }

  /** SIGKILL to every process the service owns, through cgroup.kill where the kernel has it. */
  killService(service: string): number[] {
    const pids = this.processesOf(service);
    // Roots that have not joined the leaf yet are not reached by cgroup.kill: signalled one by one.
    if (this.cgroups !== null) this.cgroups.kill(service);
    for (const pid of pids) signalPid(pid, SIGKILL);
    return pids;
  }

  /** tend's live descendants (zombies left out). */
  liveDescendants(): number[] {
    return this.descendants().filter((e) => e.state !== 'Z').map((e) => e.pid);
  }

  /**
   * The signal (then SIGCONT, unless SIGKILL) to whatever is left: as PID 1 every process in
   * the namespace (kill -1), else tend's own descendants. Returns the pids alive just before.
   */
  signalLeft(signal: number, pid1: boolean): number[] {
    const left = this.liveDescendants();
    if (left.length === 0) return left;
    if (pid1) {
      // kill(-1) reaches every process but ourselves; ESRCH means there was none.
      signalEveryone(signal);
      if (signal !== SIGKILL) signalEveryone(SIGCONT);
    } else {
      for (const pid of left) {
        signalPid(pid, signal);
        if (signal !== SIGKILL) signalPid(pid, SIGCONT);
      }
    }
    return left;
  }

  /**
   * Calls `onGone` once the service (null: every descendant of tend) owns no live process —
   * synchronously when it owns none now. Re-checks on every reaper pass, on cgroup.events of
   * the leaf, and on a modest timer (a process that is not our child dies without telling
   * us). `rekill`: SIGKILL every process that shows up meanwhile (one forked between a
   * listing and a kill). Returns the function that ends the watch.
   */
  watchGone(service: string | null, rekill: boolean, onGone: () => void): () => void {
    const remaining = service === null ? () => this.liveDescendants() : () => this.processesOf(service);
    const killed = new Set<number>();
    const cleanups: Array<() => void> = [];
    let done = false;
    const end = (): void => {
      done = true;
      for (const cleanup of cleanups.splice(0)) cleanup();
    };
    const check = (): void => {
      if (done) return;
      const left = remaining();
      if (left.length === 0) {
        end();
        onGone();
        return;
      }
      if (!rekill) return;
      for (const pid of left) {
        if (killed.has(pid)) continue;
        killed.add(pid);
        signalPid(pid, SIGKILL);
      }
    };
    check();
    if (done) return () => undefined;
    let leafWatched = false;
    if (this.cgroups !== null) {
      for (const leaf of service === null ? this.cgroups.services() : [service]) {
        const unwatch = this.cgroups.watch(leaf, check);
        if (unwatch !== null) cleanups.push(unwatch);
        leafWatched = unwatch !== null && service !== null;
      }
    }
    const watch: GoneWatch = { service, check, leafWatched };
    this.goneWatches.add(watch);
    this.armGoneChecks();
    cleanups.push(() => {
      this.goneWatches.delete(watch);
      this.armGoneChecks();
    });
    return end;
  }

  /**
   * The re-checks every watchGone shares: one reaper listener and one timer for all of
   * them, never one per watch — a shutdown of 1,000 services watches 1,000 at once, and
   * a listener per watch made every reap pass re-read every leaf (quadratic in services).
   */
  private armGoneChecks(): void {
    if (this.goneWatches.size === 0) {
      this.goneOnReap?.();
      this.goneOnReap = null;
      if (this.goneTimer !== null) clearInterval(this.goneTimer);
      this.goneTimer = null;
      return;
    }
    if (this.goneTimer === null) {
      let tick = 0;
      this.goneTimer = setInterval(() => {
        tick += 1;
        // A watched leaf says itself when it empties (cgroup.events): the timer is only the
        // safety net there, so those are re-read every second; the rest every tick.
        const slow = tick % LEAF_RESCAN_TICKS === 0;
        for (const watch of [...this.goneWatches]) if (slow || !watch.leafWatched) watch.check();
      }, STOP_RESCAN_MS);
    }
    if (this.goneOnReap !== null) return;
    const onPass = (pass: ReapPass): void => {
      // A pass names the processes tend started that it reaped. With a watched leaf, only
      // the services whose own processes were among them need a look (a root may still
      // have been outside its leaf, where cgroup.events does not see it go).
      const exited = new Set(pass.exits.map((exit) => exit.pid));
      for (const watch of [...this.goneWatches]) {
        if (!watch.leafWatched || watch.service === null) {
          watch.check();
          continue;
        }
        const roots = this.roots.get(watch.service);
        if (roots === undefined) continue;
        for (const pid of roots.keys()) {
          if (exited.has(pid)) {
            watch.check();
            break;
          }
        }
      }
    };
    if (this.reaper !== null) {
      this.goneOnReap = this.reaper.onReap(onPass);
    } else {
      const onSignal = (): void => onPass({ exits: [], orphans: [] });
      process.on('SIGCHLD', onSignal);
      this.goneOnReap = () => process.removeListener('SIGCHLD', onSignal);
    }
  }

  /** Removes the service's leaf once it is empty (after its last process is gone). */
  release(service: string): void {
    this.roots.delete(service);
    this.cgroups?.remove(service);
  }

  /** Stops background scans and removes tend's cgroups (at exit). */
  close(): void {
    this.unsubscribe?.();
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.goneWatches.clear();
    this.armGoneChecks();
    this.cgroups?.removeAll();
  }

  // -------------------------------------------------------------------------------------

  /**
   * Resolves true as soon as `remaining()` is empty, false after `timeout` ms. Re-checks on
   * every reaper pass (SIGCHLD), on cgroup.events changes, and on a modest timer that runs
   * only while someone waits (a process that is not our child dies without telling us).
   */


  /**
   * Every descendant of tend, with its /proc entry (children lists: no full scan);
   * `skipStarted` leaves out the trees of processes tend started itself and still awaits.
   */
  private descendants(skipStarted = false): ProcEntry[] {
    const entries: ProcEntry[] = [];
    // tend's own children in one native call: with 1,000 services they are 1,000, and a
    // readdir of tend's threads, a read of each one's children file and the parsing cost
    // ~1 ms of every `status` from JavaScript. Their descendants (orphans' trees: few) as before.
    const queue: number[] = Array.from(childrenOfProcess() ?? []); // null: tend's task list unreadable
    for (let i = 0; i < queue.length; i++) {
      const pid = queue[i]!;
      if (skipStarted && this.reaper?.watching(pid) === true) continue;
      const entry = readProc(pid);
      if (entry === null) continue;
      entries.push(entry);
      for (const child of childrenOf(pid)) queue.push(child);
    }
    return entries;
  }

  /** A descendant of tend that is neither a service's nor under a child tend started itself. */
  private isUnownedDescendant(entry: ProcEntry, byPid: Map<number, ProcEntry>): boolean {
    let current: ProcEntry | undefined = entry;
    for (let depth = 0; current !== undefined && depth < 4096; depth++) {
      if (current.pid === process.pid) return true;
      // Processes tend started (probes, stop commands) and their trees are tend's own.
      if (this.reaper?.watching(current.pid) === true) return false;
      if (current.ppid === process.pid) return true;
      current = byPid.get(current.ppid);
    }
    return false;
  }

  /**
   * One full /proc scan, extending the attribution table. Parents start before their
   * children, so in start-time order a parent's attribution is known when its children
   * are looked at. A process already attributed is not read again while it lives (its
   * attribution is settled; ProcScanner): a warm scan of 5,000 processes costs ~5 ms
   * instead of ~100. Its state is then the one first read, so a zombie of a service's
   * counts as its process until it is reaped — at once, once it is tend's child.
   */
  private refresh(): ProcEntry[] {
    // One scan per synchronous run of code: a status of 50 services, or one step of the
    // supervisor's core, asks for every service's processes at once, and a scan per
    // service made that O(services × processes) — 400 ms with 3,000 processes. The scan
    // is forgotten as soon as that code returns (a microtask), so no later callback —
    // a reap, a timer — ever sees a stale one.
    if (this.scanOfThisTurn !== null) return this.scanOfThisTurn;
    const entries = this.scan();
    this.scanOfThisTurn = entries;
    queueMicrotask(() => { this.scanOfThisTurn = null; });
    return entries;
  }

  private scan(): ProcEntry[] {
    this.lastRefresh = Date.now();
    const entries = this.scanner.scan((entry) => this.known.get(entry.pid)?.starttime !== entry.starttime).sort((a, b) => a.starttime - b.starttime || a.pid - b.pid);
    const alive = new Map<number, ProcEntry>();
    for (const entry of entries) alive.set(entry.pid, entry);
    // Forget pids that are gone or now belong to a different process.
    for (const [pid, known] of this.known) {
      if (alive.get(pid)?.starttime !== known.starttime) {
        this.known.delete(pid);
        this.depart(pid, known.service);
      }
    }
    for (const roots of this.roots.values()) {
      for (const [pid, starttime] of roots) if (alive.get(pid)?.starttime !== starttime) roots.delete(pid);
    }
    for (const key of this.markers.keys()) {
      const [pid, starttime] = key.split(':').map(Number) as [number, number];
      if (alive.get(pid)?.starttime !== starttime) this.markers.delete(key);
    }
    for (const entry of entries) {
      if (entry.pid === process.pid || this.known.has(entry.pid)) continue;
      const service = this.attribute(entry);
      if (service !== null) this.known.set(entry.pid, { starttime: entry.starttime, service });
    }
    return entries;
  }

  private attribute(entry: ProcEntry): string | null {
    // The parent chain, seen while the parent lives.
    const parent = this.known.get(entry.ppid);
    if (parent !== undefined && entry.ppid !== process.pid) return parent.service;
    // Session, then process group: their leaders are processes we have attributed.
    const leader = this.known.get(entry.sid) ?? this.known.get(entry.pgid);
    if (leader !== undefined && entry.sid !== 0) return leader.service;
    // The environment markers, read once per process while it lives.
    const key = `${entry.pid}:${entry.starttime}`;
    let marker = this.markers.get(key);
    if (marker === undefined) {
      marker = entry.state === 'Z' ? null : readMarkers(entry.pid);
      this.markers.set(key, marker);
    }
    if (marker !== null && marker.instance === this.instance) return marker.service;
    return null;
  }
}
