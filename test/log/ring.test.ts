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
});
