// SIGUSR1 opens Node's inspector (a debugger on 127.0.0.1:9229 for anyone who can signal
// tend) when it arrives before bin/tend.cjs has installed its handlers, during Node's own
// bootstrap. If that happened, close it. Checked once the main process has started, not
// before: loading node:inspector costs start-up ~4 ms (it loads worker_threads).
import { signalIntakeActive } from '../process/signal-intake';

export function closeInspectorSoon(): void {
  // A Node built without the inspector cannot open one (and cannot load node:inspector).
  if (!process.features.inspector) return;
  // Under the launcher no thread of tend ever takes SIGUSR1 with a handler (native/signals.c):
  // Node's inspector handler never runs, and there is nothing to close.
  if (signalIntakeActive()) return;
  setImmediate(() => {
    try {
      const inspector = require('node:inspector') as typeof import('node:inspector');
      if (inspector.url() !== undefined) inspector.close();
    } catch {
      // not available after all: nothing to close
    }
  });
}
