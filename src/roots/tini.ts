// `tend -- CMD`: single-command init, as tini does it (README: Command line, and "tend and other inits").
//
// CMD gets tend's stdin, stdout and stderr untouched and a process group of its own in
// tend's session; when stdin is a terminal that group becomes the terminal's foreground
// group, so ^C and ^Z reach CMD and a shell in CMD can do job control. Every signal tend
// receives is forwarded to that group, every time. Everything re-parented to tend is
// reaped. tend exits with CMD's code (128+N when a signal killed it), after the sweep.
import { isatty } from 'node:tty';
import { constants } from 'node:os';
import { newInstanceId } from '../process/instance-id';
import { subscribeSignals, type ReceivedSignal } from '../process/signal-intake';
import { closeInspectorSoon } from './inspector-guard';
import { loadBundle } from './bundle';
import { assertNative, getpgid, NativeUnavailableError } from '../../native/libc';
import { signalPidErrno } from '../process/kill';
import { startReaper, type Reaper } from '../process/reaper';
import { spawnProcess, type Spawned } from '../process/spawn';
import { describeExit, EXIT_INTERNAL, exitCodeOf } from '../vocab/exit';
import { ProcessTracker } from '../process/tracking';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TiniHandler } from './tini-control';
import pkg from '../../package.json';
import { SIGTERM, SIGKILL } from '../vocab/signals';

const SWEEP_GRACE_MS = 1000;
/** After an internal error: how long CMD has between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5000;

/** Without a terminal, these would stop nothing (no job control): send SIGSTOP instead. */
const TERMINAL_STOPS = new Set<string>(['SIGTSTP', 'SIGTTIN', 'SIGTTOU']);

const ESRCH = 3;

export async function runTini(command: { argv: readonly string[]; socket: string | null }): Promise<number> {
  // Every signal tend receives is CMD's (src/process/signal-intake.ts: under the launcher that is
  // every asynchronous one, real-time signals included). Those that arrive before CMD
  // exists wait for it.
  let deliver: ((signal: ReceivedSignal) => void) | null = null;
  const early: ReceivedSignal[] = [];
  subscribeSignals((signal) => {
    if (deliver === null) early.push(signal);
    else deliver(signal);
  });
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
  let exited = false;
  void child.exit.then(() => { exited = true; });
  // The helper makes CMD's group (setpgid) only after its own start-up: a signal sent in
  // between finds no group (ESRCH) although CMD is about to run. Such a signal, and every
  // one after it (order kept), waits until the group exists or the helper has exited.
  const waiting: ReceivedSignal[] = [];
  let retry: NodeJS.Timeout | null = null;
  const send = (signal: ReceivedSignal): boolean => {
    const number = TERMINAL_STOPS.has(signal.name) && !terminal ? constants.signals.SIGSTOP : signal.number;
    const errno = signalPidErrno(target, number);
    if (errno === ESRCH && target < 0 && !exited) {
      const group = getpgid(child.pid);
      if (group !== null && group !== child.pid) return false;
    }
    // ESRCH otherwise: the group is gone (CMD exited): nothing to forward to.
    if (errno !== 0 && errno !== ESRCH) process.stderr.write(`tend: cannot forward ${signal.name} to ${target}: errno ${errno}\n`);
    return true;
  };
  const drain = (): void => {
    retry = null;
    while (waiting.length > 0 && send(waiting[0]!)) waiting.shift();
    // The group is a few instructions of the helper away: look again in a millisecond.
    if (waiting.length > 0) retry = setTimeout(drain, 1);
  };
  deliver = (signal) => {
    if (target === 0) return;
    waiting.push(signal);
    if (retry === null) drain();
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

  // Never die silently (README: What tend does as PID 1): an internal error is logged with its stack, CMD's group
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
  if (retry !== null) clearTimeout(retry);
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
  await sweep(tracker, reaper, process.pid === 1);
  return internalError ? EXIT_INTERNAL : exitCodeOf(status);
}

/** After the SIGKILL, how long a process stuck in the kernel (state D) is waited for. */
const STUCK_AFTER_KILL_MS = 2000;

/**
 * Tini mode's sweep, as policy over the tracker's primitives: SIGTERM and SIGCONT to what
 * is left, a grace that ends as soon as nothing is, SIGKILL to the rest, and a bounded
 * wait for those (re-killing what appears meanwhile, when not PID 1: kill -1 already
 * reaches newcomers as PID 1).
 */
async function sweep(tracker: ProcessTracker, reaper: Reaper, pid1: boolean): Promise<void> {
  const terminated = tracker.signalLeft(SIGTERM, pid1);
  if (terminated.length === 0) return;
  if (!await goneWithin(tracker, SWEEP_GRACE_MS, false)) {
    tracker.signalLeft(SIGKILL, pid1);
    await goneWithin(tracker, STUCK_AFTER_KILL_MS, !pid1);
  }
  // Gone means dead, not yet reaped: the reaper thread reaps each zombie within moments.
  // tend waits for that (briefly) so that none of its children outlives it even as a zombie.
  await reapedWithin(reaper, terminated, REAP_SETTLE_MS);
}

/** After the sweep, how long tend waits for the reaper to have reaped what it killed. */
const REAP_SETTLE_MS = 500;

function reapedWithin(reaper: Reaper, pids: readonly number[], timeout: number): Promise<void> {
  const pending = (): boolean => pids.some((pid) => existsSync(`/proc/${pid}`));
  if (!pending()) return Promise.resolve();
  return new Promise((settle) => {
    const done = (): void => {
      unsubscribe();
      clearTimeout(timer);
      settle();
    };
    const unsubscribe = reaper.onReap(() => { if (!pending()) done(); });
    const timer = setTimeout(done, timeout);
    // Reaped between the first look and the subscription: no pass would come for it.
    if (!pending()) done();
  });
}

function goneWithin(tracker: ProcessTracker, timeout: number, rekill: boolean): Promise<boolean> {
  return new Promise((settle) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = tracker.watchGone(null, rekill, () => {
      settled = true;
      clearTimeout(timer);
      settle(true);
    });
    if (settled) return;
    timer = setTimeout(() => {
      stop();
      settle(false);
    }, timeout);
  });
}
