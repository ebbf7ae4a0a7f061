// `npm run package` → out/tend-VERSION-linux-ARCH.tar.gz: one relocatable directory, `tend/`,
// that runs wherever it is unpacked on a glibc Linux with no Node, npm or compiler there:
//
//   tend/bin/tend              the launcher (native/tend-launch.c, TEND_PACKAGED: it runs
//                              runtime/node beside it and never a Node of the target's)
//   tend/bin/tend.cjs          the entry stub
//   tend/bin/tend-snapshot.cjs, tend/scripts/snapshot.mjs, tend/scripts/snapshot-builtins.cjs
//                              what makes a V8 start-up snapshot where tend is unpacked
//                              (`tend/runtime/node tend/scripts/snapshot.mjs`; the Dockerfile
//                              does): the package holds none, as a snapshot holds the paths
//                              it was made at
//   tend/dist/*.cjs, *.cache   the bundles and their V8 code caches
//   tend/native/build/         the exec helper, libtend and (when built) the line kernel
//   tend/node_modules/         ffi-rs and its native binding, nothing else
//   tend/runtime/node          this Node (the one that built dist/ and its caches), stripped
//
// Every path tend resolves is relative to where it is (/proc/self/exe, __dirname); nothing
// here records where it was built (test/package/package.test.ts checks that).
//
//   node scripts/package.mjs [--no-build] [--no-archive]
//     --no-build    use dist/ and native/build/ as they are (tests build them first)
//     --no-archive  stage out/tend/ only
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) throw new Error(`package: tend needs Node >= 20 for its runtime; this is ${process.version}`);

const OUT = join(ROOT, 'out');
const STAGE = join(OUT, 'tend');
const NAME = `tend-${pkg.version}-linux-${process.arch}`;
const ARCHIVE = join(OUT, `${NAME}.tar.gz`);

function run(command, argv, options = {}) {
  const result = spawnSync(command, argv, { cwd: ROOT, stdio: 'inherit', ...options });
  if (result.error || result.status !== 0) throw new Error(`package: ${command} ${argv.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
}

function copy(from, to, mode) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  if (mode !== undefined) chmodSync(to, mode);
}

/** Drops what a run never reads: debug info and the static symbol table (file names, too). */
function strip(file, how = '--strip-unneeded') {
  const result = spawnSync('strip', [how, file], { stdio: 'ignore' });
  if (result.error || result.status !== 0) console.warn(`package: could not strip ${file}; kept as it is`);
}

if (!args.has('--no-build')) {
  run(process.execPath, ['native/build.mjs']);
  run(process.execPath, ['scripts/build.mjs']);
}
for (const needed of ['dist/tend.cjs', 'native/build/tend-exec', 'native/build/libtend.so']) {
  if (!existsSync(join(ROOT, needed))) throw new Error(`package: ${needed} is missing (npm ci and npm run build make it)`);
}

rmSync(STAGE, { recursive: true, force: true });
mkdirSync(STAGE, { recursive: true });

// The launcher, packaged: runtime/node and nothing else. Static, so it has no C library
// floor of its own and costs no dynamic loading at each start.
const cc = process.env.CC || 'cc';
const launcher = join(STAGE, 'bin', 'tend');
mkdirSync(dirname(launcher), { recursive: true });
const launcherFlags = ['-O2', '-Wall', '-Wextra', '-DTEND_PACKAGED', '-o', launcher, join(ROOT, 'native', 'tend-launch.c')];
if (spawnSync(cc, ['-static', ...launcherFlags], { stdio: 'ignore' }).status !== 0) run(cc, launcherFlags);
strip(launcher, '--strip-all');
copy(join(ROOT, 'bin', 'tend.cjs'), join(STAGE, 'bin', 'tend.cjs'), 0o644);
copy(join(ROOT, 'bin', 'tend-snapshot.cjs'), join(STAGE, 'bin', 'tend-snapshot.cjs'), 0o644);
copy(join(ROOT, 'scripts', 'snapshot.mjs'), join(STAGE, 'scripts', 'snapshot.mjs'), 0o644);
// What snapshot.mjs preloads into a Node started from a new blob to list its modules (the
// trimming of Node's code cache: without it a blob is kept whole, 2.4 MB larger).
copy(join(ROOT, 'scripts', 'snapshot-builtins.cjs'), join(STAGE, 'scripts', 'snapshot-builtins.cjs'), 0o644);

// The bundles and their caches; not the source maps (Node reads them only with
// --enable-source-maps) nor the build's stamp.
for (const file of readdirSync(join(ROOT, 'dist'))) {
  if (file.endsWith('.cjs') || file.endsWith('.cjs.cache')) copy(join(ROOT, 'dist', file), join(STAGE, 'dist', file), 0o644);
}

for (const file of ['tend-exec', 'libtend.so']) {
  const target = join(STAGE, 'native', 'build', file);
  copy(join(ROOT, 'native', 'build', file), target, 0o755);
  strip(target);
}
// The line kernel of prefixed output: optional (built where Node's headers were found).
if (existsSync(join(ROOT, 'native', 'build', 'tend-lines.node'))) {
  const target = join(STAGE, 'native', 'build', 'tend-lines.node');
  copy(join(ROOT, 'native', 'build', 'tend-lines.node'), target, 0o755);
  strip(target);
}

// ffi-rs: its loader and the one binding for this platform (the loader picks it by name).
const ffi = join(ROOT, 'node_modules', 'ffi-rs');
for (const file of ['package.json', 'index.js', 'LICENSE']) copy(join(ffi, file), join(STAGE, 'node_modules', 'ffi-rs', file), 0o644);
const scope = join(ROOT, 'node_modules', '@yuuang');
const bindings = readdirSync(scope).filter((name) => name.startsWith(`ffi-rs-linux-${process.arch}-`));
if (bindings.length === 0) throw new Error(`package: no ffi-rs binding for linux-${process.arch} in node_modules/@yuuang`);
for (const binding of bindings) {
  for (const file of readdirSync(join(scope, binding))) {
    if (file === 'package.json' || file.endsWith('.node')) copy(join(scope, binding, file), join(STAGE, 'node_modules', '@yuuang', binding, file), 0o644);
  }
}

// The runtime: this Node, which made the code caches (a cache fits only the V8 that made
// it). Its debug information is ~10 MB of the binary and nothing at run time.
const node = join(STAGE, 'runtime', 'node');
copy(process.execPath, node, 0o755);
strip(node, '--strip-all');
for (const license of ['/usr/share/doc/nodejs/LICENSE', join(dirname(process.execPath), '..', 'share', 'doc', 'node', 'LICENSE')]) {
  if (existsSync(license)) {
    copy(license, join(STAGE, 'runtime', 'LICENSE'), 0o644);
    break;
  }
}

function size(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + size(join(path, name)), 0);
}
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(`package: out/tend/ ${mib(size(STAGE))} (runtime/node ${mib(size(node))})`);

if (!args.has('--no-archive')) {
  rmSync(ARCHIVE, { force: true });
  // Reproducible where tar allows: sorted names, one owner, the version's date.
  run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', OUT, '-czf', ARCHIVE, 'tend']);
  console.log(`package: out/${NAME}.tar.gz ${mib(size(ARCHIVE))}`);
}
