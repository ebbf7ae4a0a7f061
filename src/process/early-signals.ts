// Hand-over from bin/tend.cjs, which installs signal handlers before anything loads
// (see the comment there). A mode of tend calls adoptEarlySignals once its own handler
// exists: the handler is installed first and the stub's removed after, so there is no
// instant in which a signal has no handler; what was queued meanwhile is replayed.

interface EarlySignals {
  readonly signals: readonly NodeJS.Signals[];
  readonly queued: NodeJS.Signals[];
  readonly handler: (signal: NodeJS.Signals) => void;
}

declare global {
  // eslint-disable-next-line no-var
  var __tendEarlySignals: EarlySignals | undefined;
}

/** The signals the stub guards; every mode of tend must keep a handler on each. */
export const GUARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2',
  'SIGTTIN', 'SIGTTOU', 'SIGTSTP', 'SIGWINCH',
];

export function adoptEarlySignals(handler: (signal: NodeJS.Signals) => void, signals: readonly NodeJS.Signals[] = GUARDED_SIGNALS): void {
  for (const signal of signals) process.on(signal, handler);
  const early = globalThis.__tendEarlySignals;
  if (early === undefined) return;
  globalThis.__tendEarlySignals = undefined;
  for (const signal of early.signals) process.removeListener(signal, early.handler);
  for (const signal of early.queued.splice(0)) handler(signal);
}
