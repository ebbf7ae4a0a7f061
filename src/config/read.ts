// Reads a manifest or an env_file. A regular file is read synchronously: it is small, and
// tend's start-up should not pay for node:fs/promises and the thread pool's first spin-up.
// Anything else (a FIFO, /dev/fd/N from a shell's process substitution) is read
// asynchronously: on a reload, a writer that never comes must not stall the event loop —
// and with it reaping and signal forwarding.
import { readFileSync, statSync } from 'node:fs';

export async function readConfigFile(path: string): Promise<Buffer> {
  let regular: boolean;
  try {
    regular = statSync(path).isFile();
  } catch {
    regular = true; // the read below reports the error (ENOENT, EACCES...) as before
  }
  if (regular) return readFileSync(path);
  const { readFile } = require('node:fs/promises') as typeof import('node:fs/promises');
  return readFile(path);
}
