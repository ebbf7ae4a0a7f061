// The recent output of one service, kept in memory for `tend logs NAME -n N` and `-f`.
//
// Lines arrive in blocks (see lines.ts) at up to a gigabyte a second; turning each into a
// string would cost more than routing it. So the ring keeps the blocks themselves and
// trims whole lines from the front to stay within its line and byte bounds; strings are
// made only when someone asks (last()) or listens (subscribe()).

export type StreamName = 'stdout' | 'stderr';

export interface RingLine {
  readonly stream: StreamName;
  /** When the block holding the line was read (ms since the epoch). */
  readonly time: number;
  /** The line without its '\n'. */
  readonly text: string;
}

export type RingListener = (line: RingLine) => void;

/** What feeds a ring from elsewhere (the output router's native routes). */
export interface RingFeeder {
  /** Brings in the lines held for `ring`. */
  pull(ring: RingBuffer): void;
  /** Listeners came or went. */
  listenersChanged(ring: RingBuffer): void;
}

export interface RingBufferOptions {
  readonly maxLines?: number;
  readonly maxBytes?: number;
}

interface Block {
  buf: Buffer;
  /** The buffer `buf` was copied into: reused once the block is trimmed away. */
  readonly storage: Buffer;
  /** Offset of the first line still kept. */
  start: number;
  lines: number;
  readonly stream: StreamName;
  readonly time: number;
}

const NL = 0x0a;

export class RingBuffer {
  readonly maxLines: number;
  readonly maxBytes: number;
  private blocks: Block[] = [];
  private head = 0;
  private lines = 0;
  private bytes = 0;
  private readonly listeners = new Set<RingListener>();
  /** Storage of trimmed blocks, for the next appends: a ring that keeps up with a service
   * logging as fast as it can then copies into the same few buffers instead of allocating. */
  private spare: Buffer[] = [];
  /** Lines of each block appendBlocks was given. */
  private readonly counted: number[] = [];
  /**
   * Set by the output router while the native console reader feeds this ring
   * (src/log/output.ts): it keeps a service's recent lines on its side until they are
   * asked for, so last() and size first bring them in, and it hands over every line while
   * someone listens. One object for every ring, not closures per ring (1,000 services).
   */
  feeder: RingFeeder | null = null;

  constructor(options: RingBufferOptions = {}) {
    this.maxLines = options.maxLines ?? 1000;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
  }

  /** Whether someone follows every line. */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  /** Lines currently kept. */
  get size(): number {
    this.feeder?.pull(this);
    return Math.min(this.lines, this.maxLines);
  }

  /**
   * Appends a block of whole lines, each ending in '\n' (as LineSplitter makes them).
   * `count` is the number of lines in it when the caller already knows.
   */
  append(block: Buffer, stream: StreamName, count?: number, time = Date.now()): void {
    this.appendBlocks([block], stream, [count], time);
  }

  /**
   * Appends blocks of whole lines (one read's, in order) as one block: one copy, one
   * storage. `counts[i]`: the lines in blocks[i] when the caller already knows.
   * `lastLinesStart(block, n)`, when given, says where a block's last n lines begin: a read
   * of more lines than the ring shows is then copied from its last maxLines lines only
   * (unless someone follows every line).
   */
  appendBlocks(blocks: readonly Buffer[], stream: StreamName, counts: readonly (number | undefined)[], time = Date.now(), lastLinesStart?: (block: Buffer, n: number) => number): void {
    let length = 0;
    let lines = 0;
    for (let i = 0; i < blocks.length; i++) {
      const count = counts[i] ?? countLines(blocks[i]!);
      this.counted[i] = count;
      length += blocks[i]!.length;
      lines += count;
    }
    if (length === 0) return;
    let first = 0;
    let from = 0;
    if (lines > this.maxLines && this.maxLines > 0 && lastLinesStart !== undefined && this.listeners.size === 0) {
      // Whole blocks before the last maxLines lines are skipped, the first kept one cut.
      let skip = lines - this.maxLines;
      while (this.counted[first]! <= skip) skip -= this.counted[first++]!;
      from = skip > 0 ? lastLinesStart(blocks[first]!, this.counted[first]! - skip) : 0;
      length = blocks[first]!.length - from;
      for (let i = first + 1; i < blocks.length; i++) length += blocks[i]!.length;
      lines = this.maxLines;
    }
    // Trimmed first: the blocks this one pushes out lend it their storage (a service
    // logging as fast as it can then cycles through the same buffer or two).
    this.lines += lines;
    this.bytes += length;
    this.trim();
    // Always a copy: the block may be a read buffer that the next read overwrites, and a
    // small block cut from a big read would keep all of it alive.
    const storage = this.storageFor(length);
    let at = blocks[first]!.copy(storage, 0, from);
    for (let i = first + 1; i < blocks.length; i++) at += blocks[i]!.copy(storage, at);
    const buf = storage.length === length ? storage : storage.subarray(0, length);
    this.blocks.push({ buf, storage, start: 0, lines, stream, time });
    if (this.listeners.size > 0) {
      for (const line of splitBlock(buf, 0, stream, time)) for (const listener of this.listeners) listener(line);
    }
  }

  /** Appends one line (no '\n' needed). */
  appendLine(text: string, stream: StreamName, time = Date.now()): void {
    this.append(Buffer.from(text.endsWith('\n') ? text : `${text}\n`), stream, 1, time);
  }

  /** The last n lines (all kept lines when n is omitted), oldest first. */
  last(n = Infinity): RingLine[] {
    this.feeder?.pull(this);
    const out: RingLine[] = [];
    let need = Math.min(n, this.lines, this.maxLines);
    // Walk back to the block where the wanted lines start, then split forward.
    let i = this.blocks.length;
    let skip = 0;
    while (need > 0 && i > this.head) {
      i -= 1;
      const block = this.blocks[i]!;
      if (block.lines >= need) {
        skip = block.lines - need;
        need = 0;
      } else {
        need -= block.lines;
      }
    }
    for (let j = i; j < this.blocks.length; j++) {
      const block = this.blocks[j]!;
      const lines = splitBlock(block.buf, block.start, block.stream, block.time);
      out.push(...(j === i ? lines.slice(skip) : lines));
    }
    return out;
  }

  /** Calls listener for every line appended from now on; returns the unsubscribe function. */
  subscribe(listener: RingListener): () => void {
    // No pull first: lines the native reader holds were read after the last pull (`tend logs
    // -f` pulls with last() just before), and are news to the listener.
    this.listeners.add(listener);
    this.feeder?.listenersChanged(this);
    return () => {
      this.listeners.delete(listener);
      this.feeder?.listenersChanged(this);
    };
  }

  private storageFor(length: number): Buffer {
    for (let i = this.spare.length - 1; i >= 0; i--) {
      const storage = this.spare[i]!;
      // Big enough, and not so big that a small block would pin a large one.
      if (storage.length >= length && storage.length <= length * 4) {
        this.spare.splice(i, 1);
        return storage;
      }
    }
    return Buffer.allocUnsafeSlow(length);
  }

  /** Keeps the two largest storages trimmed: a line cut short of a read must not push out a read's storage. */
  private keepSpare(storage: Buffer): void {
    if (this.spare.length < 2) {
      this.spare.push(storage);
      return;
    }
    const smaller = this.spare[0]!.length <= this.spare[1]!.length ? 0 : 1;
    if (this.spare[smaller]!.length < storage.length) this.spare[smaller] = storage;
  }

  clear(): void {
    this.spare = [];
    this.blocks = [];
    this.head = 0;
    this.lines = 0;
    this.bytes = 0;
  }

  /** Drops old blocks while the ring is over its bounds. */
  private trim(): void {
    // Whole blocks only: cutting lines off the head block one indexOf at a time scanned
    // every chunk a second time (~6% of tend's log throughput). The ring may hold up to a
    // block more lines than maxLines; last() and size never show more than maxLines.
    while (this.head < this.blocks.length) {
      const block = this.blocks[this.head]!;
      const keptBytes = block.buf.length - block.start;
      // Memory is a hard bound; lines only need to be enough for last(maxLines).
      if (this.bytes <= this.maxBytes && this.lines - block.lines < this.maxLines) break;
      this.lines -= block.lines;
      this.bytes -= keptBytes;
      this.head += 1;
      this.keepSpare(block.storage);
      this.blocks[this.head - 1] = DROPPED;
    }
    // Compact now and then instead of shifting the array on every drop.
    if (this.head > 64 && this.head * 2 > this.blocks.length) {
      this.blocks = this.blocks.slice(this.head);
      this.head = 0;
    }
  }
}

/** In place of a trimmed block (its storage may be reused): never read again. */
const DROPPED: Block = { buf: Buffer.alloc(0), storage: Buffer.alloc(0), start: 0, lines: 0, stream: 'stdout', time: 0 };

function countLines(buf: Buffer): number {
  let count = 0;
  for (let at = buf.indexOf(NL); at !== -1; at = buf.indexOf(NL, at + 1)) count += 1;
  return count;
}

function splitBlock(buf: Buffer, start: number, stream: StreamName, time: number): RingLine[] {
  const lines: RingLine[] = [];
  for (let from = start; from < buf.length; ) {
    let nl = buf.indexOf(NL, from);
    if (nl === -1) nl = buf.length;
    lines.push({ stream, time, text: buf.toString('utf8', from, nl) });
    from = nl + 1;
  }
  return lines;
}
