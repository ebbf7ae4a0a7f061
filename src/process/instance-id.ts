// A tend's TEND_INSTANCE: 16 hex digits that tell its processes from another tend's (a
// nested tend, or one before a restart of the container) in /proc environ markers.
// Read from the kernel's pool directly: `node:crypto` would cost ~3 ms of start-up to load.
import { closeSync, openSync, readSync } from 'node:fs';

export function newInstanceId(): string {
  const bytes = Buffer.alloc(8);
  try {
    const fd = openSync('/dev/urandom', 'r');
    try {
      readSync(fd, bytes, 0, 8, null);
    } finally {
      closeSync(fd);
    }
  } catch {
    // No /dev/urandom (an unusual sandbox): uniqueness is all the markers need.
    bytes.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, 0);
    bytes.writeUInt32LE((process.pid ^ Date.now()) >>> 0, 4);
  }
  return bytes.toString('hex');
}
