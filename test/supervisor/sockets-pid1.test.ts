// Socket activation end to end: real tend as PID 1 binds the sockets, holds them across
// restarts and passes them as fds 3.. with LISTEN_FDS, LISTEN_PID (the service's own pid,
// set by the exec helper after the fork) and LISTEN_FDNAMES. The service is a Python
// stand-in for sd_listen_fds() (test/fixtures/bin/activated).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer } from 'node:net';
import { canUnshare, freePort, waitFor } from '../helpers/tend';
import { scenario } from './scenario';

const pid1 = canUnshare();
const python = spawnSync('python3', ['-c', 'import socket']).status === 0;

/** Connects and reads the greeting; rejects on a refused connection. */
function hello(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => { text += chunk.toString(); });
    socket.on('end', () => resolve(text.trim()));
    socket.on('error', reject);
  });
}

describe.skipIf(!pid1 || !python)('socket activation as PID 1', () => {
  it('passes the sockets with LISTEN_*; connections made during a restart wait and are served by the next run', async () => {
    const port = await freePort();
    const t = scenario(`
services:
  web:
    command: [activated]
    sockets:
      - { listen: '127.0.0.1:${port}', name: http }
      - { listen: 'unix:web.sock', mode: '0660' }
    restart: { policy: always, backoff: { initial: 300ms, jitter: 0 } }
  app: { main: true, command: [sleep, '1000'] }
`);
    const tend = t.start();
    await waitFor(() => t.events().some((e) => e.startsWith('listen ')), { what: () => tend.stderr });
    const [, pid, listenPid, count, names] = t.events().find((e) => e.startsWith('listen '))!.split(' ');
    expect(listenPid).toBe(pid);
    expect(count).toBe('2');
    expect(names).toBe('http:web');
    expect(await hello(port)).toBe(`hello ${pid}`);

    // Killed: for the 300 ms of backoff nothing accepts, but the socket is tend's and listens.
    expect(t.cli('signal', 'web', 'KILL').code).toBe(0);
    await tend.waitOutput(/web: restarting in/);
    const during = await Promise.allSettled(Array.from({ length: 50 }, () => hello(port)));
    const refused = during.filter((r) => r.status === 'rejected');
    expect(refused).toEqual([]);
    const answers = new Set(during.map((r) => (r.status === 'fulfilled' ? r.value : '')));
    expect(answers.has(`hello ${pid}`)).toBe(false);
    expect(answers.size).toBe(1); // all served by the next run
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });

  it('a port in use is a start error naming the port and the service', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const t = scenario(`
services:
  web:
    command: [activated]
    sockets: [{ listen: '127.0.0.1:${port}' }]
    restart: never
  app: { main: true, command: [sleep, '1000'] }
`);
      const tend = t.start();
      await tend.waitOutput(`web: cannot listen on 127.0.0.1:${port} (address in use)`);
      await tend.signal('SIGTERM');
      await tend.exited;
    } finally {
      taken.close();
    }
  });

  it('a service running as nobody serves port 80, bound by tend as root', async (context) => {
    const probe = createServer();
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(80, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (!free || process.getuid?.() !== 0) {
      context.skip(`port 80 on 127.0.0.1 is ${free ? 'free but tests do not run as root' : 'in use here'}`);
      return;
    }
    const t = scenario(`
services:
  web:
    command: [activated]
    user: nobody
    sockets: [{ listen: '127.0.0.1:80' }]
  app: { main: true, command: [sleep, '1000'] }
`);
    // nobody records its start in the events file too.
    chmodSync(t.dir, 0o755);
    chmodSync(join(t.dir, 'events'), 0o666);
    const tend = t.start();
    await waitFor(() => t.events().some((e) => e.startsWith('listen ')), { what: () => tend.stderr });
    const pid = t.events().find((e) => e.startsWith('listen '))!.split(' ')[1];
    expect(await hello(80)).toBe(`hello ${pid}`);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });
});
