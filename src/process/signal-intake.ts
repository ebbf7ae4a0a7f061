// The one way tend's modes receive signals: `subscribeSignals(listener)`.
//
// Under the launcher (bin/tend), libtend has held every asynchronous signal since before
// Node started and a thread of its own takes each one with sigwaitinfo and writes a record
// to a pipe (native/signals.c); bin/tend.cjs found the pipe. Here the pipe is read on the
// event loop like any stream — no polling, nothing lost before the first subscriber (the
// pipe keeps what came), and real-time signals too, which Node's process.on cannot take.
//
// Run directly (`node bin/tend.cjs`), the same listener is fed by Node's own handlers,
// installed by the stub and handed over without a gap (early-signals.ts): no real-time
// signals, and what came during Node's bootstrap was lost before any JavaScript ran.
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { adoptEarlySignals, GUARDED_SIGNALS } from './early-signals';

export interface ReceivedSignal {
  /** SIGTERM, SIGRTMIN+3... (real-time signals as `kill -l` names them). */
  readonly name: string;
  readonly number: number;
  /** The sender's pid when known (the intake reads it from siginfo), else 0. */
  readonly pid: number;
}

export type SignalListener = (signal: ReceivedSignal) => void;

interface Intake {
  readonly fd: number;
  readonly rtmin: number;
  readonly rtmax: number;
}

declare global {
  // eslint-disable-next-line no-var
  var __tendSignalIntake: Intake | undefined;
}

/**
 * Catchable through Node besides the guarded ones, for the fallback. Left out: SIGCHLD
 * (the reaper's), SIGPIPE (Node ignores it so that a write to a closed pipe fails with
 * EPIPE; a handler would turn every such write into a signal), and the synchronous faults.
 */
const FALLBACK_EXTRA: readonly NodeJS.Signals[] = [
  'SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGXFSZ', 'SIGIO', 'SIGPWR', 'SIGURG', 'SIGCONT', 'SIGSTKFLT',
];

const RECORD = 16; // int32 signo, si_code, si_pid, si_uid
const listeners = new Set<SignalListener>();
let started = false;

/** Whether signals come through libtend's intake (the launcher) rather than Node's handlers. */
export function signalIntakeActive(): boolean {
  return globalThis.__tendSignalIntake !== undefined;
}

/** SIGTERM for 15, SIGRTMIN+3 for 37 (with glibc), `signal N` for a number with no name. */
export function receivedSignalName(number: number): string {
  const intake = globalThis.__tendSignalIntake;
  const rtmin = intake?.rtmin ?? 34;
  const rtmax = intake?.rtmax ?? 64;
  if (number >= rtmin && number <= rtmax) {
    // kill -l's names: the lower half counts up from SIGRTMIN, the upper half down from SIGRTMAX.
    if (number === rtmin) return 'SIGRTMIN';
    if (number === rtmax) return 'SIGRTMAX';
    const half = rtmin + Math.floor((rtmax - rtmin) / 2);
    return number <= half ? `SIGRTMIN+${number - rtmin}` : `SIGRTMAX-${rtmax - number}`;
  }
  for (const [name, value] of Object.entries(constants.signals)) if (value === number) return name;
  return `signal ${number}`;
}

function dispatch(signal: ReceivedSignal): void {
  for (const listener of listeners) listener(signal);
}

/**
 * Node learns a terminal's new size from its own SIGWINCH handler, which never runs while
 * the intake holds the signal: do what it does (a tty stream re-reads its size and emits
 * 'resize'), so `tend top` and anything else listening for 'resize' still hears it.
 */
function refreshTerminalSizes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.isTTY) (stream as unknown as { _refreshSize?: () => void })._refreshSize?.();
  }
}

function startIntake(intake: Intake): void {
  const pipe = new Socket({ fd: intake.fd, readable: true, writable: false });
  // The intake must never keep tend alive, nor be what ends it.
  pipe.unref();
  pipe.on('error', () => undefined);
  let partial: Buffer = Buffer.alloc(0);
  pipe.on('data', (chunk: Buffer) => {
    const data = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
    let offset = 0;
    for (; offset + RECORD <= data.length; offset += RECORD) {
      const number = data.readInt32LE(offset);
      const name = receivedSignalName(number);
      if (name === 'SIGWINCH') refreshTerminalSizes();
      dispatch({ name, number, pid: data.readInt32LE(offset + 8) });
    }
    partial = data.subarray(offset);
  });
}

function startFallback(): void {
  const extra = FALLBACK_EXTRA.filter((s) => constants.signals[s] !== undefined && !GUARDED_SIGNALS.includes(s));
  const onSignal = (name: NodeJS.Signals): void => dispatch({ name, number: constants.signals[name], pid: 0 });
  adoptEarlySignals(onSignal);
  for (const signal of extra) {
    try {
      process.on(signal, onSignal);
    } catch {
      // not catchable on this platform
    }
  }
}

/**
 * Calls `listener` for every signal tend receives from now on, and for those that arrived
 * since start-up and waited. Returns the unsubscribe function.
 */
export function subscribeSignals(listener: SignalListener): () => void {
  listeners.add(listener);
  if (!started) {
    started = true;
    const intake = globalThis.__tendSignalIntake;
    if (intake !== undefined) startIntake(intake);
    else startFallback();
  }
  return () => listeners.delete(listener);
}
