// Bundles a small TypeScript entry (a test's own driver script) into a CJS file under
// node_modules/.cache, where require('ffi-rs') still resolves, so it can run as its own
// process: as PID 1 under unshare, or under unshare --mount with a custom /etc/group.
import { buildSync } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT } from '../helpers/tend';

export const HELPER = join(ROOT, 'native', 'build', 'tend-exec');

export function bundle(entry: string): string {
  const dir = join(ROOT, 'node_modules', '.cache', 'tend-test');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${basename(entry, '.ts')}-${process.pid}.cjs`);
  buildSync({ entryPoints: [entry], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['ffi-rs'], logLevel: 'error' });
  return outfile;
}
