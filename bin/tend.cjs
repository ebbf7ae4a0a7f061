#!/usr/bin/env node
'use strict';
// tend's entry stub. It must stay free of dependencies: it runs before anything else
// is loaded so that no signal can arrive without a handler. As PID 1 the kernel drops
// every signal that has no handler (a `docker stop` would be lost), and an unhandled
// SIGUSR1 makes Node open its inspector on 127.0.0.1:9229 — a way in for anyone who
// can signal PID 1. Signals that arrive while the bundle loads are queued and replayed.
const signals = [
  'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2',
  'SIGTTIN', 'SIGTTOU', 'SIGTSTP', 'SIGWINCH',
];
const queued = [];
const early = (signal) => { queued.push(signal); };
for (const signal of signals) process.on(signal, early);
globalThis.__tendEarlySignals = { signals, queued, handler: early };
require('../dist/tend.cjs');
