// A service's output pipe as src/process/spawn.ts reads it: one shared buffer, and a pipe
// that fills the buffer (a service writing faster than tend reads) grown to 256 KiB and
// read a quarter as often.
import { describe, expect, test } from 'vitest';
import { closeSync } from 'node:fs';
import { pipe } from '../../native/libc';
import { growOutputPipe, spawnProcess, type OutputReader, type SpawnSpec } from '../../src/process/spawn';

const context = { instance: 'test-instance', socket: null };
const F_GETPIPE_SZ = 1032;

function spec(argv: string[]): SpawnSpec {
  return { service: 'svc', argv, env: {}, cwd: null, user: null, group: null, stdin: 'null', output: 'pipe', notifyFd: null, cgroup: null, session: 'new' };
}

function pipeSize(reader: OutputReader): number {
  return fdPipeSize((reader as unknown as { _handle: { fd: number } })._handle.fd);
}

function fdPipeSize(fd: number): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ffi = require('ffi-rs') as typeof import('ffi-rs');
  ffi.open({ library: 'output-pipe-test-libc', path: '' });
  return ffi.load({ library: 'output-pipe-test-libc', funcName: 'fcntl', retType: ffi.DataType.I32, paramsType: [ffi.DataType.I32, ffi.DataType.I32], paramsValue: [fd, F_GETPIPE_SZ] }) as number;
}

/** Reads a process's stdout to its end: the size of each read, the first MB of text, the pipe's capacity at the last read. */
async function readAll(argv: string[]) {
  const child = spawnProcess(spec(argv), context);
  const reader = child.stdout as OutputReader;
  const sizes: number[] = [];
  let text = '';
  let size = 0;
  reader.handTo((chunk) => {
    sizes.push(chunk.length);
    if (text.length < 1_000_000) text += chunk.toString('latin1');
    size = pipeSize(reader);
  });
  await new Promise((resolve) => reader.once('end', resolve));
  await child.exit;
  return { sizes, text, size };
}

describe('a service output pipe', () => {
  test('a writer faster than tend gets its pipe grown to 256 KiB, and every byte arrives in order', async () => {
    const { sizes, text, size } = await readAll(['sh', '-c', 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 33554432']);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(33_554_432);
    expect(size).toBe(256 * 1024);
    expect(Math.max(...sizes)).toBeGreaterThan(64 * 1024);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256 * 1024);
    expect(text.slice(0, 999_999).split('\n').slice(0, -1).every((line) => line === '0123456789abcdefghijklmnopqrstuvwxyz')).toBe(true);
  });

  test('a writer of a few lines keeps the default 64 KiB pipe', async () => {
    const { sizes, text, size } = await readAll(['sh', '-c', 'for i in 1 2 3; do echo line $i; done']);
    expect(text).toBe('line 1\nline 2\nline 3\n');
    expect(Math.max(...sizes)).toBeLessThan(64 * 1024);
    expect(size).toBe(64 * 1024);
  });

  test('the console pipe tend writes to is grown to 256 KiB (the supervisor hands this to the console writer)', () => {
    const [read, write] = pipe();
    try {
      expect(fdPipeSize(write)).toBe(64 * 1024);
      expect(growOutputPipe(write)).toBe(true);
      expect(fdPipeSize(read)).toBe(256 * 1024);
    } finally {
      closeSync(read);
      closeSync(write);
    }
  });
});
