// Notices of OOM kills in services' memory leaves, as they happen. A kill of the process
// tend started is named when tend reaps it; a kill of any other process of the service (a
// worker under its master, a job under a shell) is reaped by its parent, and only the
// leaf's oom_kill count tells of it. This module says when to read that count: cgroup v2's
// memory.events is watched with inotify (it changes on each OOM event); a v1 leaf tells
// through an eventfd registered with cgroup.event_control, which native/oom.c watches on a
// thread of its own and forwards as a token on a pipe. Nothing runs while nothing is killed.
//
// A notice can come before the kill it is about: cgroup v1 signals the eventfd when the
// leaf goes out of memory, before its OOM killer has chosen a victim (the count rises a
// moment later), and v2's memory.events changes for the `oom` line before `oom_kill`. So
// each notice is followed by a few more reads on a short, widening schedule, until one of
// them sees the count rise; an OOM that reclaim resolved without a kill ends the schedule
// with nothing said.
import { watch, type FSWatcher } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { oomPipe, oomUnwatch, oomWatchV1 } from '../../native/libc';

export interface MemoryLeaf {
  readonly backend: 'cgroup1' | 'cgroup2';
  readonly dir: string;
}

/** When the count is read again after a notice (ms after the one before). */
const SETTLE_MS = [2, 10, 50, 250, 1000] as const;

export class OomWatch {
  /** Per service with reads still to come after its last notice: the next one's timer. */
  private readonly settling = new Map<string, NodeJS.Timeout>();
  private readonly watches = new Map<string, { dir: string; close(): void }>();
  /** v1 registrations by token, and the pipe their notices come down. */
  private readonly tokens = new Map<number, string>();
  private nextToken = 1;
  private pipe: Socket | null = null;
  private pending = Buffer.alloc(0);

  /**
   * `read(service)`: the leaf's memory events changed; read its count and say whether it had
   * risen since the last read. `problem`: said when a leaf cannot be watched.
   */
  constructor(private readonly read: (service: string) => boolean, private readonly problem: (service: string, why: string) => void) {}

  /** Watches the service's memory leaf (again only if it moved). */
  watch(service: string, leaf: MemoryLeaf): void {
    if (this.watches.get(service)?.dir === leaf.dir) return;
    this.unwatch(service);
    const why = leaf.backend === 'cgroup2' ? this.watchV2(service, leaf.dir) : this.watchV1(service, leaf.dir);
    if (why !== null) this.problem(service, why);
  }

  unwatch(service: string): void {
    clearTimeout(this.settling.get(service));
    this.settling.delete(service);
    this.watches.get(service)?.close();
    this.watches.delete(service);
  }

  close(): void {
    for (const service of [...this.watches.keys()]) this.unwatch(service);
    this.pipe?.destroy();
    this.pipe = null;
  }

  private watchV2(service: string, dir: string): string | null {
    const file = join(dir, 'memory.events');
    let watcher: FSWatcher;
    try {
      watcher = watch(file, { persistent: false }, () => this.noticed(service));
    } catch (error) {
      return `cannot watch ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
    watcher.on('error', () => watcher.close());
    this.watches.set(service, { dir, close: () => watcher.close() });
    return null;
  }

  private watchV1(service: string, dir: string): string | null {
    const fd = this.openPipe();
    if (typeof fd === 'string') return `cannot start the OOM notice thread: ${fd}`;
    const token = this.nextToken++;
    const handle = oomWatchV1(dir, token);
    if (typeof handle === 'string') return `cannot register for OOM notices of ${dir}: ${handle}`;
    this.tokens.set(token, service);
    this.watches.set(service, {
      dir,
      close: () => {
        oomUnwatch(handle);
        this.tokens.delete(token);
      },
    });
    return null;
  }

  private openPipe(): number | string {
    if (this.pipe !== null) return 0;
    const fd = oomPipe();
    if (typeof fd === 'string') return fd;
    // It never holds the loop open: a notice matters only while tend runs anyway.
    this.pipe = new Socket({ fd, readable: true, writable: false });
    this.pipe.unref();
    this.pipe.on('data', (chunk: Buffer) => this.tokensRead(chunk));
    this.pipe.on('error', () => { /* the pipe is tend's own; a read error ends notices, nothing else */ });
    return fd;
  }

  /** Each 4-byte token once per chunk: several notices of one leaf read its count once. */
  private tokensRead(chunk: Buffer): void {
    const bytes = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const whole = bytes.length - (bytes.length % 4);
    const services = new Set<string>();
    for (let at = 0; at < whole; at += 4) {
      const service = this.tokens.get(bytes.readInt32LE(at));
      if (service !== undefined) services.add(service);
    }
    this.pending = Buffer.from(bytes.subarray(whole));
    for (const service of services) this.noticed(service);
  }

  /**
   * A notice: the count is read now (a rise then may be an earlier kill's) and again on the
   * settle schedule, which a later notice starts over, until a later read sees it rise.
   */
  noticed(service: string): void {
    if (!this.watches.has(service)) return;
    this.read(service);
    clearTimeout(this.settling.get(service));
    this.settleAfter(service, 0);
  }

  private settleAfter(service: string, step: number): void {
    const delay = SETTLE_MS[step];
    if (delay === undefined) {
      this.settling.delete(service);
      return;
    }
    const timer = setTimeout(() => {
      if (this.read(service)) this.settling.delete(service);
      else this.settleAfter(service, step + 1);
    }, delay);
    timer.unref();
    this.settling.set(service, timer);
  }
}
