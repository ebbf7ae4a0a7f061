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
