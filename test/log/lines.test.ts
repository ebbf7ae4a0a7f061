import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE } from '../../src/log/lines';

/** What the splitter should emit: every line, cut into pieces of at most max bytes. */
function expected(lines: string[], max: number): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (line.length === 0) out.push('');
    for (let at = 0; at < line.length; at += max) out.push(line.slice(at, at + max));
  }
  return out;
}

function run(splitter: LineSplitter, chunks: Buffer[]): { blocks: Buffer[]; text: string } {
  const blocks: Buffer[] = [];
  for (const chunk of chunks) blocks.push(...splitter.push(chunk));
  const last = splitter.flush();
  if (last) blocks.push(last);
  return { blocks, text: Buffer.concat(blocks).toString('latin1') };
}

/** A small deterministic PRNG, so a failure reproduces. */
function prng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

describe('LineSplitter', () => {
  it('emits whole lines only, carrying the partial line to the next chunk', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('ab')).map(String)).toEqual([]);
    expect(s.push(Buffer.from('c\nde\nf')).map(String)).toEqual(['abc\n', 'de\n']);
    expect(s.pending).toBe(1);
    expect(s.push(Buffer.from('\n')).map(String)).toEqual(['f\n']);
    expect(s.flush()).toBeNull();
  });

  it('passes a chunk of whole lines through as one block without copying', () => {
    const chunk = Buffer.from('one\ntwo\nthree\n');
    const blocks = new LineSplitter().push(chunk);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.buffer).toBe(chunk.buffer);
  });

  it('flushes the final partial line at end of file, ended with a newline', () => {
    const s = new LineSplitter();
    s.push(Buffer.from('x\nlast words'));
    expect(String(s.flush())).toBe('last words\n');
    expect(s.flush()).toBeNull();
  });

  it('splits a line longer than 64 KiB into pieces and drops nothing', () => {
    const long = 'L'.repeat(MAX_LINE * 3 + 123);
    const { blocks, text } = run(new LineSplitter(), [Buffer.from(`${long}\nshort\n`)]);
    expect(text.split('\n').slice(0, -1)).toEqual([...expected([long], MAX_LINE), 'short']);
    expect(blocks.every((b) => b[b.length - 1] === 0x0a)).toBe(true);
  });

  it('keeps a line of exactly the cap whole', () => {
    const exact = 'E'.repeat(MAX_LINE);
    expect(run(new LineSplitter(), [Buffer.from(exact), Buffer.from('\nnext\n')]).text).toBe(`${exact}\nnext\n`);
  });

  it('splits correctly however the input is cut into chunks (random chunking, long lines)', () => {
    const max = 50; // a small cap exercises the cutting paths in every position
    const random = prng(42);
    for (let round = 0; round < 200; round++) {
      const lines = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i) =>
        `${i}:`.padEnd(Math.floor(random() * (random() < 0.2 ? 260 : 60)), String.fromCharCode(97 + (i % 26))),
      );
      const input = Buffer.from(`${lines.join('\n')}\n`, 'latin1');
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(random() * (random() < 0.5 ? 8 : 200));
        chunks.push(input.subarray(at, at + size));
        at += size;
      }
      const { text } = run(new LineSplitter(max), chunks);
      expect(text.split('\n').slice(0, -1)).toEqual(expected(lines, max));
    }
  });

  it('finds over-long lines anywhere in a chunk holding many lines (lines of the cap, one over, empty)', () => {
    const max = 50;
    const random = prng(7);
    for (let round = 0; round < 200; round++) {
      const lines = Array.from({ length: 1 + Math.floor(random() * 120) }, (_, i) => {
        const pick = random();
        const length = pick < 0.1 ? max : pick < 0.2 ? max + 1 : pick < 0.3 ? 0 : pick < 0.35 ? max * 2 + 1 : Math.floor(random() * max);
        return `${i}:`.padEnd(length, 'q').slice(0, length);
      });
      const input = Buffer.from(`${lines.join('\n')}\n`, 'latin1');
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(random() * 3000);
        chunks.push(input.subarray(at, at + size));
        at += size;
      }
      const { text } = run(new LineSplitter(max), chunks);
      expect(text.split('\n').slice(0, -1)).toEqual(expected(lines, max));
    }
  });
});
