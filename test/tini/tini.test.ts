// tend -- CMD: exit codes, signals, reaping, the terminal, stdin passthrough.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { canUnshare, childrenOf, runTendSync, startTend, tempDir, TEND_BIN, waitFor } from '../helpers/tend';

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const pid1 of [false, true]) {
  describe.skipIf(pid1 && !canUnshare())(`tini mode${pid1 ? ' as PID 1' : ''}`, () => {
    test('exit codes and signal deaths pass through', async () => {
      const cases: Array<[string, number]> = [
        ['exit 0', 0], ['exit 1', 1], ['exit 2', 2], ['exit 42', 42], ['exit 126', 126], ['exit 127', 127],
        ['exit 128', 128], ['exit 255', 255], ['kill -TERM $$', 143], ['kill -KILL $$', 137], ['kill -SEGV $$', 139],
      ];
      const results = await Promise.all(cases.map(async ([script]) => {
        const tend = startTend(['--', 'sh', '-c', script], { pid1 });
        return (await tend.exited).code;
      }));
      expect(results).toEqual(cases.map(([, code]) => code));
    });

    test('a missing command is 127, a non-executable file 126, each with one line on stderr', () => {
      const missing = runTendSync(['--', 'no-such-command-xyz'], { pid1 });
      expect(missing.code).toBe(127);
      expect(missing.stderr).toBe('tend: command not found: no-such-command-xyz\n');
      const file = join(tempDir(), 'x.sh');
      writeFileSync(file, '#!/bin/sh\n');
      chmodSync(file, 0o644);
      const noexec = runTendSync(['--', file], { pid1 });
      expect(noexec.code).toBe(126);
      expect(noexec.stderr).toBe(`tend: permission denied: ${file}\n`);
    });

    test('SIGTERM to tend reaches CMD, whose handler decides the exit code', async () => {
      const tend = startTend(['--', 'sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.02; done'], { pid1 });
      await tend.waitOutput('ready');
      // With --pid, tend is unshare's child (PID 1 inside); signal tend itself, as `docker stop` does.
      const target = pid1 ? await waitFor(() => Number(readFileSync(`/proc/${tend.child.pid}/task/${tend.child.pid}/children`, 'utf8').trim().split(' ')[0]) || 0) : tend.child.pid!;
      process.kill(target, 'SIGTERM');
      expect((await tend.exited).code).toBe(42);
      expect(tend.stdout).toBe('ready\ngot TERM\n');
    });

    test('every signal is forwarded, every time: no escalation', async () => {
      const tend = startTend(['--', 'sh', '-c', 'n=0; trap \'n=$((n+1)); echo int $n\' INT; trap "echo usr1" USR1; trap \'echo hup; exit $n\' HUP; echo ready; while :; do sleep 0.02; done'], { pid1 });
      await tend.waitOutput('ready');
      const target = pid1 ? await waitFor(() => Number(readFileSync(`/proc/${tend.child.pid}/task/${tend.child.pid}/children`, 'utf8').trim().split(' ')[0]) || 0) : tend.child.pid!;
      for (const n of [1, 2, 3]) {
        process.kill(target, 'SIGINT');
        await tend.waitOutput(`int ${n}`);
      }
      process.kill(target, 'SIGUSR1'); // must not open the inspector, must reach CMD
      await tend.waitOutput('usr1');
      process.kill(target, 'SIGHUP');
      expect((await tend.exited).code).toBe(3);
      expect(tend.stderr).not.toMatch(/Debugger/);
    });

    test('1,000 double-forked orphans are reaped while CMD runs; CMD\'s code survives', async () => {
      // CMD makes the storm, then waits until none of tend's ($PPID's) children is a zombie, and exits 7.
      const script = [
        'z() { for p in $(cat /proc/$PPID/task/*/children); do grep -qs "^State:.Z" /proc/$p/status && echo $p; done; }',
        'i=0; while [ $i -lt 1000 ]; do (sh -c "exit 0" &); i=$((i+1)); done',
        't=0; while [ -n "$(z)" ] && [ $t -lt 500 ]; do sleep 0.01; t=$((t+1)); done',
        'z | wc -l; exit 7',
      ].join('\n');
      const tend = startTend(['--', 'sh', '-c', script], { pid1 });
      expect((await tend.exited).code).toBe(7);
      expect(tend.stdout.trim()).toBe('0');
    });
  });
}

describe('tini mode (not PID 1)', () => {
  test('a double-forked daemon re-parents to tend (subreaper) and does not outlive it', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'daemon.pid');
    const script = `(setsid sleep 300 & echo $! > ${pidFile}); d=$(cat ${pidFile}); ` +
      // Wait until the daemon's parent is tend ($PPID of this shell), then end CMD.
      'until [ "$(cut -d" " -f4 /proc/$d/stat)" = "$PPID" ]; do sleep 0.01; done; echo adopted';
    const tend = startTend(['--', 'sh', '-c', script]);
    expect((await tend.exited).code).toBe(0);
    expect(tend.stdout).toBe('adopted\n');
    const daemon = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(daemon)).toBe(false);
  });

  test('tend -- cat copies stdin to stdout byte for byte', () => {
    const input = randomBytes(1 << 20);
    const result = spawnSync(process.execPath, [TEND_BIN, '--', 'cat'], { input, env, timeout: 20_000 });
    expect(result.status).toBe(0);
    expect(Buffer.compare(result.stdout, input)).toBe(0);
  });

  // Both spawn paths: libtend's child calls tcsetpgrp itself (direct), or the exec helper does.
  test.each(['1', '0'])('under a terminal, CMD is its own process group and the terminal\'s foreground (TEND_SPAWN_DIRECT=%s)', (direct) => {
    // ps: pgid of CMD, the terminal's foreground group (tpgid), and the pgid of tend ($PPID).
    const inner = `${process.execPath} ${TEND_BIN} -- sh -c 'echo "$(ps -o pgid= -p $$) $(ps -o tpgid= -p $$) $(ps -o pgid= -p $PPID) $$"'`;
    const result = spawnSync('script', ['-qec', inner, '/dev/null'], { env: { ...env, TEND_SPAWN_DIRECT: direct }, encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(0);
    const [pgid, tpgid, tendPgid, pid] = result.stdout.trim().split(/\s+/).map(Number);
    expect(pgid).toBe(pid);
    expect(tpgid).toBe(pgid);
    expect(tendPgid).not.toBe(pgid);
  });

  test('without a terminal, SIGTSTP to tend stops CMD (as SIGSTOP); SIGCONT resumes it', async () => {
    const tend = startTend(['--', 'sh', '-c', 'echo $$; while :; do sleep 0.02; done']);
    await tend.waitOutput(/^\d+\n/);
    const cmd = Number(tend.stdout.trim());
    const state = (pid: number) => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]; } catch { return 'gone'; } };
    // The SIGSTOP goes to CMD's whole group. If it lands while sh has vfork'd a `sleep` that
    // has not exec'd yet, the child stops and sh waits for it in D (uninterruptible), not T.
    const stopped = () => state(cmd) === 'T' || (state(cmd) === 'D' && childrenOf(cmd).some((pid) => state(pid) === 'T'));
    try {
      process.kill(tend.child.pid!, 'SIGTSTP');
      await waitFor(stopped, { what: () => `CMD stopped (state ${state(cmd)}, children ${childrenOf(cmd).map((pid) => `${pid}:${state(pid)}`).join(' ')})` });
      process.kill(tend.child.pid!, 'SIGCONT');
      await waitFor(() => !stopped() && state(cmd) !== 'T', { what: 'CMD resumed' });
      process.kill(tend.child.pid!, 'SIGTERM');
      expect((await tend.exited).code).toBe(143);
    } finally {
      // A stopped CMD ignores SIGTERM until continued: never leave it (and tend) behind.
      if (tend.child.exitCode === null) {
        if (cmd > 0) try { process.kill(-cmd, 'SIGKILL'); } catch { /* gone */ }
        tend.child.kill('SIGKILL');
      }
    }
  });
});
