// A forking service's pid_file: the daemon writes its pid there once it has forked.
import { readFileSync, rmSync } from 'node:fs';

/** The pid in the file, or why there is none, worded to follow "its pid_file PATH". */
export function readPidFile(path: string): number | string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'has not appeared' : `cannot be read (${code ?? String(error)})`;
  }
  // A daemon may still be writing it: an empty or partial file is read again later.
  const first = text.split('\n', 1)[0]!.trim();
  if (first === '') return 'is empty';
  if (!/^[1-9][0-9]{0,9}$/.test(first)) return `holds no pid ("${first.slice(0, 40)}")`;
  const pid = Number(first);
  return pid <= 4_194_304 ? pid : `holds no pid ("${first.slice(0, 40)}")`;
}

/** Removes a pid file an earlier run left behind; a missing one is fine. */
export function removePidFile(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // A pid file that cannot be removed is read as it is: the daemon overwrites it.
  }
}
