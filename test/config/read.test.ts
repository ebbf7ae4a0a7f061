// Manifests and env_files: regular files are read at once; a FIFO (process substitution,
// a generator) is read without blocking tend's event loop.
import { describe, expect, test } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { constants, openSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { readConfigFile } from '../../src/config/read';
import { tempDir } from '../helpers/tend';

describe('readConfigFile', () => {
  test('a regular file', async () => {
    const file = join(tempDir(), 'tend.yaml');
    writeFileSync(file, 'services: {}\n');
    expect((await readConfigFile(file)).toString()).toBe('services: {}\n');
  });

  test('a missing file rejects with its errno code, as a read would', async () => {
    await expect(readConfigFile(join(tempDir(), 'nope.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a FIFO whose writer comes late: the event loop keeps turning meanwhile', async () => {
    const fifo = join(tempDir(), 'manifest.fifo');
    execFileSync('mkfifo', [fifo]);
    const reading = readConfigFile(fifo);
    // The loop is free: it turns (twice) while the read waits for a writer.
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    const fd = openSync(fifo, 'w');
    writeSync(fd, 'services: {}\n');
    closeSync(fd);
    expect((await reading).toString()).toBe('services: {}\n');
  });
});

// Finding 1 (reliability round two): a FIFO opened without a writer blocked *inside a libuv
// thread-pool thread* (open(2) waits for a partner). Four such reloads filled the pool, so
// every later fs call — log files included — queued forever, and process.exit joined the
// stuck threads: tend could never exit.
describe('finding 1: a FIFO manifest or env_file never pins a thread-pool thread', () => {
  test('finding 1: FIFOs without a writer leave the thread pool free, and give up after the timeout', async () => {
    const dir = tempDir();
    const regular = join(dir, 'regular');
    writeFileSync(regular, 'ok');
    // More FIFOs than libuv has pool threads (4 by default).
    const fifos = Array.from({ length: 6 }, (_, index) => join(dir, `m${index}.fifo`));
    for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
    const reads = fifos.map((fifo) => readConfigFile(fifo, { timeoutMs: 1500 }).then(() => 'read', (error: NodeJS.ErrnoException) => error.code));
    try {
      // A pool-backed read finishes although no FIFO has a writer.
      const { readFile } = await import('node:fs/promises');
      const pool = await Promise.race([
        readFile(regular, 'utf8'),
        new Promise((resolve) => setTimeout(() => resolve('the thread pool is blocked'), 1000)),
      ]);
      expect(pool).toBe('ok');
      expect(await Promise.all(reads)).toEqual(fifos.map(() => 'ETIMEDOUT'));
    } finally {
      // On a build where the opens do block, give each a writer so this worker can exit.
      for (const fifo of fifos) {
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {
          // ENXIO: nothing has it open for reading any more — the fixed path.
        }
      }
      await Promise.allSettled(reads);
    }
  });

  test('finding 1: a FIFO that sends more than the cap is refused', async () => {
    const fifo = join(tempDir(), 'big.fifo');
    execFileSync('mkfifo', [fifo]);
    const reading = readConfigFile(fifo, { maxBytes: 1024 });
    const writer = spawn('sh', ['-c', `head -c 100000 /dev/zero > '${fifo}'`], { stdio: 'ignore' });
    await expect(reading).rejects.toMatchObject({ code: 'EFBIG' });
    writer.kill();
  });

  test('finding 1: a character device is read without blocking (/dev/null is empty)', async () => {
    expect((await readConfigFile('/dev/null')).length).toBe(0);
  });

  test('finding 1: a directory is refused as before', async () => {
    await expect(readConfigFile(tempDir())).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
