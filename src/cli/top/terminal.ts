// The terminal under `tend top`: the alternate screen, a hidden cursor and raw keys while
// the view runs, and everything put back — whichever way it ends (q, a signal, a lost
// connection, a bug). Frames are written as the lines that changed since the last one.
import { writeSync } from 'node:fs';
import type { ReadStream, WriteStream } from 'node:tty';

const ENTER = '\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[H\x1b[2J'; // alternate screen, cursor hidden, no autowrap, cleared
const LEAVE = '\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l'; // attributes reset, autowrap, cursor shown, main screen

export class Terminal {
  private active = false;
  private previous: string[] = [];
  private readonly onData = (chunk: Buffer | string): void => this.keys(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));

  constructor(
    private readonly input: ReadStream | null,
    private readonly output: WriteStream,
    private readonly keys: (text: string) => void,
  ) {}

  get size(): { columns: number; rows: number } {
    return { columns: Math.max(1, this.output.columns || 80), rows: Math.max(1, this.output.rows || 24) };
  }

  enter(): void {
    if (this.active) return;
    this.active = true;
    this.write(ENTER);
    if (this.input !== null) {
      this.input.setRawMode(true);
      this.input.setEncoding('utf8');
      this.input.on('data', this.onData);
      this.input.resume();
    }
  }

  /** Draws a frame: only the lines that differ from the last one, unless `full`. */
  draw(lines: readonly string[], full = false): void {
    if (!this.active) return;
    let out = full ? '\x1b[H\x1b[2J' : '';
    const previous = full ? [] : this.previous;
    lines.forEach((l, i) => {
      if (previous[i] !== l) out += `\x1b[${i + 1};1H${l}\x1b[K`;
    });
    if (lines.length < previous.length) out += `\x1b[${lines.length + 1};1H\x1b[J`;
    this.previous = [...lines];
    if (out !== '') this.write(out);
  }

  /** Puts the terminal back as it was; safe to call more than once, and from an exit handler. */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    if (this.input !== null) {
      this.input.removeListener('data', this.onData);
      try {
        this.input.setRawMode(false);
      } catch {
        // the terminal is gone (a hang-up): nothing to put back
      }
      this.input.pause();
    }
    this.write(LEAVE);
  }

  private write(text: string): void {
    // Synchronous, so that what restores the terminal is out before the process exits.
    const fd = (this.output as unknown as { fd: number }).fd;
    let buffer = Buffer.from(text, 'utf8');
    try {
      while (buffer.length > 0) buffer = buffer.subarray(writeSync(fd, buffer));
    } catch {
      // EIO, EPIPE: the terminal went away
    }
  }
}
