// Signal storms: random HUP/USR1/USR2/WINCH/TTIN/TTOU/TSTP to tend (PID 1 of a new PID
// namespace) while services crash and restart, orphans come and go, and a service is
// stopped, started and restarted over the socket — then TERM, INT or QUIT (once, or
// twice). No zombie may stay, no service may get lost, tend must never stop itself
// (TSTP/TTIN/TTOU are ignored), forwarded signals reach main, and the exit status follows
// SPEC §1.
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { canUnshare, startTend, waitFor, type RunningTend } from '../helpers/tend';
import { request, scenario, status, zombiesUnder, stopAll } from '../faults/helpers';

const pid1 = canUnshare();
const running: RunningTend[] = [];
afterEach(() => stopAll(running));

const MANIFEST = `
services:
  app:
    main: true
    # A string: /bin/sh -c runs it, so the traps are set in main's own process.
    command: |
      for s in USR1 USR2 WINCH; do trap "echo got-$$s >> \\"$$EVENTS\\"" $$s; done
      trap "echo stop-app >> \\"$$EVENTS\\"; exit 0" TERM
      echo start-app >> "$$EVENTS"
      while :; do sleep 0.2 & wait $$!; done
  side: { command: [svc, side] }
  crashy:
    command: sh -c 'sleep 0.1; exit 1'
    restart: { policy: always, backoff: { initial: 20ms, max: 100ms } }
  orphaner:
    command: sh -c 'while :; do (sleep 0.05 &); sleep 0.05; done'
`;

type Step =
  | { kind: 'signal'; signal: NodeJS.Signals; gap: number }
  | { kind: 'command'; cmd: 'stop' | 'start' | 'restart'; gap: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('signal' as const), signal: fc.constantFrom<NodeJS.Signals>('SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGTTIN', 'SIGTTOU', 'SIGTSTP'), gap: fc.integer({ min: 0, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('command' as const), cmd: fc.constantFrom('stop' as const, 'start' as const, 'restart' as const), gap: fc.integer({ min: 0, max: 15 }) }) },
);
const ending = fc.constantFrom(['SIGTERM'], ['SIGINT'], ['SIGQUIT'], ['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGQUIT']) as fc.Arbitrary<NodeJS.Signals[]>;

const procState = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
};

describe.skipIf(!pid1)('fuzz: signal storms at tend as PID 1', () => {
  it('no zombie, no lost service, tend never stops itself, exit status by SPEC §1 (bounded to ~15 s)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), ending, async (steps, endSignals) => {
        runs += 1;
        const t = scenario(MANIFEST);
        const tend = startTend(['run', '-c', t.file], { pid1: true, env: t.env });
        running.push(tend);
        const tendPid = await tend.tendPid();
        await waitFor(async () => (await status(t.socket)).services.filter((s) => s.name !== 'crashy').every((s) => s.state === 'running'), { what: 'services to run' });

        let sideWanted: 'running' | 'stopped' = 'running';
        const sent = new Set<string>();
        for (const s of steps) {
          if (s.kind === 'signal') {
            await tend.signal(s.signal);
            sent.add(s.signal);
          } else {
            const reply = await request(t.socket, s.cmd, { names: ['side'], wait: false }, 2000);
            expect(reply.ok, JSON.stringify(reply)).toBe(true);
            sideWanted = s.cmd === 'stop' ? 'stopped' : 'running';
          }
          if (s.gap > 0) await new Promise((r) => setTimeout(r, s.gap));
          expect(procState(tendPid)).not.toBe('T'); // TSTP/TTIN/TTOU never stop tend
        }

        // After the storm: every service where it should be, main untouched.
        const settled = await waitFor(async () => {
          const doc = await status(t.socket, 1000);
          const by = new Map(doc.services.map((s) => [s.name, s]));
          const ok = by.get('app')?.state === 'running' && by.get('orphaner')?.state === 'running' &&
            by.get('side')?.state === sideWanted && ['running', 'backoff', 'starting'].includes(by.get('crashy')?.state);
          return ok ? doc : null;
        }, { timeout: 5000, what: () => `services to settle (side ${sideWanted})` });
        expect(settled.services.map((s) => s.name)).toEqual(['app', 'side', 'crashy', 'orphaner']);
        expect(settled.services.find((s) => s.name === 'app')!.restarts).toBe(0);
        for (const forwarded of ['SIGUSR1', 'SIGUSR2', 'SIGWINCH']) {
          if (sent.has(forwarded)) await waitFor(() => t.events().includes(`got-${forwarded.slice(3)}`), { timeout: 3000, what: `${forwarded} to reach main` });
        }
        if (sent.has('SIGHUP')) await tend.waitOutput(/reloaded .*nothing changed/, 3000);
        await waitFor(() => zombiesUnder(tend.child.pid!).length === 0, { timeout: 2000, what: () => `no zombies (${zombiesUnder(tend.child.pid!).join(', ')})` });
        expect(tend.stderr).not.toMatch(/internal error|illegal transition/);

        for (const signal of endSignals) await tend.signal(signal).catch(() => {});
        const { code } = await tend.exited;
        // main traps TERM and exits 0; a second signal SIGKILLs everything: 137 unless main had already exited.
        expect(endSignals.length === 1 ? [0] : [0, 137]).toContain(code);
        expect(tend.stderr).toMatch(new RegExp(`exiting with status ${code}`));
      }),
      { numRuns: 40, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false },
    );
    expect(runs).toBeGreaterThanOrEqual(3);
    console.log(`signal storm fuzz: ${runs} storms`);
  }, 60_000);
});
