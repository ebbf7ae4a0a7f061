// Usage summed over a service's processes from /proc, and tend's own memory check for
// services whose limits.memory no cgroup carries. The check runs on a slow timer (a few
// seconds: memory that grows past a limit in less will meet the container's own limit
// first), and only while some service has such a limit: none at all otherwise.
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc's clock ticks per second, 100 on every Linux architecture tend runs on. */
const TICKS_PER_SECOND = 100;

/** Resident bytes of one process (VmRSS), 0 when it is gone or a zombie. */
export function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** utime + stime of one process, seconds; 0 when it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the comm's closing ')': state(0) ... utime(11) stime(12).
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Memory and CPU time of these processes together, from /proc (read on request). */
export function procUsage(pids: readonly number[]): { memoryBytes: number; cpuSeconds: number } {
  let memoryBytes = 0;
  let cpuSeconds = 0;
  for (const pid of pids) {
    memoryBytes += residentBytes(pid);
    cpuSeconds += cpuSecondsOf(pid);
  }
  return { memoryBytes, cpuSeconds: Math.round(cpuSeconds * 100) / 100 };
}

export const MEMORY_CHECK_MS = 3000;

export class MemoryWatch {
  private readonly limits = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly processesOf: (service: string) => readonly number[],
    private readonly onOver: (service: string, bytes: number, limit: number) => void,
    private readonly intervalMs = MEMORY_CHECK_MS,
  ) {}

  /** The limit tend enforces for the service (null: none — a cgroup carries it, or there is none). */
  set(service: string, limit: number | null): void {
    if (limit === null) this.limits.delete(service);
    else this.limits.set(service, limit);
    if (this.limits.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    } else if (this.limits.size > 0 && this.timer === null) {
      this.timer = setInterval(() => this.check(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** One pass: each watched service's processes together against its limit. */
  check(): void {
    for (const [service, limit] of this.limits) {
      const pids = this.processesOf(service);
      if (pids.length === 0) continue;
      let bytes = 0;
      for (const pid of pids) bytes += residentBytes(pid);
      if (bytes > limit) this.onOver(service, bytes, limit);
    }
  }

  /** Whether the timer runs (for tests: none without a watched service). */
  get active(): boolean {
    return this.timer !== null;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.limits.clear();
  }
}
