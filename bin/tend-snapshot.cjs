'use strict';
// tend's V8 start-up snapshot, one per start mode (`run`, `tini`): scripts/build.mjs runs
//
//   node --max-semi-space-size=1 --snapshot-blob dist/MODE.snapshot --build-snapshot bin/tend-snapshot.cjs MODE
//
// and the launcher (native/tend-launch.c) starts Node with `--snapshot-blob` when the stamp
// beside the blob matches the Node it runs. Node then deserializes a heap in which the
// dispatcher (dist/tend.cjs) and the mode's bundle are already evaluated — zod's classes
// and the manifest schema built, yaml and pino loaded — instead of compiling and running
// them, and runs the main function below: bin/tend.cjs itself, unchanged, whose
// `require('../dist/tend.cjs')` returns the evaluated dispatcher.
//
// The bundles are compiled here with their V8 code caches (dist/*.cjs.cache, made by
// training runs of tend): a function keeps in the snapshot the bytecode it has when the
// snapshot is taken, and the caches hold every function a real start and stop compiled.
// Evaluated from source alone, a snapshot saved only the top level; each function the
// start then ran was compiled from scratch, without a cache — the earlier trial's 10–15 ms.
//
// What cannot be in a snapshot is loaded after it, at run time, as before: the native
// addons (ffi-rs, native/lines.c's tend-lines.node) on their first use, Node's handles (the signal intake's pipe, sockets,
// timers: nothing is opened at the top level of a bundle). A snapshot holds the paths it
// was built at (the bundles' __dirname): the stamp names that place too.
const { startupSnapshot } = require('node:v8');
const { readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { Script } = require('node:vm');
const Module = require('node:module');

const MODES = ['run', 'tini'];
const mode = process.argv[2];
if (!startupSnapshot.isBuildingSnapshot() || !MODES.includes(mode)) {
  throw new Error(`bin/tend-snapshot.cjs is run by \`node --build-snapshot bin/tend-snapshot.cjs ${MODES.join('|')}\` (scripts/build.mjs)`);
}
const bin = resolve(__dirname);
const dist = resolve(bin, '..', 'dist');

/** CommonJS evaluation of one file, as Node's loader would (Module.wrap), with a given require. */
function evaluate(file, name, require_, cachedData) {
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: name, cachedData });
  if (cachedData !== undefined && script.cachedDataRejected) {
    throw new Error(`V8 rejected ${file}.cache: the code caches are not this Node's (rebuild with node scripts/build.mjs)`);
  }
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, require_, module, file, resolve(file, '..'));
  return module.exports;
}

// The dispatcher, then the mode's bundle with its code cache, under the names
// src/roots/bundle.ts gives them. Their require is Node's own (Module.createRequire):
// built-ins now, ffi-rs when it is first called, at run time.
const load = (name, cached) => {
  const file = join(dist, `${name}.cjs`);
  return evaluate(file, `tend/dist/${name}.cjs`, Module.createRequire(file), cached ? readFileSync(`${file}.cache`) : undefined);
};
const dispatcher = load('tend', false);
const preloaded = { [mode]: load(mode, true) };

// Node's own modules and functions that the way to the first spawn would otherwise load or
// compile at run time (measured with --cpu-prof from the snapshot, ~4 ms of CPU): in the
// snapshot they cost only their bytes. util.parseArgs (the dispatcher's) loads on first
// use; the first net.Socket (the signal intake's pipe, the services' output) compiles the
// stream classes; net.Server#listen (tend run's control socket) loads cluster, and with it
// child_process and dgram — only loaded, never used: tend spawns through libtend. Node
// reads no variable of its own there that tend's Node could see: the launcher holds them.
//
// Eight sockets, not one: V8 sizes a constructor's objects by watching its first seven
// instances ("slack tracking"), and a snapshot taken while that is under way gives every
// instance made after start-up a map in dictionary mode — slower property access and
// ~0.6 KiB more per socket (a Node 20 snapshot with one socket made at build time:
// %HasFastProperties false for every net.Socket made at run time; with eight, true).
void require('node:util').parseArgs;
for (let i = 0; i < 8; i++) new (require('node:net').Socket)().destroy();
if (mode === 'run') require('node:cluster');

// bin/tend.cjs, compiled now and run as the main function.
const stubFile = join(bin, 'tend.cjs');
// (Its #! line is for the kernel; V8 takes one only at the very start of a script.)
const stubScript = new Script(Module.wrap(readFileSync(stubFile, 'utf8').replace(/^#!.*/, '')), { filename: stubFile });
const stub = stubScript.runInThisContext();
const stubRequire = (id) => {
  if (id === '../dist/tend.cjs') return { start: () => dispatcher.start(preloaded) };
  return require(id);
};

startupSnapshot.setDeserializeMainFunction(() => {
  const flag = process.execArgv.indexOf('--snapshot-blob');
  globalThis.__tendSnapshot = flag === -1 ? 'dist' : process.execArgv[flag + 1];
  const module = { exports: {} };
  stub.call(module.exports, module.exports, stubRequire, module, stubFile, bin);
});
