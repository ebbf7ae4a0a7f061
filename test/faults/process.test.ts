// Fault injection, process side: commands that cannot run, a fork storm, a service that
// closes its output, a stopped service at shutdown, and tend out of file descriptors.
// Each case ends in a clear message and a running (or cleanly exiting) tend.
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, startTend, stopwatch, waitFor, type RunningTend } from '../helpers/tend';
import { launch, nodeTend, scenario, stateOf, status, zombiesUnder, request, stopAll } from './helpers';

const pid1 = canUnshare();
const running: RunningTend[] = [];
afterEach(() => stopAll(running));

function start(t: ReturnType<typeof scenario>, options: { pid1?: boolean } = {}): RunningTend {
  const tend = startTend(['run', '-c', t.file], { pid1: options.pid1 ?? false, env: t.env });
  running.push(tend);
  return tend;
}

describe('commands that cannot run (SPEC §1 rule 4)', () => {
  const notExecutable = (dir: string) => {
    const file = join(dir, 'not-executable.sh');
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    chmodSync(file, 0o644);
    return file;
  };

  it.each([
    ['command not found', () => '[/nonexistent/command]', 127, /app: cannot start: command not found: \/nonexistent\/command/],
    ['not executable', (dir: string) => `[${notExecutable(dir)}]`, 126, /app: cannot start: permission denied: .*not-executable\.sh/],
    ['unknown user', () => '[sleep, "100"], user: no-such-user-xyz', 126, /app: cannot start: unknown user: no-such-user-xyz/],
  ])('main: %s gives the exit status of SPEC §1 with a message naming it', async (_what, command, code, message) => {
    const t = scenario('');
    writeFileSync(t.file, `services:\n  app: { main: true, command: ${command(t.dir)} }\n  side: { command: [svc, side] }\n`);
    const tend = start(t);
    expect((await tend.exited).code).toBe(code);
    expect(tend.stderr).toMatch(message);
    expect(tend.stderr).toMatch(new RegExp(`exiting with status ${code}`));
    // Main ended before side might even have started: whatever started was stopped.
    if (t.events().includes('start side')) expect(t.events()).toContain('stop side');
  });

  it('a sidecar that cannot run gives up at once (no retries: it cannot heal); tend and main keep running', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  ghost:
    command: [/nonexistent/ghost]
    restart: { policy: always, backoff: { initial: 50ms, max: 200ms } }
`);
    const tend = start(t);
    await tend.waitOutput(/ghost: cannot start: command not found: \/nonexistent\/ghost; it stays down: `tend start ghost` after fixing it/);
    // Both start at once, so app may still be on its way to its exec when ghost is given up.
    const state = (d: Awaited<ReturnType<typeof status>>, name: string) => d.services.find((s) => s.name === name)?.state;
    const doc = await waitFor(async () => { const d = await status(t.socket); return state(d, 'ghost') === 'fatal' && state(d, 'app') === 'running' ? d : undefined; }, { what: 'ghost fatal and app running' });
    expect(doc.services.find((s) => s.name === 'ghost')?.restarts).toBe(0);
    expect(doc.services.find((s) => s.name === 'ghost')?.last_exit).toEqual({ code: 127 });
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});

describe.skipIf(!pid1)('fork storm as PID 1', () => {
  it('a service that forks 5,000 children (half re-parented to tend) leaves no zombie and stops cleanly', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  storm:
    command: sh -c 'i=0; while [ $$i -lt 250 ]; do for j in 1 2 3 4 5 6 7 8 9 10; do true & done; for j in 1 2 3 4 5 6 7 8 9 10; do (true &); done; wait; i=$$((i+1)); done; echo "storm done" >> "$EVENTS"; exec sleep 1000'
`);
    const tend = start(t, { pid1: true });
    await waitFor(() => t.events().includes('storm done'), { timeout: 60_000, interval: 100, what: 'the storm to finish' });
    // Every child has ended; tend reaps the orphans on SIGCHLD. Nothing may stay a zombie.
    await waitFor(() => zombiesUnder(tend.child.pid!).length === 0, { timeout: 5000, what: () => `zombies to go: ${zombiesUnder(tend.child.pid!).join(', ')}` });
    expect(await stateOf(t.socket, 'storm')).toBe('running');
    const stopped = await request(t.socket, 'stop', { names: ['storm'], wait: true }, 10_000);
    expect(stopped.ok).toBe(true);
    expect(await stateOf(t.socket, 'storm')).toBe('stopped');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  }, 90_000);
});

describe('output and stop faults', () => {
  it('a service that closes its stdout and stderr is still running, and is stopped properly', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  quiet:
    # A list, not a string: a string runs under a /bin/sh -c of its own that would keep the pipes open.
    command: [sh, -c, 'echo hello; while [ ! -e "$EVENTS.go" ]; do sleep 0.05; done; exec >&- 2>&-; echo closed >> "$EVENTS"; trap "echo \\"stop quiet\\" >> \\"$EVENTS\\"; exit 0" TERM; while :; do sleep 1000 & wait $$!; done']
`);
    const tend = start(t);
    await tend.waitOutput('quiet | hello');
    // The witness that tend has seen the end of file: it closes its read ends of the pipes.
    const tendPid = await tend.tendPid();
    const pipes = () => readdirSync(`/proc/${tendPid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${tendPid}/fd/${fd}`);
      } catch {
        return '';
      }
    }).filter((link) => link.startsWith('pipe:'));
    const before = pipes();
    writeFileSync(`${t.env.EVENTS}.go`, '');
    await waitFor(() => t.events().includes('closed'));
    await waitFor(() => before.filter((pipe) => !pipes().includes(pipe)).length >= 2, { what: "tend to close quiet's pipes at their end of file" });
    // Its pipes are at end of file; that is not an exit (SPEC §3: ended when reaped).
    expect(await stateOf(t.socket, 'quiet')).toBe('running');
    const elapsed = stopwatch();
    const reply = await request(t.socket, 'stop', { names: ['quiet'], wait: true }, 10_000);
    expect(reply.ok).toBe(true);
    expect(elapsed()).toBeLessThan(3000); // by its stop signal, not by SIGKILL after stop_timeout
    expect(t.events()).toContain('stop quiet');
    expect(await stateOf(t.socket, 'quiet')).toBe('stopped');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });

  it('a SIGSTOPped service still stops at shutdown: SIGCONT follows the stop signal', async () => {
    const t = scenario(`
settings: { shutdown_timeout: 20s }
services:
  app: { main: true, command: [svc, app] }
  frozen: { command: [svc, frozen], stop_timeout: 10s }
`);
    const tend = start(t);
    await waitFor(() => t.events().includes('start frozen') && t.events().includes('start app'));
    const pid = (await status(t.socket)).services.find((s) => s.name === 'frozen')!.pid as number;
    process.kill(pid, 'SIGSTOP');
    await waitFor(() => /\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), { what: 'frozen to be stopped' });
    const elapsed = stopwatch();
    await tend.signal('SIGTERM');
    const { code } = await tend.exited;
    expect(code).toBe(0);
    expect(elapsed()).toBeLessThan(5000); // well inside its 10s stop_timeout: no SIGKILL needed
    expect(t.events()).toContain('stop frozen'); // its TERM trap ran once it was continued
    expect(tend.stderr).not.toMatch(/frozen: killed with SIGKILL/);
  });
});

describe('tend out of file descriptors', () => {
  it('regression (spawn-emfile-crash): with ulimit -n 64, services that cannot get pipes fail with a clear 126, not an internal error', async () => {
    const services = Array.from({ length: 30 }, (_, i) => `  s${i}: { command: sh -c 'echo "start s${i}" >> "$EVENTS"; exec sleep 1000', restart: { policy: always, backoff: { initial: 100ms, max: 500ms } } }`);
    const t = scenario(`services:\n  app: { main: true, command: [svc, app] }\n${services.join('\n')}\n`);
    const tend = launch(['sh', '-c', 'ulimit -n 64; exec "$@"', 'sh', ...nodeTend('run', '-c', t.file)], t.env);
    running.push(tend);
    await waitFor(() => t.events().includes('start app'));
    // Either every service fits in 64 fds, or the rest are reported and retried.
    const doc = await waitFor(async () => {
      const d = await status(t.socket);
      return d.services.every((s) => s.state === 'running' || s.state === 'backoff' || s.state === 'starting') && d.services.some((s) => s.restarts > 0) ? d : null;
    }, { what: 'a settled status' });
    // 30 services need more than 64 fds: some must fail, each with the reason and the fix.
    expect(doc.services.filter((s) => s.state !== 'running').length).toBeGreaterThan(0);
    await tend.waitOutput(/cannot start \/bin\/sh: tend has too many open files \(EMFILE\); raise tend's limit/);
    expect(tend.stderr).not.toMatch(/internal error/);
    expect(doc.services.find((s) => s.name === 'app')?.state).toBe('running');
    // The socket keeps answering on fresh connections throughout.
    for (let i = 0; i < 5; i++) expect((await request(t.socket, 'version')).ok).toBe(true);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
    expect(tend.stderr).toMatch(/exiting with status 0/);
  });
});
