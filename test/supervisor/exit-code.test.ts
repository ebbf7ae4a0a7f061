import { describe, expect, it } from 'vitest';
import { tendExitCode, type RunOutcome } from '../../src/supervisor/exit-code';

const base: RunOutcome = { internalError: false, startFailed: false, criticalGaveUp: false, hasMain: true, mainExit: { kind: 'exited', code: 0 }, allSucceeded: true };

describe("tend's exit status (SPEC §1, first rule wins)", () => {
  it.each<[string, Partial<RunOutcome>, number]>([
    ['main exit code passes through', { mainExit: { kind: 'exited', code: 42 } }, 42],
    ['main killed by SIGTERM is 143', { mainExit: { kind: 'signaled', signal: 15 } }, 143],
    ['main SIGKILLed is 137', { mainExit: { kind: 'signaled', signal: 9 } }, 137],
    ['command not found is 127', { mainExit: { kind: 'failed', code: 127, reason: 'command not found: x' } }, 127],
    ['not executable is 126', { mainExit: { kind: 'failed', code: 126, reason: 'permission denied: x' } }, 126],
    ['main never ran is 0', { mainExit: null }, 0],
    ['a failed start is 1 whatever main did', { startFailed: true, mainExit: { kind: 'exited', code: 0 } }, 1],
    ['a critical service giving up is 1', { criticalGaveUp: true, mainExit: { kind: 'signaled', signal: 15 } }, 1],
    ['an internal error is 70 before everything', { internalError: true, startFailed: true }, 70],
    ['no main, all succeeded is 0', { hasMain: false, mainExit: null, allSucceeded: true }, 0],
    ['no main, one failed is 1', { hasMain: false, mainExit: null, allSucceeded: false }, 1],
  ])('%s', (_name, outcome, expected) => {
    expect(tendExitCode({ ...base, ...outcome })).toBe(expected);
  });
});
