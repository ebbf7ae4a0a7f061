#!/usr/bin/env node
'use strict';
// tend's entry stub, run by Node: by the launcher (bin/tend, native/tend-launch.c) or, in
// a checkout or an npm install, directly. It must stay free of dependencies: it runs
// before anything else is loaded.
//
// Under the launcher, libtend (native/signals.c) has held every signal since before Node
// started and takes them in through a pipe; the launcher held Node's own variables
// (NODE_OPTIONS, ...) away from this Node as TEND_HELD_<NAME>. Both are put where tend
// finds them, and the variables back where services will inherit them, before anything
// can start a process.
//
// Run directly, tend installs Node handlers here, first thing: as PID 1 the kernel drops
// every signal that has no handler (a `docker stop` would be lost), and an unhandled
// SIGUSR1 makes Node open its inspector on 127.0.0.1:9229. Signals that arrive while the
// bundle loads are queued and replayed. What came during Node's own bootstrap, before this
// line, is lost: that is what the launcher is for.
// From a start-up snapshot (bin/tend-snapshot.cjs, chosen by the launcher), this same code
// runs as the snapshot's main function, with the dispatcher and the mode's bundle already
// evaluated; `require('../dist/tend.cjs')` then returns them.
//
// The launcher starts Node with this V8 flag (native/tend-launch.c says why). The code
// caches of dist/ are made under it, and V8 accepts a cache only under the flags it was
// made with: a Node started without it (`node bin/tend.cjs`) sets it before any bundle
// loads — too late to size the heap, in time for the caches.
const TEND_V8_FLAG = '--max-semi-space-size=1';
if (!process.execArgv.includes(TEND_V8_FLAG)) require('v8').setFlagsFromString(TEND_V8_FLAG);
const env = process.env;
// The launcher's own variables (MALLOC_TOP_PAD_=0 for this Node's malloc) go first; a
// user's value of the same name is among the held ones, put back below.
for (const name of (env.TEND_LAUNCH_UNSET ?? '').split(',')) if (name !== '') delete env[name];
delete env.TEND_LAUNCH_UNSET;
for (const key of Object.keys(env)) {
  if (!key.startsWith('TEND_HELD_')) continue;
  env[key.slice('TEND_HELD_'.length)] = env[key];
  delete env[key];
}
const intake = env.TEND_SIGNAL_INTAKE;
delete env.TEND_SIGNAL_INTAKE;
// Why the launcher started Node without a snapshot, if it did (TEND_DEBUG_STARTUP shows it).
globalThis.__tendStartup = { snapshot: globalThis.__tendSnapshot ?? null, fallback: env.TEND_LAUNCH_SNAPSHOT ?? null };
delete env.TEND_LAUNCH_SNAPSHOT;
const [fd, rtmin, rtmax] = (intake ?? '').split(':').map(Number);
if (intake !== undefined && fd > 2) {
  globalThis.__tendSignalIntake = { fd, rtmin, rtmax };
} else {
  const signals = [
    'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2',
    'SIGTTIN', 'SIGTTOU', 'SIGTSTP', 'SIGWINCH',
  ];
  const queued = [];
  const early = (signal) => { queued.push(signal); };
  for (const signal of signals) process.on(signal, early);
  globalThis.__tendEarlySignals = { signals, queued, handler: early };
}
require('../dist/tend.cjs').start();
