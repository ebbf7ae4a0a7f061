// The line kernel of prefixed service output (native/lines.c, built as tend-lines.node):
// a Node-API addon rather than a libtend function, because the router calls it once per
// pipe read and an ffi-rs call costs tens of µs where a Node-API call costs ~0.2 µs.
// Loaded on first use; null when it was not built (the router then prefixes in JavaScript).
import { nativeArtifact } from './libc';

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

let kernel: LineKernel | null | undefined;

export function lineKernel(): LineKernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  const path = nativeArtifact('tend-lines.node');
  if (path === null) return kernel;
  try {
    const module = { exports: {} as Partial<LineKernel> };
    process.dlopen(module, path);
    if (typeof module.exports.prefixLines === 'function' && typeof module.exports.countLines === 'function' && typeof module.exports.lastLinesStart === 'function') kernel = module.exports as LineKernel;
  } catch {
    // Built for another platform or Node-API version: the JavaScript path is as correct.
  }
  return kernel;
}
