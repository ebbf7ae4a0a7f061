// dist/ for the tests that run tend's built CLI. `npm test` builds first; a test file run
// alone may find dist/ older than the sources. Rebuild then — once, under a lock: test
// files run in parallel processes, and two builds at once would race on dist/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './tend';

const STAMP = join(ROOT, 'dist', '.built');
const LOCK = join(ROOT, 'node_modules', '.cache', 'tend-build.lock');

function newestSource(): number {
  let newest = 0;
  const visit = (path: string): void => {
    const stat = statSync(path);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const path of ['src', 'native/libc.ts', 'scripts/build.mjs', 'bin/tend.cjs', 'bin/tend-snapshot.cjs', 'scripts/snapshot.mjs', 'scripts/snapshot-builtins.cjs', 'package.json']) visit(join(ROOT, path));
  return newest;
}

function upToDate(): boolean {
  try {
    return statSync(STAMP).mtimeMs >= newestSource();
  } catch {
    return false;
  }
}

const pause = (ms: number): void => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) as unknown as void;

/** Builds dist/ unless it is newer than every source; throws with the build's stderr on failure. */
export function ensureBuilt(): void {
  if (upToDate()) return;
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${LOCK} held for 2 minutes: a build crashed? remove it`);
      pause(100);
    }
  }
  try {
    if (upToDate()) return; // another test file built it while we waited
    const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  } finally {
    rmdirSync(LOCK);
  }
}
