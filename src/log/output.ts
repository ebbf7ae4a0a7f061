// Routes services' stdout and stderr, line by line, to tend's own stdout and stderr, the
// service's log file, its in-memory ring, and the `log` readiness probe.
//
// Speed (measured, 1 GiB of 100-byte lines): a write per line runs at ~95 MiB/s, a write per
// chunk at 700–1000. So each pipe read becomes one output buffer: line ends are found
// with indexOf, the chunk is copied once to the end of the output buffer and each line
// moved forward into place behind its prefix with copyWithin (a V8 builtin memmove that
// allocates nothing) — ~1 GB/s on one core, where a Buffer.copy per line manages ~350 MB/s.
//
// Flow control: when tend's writer or the file is backed up, the source stream is paused.
// The service then blocks on its full pipe, as it would writing to a slow terminal: no
// output is lost, and memory stays bounded by the writers' high-water marks plus a read.
//
// Formats, per service `console` mode:
//   prefix + text  `web | GET / 200` (names padded to the longest, as docker compose does)
//   prefix + json  {"time":ISO,"level":30|50,"service","stream","msg"} — pino's numeric
//                  levels (30 info for stdout, 50 error for stderr) and ISO time, the same
//                  as tend's own json records, so one parser reads both
//   raw            the line unchanged, in either format
//   none           nothing to the console; file, ring and onLine still get every line
//   inherit        not routed at all: the supervisor gives the service tend's fds
import type { Readable } from 'node:stream';
import type { ConsoleMode, LogFormat } from '../plan/types';
import type { NativeConsole } from './console';
import type { RotatingFile } from './filesink';
import { LineSplitter } from './lines';
import type { RingBuffer, RingFeeder, StreamName } from './ring';
import type { AsyncWriter } from './writer';

export interface OutputSink {
  readonly console: ConsoleMode;
  readonly file: RotatingFile | null;
  /** Where stderr lines go instead of `file` (log.stderr_file); null: with stdout. */
  readonly stderrFile?: RotatingFile | null;
  readonly ring: RingBuffer | null;
  /**
   * Called with every line (without '\n') while set. Read on every chunk, so the
   * supervisor can clear it once a `log` readiness probe has matched: making a string
   * per line costs more than routing the line.
   */
  onLine?: ((line: string, stream: StreamName) => void) | undefined;
}

export interface OutputRouterOptions {
  readonly format: LogFormat;
  readonly stdout: AsyncWriter;
  readonly stderr: AsyncWriter;
  /**
   * The native line kernel (native/lines.ts), asked for on the first prefixed read; absent
   * or null: lines are prefixed in JavaScript, with the same result.
   */
  readonly kernel?: () => LineKernel | null;
  /**
   * The native console reader (src/log/console.ts), when it runs: the pipes of services
   * whose output goes to a console it writes, as text (prefix or raw), are read, split,
   * prefixed and written by its thread; the router takes what the ring, the files and the
   * readiness probe need from it.
   */
  readonly native?: NativeConsole | null;
}

/** What the router needs of native/lines.c (the supervisor hands it in: log/ imports no native code). */
export interface LineKernel {
  /**
   * Copies `src` (lines ending in '\n') into `dst` from `offset`, each line behind
   * `prefix`; `count[0]` gets the number of lines. Returns the bytes written, or
   * -(bytes needed) when `dst` is too small (an empty `dst` asks only the size).
   */
  prefixLines(src: Uint8Array, prefix: Uint8Array, dst: Uint8Array, offset: number, count: Int32Array): number;
  /** The number of '\n' in `src`. */
  countLines(src: Uint8Array): number;
  /** Where the last `n` lines of `src` (lines ending in '\n') begin; 0 when it holds `n` or fewer. */
  lastLinesStart(src: Uint8Array, n: number): number;
}

/**
 * A source that hands out reads instead of emitting 'data' (a service's pipe,
 * src/process/spawn.ts): a chunk is valid only during the call — the router copies what
 * it keeps. `handTo` hands it what was read before the router attached, then the rest.
 */
interface ChunkSource {
  onChunk: ((chunk: Buffer) => void) | null;
  handTo(onChunk: (chunk: Buffer) => void): void;
}

function isChunkSource(source: unknown): source is ChunkSource {
  return typeof source === 'object' && source !== null && 'onChunk' in source && typeof (source as { handTo?: unknown }).handTo === 'function';
}

export interface Drainable {
  once(event: 'drain', listener: () => void): unknown;
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);
/** Output buffers are sized in steps of this, and reused for chunks up to about twice their size. */
const OUT_SLACK = 32 * 1024;
/**
 * Bytes of output buffers a router owns at most, in flight and kept for reuse: the writes
 * the writers' and files' high-water marks (1 MiB each) let be in flight come back and go
 * out again without new allocations. A buffer dropped while it was still needed would be
 * replaced by a new one at each burst, and garbage buffers pile up by tens of MiB before
 * V8 collects them (measured: 256 KiB reads with a 1 MiB spare pool peaked at 73-101 MiB).
 */
const MAX_OWNED_BYTES = 4 * 1024 * 1024;

export class OutputRouter implements RingFeeder {
  private readonly format: LogFormat;
  private readonly stdout: AsyncWriter;
  private readonly stderr: AsyncWriter;
  private pad = 0;
  private readonly prefixes = new Map<string, Buffer>();
  /** Line ends of the chunk being routed; grown when a chunk has more lines. */
  private ends = new Int32Array(4096);
  private readonly loadKernel: () => LineKernel | null;
  private kernel: LineKernel | null | undefined;
  /** The kernel's line count. */
  private readonly count = new Int32Array(1);
  private readonly lastLinesStart = (block: Buffer, n: number): number => this.kernel!.lastLinesStart(block, n);
  /** Bytes per line of the last chunk the kernel prefixed: sizes the next one's buffer. */
  private bytesPerLine = 32;

  constructor(options: OutputRouterOptions) {
    this.format = options.format;
    this.stdout = options.stdout;
    this.stderr = options.stderr;
    this.loadKernel = options.kernel ?? (() => null);
    this.native = options.native ?? null;
    if (this.native !== null) this.native.onReady = (ids, count) => this.nativeReady(ids, count);
  }

  /** Pads prefixes to the longest of these names (call again after a reload). */
  setServiceNames(names: readonly string[]): void {
    this.pad = names.reduce((max, name) => Math.max(max, name.length), 0);
    this.prefixes.clear();
    // The native thread's routes take the new padding from their next line on, as these do.
    for (const route of this.nativeRoutes.values()) {
      if (route.sink.console === 'prefix') this.native!.binding.readerPrefix(route.id, this.prefix(route.service));
    }
  }

  // ---- the native console reader's routes ----

  private readonly native: NativeConsole | null;
  /** Native routes by id, until they end and are taken for the last time. */
  private readonly nativeRoutes = new Map<number, NativeRoute>();
  /** The native routes feeding each ring: a ring's lines are taken from all of them at once, in the order they were read. */
  private readonly ringRoutes = new Map<RingBuffer, NativeRoute[]>();
  private readonly pendingOut = new Float64Array(2);
  private takeBuffer = Buffer.alloc(0);

  /**
   * Hands the pipe to the native thread: what was read before is routed here first (its
   * console lines queue ahead of the thread's own), the unfinished line goes with the pipe.
   * False when the thread would not take it (the JavaScript route then reads it).
   */
  private followNatively(service: string, stream: StreamName, source: PipeSource, sink: OutputSink, target: number, ended: (() => void) | null): boolean {
    const native = this.native!;
    const writer = stream === 'stdout' ? this.stdout : this.stderr;
    source.pause();
    const early = new LineSplitter();
    source.handTo((chunk) => {
      const blocks = early.push(chunk);
      if (blocks.length > 0) this.route(service, stream, blocks, sink, writer, undefined, true);
    });
    source.onChunk = null;
    const carry = early.takeUnfinished();
    const ring = sink.ring;
    const route = new NativeRoute(service, stream, sink, ended);
    route.full = wantsEveryLine(sink);
    const prefix = sink.console === 'prefix' ? this.prefix(service) : EMPTY;
    const id = native.binding.readerAdd(source.pipeFd, target, prefix, carry, ring?.maxLines ?? 0, ring?.maxBytes ?? 0, route.full);
    if (id < 0) {
      // The JavaScript route reads on, from the unfinished line.
      const js = new PipeRoute(this, service, stream, source, sink, writer, ended);
      if (carry.length > 0) js.splitter.push(carry);
      this.followInJs(js, source);
      source.resume();
      return true;
    }
    route.id = id;
    this.nativeRoutes.set(id, route);
    this.live += 1;
    if (ring !== null) {
      const routes = this.ringRoutes.get(ring);
      if (routes === undefined) this.ringRoutes.set(ring, [route]);
      else routes.push(route);
      ring.feeder = this;
    }
    // The thread reads its own duplicate of the pipe; tend's socket on it goes.
    source.on('error', ignore);
    source.destroy();
    return true;
  }

  /** RingFeeder's: `ring` is about to be read. */
  pull(ring: RingBuffer): void {
    this.pullRing(ring, null);
  }

  /** RingFeeder's: every line to JavaScript while a file, a readiness probe or a follower wants them; only the recent ones otherwise. */
  listenersChanged(ring: RingBuffer): void {
    for (const route of this.ringRoutes.get(ring) ?? []) this.setMode(route);
  }

  private setMode(route: NativeRoute): void {
    const full = wantsEveryLine(route.sink);
    if (full === route.full) return;
    route.full = full;
    this.native!.binding.readerMode(route.id, full);
  }

  /** The thread's list: routes with lines to take, or ended. */
  private nativeReady(ids: Int32Array, count: number): void {
    const seen = new Set<NativeRoute>();
    for (let i = 0; i < count; i++) {
      const route = this.nativeRoutes.get(ids[i]!);
      if (route !== undefined) seen.add(route);
    }
    for (const route of seen) {
      if (route.waiting > 0 && !route.ended) continue; // taken once its sinks drain
      const ring = route.sink.ring;
      this.pullRing(ring, route);
    }
  }

  /**
   * Takes the pending lines of the routes feeding `ring` (or of `only`, when it has none)
   * and hands them to the ring, the files and the probe, in the order they were read.
   * Routes whose sinks are backed up wait for their 'drain'; ended routes are finished.
   */
  private pullRing(ring: RingBuffer | null, only: NativeRoute | null): void {
    const routes = ring !== null ? [...(this.ringRoutes.get(ring) ?? [])] : only !== null ? [only] : [];
    const binding = this.native!.binding;
    const ended: NativeRoute[] = [];
    const order: Segment[] = [];
    // The routes' lines lie side by side in the take buffer until delivered; a new one is
    // started when it runs out (the blocks already taken keep the old one alive). A sink
    // called from here that reads the ring (pulling again) gets buffers of its own.
    const reentered = this.pulling;
    let buffer = reentered ? EMPTY : this.takeBuffer;
    let at = 0;
    for (const route of routes) {
      if (route.waiting > 0 && route !== only) continue;
      for (;;) {
        const isEnded = binding.readerPending(route.id, this.pendingOut) === 1;
        const bytes = this.pendingOut[0]!;
        const segs = this.pendingOut[1]!;
        if (isEnded && !route.ended) {
          route.ended = true;
          ended.push(route);
        }
        if (segs === 0) break;
        if (at + bytes > buffer.length) {
          buffer = Buffer.allocUnsafeSlow(Math.max(bytes, 64 * 1024));
          at = 0;
          if (!reentered && buffer.length <= 4 * 1024 * 1024 && buffer.length > this.takeBuffer.length) this.takeBuffer = buffer;
        }
        const meta = new Float64Array(segs * 4);
        const dst = buffer.subarray(at, at + bytes);
        // -1: more arrived between the two calls (the thread reads on): asked again.
        const n = binding.readerTake(route.id, dst, meta);
        if (n < 0) continue;
        let offset = 0;
        for (let i = 0; i < n; i++) {
          const length = meta[i * 4]!;
          order.push({ route, block: dst.subarray(offset, offset + length), lines: meta[i * 4 + 1]!, time: meta[i * 4 + 2]!, seq: meta[i * 4 + 3]! });
          offset += length;
        }
        at += offset;
        break;
      }
    }
    if (order.length > 0) {
      if (routes.length > 1) order.sort((a, b) => a.seq - b.seq);
      this.pulling = true;
      try {
        for (const segment of order) this.deliver(segment.route, segment.block, segment.lines, segment.time);
      } finally {
        this.pulling = reentered;
      }
    }
    for (const route of routes) if (!route.ended) this.setMode(route);
    for (const route of ended) {
      if (binding.readerPending(route.id, this.pendingOut) === 1 && this.pendingOut[0] === 0) this.finishNative(route);
    }
  }

  /** Set while pulled lines are being delivered. */
  private pulling = false;

  /** One read's lines from the thread to the sinks the console writer is not. */
  private deliver(route: NativeRoute, block: Buffer, lines: number, time: number): void {
    const sink = route.sink;
    const stream = route.stream;
    const file = stream === 'stderr' && sink.stderrFile ? sink.stderrFile : sink.file;
    let backedUp: Drainable | null = null;
    if (file && !this.writeBlocks(file, [block], true)) backedUp = file;
    if (sink.ring) {
      if (this.kernel === undefined) this.kernel = this.loadKernel();
      this.blockLines.length = 1;
      this.blockLines[0] = lines;
      sink.ring.appendBlocks([block], stream, this.blockLines, time, this.kernel ? this.lastLinesStart : undefined);
    }
    const onLine = sink.onLine;
    if (onLine) {
      for (let from = 0; from < block.length; ) {
        const nl = block.indexOf(NL, from);
        onLine(block.toString('utf8', from, nl), stream);
        from = nl + 1;
      }
    }
    if (backedUp !== null && route.waiting === 0) {
      // The thread stops reading at its high-water mark until this route takes again.
      route.waiting = 1;
      backedUp.once('drain', () => {
        route.waiting = 0;
        if (this.nativeRoutes.get(route.id) === route) this.pullRing(route.sink.ring, route);
      });
    }
  }

  private finishNative(route: NativeRoute): void {
    this.nativeRoutes.delete(route.id);
    const ring = route.sink.ring;
    if (ring !== null) {
      const routes = this.ringRoutes.get(ring);
      const at = routes?.indexOf(route) ?? -1;
      if (at >= 0) routes!.splice(at, 1);
      if (routes?.length === 0) this.ringRoutes.delete(ring);
      // The ring keeps its feeder: its next runs' routes feed it too.
    }
    this.native!.binding.readerFree(route.id);
    this.routeEnded();
    route.onEnded?.();
  }

  /**
   * Routes one of a service's output streams until it ends. Resolves at end of file (or
   * when the stream errors or is destroyed) once the last line, ended with '\n' if the
   * service did not, has been handed to the writers. Never rejects.
   */
  attach(service: string, stream: StreamName, source: Readable, sink: OutputSink): Promise<void> {
    return new Promise((resolve) => this.follow(service, stream, source, sink, resolve));
  }

  /**
   * `attach` without a promise of its own (a service's pipes, for as long as it runs: the
   * supervisor waits for them all at once, `allEnded`). A stream is attached once.
   */
  follow(service: string, stream: StreamName, source: Readable, sink: OutputSink, ended: (() => void) | null = null): void {
    const writer = stream === 'stdout' ? this.stdout : this.stderr;
    if (this.native !== null && this.format === 'text' && (sink.console === 'prefix' || sink.console === 'raw') && writer.nativeTarget !== null && isPipeSource(source)) {
      if (this.followNatively(service, stream, source, sink, writer.nativeTarget, ended)) return;
    }
    const route = new PipeRoute(this, service, stream, source, sink, writer, ended);
    this.followInJs(route, source);
  }

  private followInJs(route: PipeRoute, source: Readable): void {
    ROUTES.set(source, route);
    this.live += 1;
    // A chunk source may call its reader as a plain function (reads kept before this): bound to the stream.
    if (route.transient) (source as unknown as ChunkSource).handTo(routeChunk.bind(source));
    else source.on('data', routeChunk);
    source.on('end', routeEnd);
    source.on('close', routeEnd);
    // A read error (EIO from a pty, say) ends the stream like EOF; the service's exit is
    // what the supervisor acts on. An 'error' with no listener throws.
    source.on('error', routeEnd);
  }

  /** Streams attached that have not ended. */
  private live = 0;
  private whenNoneLive: Array<() => void> = [];

  /** How many attached streams have not ended. */
  get following(): number {
    return this.live;
  }

  /** Resolves once every stream attached so far has ended (at once when none is attached). */
  allEnded(): Promise<void> {
    if (this.live === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenNoneLive.push(resolve));
  }

  /** PipeRoute's: its stream ended. */
  routeEnded(): void {
    this.live -= 1;
    if (this.live > 0) return;
    const waiters = this.whenNoneLive;
    this.whenNoneLive = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Whole lines that came another way than a pipe (syslog datagrams): `block` holds them,
   * each ended with '\n', as the console, the file and the ring show them; in json mode
   * the console gets `records()` instead, one JSON record per line. Returns the sinks that
   * are backed up: send more after their 'drain'.
   */
  routeLines(service: string, stream: StreamName, block: Buffer, sink: OutputSink, records: () => string): Drainable[] {
    return this.route(service, stream, [block], sink, stream === 'stdout' ? this.stdout : this.stderr, records);
  }

  /** Hands blocks of whole lines to every sink; returns the sinks that are backed up. (PipeRoute's too.) */
  route(service: string, stream: StreamName, blocks: Buffer[], sink: OutputSink, writer: AsyncWriter, records?: () => string, transient = false): Drainable[] {
    // Blocks of a transient read are overwritten by the next read: a sink that queues them
    // gets a copy in a recycled buffer, handed back once written; the ring copies what it
    // keeps itself. The prefixed and json forms are buffers of their own already.
    const full: Drainable[] = [];
    // Set when the console's form counted each block's lines (blockLines): the ring needs
    // them, and counting a read's lines again, one indexOf per line, cost as much as
    // prefixing them.
    let counted = false;
    switch (sink.console) {
      case 'prefix': {
        if (records !== undefined && this.format === 'json') {
          if (!writer.write(records())) full.push(writer);
          break;
        }
        if (this.format === 'json') {
          const out = this.json(service, stream, blocks);
          counted = true;
          if (!writer.write(out)) full.push(writer);
          break;
        }
        const out = this.prefixed(service, blocks);
        counted = true;
        const storage = this.outStorage;
        if (!writer.write(out, () => this.recycle(storage))) full.push(writer);
        break;
      }
      case 'raw':
        if (!this.writeBlocks(writer, blocks, transient)) full.push(writer);
        break;
      case 'none':
      case 'inherit':
        break;
      default:
        return assertNever(sink.console);
    }
    const file = stream === 'stderr' && sink.stderrFile ? sink.stderrFile : sink.file;
    if (file && !this.writeBlocks(file, blocks, transient)) full.push(file);
    if (sink.ring) {
      const time = Date.now();
      if (!counted) this.countLines(blocks);
      sink.ring.appendBlocks(blocks, stream, this.blockLines, time, this.kernel ? this.lastLinesStart : undefined);
    }
    const onLine = sink.onLine;
    if (onLine) {
      for (const block of blocks) {
        for (let from = 0; from < block.length; ) {
          const nl = block.indexOf(NL, from);
          onLine(block.toString('utf8', from, nl), stream);
          from = nl + 1;
        }
      }
    }
    // The same writer twice (raw mode, two blocks) needs one 'drain'.
    return full.length > 1 ? [...new Set(full)] : full;
  }

  /** Lines in each block of the last chunk prefixed(), json() or countLines() went through; undefined: not counted. */
  private readonly blockLines: (number | undefined)[] = [];

  /** blockLines for blocks no console form counted: natively, or left to the ring. */
  private countLines(blocks: Buffer[]): void {
    if (this.kernel === undefined) this.kernel = this.loadKernel();
    const kernel = this.kernel;
    this.blockLines.length = blocks.length;
    for (let i = 0; i < blocks.length; i++) this.blockLines[i] = kernel === null ? undefined : kernel.countLines(blocks[i]!);
  }

  /**
   * Buffers the prefixed output is built in, back from the writer once it has written them:
   * one allocated per chunk became garbage that piled up by tens of MiB between
   * collections while a service logged as fast as it can. Bounded: the writers hold at
   * most their high-water mark (and a read) in flight.
   */
  private readonly spare: Buffer[] = [];
  /** Bytes of the buffers in `spare` and of those in flight (taken, not yet recycled). */
  private owned = 0;
  /** The buffer prefixed() built its last output in. */
  private outStorage: Buffer = Buffer.alloc(0);

  /**
   * Hands `blocks` (whole lines, in order) to a sink that queues what it is given. A
   * transient read's blocks are copied, together, into one recycled buffer the sink hands
   * back once written: a copy per read was garbage that piled up by tens of MiB between
   * collections under a service logging as fast as it can. False: the sink is backed up.
   */
  private writeBlocks(sink: { write(chunk: Buffer, release?: () => void): boolean }, blocks: Buffer[], transient: boolean): boolean {
    if (!transient) {
      let ok = true;
      for (const block of blocks) ok = sink.write(block) && ok;
      return ok;
    }
    let bytes = 0;
    for (const block of blocks) bytes += block.length;
    const storage = this.take(bytes);
    let at = 0;
    for (const block of blocks) {
      storage.set(block, at);
      at += block.length;
    }
    return sink.write(storage.subarray(0, bytes), () => this.recycle(storage));
  }

  private take(length: number): Buffer {
    for (let i = this.spare.length - 1; i >= 0; i--) {
      const storage = this.spare[i]!;
      if (storage.length >= length && storage.length <= length * 2 + OUT_SLACK) {
        this.spare.splice(i, 1);
        return storage;
      }
    }
    // Rounded up, so that the next chunks, of about the same size, fit in it.
    const size = Math.ceil(length / OUT_SLACK) * OUT_SLACK;
    // Kept buffers of sizes no longer asked for make room for it.
    while (this.owned + size > MAX_OWNED_BYTES && this.spare.length > 0) this.owned -= this.spare.shift()!.length;
    this.owned += size;
    return Buffer.allocUnsafeSlow(size);
  }

  private recycle(storage: Buffer): void {
    if (this.owned <= MAX_OWNED_BYTES) this.spare.push(storage);
    else this.owned -= storage.length;
  }

  /** `name | line` for every line, built in one buffer. */
  private prefixed(service: string, blocks: Buffer[]): Buffer {
    const prefix = this.prefix(service);
    if (this.kernel === undefined) this.kernel = this.loadKernel();
    if (this.kernel !== null) return this.prefixedNatively(this.kernel, prefix, blocks);
    const pl = prefix.length;
    let n = 0;
    let bytes = 0;
    this.blockLines.length = blocks.length;
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      const before = n;
      for (let at = block.indexOf(NL); at !== -1; at = block.indexOf(NL, at + 1)) {
        if (n === this.ends.length) this.grow();
        this.ends[n++] = bytes + at + 1;
      }
      this.blockLines[i] = n - before;
      bytes += block.length;
    }
    // Lay the lines down at the end of the output, then move each forward into place
    // behind its prefix: the moves never overlap a line not yet moved.
    const shift = n * pl;
    this.outStorage = this.take(bytes + shift);
    const out = this.outStorage.subarray(0, bytes + shift);
    let at = shift;
    for (const block of blocks) {
      out.set(block, at);
      at += block.length;
    }
    prefix.copy(out, 0);
    let o = 0;
    let from = shift;
    for (let i = 0; i < n; i++) {
      const end = this.ends[i]! + shift;
      // The prefix is a few bytes: a plain loop beats a copyWithin call per line (~30% of
      // prefixed()'s time at 100-byte lines, bench/figures/logs.mjs).
      if (i > 0) for (let k = 0; k < pl; k++) out[o + k] = prefix[k]!;
      o += pl;
      out.copyWithin(o, from, end);
      o += end - from;
      from = end;
    }
    return out;
  }

  /**
   * prefixed() through the native kernel: a memchr and two memcpys per line, one call per
   * block (~4 times the JavaScript's speed at 100-byte lines). The buffer is sized from
   * the last chunk's line length; when that guess is short, the kernel says how much is
   * needed and the chunk is built again in a buffer of that size.
   */
  private prefixedNatively(kernel: LineKernel, prefix: Buffer, blocks: Buffer[]): Buffer {
    const pl = prefix.length;
    let bytes = 0;
    for (const block of blocks) bytes += block.length;
    let size = bytes + Math.ceil((bytes * 1.125) / this.bytesPerLine + blocks.length) * pl;
    for (;;) {
      const storage = this.take(size);
      let at = 0;
      let lines = 0;
      this.blockLines.length = blocks.length;
      for (let i = 0; i < blocks.length; i++) {
        const written = kernel.prefixLines(blocks[i]!, prefix, storage, at, this.count);
        if (written < 0) {
          at = -1;
          break;
        }
        at += written;
        this.blockLines[i] = this.count[0]!;
        lines += this.count[0]!;
      }
      if (at >= 0) {
        this.outStorage = storage;
        if (lines > 0) this.bytesPerLine = Math.max(1, bytes / lines);
        return storage.subarray(0, at);
      }
      this.recycle(storage);
      size = 0;
      for (const block of blocks) size -= kernel.prefixLines(block, prefix, EMPTY, 0, this.count);
    }
  }

  /** One JSON record per line. Invalid UTF-8 becomes U+FFFD: every record stays valid JSON. */
  private json(service: string, stream: StreamName, blocks: Buffer[]): string {
    const head = `{"time":"${new Date().toISOString()}","level":${stream === 'stdout' ? 30 : 50},"service":${JSON.stringify(service)},"stream":"${stream}","msg":`;
    let out = '';
    this.blockLines.length = blocks.length;
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      let n = 0;
      for (let from = 0; from < block.length; ) {
        const nl = block.indexOf(NL, from);
        out += `${head}${JSON.stringify(block.toString('utf8', from, nl))}}\n`;
        from = nl + 1;
        n += 1;
      }
      this.blockLines[i] = n;
    }
    return out;
  }

  private prefix(service: string): Buffer {
    let prefix = this.prefixes.get(service);
    if (!prefix) {
      prefix = Buffer.from(`${service.padEnd(this.pad)} | `);
      this.prefixes.set(service, prefix);
    }
    return prefix;
  }

  private grow(): void {
    const bigger = new Int32Array(this.ends.length * 2);
    bigger.set(this.ends);
    this.ends = bigger;
  }
}

/** The whole lines' consumers that need every line, not just the ring's last ones. */
function wantsEveryLine(sink: OutputSink): boolean {
  return sink.file !== null || (sink.stderrFile ?? null) !== null || sink.onLine !== undefined || (sink.ring?.listening ?? false);
}

function ignore(): void {}

/** A service's pipe as src/process/spawn.ts makes it: a chunk source with its fd. */
type PipeSource = Readable & ChunkSource & { readonly pipeFd: number };

function isPipeSource(source: Readable): source is PipeSource {
  return isChunkSource(source) && typeof (source as { pipeFd?: unknown }).pipeFd === 'number';
}

/** One read's lines taken from the native thread. */
interface Segment {
  readonly route: NativeRoute;
  readonly block: Buffer;
  readonly lines: number;
  readonly time: number;
  readonly seq: number;
}

/** A pipe the native thread reads: what JavaScript knows of it. */
class NativeRoute {
  id = -1;
  /** Whether the thread hands over every line (else only the ring's recent ones). */
  full = false;
  /** 1 while a sink is backed up: taken again after its 'drain'. */
  waiting = 0;
  ended = false;

  constructor(
    readonly service: string,
    readonly stream: StreamName,
    readonly sink: OutputSink,
    readonly onEnded: (() => void) | null,
  ) {}
}

function assertNever(value: never): never {
  throw new Error(`unexpected console mode ${String(value)}`);
}

/**
 * One attached stream's routing: its line splitter and whether it waits for backed-up
 * sinks. The listeners on its stream are the shared functions below, which find it by
 * the stream (`this`): a service's two pipes had ~10 closures, their contexts and two
 * `once` wrappers each, for as long as the service ran (heap snapshots, 1,000 services).
 */
class PipeRoute {
  readonly splitter = new LineSplitter();
  readonly transient: boolean;
  /** Backed-up sinks not drained yet: the stream stays paused until none is left. */
  waiting = 0;
  ended = false;
  private resumer: (() => void) | null = null;

  constructor(
    private readonly router: OutputRouter,
    private readonly service: string,
    private readonly stream: StreamName,
    private readonly source: Readable,
    private readonly sink: OutputSink,
    private readonly writer: AsyncWriter,
    private readonly onEnded: (() => void) | null,
  ) {
    this.transient = isChunkSource(source);
  }

  read(chunk: Buffer | string): void {
    const blocks = this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (blocks.length > 0) this.routeBlocks(blocks);
  }

  finish(): void {
    if (this.ended) return;
    this.ended = true;
    const source = this.source;
    if (this.transient) (source as unknown as ChunkSource).onChunk = null;
    else source.off('data', routeChunk);
    source.off('end', routeEnd);
    source.off('close', routeEnd);
    // 'error' stays: a later error with no listener would throw.
    const last = this.splitter.flush();
    if (last) this.routeBlocks([last]);
    ROUTES.delete(source);
    this.router.routeEnded();
    this.onEnded?.();
  }

  private routeBlocks(blocks: Buffer[]): void {
    const full = this.router.route(this.service, this.stream, blocks, this.sink, this.writer, undefined, this.transient);
    if (full.length === 0) return;
    this.source.pause();
    this.waiting += full.length;
    // Backed up is the exception: a closure for it then, not one per stream.
    const resume = (this.resumer ??= () => {
      this.waiting -= 1;
      if (this.waiting === 0 && !this.ended) this.source.resume();
    });
    for (const target of full) target.once('drain', resume);
  }
}

/** Each attached stream's route, found by the stream its listeners are called on. */
const ROUTES = new WeakMap<object, PipeRoute>();

/** A read (ChunkSource's onChunk, or 'data'), called on the stream. */
function routeChunk(this: object, chunk: Buffer | string): void {
  ROUTES.get(this)?.read(chunk);
}

/** 'end', 'close' or 'error' on the stream: the route ends. */
function routeEnd(this: object): void {
  ROUTES.get(this)?.finish();
}
