// Compiles tend's native parts with the system C compiler. Run by `npm ci` (the root
// package's own install script) and by the Dockerfile's build stage. The exec helper and
// libtend are required: every process tend starts is started, reaped and signalled by
// libtend through the helper.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cc = process.env.CC || 'cc';
mkdirSync(join(here, 'build'), { recursive: true });

/** Compiles `sources` (under native/) to `output` (under native/build/ unless absolute). */
export function compile(sources, output, flags, fallback) {
  const files = [sources].flat().map((source) => join(here, source));
  if (!files.every((file) => existsSync(file))) return false;
  const target = output.startsWith('/') ? output : join(here, 'build', output);
  const result = spawnSync(cc, ['-O2', '-Wall', '-Wextra', ...flags, '-o', target, ...files], { stdio: 'inherit' });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status}`;
    console.warn(`tend: could not build native/${[sources].flat().join(' + ')} with ${cc} (${why}); ${fallback}`);
    return false;
  }
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  compile('tend-exec.c', 'tend-exec', [],
    'tend cannot start services: every process it starts goes through this helper');
  // signals.c: the signal intake the launcher preloads (it interposes the mask calls: -ldl).
  // -z now: every libc call is bound at load, so the child libtend's clone3 starts (which
  // shares tend's memory until it execs) never runs the dynamic linker's lazy resolver.
  compile(['libtend.c', 'signals.c', 'dgram.c', 'sockets.c', 'oom.c', 'thread.c'], 'libtend.so', ['-shared', '-fPIC', '-pthread', '-ldl', '-Wl,-z,now'],
    'tend cannot start: it spawns, reaps and signals its children through libtend');
  // The line kernel of prefixed service output, a Node-API addon: built against this
  // Node's own headers (Node's release archives, its Docker images and Debian's nodejs
  // ship them). Optional: without it the router prefixes in JavaScript.
  const headers = join(dirname(process.execPath), '..', 'include', 'node');
  if (existsSync(join(headers, 'node_api.h'))) {
    compile(['lines.c', 'reader.c', 'thread.c'], 'tend-lines.node', ['-shared', '-fPIC', '-pthread', `-I${headers}`], 'service output is prefixed in JavaScript (slower)');
  } else {
    console.warn(`tend: no Node-API headers at ${headers}; service output is prefixed in JavaScript (slower)`);
  }
  // bin/tend, the executable to run: a checkout's runs the Node that built it (this one).
  // Static where the C library allows it: one exec with no dynamic loading costs ~0.25 ms
  // less of every start (measured: 0.75 vs 1.0 ms added to exec'ing /bin/true).
  const launcher = [join(here, '..', 'bin', 'tend'), [`-DTEND_DEV_NODE=${JSON.stringify(process.execPath)}`]];
  mkdirSync(join(here, '..', 'bin'), { recursive: true }); // the Dockerfile runs this before bin/ is copied
  const quietly = spawnSync(cc, ['-O2', '-static', ...launcher[1], '-o', launcher[0], join(here, 'tend-launch.c')], { stdio: 'ignore' });
  if (quietly.error || quietly.status !== 0) {
    compile('tend-launch.c', ...launcher, 'run tend as `node bin/tend.cjs` (signals in Node\'s own start-up are then lost)');
  }
}
