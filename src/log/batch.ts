// Batched writes (writev) of the fd writer and the file sink share this arithmetic.

/** What is left of `batch` after `written` bytes of it went out (a short write). */
export function remainder(batch: readonly Buffer[], written: number): Buffer[] {
  let skip = written;
  for (let i = 0; i < batch.length; i++) {
    const buffer = batch[i]!;
    if (skip < buffer.length) return [buffer.subarray(skip), ...batch.slice(i + 1)];
    skip -= buffer.length;
  }
  return [];
}
