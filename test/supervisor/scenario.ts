// A scenario for the supervisor's end-to-end tests: a manifest in a fresh directory, an
// events file the services append to (the svc fixture writes "start NAME"/"stop NAME"),
// tend as PID 1 of a new PID namespace with its own control socket, and the CLI against it.
import { afterEach } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { ROOT, lines, runTendSync, startTend, tempDir, writeManifest, type RunningTend } from '../helpers/tend';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'bin');
const running: RunningTend[] = [];

afterEach(() => {
  for (const tend of running.splice(0)) tend.child.kill('SIGKILL');
});

export function scenario(manifest: string) {
  const dir = tempDir();
  const events = join(dir, 'events');
  writeFileSync(events, '');
  const file = writeManifest(dir, manifest);
  const env = { EVENTS: events, DIR: dir, PATH: `${FIXTURES}:${process.env.PATH ?? ''}`, TEND_SOCKET: join(dir, 'tend.sock') };
  return {
    dir,
    file,
    events: () => lines(events),
    start: () => {
      const tend = startTend(['run', '-c', file], { pid1: true, env });
      running.push(tend);
      return tend;
    },
    /** Starts tend with more variables in its environment (and a prelude: startTend's). */
    startWith: (extra: NodeJS.ProcessEnv, prelude?: string) => {
      const tend = startTend(['run', '-c', file], { pid1: true, env: { ...env, ...extra }, ...(prelude !== undefined ? { prelude } : {}) });
      running.push(tend);
      return tend;
    },
    cli: (...args: string[]) => runTendSync(args, { env }),
  };
}

/** The index of an event, -1 when it did not happen. */
export const event = (list: readonly string[], line: string) => list.indexOf(line);
