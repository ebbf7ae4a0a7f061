// Bundles a small TypeScript entry (a test's own driver script) into a CJS file under
// .test-bundles/ (beside native/, where the driver finds native/build, and under the root,
// where require('ffi-rs') still resolves), so it can run as its own
// process: as PID 1 under unshare, or under unshare --mount with a custom /etc/group.
import { buildSync } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT } from '../helpers/tend';

export function bundle(entry: string): string {
  const dir = join(ROOT, '.test-bundles');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${basename(entry, '.ts')}-${process.pid}.cjs`);
  buildSync({ entryPoints: [entry], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['ffi-rs'], logLevel: 'error' });
  return outfile;
}
