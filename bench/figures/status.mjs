// `status` round trip on the control socket, 50 services (`sleep infinity`), persistent
// connection, one request at a time. tend: the JSON-lines protocol ({"cmd":"status"});
// supervisord: XML-RPC supervisor.getAllProcessInfo over its Unix socket (what
// `supervisorctl status` sends), keep-alive. Each run: median of a batch after warm-up.
// Also the whole CLI (`tend status`, `supervisorctl status`) with its interpreter start-up.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { cleanEnv, launch, stats, tendArgv, waitFor, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'status';

/** A JSON-lines client of tend's control socket, one request at a time. */
export function tendClient(path) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    let buffer = '';
    let waiting = null;
    let next = 1;
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      buffer += d;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        const w = waiting;
        waiting = null;
        w?.(JSON.parse(line));
      }
    });
    socket.once('error', reject);
    socket.once('connect', () => resolve({
      request: (cmd, args = {}) => new Promise((r) => { waiting = r; socket.write(`${JSON.stringify({ id: next++, cmd, args })}\n`); }),
      close: () => socket.destroy(),
    }));
  });
}

function supervisorClient(path) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const body = '<?xml version="1.0"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>';
  return {
    request: () => new Promise((resolve, reject) => {
      const req = http.request({ socketPath: path, path: '/RPC2', method: 'POST', agent, headers: { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(body);
    }),
    close: () => agent.destroy(),
  };
}

export async function run(ctx) {
  const services = ctx.smoke ? 5 : 50;
  const batch = ctx.smoke ? 20 : 200;
  const m = metric({ id, title: `status round trip on the control socket, ${services} services`, goal: '≤ 5 ms', unit: 'ms', holds: (x) => x <= 5 });
  const cli = metric({ id: 'status-cli', title: `status CLI command, ${services} services (interpreter start-up included)`, goal: '–', unit: 'ms', holds: () => null });
  await forSubjects(ctx, ['tend run', 'supervisord'], async (subject) => {
    const dir = workDir(ctx, `status-${subject}`);
    const list = Array.from({ length: services }, (_, i) => ({ name: `s${i}`, argv: ['sleep', 'infinity'] }));
    const init = launch(subject, list, dir, { pid1: true });
    try {
      const client = subject === 'tend run' ? tendClient : supervisorClient;
      const c = await waitFor(async () => { try { return await client(init.socket); } catch { return null; } }, { timeout: 30_000, interval: 50, what: `${subject}'s socket` });
      // Every service running before measuring.
      await waitFor(async () => {
        const reply = await c.request('status').catch(() => null);
        if (reply === null) return false;
        return subject === 'tend run' ? reply.result?.services?.every((s) => s.state === 'running') : (reply.match(/>RUNNING</g) ?? []).length === services;
      }, { timeout: 30_000, interval: 100, what: `${subject}'s services running` });
      for (let i = 0; i < batch; i++) await c.request('status'); // warm-up
      const samples = [];
      for (let r = 0; r < ctx.runs; r++) {
        const times = [];
        for (let i = 0; i < batch; i++) {
          const t = performance.now();
          const reply = await c.request('status');
          times.push(performance.now() - t);
          if (subject === 'tend run' && !reply.ok) throw new Error(`status failed: ${JSON.stringify(reply).slice(0, 200)}`);
        }
        samples.push(stats(times).median);
      }
      c.close();
      const cliSamples = [];
      for (let r = 0; r < ctx.runs; r++) {
        const t = performance.now();
        const argv = subject === 'tend run' ? tendArgv('status', '--socket', init.socket) : ['supervisorctl', '-c', join(dir, 'supervisord.conf'), 'status'];
        const res = spawnSync(argv[0], argv.slice(1), { env: cleanEnv(), encoding: 'utf8' });
        cliSamples.push(performance.now() - t);
        if (res.status !== 0) throw new Error(`${argv.slice(0, 3).join(' ')} exited ${res.status}: ${res.stderr.slice(0, 200)}`);
      }
      return [samples, cliSamples];
    } finally {
      await init.kill();
    }
  }, [m, cli]);
  m.notes.push(`Each run is the median of ${batch} sequential requests on one connection, after ${batch} warm-up requests.`);
  for (const x of [m, cli]) notApplicable(x, ['tend --', 'tini', 'dumb-init'], 'no control socket');
  cli.primary = 'tend run';
  return [m, cli];
}
