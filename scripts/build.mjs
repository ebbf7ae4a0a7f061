// Builds dist/: minified CommonJS bundles, because module resolution and parsing of many
// files dominate Node's start-up (FINDINGS: 176 ms unbundled vs 78 ms). tend.cjs is the
// small dispatcher; each mode is a bundle of its own, loaded only when that mode runs, so
// `tend -- CMD` never parses yaml, zod or pino and `tend status` never loads the
// supervisor. ffi-rs stays external: it loads a platform-specific .node binary.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { makeSnapshots, removeSnapshots } from './snapshot.mjs';

function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

// Code no mode of tend can reach, left out of the bundles: every byte in them is parsed and
// evaluated at start-up. zod's translations of its messages (tend writes its own, in
// English; ~260 KB), and pino's transports and its sonic-boom destination (tend gives
// pino its own destination, src/log/logger.ts; they would load worker_threads and assert).
// A stub throws if it is ever reached, so a future use fails loudly in the tests. pino also
// loads worker_threads (~2 ms) for `isMainThread` alone; tend's pino runs on the main
// thread, so pino gets that one fact instead (test/cli/startup.test.ts).
const unreachable = {
  name: 'unreachable',
  setup(b) {
    const stub = (path) => ({ path, namespace: 'unreachable' });
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (args.importer.includes('/zod/') ? stub('zod-locales') : undefined));
    b.onResolve({ filter: /^(thread-stream|sonic-boom)$/ }, (args) => (args.importer.includes('/pino/') ? stub(args.path) : undefined));
    b.onResolve({ filter: /^(node:)?worker_threads$/ }, (args) => (args.importer.includes('/pino/') ? stub('main-thread') : undefined));
    b.onLoad({ filter: /.*/, namespace: 'unreachable' }, (args) => ({
      loader: 'js',
      contents: args.path === 'zod-locales'
        ? 'export {}'
        : args.path === 'main-thread'
        ? 'module.exports = { isMainThread: true };'
        : `module.exports = function () { throw new Error(${JSON.stringify(`${args.path} is not bundled with tend (scripts/build.mjs)`)}); };`,
    }));
  },
};

// re2js, the log-pattern engine (src/vocab/pattern.ts; 150 KB), is a file of its own,
// dist/re2js.cjs, which a bundle requires only when a manifest has a `ready: { log: … }`
// pattern: in the run bundle its source was a sixth of what the start-up snapshot holds,
// and reads, at every start.
const separate = {
  name: 'separate',
  setup(b) {
    b.onResolve({ filter: /^re2js$/ }, () => ({ path: './re2js.cjs', external: true }));
  },
};

// The dispatcher (tend.cjs) and one bundle per mode, each loaded only when its mode runs.
const ENTRY_POINTS = {
  tend: 'src/roots/main.ts',
  run: 'src/roots/run.ts',
  tini: 'src/roots/tini.ts',
  'tini-control': 'src/roots/tini-control.ts',
  check: 'src/roots/check.ts',
  client: 'src/roots/client.ts',
  top: 'src/roots/top.ts',
  // tend exec: the client that starts a command as a service's processes start.
  exec: 'src/roots/exec.ts',
  // tend import: the migration readers and writer, never loaded by tend run.
  import: 'src/roots/import.ts',
};
/** The bundles src/roots/bundle.ts loads, each with its code cache. */
const MODES = Object.keys(ENTRY_POINTS).filter((name) => name !== 'tend');

/** How every file in dist/ is bundled: one CommonJS file for Node 20, minified, with its map. */
const BUNDLE = {
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
};
const built = await build({ ...BUNDLE, entryPoints: ENTRY_POINTS, external: ['ffi-rs'], plugins: [unreachable, separate] });
const engines = await build({ ...BUNDLE, entryPoints: { re2js: createRequire(import.meta.url).resolve('re2js') } });
// The old start-up snapshots go first (they hold the old bundles), then the old code
// caches: V8 checks a cache against its source by length only, so an old cache beside a
// new bundle of the same length would run stale code. Then each file is
// replaced whole (write, then rename): tests and a running tend may be loading dist/ while
// it is rebuilt, and must never read half a bundle.
removeSnapshots(process.cwd());
for (const mode of MODES) rmSync(resolve('dist', `${mode}.cjs.cache`), { force: true });
for (const file of [...built.outputFiles, ...engines.outputFiles]) writeAtomically(file.path, file.contents);

// V8 code caches for the mode bundles (dist/<mode>.cjs.cache, loaded by src/roots/main.ts):
// without one, compiling run.cjs and then compiling each function as it first runs costs
// ~35 ms of tend's start-up. The cache is written by tend itself at the end of a real run
// of each mode (TEND_BUILD_CODE_CACHE), so it holds every function that run compiled — the
// manifest check, zod's and yaml's parsers, the start and the shutdown — not just the
// top level. A cache only fits the Node (V8) that made it; V8 detects a mismatch and
// ignores it (tend then compiles as usual), so it is made here, by the Node that runs tend.
const work = mkdtempSync(join(tmpdir(), 'tend-build-'));
const manifest = join(work, 'tend.yaml');
const ready = join(work, 'ready');
// The run is ended the way a container is: SIGTERM while everything runs, so that the
// stop path (signals to each service's processes, the ordered shutdown) is in the cache.
// Where python3 is there, a second sidecar reports READY=1 over sd_notify, so that the
// notify socket, its receiver and the readiness it gates a dependent on are in the cache
// too: untrained, READY=1 → dependent started took ~1–2 ms more.
const python = spawnSync('python3', ['-c', ''], { stdio: 'ignore' }).status === 0;
const NOTIFIER = 'import os,socket,time\np=os.environ["NOTIFY_SOCKET"]\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.connect("\\0"+p[1:])\ns.send(b"READY=1\\nSTATUS=trained")\ntime.sleep(30)';
writeFileSync(manifest, [
  'services:',
  '  sidecar:',
  '    command: ["sleep", "30"]',
  '    ready: { command: ["true"], interval: 50ms }',
  ...(python ? ['  notifier:', `    command: ${JSON.stringify(['python3', '-c', NOTIFIER])}`, '    ready: { sd_notify: true }'] : []),
  '  app:',
  `    command: ["sh", "-c", "echo started; touch '${ready}'; exec sleep 30"]`,
  '    main: true',
  `    depends_on: { sidecar: { condition: ready }${python ? ', notifier: { condition: ready }' : ''} }`,
  '',
].join('\n'));
// Not the builder's own TEND_* (a build run under tend): the training runs are top-level tends.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEND_')));
Object.assign(env, { TEND_BUILD_CODE_CACHE: '1', TEND_SOCKET: join(work, 'tend.sock'), NODE_OPTIONS: '' });
/** Starts tend; `done` settles when it has exited (or could not start), however early. */
const tend = (args) => {
  // Through the launcher when it is built: the runs then take the paths a user's tend takes.
  const argv = existsSync(resolve('bin', 'tend')) ? [resolve('bin', 'tend'), ...args] : [process.execPath, resolve('bin', 'tend.cjs'), ...args];
  const child = spawn(argv[0], argv.slice(1), { cwd: work, env, stdio: 'ignore' });
  const done = new Promise((settle) => { child.once('exit', settle); child.once('error', settle); });
  let ended = false;
  done.then(() => { ended = true; });
  return { child, done, ended: () => ended };
};

/** Runs tend with `args` until `readyFile` exists, then SIGTERM: true if it got that far. */
async function trainUntilReady(args, readyFile) {
  const run = tend(args);
  const deadline = Date.now() + 20_000;
  while (!existsSync(readyFile) && !run.ended() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (!run.ended()) run.child.kill('SIGTERM');
  const killer = setTimeout(() => run.child.kill('SIGKILL'), 20_000);
  await run.done;
  clearTimeout(killer);
  return existsSync(readyFile);
}
const trained = [
  await trainUntilReady(['-c', manifest], ready),
  await trainUntilReady(['--', 'sh', '-c', `touch '${ready}-tini'; exec sleep 30`], `${ready}-tini`),
];
if (trained.includes(false)) console.warn('build: a training run of tend did not start its services; its code cache may be thin');
for (const args of [['check', '-c', manifest], ['status'], ['top'], ['exec', 'app', 'true']]) await tend(args).done;
rmSync(work, { recursive: true, force: true });

// The start-up snapshots, made after the code caches, which they are compiled with
// (scripts/snapshot.mjs). One that cannot be made is a warning: tend starts without it.
for (const { mode, why } of makeSnapshots(process.cwd())) console.warn(`build: no start-up snapshot for ${mode} (tend starts without it): ${why}`);
// Written last: test/helpers/build.ts rebuilds only when a source is newer than this.
writeAtomically(resolve('dist', '.built'), `${new Date().toISOString()}\n`);
