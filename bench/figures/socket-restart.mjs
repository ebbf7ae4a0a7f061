// Socket activation: connections made while the service restarts. tend runs as PID 1 with
// a service that takes its listening socket from tend (sockets:, as a systemd .socket
// unit) — test/fixtures/bin/activated, a Python sd_listen_fds() stand-in that answers
// each connection with "hello PID". Each run kills the service (tend signal web KILL:
// a 300 ms backoff before the next run), then makes N connections while nobody accepts.
// Sample: the connections refused (goal 0); each run also checks all N were served, by
// the next run of the service.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { cleanEnv, readText, ROOT, tendArgv, waitFor, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'socket-restart';

function hello(port) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setTimeout(20_000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (chunk) => { text += chunk; });
    socket.on('end', () => resolve(text.trim()));
    socket.on('error', reject);
  });
}

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function run(ctx) {
  const m = metric({ id, title: 'connections refused during a socket-activated restart', goal: '0 of 1,000', unit: 'count', holds: (x) => x === 0 });
  const n = ctx.smoke ? 50 : 1000;
  const notes = [];
  await forSubjects(ctx, ['tend run'], async (_subject, runs) => {
    if (spawnSync('python3', ['-c', 'import socket']).status !== 0) throw new Error('python3 is not installed');
    const samples = [];
    for (let run = 0; run < runs; run++) {
      const dir = workDir(ctx, 'socket-restart');
      const events = join(dir, 'events');
      writeFileSync(events, '');
      const port = await freePort();
      writeFileSync(join(dir, 'tend.yaml'), JSON.stringify({
        services: {
          web: {
            command: [join(ROOT, 'test', 'fixtures', 'bin', 'activated')],
            sockets: [{ listen: `127.0.0.1:${port}`, name: 'http' }],
            restart: { policy: 'always', backoff: { initial: '300ms', jitter: 0 } },
            env: { EVENTS: events },
          },
          idle: { main: true, command: ['sleep', '1000'] },
        },
      }));
      const env = cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') });
      const init = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...tendArgv('run', '-c', join(dir, 'tend.yaml'))], { env, cwd: dir, stdio: 'ignore' });
      try {
        await waitFor(() => readText(events).includes('listen '), { timeout: 20_000, what: 'web to listen' });
        const first = readText(events).split('\n').find((l) => l.startsWith('listen ')).split(' ')[1];
        const killed = spawnSync(tendArgv()[0], [...tendArgv().slice(1), 'signal', 'web', 'KILL'], { env, encoding: 'utf8' });
        if (killed.status !== 0) throw new Error(`tend signal: ${killed.stderr}`);
        // Made at once, while the service is down (300 ms of backoff): they wait in the backlog.
        const during = await Promise.allSettled(Array.from({ length: n }, () => hello(port)));
        const refused = during.filter((r) => r.status === 'rejected');
        const servedBy = new Set(during.filter((r) => r.status === 'fulfilled').map((r) => r.value));
        samples.push(refused.length);
        notes.push(`run ${run + 1}: ${refused.length} refused${refused.length ? ` (${refused[0].reason.code ?? refused[0].reason.message})` : ''}, ${n - refused.length} served${servedBy.has(`hello ${first}`) ? ' (some by the killed run: the kill came late)' : ', all by the next run'}`);
      } finally {
        init.kill('SIGKILL');
      }
    }
    return samples;
  }, [m]);
  notApplicable(m, ['tend --', 'tini', 'dumb-init', 'catatonit', 'supervisord'], 'no socket activation');
  m.notes.push(`${n} connections per run, all opened at once right after \`tend signal web KILL\` (the next run starts after a 300 ms backoff); backlog 4096 (tend's default).`, ...notes);
  return [m];
}
