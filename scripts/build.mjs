// Builds dist/: minified CommonJS bundles, because module resolution and parsing of many
// files dominate Node's start-up (FINDINGS: 176 ms unbundled vs 78 ms). tend.cjs is the
// small dispatcher; each mode is a bundle of its own, loaded only when that mode runs, so
// `tend -- CMD` never parses yaml, zod or pino and `tend status` never loads the
// supervisor. ffi-rs stays external: it loads a platform-specific .node binary.
import { build } from 'esbuild';

await build({
  entryPoints: {
    tend: 'src/main.ts',
    run: 'src/supervisor/run.ts',
    tini: 'src/process/tini.ts',
    'tini-control': 'src/process/tini-control.ts',
    check: 'src/cli/check.ts',
    client: 'src/cli/client.ts',
  },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  sourcemap: 'linked',
  external: ['ffi-rs'],
  legalComments: 'none',
  logLevel: 'warning',
});

// V8 code caches for the mode bundles: compiling run.cjs (800 KB) costs ~35 ms of tend's
// start-up; with the cache V8 skips most of it. A cache is only valid for the Node (V8)
// that made it — a mismatch is detected and ignored by V8 (src/main.ts then compiles as
// usual) — so it is made here, by the same Node that builds and runs tend.
import { readFileSync, writeFileSync } from 'node:fs';
import { Script } from 'node:vm';
import Module from 'node:module';
import { resolve } from 'node:path';

for (const name of ['run', 'tini', 'check', 'client']) {
  const file = resolve('dist', `${name}.cjs`);
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file });
  writeFileSync(`${file}.cache`, script.createCachedData());
}
