// Is there a cgroup v2 hierarchy tend could write to? Asked only for `tracking: cgroup`,
// where its absence is a manifest error. The process layer owns the answer (it is the one
// that creates the leaves); this puts it in the words of a manifest check. Docker mounts
// cgroupfs read-only by default (EROFS), and hybrid hosts mount v2 at
// /sys/fs/cgroup/unified (FINDINGS).
import { findCgroupV2, ServiceCgroups } from '../process/cgroup';

export type CgroupCheck = { readonly ok: true; readonly mount: string } | { readonly ok: false; readonly reason: string };

export function writableCgroup2(): CgroupCheck {
  const found = findCgroupV2();
  if (found === null) return { ok: false, reason: "no cgroup2 hierarchy is mounted where tend's own cgroup can be seen" };
  if (!ServiceCgroups.available()) return { ok: false, reason: `${found.self} is not writable (a read-only cgroupfs, as Docker mounts it by default?)` };
  return { ok: true, mount: found.mount };
}
