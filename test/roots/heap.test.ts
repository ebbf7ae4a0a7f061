// roots/heap.ts: the compacting collection tend runs once a start or a reload is over. Its
// outcome, in this process: old-space pages that only held scattered survivors are given
// back, which a plain full collection does not do.
import { describe, expect, test } from 'vitest';
import { getHeapSpaceStatistics } from 'node:v8';
import { compactHeap } from '../../src/roots/heap';

const oldSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_size;

describe('compactHeap', () => {
  test('gives back old-space pages that hold only scattered survivors; gc stays unexposed', () => {
    // ~60 MiB of small objects, held long enough to be promoted, then 9 in 10 dropped: every
    // page keeps a few live objects, so only an evacuation can empty it.
    let all: Array<{ n: number; s: string }> = [];
    for (let i = 0; i < 600_000; i++) all.push({ n: i, s: `object ${i} ${'x'.repeat(40)}` });
    const survivors = all.filter((_, i) => i % 10 === 0);
    all = [];
    const before = oldSpace();
    expect(compactHeap()).toBe(true);
    const after = oldSpace();
    expect(survivors).toHaveLength(60_000);
    expect(after).toBeLessThan(before * 0.6);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
