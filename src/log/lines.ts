// Splits a byte stream into whole lines without making one object per line.
//
// Output throughput depends on this (measured: a write per line is 10x slower than a
// write per chunk), so the splitter hands out *blocks*: Buffers that hold one or more
// complete lines, each ending in '\n'. A pipe read of 64 KiB of 100-byte lines becomes
// at most two blocks (the carried partial line completed by the chunk's first line,
// then the rest of the chunk up to its last '\n'), found with indexOf/lastIndexOf.

const NL = 0x0a;
const NEWLINE = Buffer.from('\n');

/** Lines longer than this are cut into pieces of this size (never dropped). */
export const MAX_LINE = 64 * 1024;

export class LineSplitter {
  /** Bytes of the current, unfinished line (copied: small, and must outlive the chunk). */
  private partial: Buffer[] = [];
  private partialLength = 0;

  constructor(private readonly maxLine: number = MAX_LINE) {}

  /**
   * Feeds a chunk; returns the blocks of whole lines it completes (possibly none).
   * Every returned block ends in '\n'.
   */
  push(chunk: Buffer): Buffer[] {
    const blocks: Buffer[] = [];
    let start = 0;
    if (this.partialLength > 0) {
      const nl = chunk.indexOf(NL);
      if (nl === -1) {
        this.carry(chunk, 0, blocks);
        return blocks;
      }
      // Complete the carried line with the chunk's first line, cutting it if too long.
      this.carry(chunk.subarray(0, nl), 0, blocks);
      blocks.push(this.takePartial());
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(NL);
    if (last >= start) {
      const whole = chunk.subarray(start, last + 1);
      this.pushWhole(whole, blocks);
      start = last + 1;
    }
    if (start < chunk.length) this.carry(chunk, start, blocks);
    return blocks;
  }

  /** At end of file: the final partial line, given its '\n', or null when there is none. */
  flush(): Buffer | null {
    return this.partialLength > 0 ? this.takePartial() : null;
  }

  /** The unfinished line's bytes (no '\n'), handed over to another reader: the splitter then holds none. */
  takeUnfinished(): Buffer {
    const bytes = Buffer.concat(this.partial);
    this.partial = [];
    this.partialLength = 0;
    return bytes;
  }

  /** Bytes of the unfinished line held. */
  get pending(): number {
    return this.partialLength;
  }

  /** Whole lines usually pass through as they are; an over-long one among them is cut. */
  private pushWhole(whole: Buffer, blocks: Buffer[]): void {
    // A block no longer than maxLine cannot hide an over-long line: no scan needed.
    if (whole.length <= this.maxLine) {
      blocks.push(whole);
      return;
    }
    // From a line's start, jump to the last line end within maxLine bytes of it (one
    // lastIndexOf per maxLine bytes, not an indexOf per line: reads of 256 KiB of short
    // lines spent ~5% of tend's CPU here). No line end in reach: the line is over-long.
    let from = 0;
    let runStart = 0;
    while (from + this.maxLine < whole.length - 1) {
      const nl = whole.lastIndexOf(NL, from + this.maxLine);
      if (nl >= from) {
        from = nl + 1;
        continue;
      }
      const end = whole.indexOf(NL, from + this.maxLine);
      if (from > runStart) blocks.push(whole.subarray(runStart, from));
      this.cutLong(whole.subarray(from, end + 1), blocks);
      runStart = from = end + 1;
    }
    if (runStart < whole.length) blocks.push(whole.subarray(runStart));
  }

  /** Cuts one line (ending in '\n') into pieces of maxLine bytes, each given its own '\n'. */
  private cutLong(line: Buffer, blocks: Buffer[]): void {
    let at = 0;
    const content = line.length - 1;
    while (content - at > this.maxLine) {
      blocks.push(withNewline(line.subarray(at, at + this.maxLine)));
      at += this.maxLine;
    }
    blocks.push(line.subarray(at));
  }

  /** Appends chunk[from..] to the partial line, emitting a cut piece whenever it reaches maxLine. */
  private carry(chunk: Buffer, from: number, blocks: Buffer[]): void {
    while (from < chunk.length) {
      // Full and more of the same line follows: the held piece becomes a line of its own.
      if (this.partialLength >= this.maxLine) blocks.push(this.takePartial());
      const room = this.maxLine - this.partialLength;
      const piece = chunk.subarray(from, Math.min(chunk.length, from + room));
      this.partial.push(Buffer.from(piece));
      this.partialLength += piece.length;
      from += piece.length;
    }
    // A partial exactly maxLine long stays held: the next byte decides whether it is a
    // whole line ('\n' follows) or the first piece of a longer one.
  }

  private takePartial(): Buffer {
    this.partial.push(NEWLINE);
    const line = Buffer.concat(this.partial);
    this.partial = [];
    this.partialLength = 0;
    return line;
  }
}

function withNewline(piece: Buffer): Buffer {
  return Buffer.concat([piece, NEWLINE]);
}
