// `tend -- CMD`: single-command init, as tini does it (SPEC §3 "Tini mode").
//
// CMD gets tend's stdin, stdout and stderr untouched and a process group of its own in
// tend's session; when stdin is a terminal that group becomes the terminal's foreground
// group, so ^C and ^Z reach CMD and a shell in CMD can do job control. Every signal tend
// receives is forwarded to that group, every time. Everything re-parented to tend is
// reaped. tend exits with CMD's code (128+N when a signal killed it), after the sweep.
import { isatty } from 'node:tty';
import { constants } from 'node:os';
import { newInstanceId } from './instance-id';
import { adoptEarlySignals, GUARDED_SIGNALS } from '../early-signals';
import { closeInspectorSoon } from '../inspector-guard';
import { loadBundle } from '../bundle';
import { assertNative, NativeUnavailableError } from '../../native/libc';
import { signalPidErrno } from './kill';
import { startReaper } from './reaper';
import { describeExit, exitCodeOf, spawnProcess, type Spawned } from './spawn';
import { ProcessTracker } from './tracking';
import { join } from 'node:path';
import type { TiniHandler } from './tini-control';
import pkg from '../../package.json';

export const EXIT_INTERNAL = 70;
const SWEEP_GRACE_MS = 1000;
/** After an internal error: how long CMD has between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5000;

/**
 * Catchable signals forwarded besides the guarded ones. Left out: SIGCHLD (the reaper's),
 * SIGPIPE (tend raises it on itself when a pipe it writes to closes: not CMD's business),
 * and the synchronous ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT),
 * which report tend's own faults. SIGKILL and SIGSTOP cannot be caught at all.
 */
const EXTRA_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGXFSZ', 'SIGIO', 'SIGPWR', 'SIGURG', 'SIGCONT', 'SIGSTKFLT',
];

/** Without a terminal, these would stop nothing (no job control): send SIGSTOP instead. */
const TERMINAL_STOPS = new Set<NodeJS.Signals>(['SIGTSTP', 'SIGTTIN', 'SIGTTOU']);

const ESRCH = 3;

export async function runTini(command: { argv: readonly string[]; socket: string | null }): Promise<number> {
  // Handlers first: as PID 1 a signal without a handler is dropped, and an unhandled
  // SIGUSR1 would open Node's inspector. Signals that arrive before CMD exists wait.
  let deliver: ((signal: NodeJS.Signals) => void) | null = null;
  const early: NodeJS.Signals[] = [];
  const onSignal = (signal: NodeJS.Signals): void => {
    if (deliver === null) early.push(signal);
    else deliver(signal);
  };
  adoptEarlySignals(onSignal);
  const extra = EXTRA_SIGNALS.filter((s) => constants.signals[s] !== undefined && !GUARDED_SIGNALS.includes(s));
  for (const signal of extra) {
    try {
      process.on(signal, onSignal);
    } catch {
      // not catchable on this platform
    }
  }
  try {
    assertNative();
  } catch (error) {
    if (!(error instanceof NativeUnavailableError)) throw error;
    process.stderr.write(`tend: ${error.message}\n`);
    return EXIT_INTERNAL;
  }
  // A control socket only when asked for (--socket or TEND_SOCKET): a drop-in for tini
  // creates no files of its own. Claimed before CMD starts, so a refusal starts nothing.
  const socketChoice = command.socket ?? process.env.TEND_SOCKET ?? null;
  let closeControl: (() => Promise<void>) | null = null;
  let handler: TiniHandler | null = null;
  // CMD's pid is filled in once it exists (the socket is claimed before it starts).
  const controlled = { pid: 0, startedAt: 0, signal: (signal: number, mainOnly: boolean) => forward(signal, mainOnly), shutdown: () => void forward(constants.signals.SIGTERM, false) };
  if (socketChoice !== null && socketChoice !== '') {
    // A bundle of its own beside this one (scripts/build.mjs): the protocol's zod schemas
    // would cost every `tend -- CMD` its start-up.
    const { openTiniControl } = loadBundle(join(__dirname, 'tini-control.cjs')) as typeof import('./tini-control');
    const opened = await openTiniControl(socketChoice, controlled, pkg.version);
    if (!opened.ok) {
      process.stderr.write(`tend: ${opened.message}\n`);
      return 2;
    }
    handler = opened.handler;
    closeControl = opened.close;
  }

  const reaper = startReaper();
  const instance = newInstanceId();
  const terminal = isatty(0);

  const child: Spawned = spawnProcess({
    service: 'main',
    argv: command.argv,
    env: {},
    cwd: null,
    user: null,
    group: null,
    stdin: 'inherit',
    output: 'inherit',
    notifyFd: null,
    cgroup: null,
    session: 'foreground',
  }, { instance, socket: command.socket, markers: false });

  // The exec helper makes CMD lead its own group: its pgid is its pid.
  const target = child.pid === 0 ? 0 : -child.pid;
  deliver = (signal) => {
    if (target === 0) return;
    const number = TERMINAL_STOPS.has(signal) && !terminal ? constants.signals.SIGSTOP : constants.signals[signal];
    // ESRCH: the group is gone (CMD exited, or not started yet): nothing to forward to.
    const errno = signalPidErrno(target, number);
    if (errno !== 0 && errno !== ESRCH) process.stderr.write(`tend: cannot forward ${signal} to ${target}: errno ${errno}\n`);
  };
  for (const signal of early.splice(0)) deliver(signal);
  closeInspectorSoon();
  // For the control socket: `tend signal main SIG` reaches CMD's group (--main: CMD only).
  function forward(signal: number, mainOnly: boolean): number[] {
    if (target === 0) return [];
    return signalPidErrno(mainOnly ? Math.abs(target) : target, signal) === 0 ? [child.pid] : [];
  }
  controlled.pid = child.pid;
  controlled.startedAt = Date.now();

  // Never die silently (SPEC §3): an internal error is logged with its stack, CMD's group
  // gets SIGTERM (tini mode's whole ordered shutdown; SIGKILL if it is still there after
  // STOP_GRACE_MS), and tend exits 70 after the sweep — instead of Node's default exit,
  // which left CMD running without its init.
  let internalError = false;
  let killTimer: NodeJS.Timeout | undefined;
  const fail = (error: unknown): void => {
    if (internalError) return;
    internalError = true;
    process.stderr.write(`tend: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}; stopping ${command.argv[0] ?? 'CMD'}, then exiting 70\n`);
    if (target === 0) return;
    signalPidErrno(target, constants.signals.SIGTERM);
    signalPidErrno(target, constants.signals.SIGCONT);
    killTimer = setTimeout(() => signalPidErrno(target, constants.signals.SIGKILL), STOP_GRACE_MS);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  const status = await child.exit;
  clearTimeout(killTimer);
  handler?.exited(status);
  if (closeControl !== null) {
    // Let replies to `stop --wait` / `wait --stopped`, resolved by the exit, go out first.
    await new Promise((resolve) => setImmediate(resolve));
    await closeControl();
  }
  if (status.kind === 'failed') process.stderr.write(`tend: ${describeExit(status)}\n`);

  // The sweep: whatever CMD left behind. As PID 1, kill(-1) reaches the whole namespace
  // (the kernel would SIGKILL it anyway when we exit); otherwise only tend's descendants.
  const tracker = new ProcessTracker({ tracking: 'proc', reaper, instance });
  await tracker.sweep({ pid1: process.pid === 1, grace: SWEEP_GRACE_MS });
  return internalError ? EXIT_INTERNAL : exitCodeOf(status);
}
