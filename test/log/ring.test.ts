import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../../src/log/ring';

const block = (...lines: string[]) => Buffer.from(lines.map((l) => `${l}\n`).join(''));
const texts = (ring: RingBuffer, n?: number) => ring.last(n).map((l) => l.text);

describe('RingBuffer', () => {
  it('serves the last n lines across blocks, oldest first', () => {
    const ring = new RingBuffer();
    ring.append(block('a', 'b', 'c'), 'stdout');
    ring.append(block('d'), 'stderr');
    ring.appendLine('e', 'stdout');
    expect(texts(ring, 2)).toEqual(['d', 'e']);
    expect(texts(ring, 4)).toEqual(['b', 'c', 'd', 'e']);
    expect(texts(ring)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(ring.last(2)[0]!.stream).toBe('stderr');
    expect(ring.last(0)).toEqual([]);
  });

  it('stays within its line bound, trimming whole lines from the oldest block', () => {
    const ring = new RingBuffer({ maxLines: 5 });
    for (let i = 0; i < 100; i += 3) ring.append(block(String(i), String(i + 1), String(i + 2)), 'stdout');
    expect(ring.size).toBe(5);
    expect(texts(ring)).toEqual(['97', '98', '99', '100', '101']);
  });

  it('stays within its byte bound', () => {
    const ring = new RingBuffer({ maxLines: 1000, maxBytes: 100 });
    for (let i = 0; i < 50; i++) ring.append(block(`line ${String(i).padStart(3, '0')}`), 'stdout'); // 9 bytes each
    const kept = texts(ring);
    expect(kept.join('\n').length + 1).toBeLessThanOrEqual(100);
    expect(kept.at(-1)).toBe('line 049');
    expect(kept).toHaveLength(11);
  });

  it('tells subscribers every new line until they unsubscribe', () => {
    const ring = new RingBuffer();
    const seen: string[] = [];
    const off = ring.subscribe((line) => seen.push(`${line.stream}:${line.text}`));
    ring.append(block('x', 'y'), 'stdout');
    off();
    ring.append(block('z'), 'stdout');
    expect(seen).toEqual(['stdout:x', 'stdout:y']);
  });

  it('keeps one read given as several blocks as one, counted or not, and reuses what it trims', () => {
    const ring = new RingBuffer({ maxLines: 4 });
    const seen: string[] = [];
    ring.subscribe((line) => seen.push(line.text));
    ring.appendBlocks([block('a'), block('b', 'c')], 'stdout', [1, undefined]);
    ring.appendBlocks([block('d'), block('e', 'f', 'g', 'h')], 'stderr', [undefined, 4]);
    expect(texts(ring)).toEqual(['e', 'f', 'g', 'h']);
    expect(ring.last(5).map((l) => l.stream)).toEqual(['stderr', 'stderr', 'stderr', 'stderr']);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    // A service logging as fast as it can: the storage of the block each read pushes out
    // holds the next read, so the text stays right while buffers are reused.
    for (let i = 0; i < 1000; i++) ring.appendBlocks([block(`${i}a`), block(`${i}b`, `${i}c`, `${i}d`, `${i}e`)], 'stdout', [1, 4]);
    expect(texts(ring)).toEqual(['999b', '999c', '999d', '999e']);
  });

  it('copies only the lines it can show from a read of more, unless someone follows every line', () => {
    // What native/lines.c's lastLinesStart answers, in JavaScript.
    const lastLinesStart = (b: Buffer, n: number): number => {
      let start = b.length;
      for (let k = 0; k < n && start > 0; k++) start = start > 1 ? b.lastIndexOf(10, start - 2) + 1 : 0;
      return start;
    };
    const ring = new RingBuffer({ maxLines: 3 });
    const read = (from: number, to: number) => {
      const lines = Array.from({ length: to - from }, (_, i) => String(from + i));
      return block(...lines);
    };
    ring.appendBlocks([read(0, 2), read(2, 10)], 'stdout', [2, 8], 1, lastLinesStart);
    expect(texts(ring)).toEqual(['7', '8', '9']);
    ring.appendBlocks([read(10, 12), read(12, 13)], 'stdout', [2, 1], 2, lastLinesStart);
    expect(texts(ring)).toEqual(['10', '11', '12']);
    ring.appendBlocks([read(13, 20), read(20, 21)], 'stdout', [7, undefined], 3, lastLinesStart);
    expect(texts(ring)).toEqual(['18', '19', '20']);
    const seen: string[] = [];
    ring.subscribe((line) => seen.push(line.text));
    ring.appendBlocks([read(21, 30)], 'stdout', [9], 4, lastLinesStart);
    expect(seen).toHaveLength(9);
    expect(texts(ring)).toEqual(['27', '28', '29']);
  });
});
