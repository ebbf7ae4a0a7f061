// The native console reader (native/reader.c, thread tend-console), as the log library
// sees it: the one writer of tend's console when it runs, and the reader of the pipes of
// services whose output goes there as prefixed or raw text (src/log/output.ts decides
// which). log/ imports no native code: the supervisor hands in the addon's functions.
import { constants } from 'node:os';

/** What log/ needs of native/reader.c (the functions tend-lines.node exports). */
export interface ConsoleBinding {
  readerStart(onEvents: () => void, stdoutFd: number, stderrFd: number): boolean;
  readerWrite(target: number, bytes: Uint8Array): number;
  readerWant(target: number, empty: boolean): number;
  readerStatus(out: Float64Array): number;
  readerReady(out: Int32Array): number;
  readerAdd(fd: number, target: number, prefix: Uint8Array, carry: Uint8Array, maxLines: number, maxBytes: number, full: boolean): number;
  readerPrefix(route: number, prefix: Uint8Array): number;
  readerMode(route: number, full: boolean): number;
  readerTake(route: number, dst: Uint8Array, meta: Float64Array): number;
  readerPending(route: number, out: Float64Array): number;
  readerFree(route: number): number;
}

export function isConsoleBinding(value: unknown): value is ConsoleBinding {
  return typeof value === 'object' && value !== null && typeof (value as { readerStart?: unknown }).readerStart === 'function' && typeof (value as { readerFree?: unknown }).readerFree === 'function';
}

/** A console target's side of the events: the writer backend polls its counts. */
export interface ConsoleTargetListener {
  onStatus(): void;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

export class NativeConsole {
  private readonly status = new Float64Array(4);
  private ready = new Int32Array(256);
  private readonly targets: (ConsoleTargetListener | null)[] = [null, null];
  /** The output router's: routes with lines to take, or ended. */
  onReady: ((routes: Int32Array, count: number) => void) | null = null;

  private constructor(readonly binding: ConsoleBinding) {}

  /** Starts the thread writing `fds` (-1: that stream is not the thread's); null when it cannot run. */
  static start(binding: ConsoleBinding, fds: readonly [number, number]): NativeConsole | null {
    const console = new NativeConsole(binding);
    try {
      return binding.readerStart(() => console.events(), fds[0], fds[1]) ? console : null;
    } catch {
      return null;
    }
  }

  listen(target: number, listener: ConsoleTargetListener): void {
    this.targets[target] = listener;
  }

  write(target: number, bytes: Uint8Array): void {
    this.binding.readerWrite(target, bytes);
  }

  /** Bytes the thread holds for the target: JavaScript's writes and the routes' output it could not write yet. */
  queued(target: number): number {
    this.binding.readerStatus(this.status);
    return this.status[target * 2]!;
  }

  /** Asks for an event once the target's queue is below the high-water mark, or (`empty`) empty. */
  want(target: number, empty: boolean): void {
    this.binding.readerWant(target, empty);
  }

  /** The error code that failed the target (EPIPE, ENOSPC...), or null. */
  failed(target: number): string | null {
    this.binding.readerStatus(this.status);
    const errno = this.status[target * 2 + 1]!;
    return errno === 0 ? null : ERRNO_NAMES.get(errno) ?? 'EIO';
  }

  /** The thread asked the event loop to look: writes done, a console failed, routes ready. */
  private events(): void {
    let count = this.binding.readerReady(this.ready);
    while (count < 0) {
      this.ready = new Int32Array(-count * 2);
      count = this.binding.readerReady(this.ready);
    }
    for (const target of this.targets) target?.onStatus();
    if (count > 0) this.onReady?.(this.ready, count);
  }
}
