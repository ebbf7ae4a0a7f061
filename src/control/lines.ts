// Splits a byte stream into lines without ever holding more than `max` bytes of an
// unfinished one. Works on bytes, not strings: a multi-byte character split across
// reads stays intact, and invalid UTF-8 is caught per line by the caller.

export interface Split {
  readonly lines: Buffer[];
  /** A line (finished or not) passed `max` bytes; nothing after it was consumed. */
  readonly tooLarge: boolean;
}

const NEWLINE = 0x0a;
const RETURN = 0x0d;

export class LineSplitter {
  private parts: Buffer[] = [];
  private partLength = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): Split {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) break;
      if (this.partLength + (end - start) > this.max) return { lines, tooLarge: true };
      let line = chunk.subarray(start, end);
      if (this.partLength > 0) {
        line = Buffer.concat([...this.parts, line]);
        this.parts = [];
        this.partLength = 0;
      }
      if (line.length > 0 && line[line.length - 1] === RETURN) line = line.subarray(0, line.length - 1);
      if (line.length > 0) lines.push(line);
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.partLength + rest.length > this.max) return { lines, tooLarge: true };
      // Copy: a small slice would keep the whole 64 KiB read buffer alive.
      this.parts.push(Buffer.from(rest));
      this.partLength += rest.length;
    }
    return { lines, tooLarge: false };
  }
}
