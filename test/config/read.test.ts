// Manifests and env_files: regular files are read at once; a FIFO (process substitution,
// a generator) is read without blocking tend's event loop.
import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { openSync, writeFileSync, writeSync, closeSync } from 'node:fs';
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
    // The loop is free: a timer fires while the read waits for a writer.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fd = openSync(fifo, 'w');
    writeSync(fd, 'services: {}\n');
    closeSync(fd);
    expect((await reading).toString()).toBe('services: {}\n');
  });
});
