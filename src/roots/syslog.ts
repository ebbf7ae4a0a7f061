// settings.syslog: tend receives syslog datagrams on a Unix path (typically /dev/log) and
// routes each to the service that owns its sender (the kernel's credentials of the
// datagram, or the nearest parent the sender had when it sent: `logger` is gone by the
// time the loop looks), into that service's output. A message from no service goes to
// tend's own log as `(syslog)`. A path that cannot be taken is said once; tend runs on.
import { readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ServicePlan } from '../plan/types';
import { openSyslogSocket, type Datagram, type SyslogSocket } from '../process/syslog';
import { parseSyslog } from '../log/syslog';
import type { ServiceLogs, SyslogEntry } from '../supervisor/logs';
import { ErrnoError } from '../../native/libc';
import * as say from '../log/messages';
import type { SyslogCounts } from '../http/metrics';

export interface SyslogWiring {
  readonly path: string;
  readonly logs: ServiceLogs;
  /** The services as the supervisor has them now (a reload adds and removes). */
  readonly services: () => Iterable<ServicePlan>;
  /** The live processes a service owns (the process layer's tracking). */
  readonly processesOf: (service: string) => readonly number[];
  /** The directory holding the services' cgroup v2 leaves (cgroup tracking), or null. */
  readonly cgroupRoot: string | null;
  /** Where cgroup v2 is mounted (with cgroupRoot), or null. */
  readonly cgroupMount: string | null;
}

/** How long an answer of "who owns pid N" is reused: a flood comes from a few pids. */
const OWNER_CACHE_MS = 100;

export interface SyslogReceiver {
  readonly socket: SyslogSocket;
  /** What /metrics counts: messages per service, from no service, cut. */
  counts(): SyslogCounts;
}

export function wireSyslog(wiring: SyslogWiring): SyslogReceiver | null {
  const { logs } = wiring;
  const hostnames = [hostname(), 'localhost'];
  let owners = new Map<number, ServicePlan | null>();
  let ownersAt = 0;
  const ownerOf = (pid: number): ServicePlan | null => {
    const known = owners.get(pid);
    if (known !== undefined) return known;
    let owner: ServicePlan | null = null;
    for (const service of wiring.services()) {
      if (wiring.processesOf(service.name).includes(pid)) {
        owner = service;
        break;
      }
    }
    owners.set(pid, owner);
    return owner;
  };
  // A leaf's cgroup id is its directory's inode: the kernel keeps a sender's after it has
  // been reaped, where /proc forgets it.
  let leaves = new Map<number, string>();
  let leavesMissed = new Set<number>();
  const leafOwner = (cgroup: number): ServicePlan | null => {
    if (cgroup === 0 || wiring.cgroupRoot === null) return null;
    let name = leaves.get(cgroup);
    if (name === undefined && !leavesMissed.has(cgroup)) {
      leaves = new Map();
      try {
        for (const entry of readdirSync(wiring.cgroupRoot, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          try {
            leaves.set(statSync(join(wiring.cgroupRoot, entry.name)).ino, entry.name);
          } catch {
            // removed meanwhile
          }
        }
      } catch {
        // no leaves yet
      }
      name = leaves.get(cgroup);
      if (name === undefined) leavesMissed.add(cgroup);
    }
    if (name === undefined) return null;
    for (const service of wiring.services()) if (service.name === name) return service;
    return null;
  };
  const attribute = (datagram: Datagram): ServicePlan | null => {
    if (datagram.pid <= 0 || datagram.pid === process.pid) return null;
    const inLeaf = leafOwner(datagram.cgroup);
    if (inLeaf !== null) return inLeaf;
    const direct = ownerOf(datagram.pid);
    if (direct !== null) return direct;
    for (const pid of datagram.ancestors) {
      if (pid <= 1 || pid === process.pid) break; // tend's own children have no owner above tend
      const owner = ownerOf(pid);
      if (owner !== null) return owner;
    }
    return null;
  };

  let cutSoFar = 0;
  let unattributed = 0;
  const byService = new Map<string, number>();
  const onBatch = (batch: readonly Datagram[]): Promise<void> | null => {
    const now = Date.now();
    if (now - ownersAt > OWNER_CACHE_MS) {
      owners = new Map();
      leavesMissed = new Set();
      ownersAt = now;
    }
    // Consecutive messages of one service go together: one write per run.
    const waits: Promise<void>[] = [];
    let run: SyslogEntry[] = [];
    let runOwner: ServicePlan | null | undefined;
    const flush = (): void => {
      if (run.length === 0 || runOwner === undefined) return;
      if (runOwner === null) unattributed += run.length;
      else byService.set(runOwner.name, (byService.get(runOwner.name) ?? 0) + run.length);
      const wait = logs.syslog(runOwner, run);
      if (wait !== null) waits.push(wait);
      run = [];
    };
    for (const datagram of batch) {
      const owner = attribute(datagram);
      if (owner !== runOwner) {
        flush();
        runOwner = owner;
      }
      const cut = datagram.sent > datagram.kept ? { kept: datagram.kept, sent: datagram.sent } : null;
      if (cut !== null) {
        cutSoFar += 1;
        if (cutSoFar <= 10 || cutSoFar % 1000 === 0) logs.tend.warn(say.syslogCut(cutSoFar, datagram.kept));
      }
      run.push({ message: parseSyslog(datagram.text, { hostnames }), cut });
    }
    flush();
    return waits.length === 0 ? null : Promise.all(waits).then(() => undefined);
  };

  try {
    const socket = openSyslogSocket(wiring.path, onBatch, wiring.cgroupRoot === null ? null : wiring.cgroupMount);
    logs.tend.debug(say.syslogListening(wiring.path));
    return { socket, counts: () => ({ byService, unattributed, cut: cutSoFar }) };
  } catch (error) {
    const errno = error instanceof ErrnoError ? error.code : String(error);
    logs.tend.error(say.syslogUnavailable(wiring.path, errno));
    return null;
  }
}
