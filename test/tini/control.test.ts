// tini mode's control socket: only when asked for (--socket or TEND_SOCKET); one service,
// `main`, that is CMD. status, signal, health and `stop main` work; what needs a manifest
// or captured output says why it cannot.
import { describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runTendSync, startTend, tempDir } from '../helpers/tend';

describe('tini mode control socket', () => {
  test('status, signal, health, logs (refused with the reason) and stop main over --socket', async () => {
    const socket = join(tempDir(), 'tini.sock');
    const tend = startTend(['--socket', socket, '--', 'sh', '-c', 'trap "echo got-usr1" USR1; trap "exit 7" TERM; echo up; while :; do sleep 0.05; done'], { env: { TEND_SOCKET: undefined } });
    await tend.waitOutput('up');
    const cli = (...args: string[]) => runTendSync([...args, '--socket', socket], { env: { TEND_SOCKET: undefined } });

    const status = JSON.parse(cli('status', '--json').stdout) as { services: { name: string; state: string; pid: number; main: boolean }[] };
    expect(status.services).toHaveLength(1);
    expect(status.services[0]).toMatchObject({ name: 'main', state: 'running', main: true });

    expect(cli('signal', 'main', 'USR1').code).toBe(0);
    await tend.waitOutput('got-usr1');
    expect(cli('health').code).toBe(0);

    const logs = cli('logs', 'main');
    expect(logs.code).not.toBe(0);
    expect(logs.stderr).toMatch(/does not capture output/);
    expect(cli('status', 'web').stderr).toMatch(/unknown service "web"/);

    const stopped = cli('stop', 'main');
    expect(stopped.code).toBe(0);
    expect((await tend.exited).code).toBe(7);
    expect(existsSync(socket)).toBe(false);
  });
});
