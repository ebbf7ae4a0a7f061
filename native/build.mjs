// Compiles tend's exec helper with the system C compiler. Run by `npm ci` (the root
// package's own install script) and by the Dockerfile's build stage. Both are required:
// every process tend starts is started by libtend through the helper.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cc = process.env.CC || 'cc';
mkdirSync(join(here, 'build'), { recursive: true });

function compile(source, output, flags, fallback) {
  if (!existsSync(join(here, source))) return;
  const result = spawnSync(cc, ['-O2', '-Wall', '-Wextra', ...flags, '-o', join(here, 'build', output), join(here, source)], { stdio: 'inherit' });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status}`;
    console.warn(`tend: could not build native/${source} with ${cc} (${why}); ${fallback}`);
  }
}

compile('tend-exec.c', 'tend-exec', [],
  'tend cannot start services: every process it starts goes through this helper');
compile('libtend.c', 'libtend.so', ['-shared', '-fPIC', '-pthread'],
  'tend cannot start: it spawns, reaps and signals its children through libtend');
