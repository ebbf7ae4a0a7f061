// examples/tini-replacement as PID 1: `tend -- node server.cjs` (no manifest) reaps the
// server's double-forked grandchildren and forwards SIGINT to it; the one-service
// manifest restarts its main by hand and stops on SIGTERM with the server's 0.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, childrenOf, startTend, waitFor, type RunningTend } from '../helpers/tend';
import { EXAMPLES, allIn, freePort, get, killLeftovers, outsideAddress, startExample } from './helpers';

const running: RunningTend[] = [];
afterEach(() => {
  killLeftovers();
  for (const tend of running.splice(0)) if (tend.child.exitCode === null) tend.child.kill('SIGKILL');
});

/** The process state letter (R, S, Z...) from /proc/PID/stat; null once it is gone. */
function stateOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

describe.skipIf(!canUnshare())('examples/tini-replacement', () => {
  it("tend -- node server.cjs: no zombie left by the server's double-forked grandchildren, SIGINT forwarded; exits with the server's 0", async () => {
    const port = await freePort();
    // As docker-compose.yml runs it: HOST=0.0.0.0, so that the published port reaches it.
    const tend = startTend(['--', 'node', 'server.cjs'], { pid1: true, cwd: join(EXAMPLES, 'tini-replacement'), env: { PORT: String(port), HOST: '0.0.0.0' } });
    running.push(tend);
    await tend.waitOutput(`server listening on 0.0.0.0:${port}`);
    // Each request leaves a grandchild that double-forks away; it comes to tend (PID 1).
    for (let i = 0; i < 5; i += 1) expect((await get(`http://${outsideAddress()}:${port}/`)).body).toBe('hello\n');
    const pid = await tend.tendPid();
    await waitFor(() => {
      const children = childrenOf(pid);
      return children.length === 1 && children.every((child) => stateOf(child) !== 'Z');
    }, { what: () => `tend's only child to be the server; children: ${childrenOf(pid).map((c) => `${c}:${stateOf(c)}`).join(' ')}` });

    await tend.signal('SIGINT');
    const { code } = await tend.exited;
    expect(tend.stdout).toContain('server: SIGINT, closing'); // the server saw SIGINT itself
    expect(code).toBe(0);
  });

  it('the manifest: server runs, restarts by hand, and stops on SIGTERM with 0', async () => {
    const port = await freePort();
    const box = startExample('tini-replacement', { PORT: String(port) });
    const first = await box.waitStatus((doc) => allIn(doc, ['server'], ['running']), 'server running');
    await box.tend.waitOutput(`server listening on 127.0.0.1:${port}`);
    expect(box.tend.stdout).not.toMatch(/server +\|/); // console: inherit — no prefix, no capture

    const restarted = await box.cli(['restart', 'server']);
    expect(restarted, restarted.stderr).toMatchObject({ code: 0 });
    const second = await box.service('server');
    expect(second.pid).not.toBe(first.services[0]?.pid);
    await waitFor(async () => (await get(`http://127.0.0.1:${port}/`)).status === 200, { what: 'the restarted server to answer' });

    await box.tend.signal('SIGTERM');
    expect((await box.tend.exited).code).toBe(0);
    expect(box.tend.stdout).toContain('server: SIGTERM, closing');
  });
});
