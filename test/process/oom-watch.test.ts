// OomWatch: a notice can come before the kill it is about (cgroup v1 signals the OOM before
// its killer has chosen a victim; a clean-clone CI run lost a master's worker's kill that
// way: the one notice read the count unchanged and nothing said it). These drive the v2
// path (inotify on memory.events) with a plain file, and check the reads that follow a notice.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OomWatch } from '../../src/process/oom-watch';
import { tempDir, waitFor } from '../helpers/tend';

const watches: OomWatch[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const watch of watches.splice(0)) watch.close();
});

/** A watched leaf whose count the test raises, and the reads the watch made of it. */
function leaf(): { touch(): void; kill(): void; reads: boolean[]; watch: OomWatch } {
  const dir = tempDir('tend-oom-watch-');
  const file = join(dir, 'memory.events');
  writeFileSync(file, 'oom 0\noom_kill 0\n');
  let count = 0;
  let said = 0;
  const reads: boolean[] = [];
  const watch = new OomWatch(() => {
    const rose = count > said;
    said = count;
    reads.push(rose);
    return rose;
  }, (service, why) => {
    throw new Error(`${service}: ${why}`);
  });
  watches.push(watch);
  watch.watch('app', { backend: 'cgroup2', dir });
  return {
    touch: () => writeFileSync(file, `oom 1\noom_kill ${count}\n`),
    kill: () => {
      count += 1;
    },
    reads,
    watch,
  };
}

describe('OomWatch', () => {
  test('a kill counted a moment after its notice is still read and said once', async () => {
    const subject = leaf();
    subject.touch(); // the notice, with the count not yet risen
    await waitFor(() => subject.reads.length >= 1, { what: 'the notice read', timeout: 2_000 });
    expect(subject.reads.every((rose) => !rose)).toBe(true); // (a write can be two inotify events)
    subject.kill(); // the killer chose its victim after the notice
    await waitFor(() => subject.reads.includes(true), { what: 'a later read to see the kill', timeout: 2_000 });
    expect(subject.reads.filter((rose) => rose)).toHaveLength(1);
  });

  test('the schedule: reads 2, 12, 62, 312 and 1,312 ms after the notice; a rise ends it', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const subject = leaf();
    subject.watch.noticed('app');
    expect(subject.reads).toEqual([false]);
    vi.advanceTimersByTime(2);
    expect(subject.reads).toHaveLength(2);
    vi.advanceTimersByTime(10);
    expect(subject.reads).toHaveLength(3);
    subject.kill();
    vi.advanceTimersByTime(50);
    expect(subject.reads).toEqual([false, false, false, true]);
    vi.advanceTimersByTime(10_000);
    expect(subject.reads).toHaveLength(4);
  });

  test('a notice with no kill (reclaim resolved it) reads six times over 1,312 ms, then stops', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const subject = leaf();
    subject.watch.noticed('app');
    vi.advanceTimersByTime(1_311);
    expect(subject.reads).toHaveLength(5);
    vi.advanceTimersByTime(1);
    expect(subject.reads).toEqual([false, false, false, false, false, false]);
    vi.advanceTimersByTime(60_000);
    expect(subject.reads).toHaveLength(6);
  });

  test('a second notice starts the schedule over; unwatching ends it', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const subject = leaf();
    subject.watch.noticed('app');
    vi.advanceTimersByTime(300);
    expect(subject.reads).toHaveLength(4);
    subject.watch.noticed('app');
    vi.advanceTimersByTime(2);
    expect(subject.reads).toHaveLength(6);
    subject.watch.unwatch('app');
    vi.advanceTimersByTime(60_000);
    expect(subject.reads).toHaveLength(6);
    subject.watch.noticed('app'); // not watched: nothing read
    expect(subject.reads).toHaveLength(6);
  });
});
