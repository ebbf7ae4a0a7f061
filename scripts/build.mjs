// Builds dist/tend.cjs: one minified CommonJS bundle, because module resolution and
// parsing of many files dominate Node's start-up (FINDINGS: 176 ms unbundled vs 78 ms).
// ffi-rs stays external: it loads a platform-specific .node binary.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/tend.cjs',
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
