// Control socket benchmark, run by hand: `node bench/control.mjs [iterations]`.
// A real server (src/control/server.ts) with a fake handler of 50 services runs in a
// child process; this process is the client (src/control/client.ts). Measures:
//   - status round trip on a persistent connection, one request at a time: median, p99
//   - requests per second on that connection, one at a time and 32 pipelined
//   - connect + status + close, a fresh connection per request (what one CLI call costs
//     on the socket, without Node's start-up)
// Goals: median < 5 ms, >= 2,000 req/s.
import { build } from 'esbuild';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const iterations = Number(process.argv[2] ?? 5000);
const work = mkdtempSync(join(tmpdir(), 'tend-bench-'));
const socketPath = join(work, 'tend.sock');

// One bundle of the control modules, the way tend ships them (CJS, ffi-rs external).
const entry = join(work, 'entry.ts');
writeFileSync(entry, `
export { listenControl } from ${JSON.stringify(join(root, 'src/control/server'))};
export { connectControl } from ${JSON.stringify(join(root, 'src/control/client'))};
`);
const bundle = join(work, 'control.cjs');
await build({ entryPoints: [entry], outfile: bundle, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['ffi-rs'], logLevel: 'warning', minify: true });

const serverScript = join(work, 'server.cjs');
writeFileSync(serverScript, `
const { listenControl } = require(${JSON.stringify(bundle)});
const now = Date.now();
const services = Array.from({ length: 50 }, (_, i) => ({
  name: 'service-' + i, type: 'longrun', main: i === 0, state: 'running', pid: 1000 + i, since: now - 60000,
  uptime_ms: 60000, restarts: i % 3, last_exit: i % 3 ? { code: 1 } : null, health: 'none',
  processes: [1000 + i, 2000 + i], process_info: [{ pid: 1000 + i, command: 'svc', escaped: false }, { pid: 2000 + i, command: 'helper', escaped: true }],
}));
const ok = (value) => ({ ok: true, value });
const handler = {
  status: (names) => ok({ services: names.length ? services.filter((s) => names.includes(s.name)) : services, orphans: [], shutting_down: false }),
  health: () => ({ healthy: true, reason: 'main service-0 is running', shutting_down: false }),
  start: async (names) => ok({ services: names.map((name) => ({ name, state: 'running', changed: false })) }),
  stop: async (names) => ok({ services: names.map((name) => ({ name, state: 'stopped', changed: true })) }),
  restart: async (names) => ok({ services: names.map((name) => ({ name, state: 'running', changed: true })) }),
  signal: (name) => ok({ name, signal: 'SIGHUP', pids: [1] }),
  wait: async (name) => ok({ name, state: 'running' }),
  logs: () => ok([]),
  followLogs: () => ok(() => {}),
  reload: async () => ok({ added: [], removed: [], changed: [], unchanged: [], pending: [] }),
  shutdown: () => ok({ already: false }),
  subscribe: () => () => {},
};
listenControl({ path: process.argv[2], mode: null, allow: [], handler, version: 'bench' }).then((r) => {
  if (!r.ok) { console.error(r.message); process.exit(1); }
  process.send('ready');
});
`);

// The bundle lives in a temporary directory: let it find ffi-rs in the project.
const server = fork(serverScript, [socketPath], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  env: { ...process.env, NODE_PATH: join(root, 'node_modules') },
});
// Never leave the server behind, whatever happens below.
process.on('exit', () => server.kill('SIGKILL'));
await new Promise((resolveReady, reject) => {
  server.once('message', resolveReady);
  server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
});

const { connectControl } = await import(bundle);
const choice = { path: socketPath, source: { kind: 'flag' } };

async function connected() {
  const result = await connectControl(choice, { uid: process.getuid() });
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const client = await connected();
// Warm-up: JIT, zod's first parses.
for (let i = 0; i < 500; i++) {
  const reply = await client.request('status', {});
  if (!reply.ok) throw new Error(`status failed: ${reply.message}`);
}

const times = [];
const sequentialStart = performance.now();
for (let i = 0; i < iterations; i++) {
  const t = performance.now();
  const reply = await client.request('status', {});
  times.push(performance.now() - t);
  if (!reply.ok || reply.value.services.length !== 50) throw new Error(`bad reply: ${JSON.stringify(reply).slice(0, 300)}`);
}
const sequentialSeconds = (performance.now() - sequentialStart) / 1000;
times.sort((a, b) => a - b);

const depth = 32;
const pipelinedStart = performance.now();
let next = 0;
await Promise.all(Array.from({ length: depth }, async () => {
  while (next < iterations) {
    next += 1;
    const reply = await client.request('status', {});
    if (!reply.ok) throw new Error('bad reply');
  }
}));
const pipelinedSeconds = (performance.now() - pipelinedStart) / 1000;
client.close();

const fresh = [];
for (let i = 0; i < Math.min(1000, iterations); i++) {
  const t = performance.now();
  const c = await connected();
  await c.request('status', {});
  c.close();
  fresh.push(performance.now() - t);
}
fresh.sort((a, b) => a - b);

server.kill('SIGTERM');
rmSync(work, { recursive: true, force: true });

const ms = (x) => `${x.toFixed(3)} ms`;
const line = (label, value) => console.log(`${label.padEnd(48)} ${value}`);
console.log(`control socket, status of 50 services, ${iterations} requests, node ${process.version}`);
line('persistent connection, median round trip', ms(percentile(times, 0.5)));
line('persistent connection, p99 round trip', ms(percentile(times, 0.99)));
line('persistent connection, one at a time', `${Math.round(iterations / sequentialSeconds)} req/s`);
line(`persistent connection, ${depth} in flight`, `${Math.round(iterations / pipelinedSeconds)} req/s`);
line('new connection per request, median', ms(percentile(fresh, 0.5)));
const median = percentile(times, 0.5);
const rate = iterations / sequentialSeconds;
console.log(median < 5 && rate >= 2000 ? 'goals met (median < 5 ms, >= 2,000 req/s)' : 'GOALS MISSED (median < 5 ms, >= 2,000 req/s)');
