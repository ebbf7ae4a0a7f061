// tend's own log: a pino root logger writing through an AsyncWriter, never synchronously.
//
// pino formats; a small destination object decides what reaches the writer (README: Logs):
// while the writer is backed up, info and debug records are dropped and counted, and
// warnings and errors wait in a bounded queue. When the writer drains, the queue goes
// out first, then one warning says how many records were dropped.
//
// `text` records are formatted here from pino's metadata (no pino-pretty, no transport
// thread): `2026-11-22T08:00:00.000Z INFO  tend: web: started (pid 42)`.
// `json` records are pino's own JSON, with an ISO `time` (the same as service lines in
// json mode) and pino's numeric `level`.
import pino, { type Logger } from 'pino';
import type { LogFormat, LogLevel } from '../plan/types';
import { droppedLogLines } from './messages';
import type { AsyncWriter } from './writer';

export interface CreateLoggerOptions {
  readonly format: LogFormat;
  readonly level: LogLevel;
  readonly writer: AsyncWriter;
  /** The writer's name in the dropped-lines warning: 'stdout' or 'stderr'. */
  readonly streamName?: string;
  /** Bytes queued in the writer above which info/debug records are dropped. */
  readonly dropAbove?: number;
  /** Bound of the queue of warnings and errors held while the writer is backed up. */
  readonly maxHeld?: { readonly records: number; readonly bytes: number };
}

export interface TendLog {
  /** The root logger. Per service: `logger.child({ service: name })`. */
  readonly logger: Logger;
  /** Changes the level of the root and of every child logger made from it. */
  setLevel(level: LogLevel): void;
  /**
   * Writes out held records (and the dropped-lines warning) and waits for the writer:
   * true when everything was written. Pass a timeout at exit.
   */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Records dropped so far: info/debug while backed up, warnings when the hold was full. */
  readonly dropped: { readonly info: number; readonly held: number };
}

const WARN = 40;
// pino fills in the destination's last* fields before each write() when this is set.
const NEEDS_METADATA: unique symbol = Symbol.for('pino.metadata') as never;
const LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

export function createLogger(options: CreateLoggerOptions): TendLog {
  const children = new Set<WeakRef<Logger>>();
  const destination = new PolicyDestination(options);
  const logger = pino(
    {
      level: options.level,
      base: null, // no pid/hostname on every line: one process, one container
      timestamp: pino.stdTimeFunctions.isoTime,
      onChild: (child) => children.add(new WeakRef(child)),
    },
    destination,
  );
  destination.reportDrops = (count) => logger.warn(droppedLogLines(count, options.streamName ?? 'the log'));

  return {
    logger,
    setLevel(level) {
      logger.level = level;
      // pino copies the level into a child when it is made; later changes do not follow.
      for (const ref of children) {
        const child = ref.deref();
        if (child) child.level = level;
        else children.delete(ref);
      }
    },
    flush: (timeoutMs) => destination.flush(timeoutMs),
    get dropped() {
      return { info: destination.droppedInfo, held: destination.droppedHeld };
    },
  };
}

interface Metadata {
  lastLevel: number;
  lastObj: Record<string, unknown> | undefined;
  lastMsg: string | undefined;
  lastLogger: Logger | undefined;
}

/** pino's destination: formats text records and applies the backpressure policy. */
class PolicyDestination implements Metadata {
  readonly [NEEDS_METADATA] = true;
  lastLevel = 0;
  lastObj: Record<string, unknown> | undefined;
  lastMsg: string | undefined;
  lastLogger: Logger | undefined;

  droppedInfo = 0;
  droppedHeld = 0;
  /** Drops not yet reported. */
  private unreported = 0;
  private held: string[] = [];
  private heldBytes = 0;
  reportDrops: (count: number) => void = () => {};

  private readonly writer: AsyncWriter;
  private readonly format: LogFormat;
  private readonly dropAbove: number;
  private readonly maxHeld: { readonly records: number; readonly bytes: number };

  constructor(options: CreateLoggerOptions) {
    this.writer = options.writer;
    this.format = options.format;
    // Drops start above the writer's mark, or no 'drain' would ever announce the end.
    this.dropAbove = Math.max(options.dropAbove ?? options.writer.highWaterMark + 1024 * 1024, options.writer.highWaterMark);
    this.maxHeld = options.maxHeld ?? { records: 1000, bytes: 1024 * 1024 };
    this.writer.on('drain', () => this.release());
  }

  write(json: string): void {
    const level = this.lastLevel;
    const line = this.format === 'json' ? json : formatText(this);
    if (this.held.length === 0 && !this.blocked()) {
      this.writer.write(line);
      return;
    }
    if (level < WARN) {
      this.droppedInfo += 1;
      this.unreported += 1;
    } else if (this.held.length < this.maxHeld.records && this.heldBytes + line.length <= this.maxHeld.bytes) {
      this.held.push(line);
      this.heldBytes += line.length;
    } else {
      this.droppedHeld += 1;
      this.unreported += 1;
    }
  }

  private blocked(): boolean {
    return this.writer.queued > this.dropAbove;
  }

  /** On drain: held records go out in order while there is room, then the drop report. */
  private release(force = false): void {
    let i = 0;
    while (i < this.held.length && (force || !this.blocked())) this.writer.write(this.held[i++]!);
    this.held = this.held.slice(i);
    this.heldBytes = this.held.reduce((sum, line) => sum + line.length, 0);
    if (this.held.length === 0 && this.unreported > 0) {
      const count = this.unreported;
      this.unreported = 0;
      this.reportDrops(count); // comes back through write(): held if blocked again
    }
  }

  async flush(timeoutMs?: number): Promise<boolean> {
    // At exit the hold is bounded: hand it all to the writer and wait, with the deadline.
    this.release(true);
    this.release(true);
    return this.writer.flush(timeoutMs);
  }
}

/** `2026-11-22T08:00:00.000Z INFO  tend: web: started (pid 42)`, plus fields and a stack. */
function formatText(meta: Metadata): string {
  const label = (LABELS[meta.lastLevel] ?? 'USER').padEnd(5);
  let text = `${new Date().toISOString()} ${label} tend: ${meta.lastMsg ?? ''}`;
  let stack = '';
  const fields: Record<string, unknown> = { ...meta.lastLogger?.bindings(), ...meta.lastObj };
  for (const [key, value] of Object.entries(fields)) {
    // The service is already the subject of the message (messages.ts).
    if (key === 'service' || value === undefined) continue;
    if (value instanceof Error) {
      stack = value.stack ?? `${value.name}: ${value.message}`;
      continue;
    }
    text += ` ${key}=${typeof value === 'string' ? value : safeJson(value)}`;
  }
  if (stack) text += `\n${stack}`;
  // One record, one write: continuation lines are indented so they cannot pass for records.
  return `${text.replace(/\n(?!$)/g, '\n    ')}\n`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
