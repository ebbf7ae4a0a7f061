// Compiles tend's exec helper with the system C compiler. Run by `npm ci` (the root
// package's own install script) and by the Dockerfile's build stage. Without a compiler
// tend still works, falling back to child_process, and says once what it cannot do.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'tend-exec.c');
const output = join(here, 'build', 'tend-exec');

if (!existsSync(source)) process.exit(0);
mkdirSync(join(here, 'build'), { recursive: true });
const cc = process.env.CC || 'cc';
const result = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-o', output, source], { stdio: 'inherit' });
if (result.error || result.status !== 0) {
  const why = result.error ? result.error.message : `exit ${result.status}`;
  console.warn(`tend: could not build the exec helper with ${cc} (${why}); ` +
    'tend will fall back to child_process (no supplementary groups, no cgroup join before exec, no terminal hand-over)');
}
