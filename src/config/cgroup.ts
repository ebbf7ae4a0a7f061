// Is there a cgroup v2 hierarchy tend could write to? Asked only for `tracking: cgroup`,
// where its absence is a manifest error. Docker mounts cgroupfs read-only by default
// (EROFS), and hybrid hosts mount v2 at /sys/fs/cgroup/unified (FINDINGS).
import { accessSync, constants, readFileSync } from 'node:fs';

/** Mount points of every cgroup2 filesystem in a /proc/PID/mountinfo text. */
export function cgroup2Mounts(mountinfo: string): string[] {
  const mounts: string[] = [];
  for (const line of mountinfo.split('\n')) {
    // id parent maj:min root mountpoint options [optional fields...] - fstype source superoptions
    const [before, after] = line.split(' - ');
    if (after === undefined || before === undefined) continue;
    if (after.split(' ')[0] !== 'cgroup2') continue;
    const mountpoint = before.split(' ')[4];
    // mountinfo escapes space, tab, newline and backslash as octal.
    if (mountpoint !== undefined) mounts.push(mountpoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return mounts;
}

export type CgroupCheck = { readonly ok: true; readonly mount: string } | { readonly ok: false; readonly reason: string };

export function writableCgroup2(mountinfoFile = '/proc/self/mountinfo'): CgroupCheck {
  let mounts: string[];
  try {
    mounts = cgroup2Mounts(readFileSync(mountinfoFile, 'utf8'));
  } catch (error) {
    return { ok: false, reason: `cannot read ${mountinfoFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  if (mounts.length === 0) return { ok: false, reason: 'no cgroup2 filesystem is mounted' };
  const refusals: string[] = [];
  for (const mount of mounts) {
    try {
      accessSync(mount, constants.W_OK);
      return { ok: true, mount };
    } catch (error) {
      refusals.push(`${mount} is not writable (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  return { ok: false, reason: refusals.join(', ') };
}
