// One compacting collection once a burst of work is over (the start of every service, a
// reload). Starting services makes short-lived objects by the megabyte — specs, argv and
// environment strings, events, log lines — and with the 1 MiB semi-space tend runs with,
// whatever is still referenced across two scavenges is promoted to the old space. That
// garbage is collected later, but its pages stay committed, each still holding a few live
// objects: at 1,000 services, 40 MiB of old space held 17.6 MiB of live objects, and a full
// collection without compaction gave none of it back. V8's memory reducer compacts on its
// own once the heap is idle — when it runs: alone it did 20-40 s after the start, but with
// several tends starting at once most had not within 65 s (RSS still 109-110 MiB). Compacting
// once, a moment after the burst, gives the memory back then: at 1,000 services 109.4 →
// 82-85 MiB, for one pause of the loop of 56-80 ms (15-20 ms at 10 services, where the
// reducer's own pass is worth ~2 MiB and still comes later).
//
// Node offers no call for it: V8's `gc` is installed in a new context once the flag that
// exposes it is set, and compaction is asked for by a flag read during that collection.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How long after the burst: its tail (first output, readiness, events) is garbage by then. */
const SETTLE_MS = 2000;

let timer: NodeJS.Timeout | null = null;

/** Compacts the heap SETTLE_MS from now (a later call moves it); never keeps tend alive. */
export function compactHeapSoon(): void {
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    compactHeap();
  }, SETTLE_MS);
  timer.unref();
}

/** One full, compacting collection now. False when this V8 would not (nothing is done then). */
export function compactHeap(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    setFlagsFromString('--no-expose-gc');
    if (typeof gc !== 'function') return false;
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      (gc as () => void)();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
    return true;
  } catch {
    return false;
  }
}
