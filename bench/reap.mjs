// Reap latency in a storm of double-forked orphans, with the real spawner and reaper,
// as subreaper and (when unshare works) as PID 1 of a new PID namespace.
//   node native/build.mjs && node bench/reap.mjs [ORPHANS]
// Prints the driver's JSON line: orphans reaped, service runs during the storm, exits that
// came back wrong or twice (must be none), zombies left.
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Beside native/, where the driver finds native/build (and under the root, for ffi-rs).
const outdir = join(root, '.test-bundles');
mkdirSync(outdir, { recursive: true });
const driver = join(outdir, 'storm.cjs');
buildSync({ entryPoints: [join(root, 'test', 'process', 'drivers', 'storm.ts')], outfile: driver, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['ffi-rs'], logLevel: 'error' });
const n = process.argv[2] ?? '1000';
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
for (const [name, argv] of [
  ['subreaper', [process.execPath, driver, n]],
  ['PID 1', ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, driver, n]],
]) {
  const started = Date.now();
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8' });
  if (r.status !== 0) { console.log(`${name}: failed (${r.stderr.trim()})`); continue; }
  console.log(`${name.padEnd(10)} ${r.stdout.trim()}  (${Date.now() - started} ms total)`);
}
