// Soak test, run by hand: `npm run soak -- --minutes N [--churn] [--json FILE] [--no-pid1] [--trace-gc]`.
//
// --churn: the churn profile instead of the mixed one below — 1 idle main and 20 services
// that each start a child that outlives them (`sleep & exit 1`) and crash at once,
// restarted after 10 ms, so every run of every service is a spawn, an exit, a sweep of a
// leftover child, a reap of both and a restart, as fast as tend can go. It passes when
// tend's RSS over the last sixth of the run is within 10 % of its value over the second
// sixth (around the 5-minute mark of a 30-minute run; medians), fds are flat, no zombie persisted, and the shutdown is clean.
// CI runs it for a few minutes (`.ci/run`), the same assertion scaled to the run.
//
// The default profile runs the built tend (bin/tend.cjs) as PID 1 of a new PID namespace (unshare, when it
// works here; else as a subreaper) with 50 services:
//   - 1 main that idles;
//   - 6 crash-loopers (`restart: always`, exit 1 after ~0.3 s, backoff capped at 2 s);
//   - 10 victims this script SIGKILLs from outside at random (`restart: always`);
//   - 1 forker that starts thousands of short children: half of them waited for by
//     its shell, half double-forked so they are re-parented to tend and reaped there;
//   - 1 logger writing a steady, numbered stream to stdout and a rotating log file;
//   - the rest idle sidecars;
// and `status` requests over the control socket throughout (a fresh connection each).
//
// Every 5 s it samples tend's RSS and open-fd count, and zombies among tend's
// descendants. It reports their slopes after a warm-up (least squares), zombies that
// persisted across two samples (must be 0), restarts counted by status vs restarts
// logged by tend, kills done from outside, log lines lost (gaps in the numbered
// stream), status latency, and the exit code and duration of the final shutdown.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const minutes = Number(flag('--minutes', '10'));
const jsonOut = flag('--json', null);
const wantPid1 = !argv.includes('--no-pid1');
// --trace-gc: run tend's node with --trace-gc and read the heap size after each full
// (mark-compact) collection from its stdout: live heap, the real leak indicator.
const traceGc = argv.includes('--trace-gc');
const churn = argv.includes('--churn');
const SAMPLE_MS = 5000;
const STATUS_MS = 250;
const KILL_MS = 2000;
const WARMUP_MS = Math.min(60_000, (minutes * 60_000) / 5);

const dir = mkdtempSync(join(tmpdir(), 'tend-soak-'));
const socket = join(dir, 'tend.sock');

// ---- the manifest -----------------------------------------------------------------
const services = [];
services.push(`  main:\n    main: true\n    command: [sleep, "1000000"]`);
if (churn) {
  for (let i = 0; i < 20; i++) {
    services.push(`  churn${i}:
    command: sh -c 'sleep 1000000 & exit 1'
    restart: { policy: always, backoff: { initial: 10ms, max: 10ms } }`);
  }
} else {
  for (let i = 0; i < 6; i++) {
    services.push(`  crash${i}:
    command: sh -c 'sleep 0.3; echo "crash${i} dying"; exit 1'
    restart: { policy: always, backoff: { initial: 100ms, max: 2s } }`);
  }
  for (let i = 0; i < 10; i++) services.push(`  victim${i}:\n    command: [sleep, "1000000"]\n    restart: { policy: always, backoff: { initial: 100ms, max: 1s } }`);
  // 20 short children per round, every 0.2 s: ~100/s. `true &` is waited for by the
  // shell; `(true &)` exits its subshell at once, so its child is re-parented to tend.
  services.push(`  forker:
    command: sh -c 'while :; do for i in 1 2 3 4 5 6 7 8 9 10; do true & (true &); done; wait; sleep 0.2; done'`);
  services.push(`  logger:
    command: sh -c 'i=0; while :; do i=$$((i+1)); echo "seq $$i"; sleep 0.01; done'
    log: { file: ${join(dir, 'logger.log')}, max_size: 256KB, keep: 2 }`);
  while (services.length < 50) services.push(`  idle${services.length}:\n    command: [sleep, "1000000"]`);
}
const manifest = join(dir, 'tend.yaml');
writeFileSync(manifest, `settings:\n  shutdown_timeout: 20s\nservices:\n${services.join('\n')}\n`);

// ---- tend -------------------------------------------------------------------------
const pid1 = wantPid1 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
const env = { ...process.env, TEND_SOCKET: socket };
delete env.NODE_EXTRA_CA_CERTS;
const tendArgs = [...(traceGc ? ['--trace-gc'] : []), join(root, 'bin', 'tend.cjs'), 'run', '-c', manifest];
const child = pid1
  ? spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, ...tendArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  : spawn(process.execPath, tendArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
const exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));

let restartsLogged = 0;
let lastSeq = 0;
let seqGaps = 0;
let seqLines = 0;
let stderrTail = '';
const errors = [];
const lineReader = (onLine) => {
  let partial = '';
  return (chunk) => {
    const text = partial + chunk;
    const parts = text.split('\n');
    partial = parts.pop();
    for (const line of parts) onLine(line);
  };
};
const gcHeap = [];
child.stdout.setEncoding('utf8').on('data', lineReader((line) => {
  // [pid:0x...]   12345 ms: Mark-Compact 14.1 (20.3) -> 9.8 (21.0) MB, ...
  const gc = /Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(line);
  if (gc !== null) {
    gcHeap.push({ x: Date.now() - (globalThis.soakT0 ?? Date.now()), y: Number(gc[1]) });
    return;
  }
  const m = /^logger\s*\| seq (\d+)$/.exec(line);
  if (m === null) return;
  const seq = Number(m[1]);
  seqLines += 1;
  if (seq !== lastSeq + 1) seqGaps += 1;
  lastSeq = seq;
}));
child.stderr.setEncoding('utf8').on('data', lineReader((line) => {
  stderrTail = `${stderrTail}${line}\n`.slice(-4000);
  if (/: restarting in /.test(line)) restartsLogged += 1;
  if (/internal error|ERROR|\berror\b/i.test(line) && !/exited with|killed by/.test(line)) errors.push(line);
}));

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function tendPid() {
  if (!pid1) return child.pid;
  for (let i = 0; i < 500; i++) {
    const [pid] = childrenOf(child.pid);
    if (pid !== undefined) return pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('tend did not start under unshare');
}

/** Zombies among tend's descendants (host pids), and those whose parent is tend itself. */
function zombiesUnder(top) {
  const byParent = new Map();
  const state = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const pid = Number(entry);
    const ppid = Number(fields[1]);
    state.set(pid, fields[0]);
    if (!byParent.has(ppid)) byParent.set(ppid, []);
    byParent.get(ppid).push(pid);
  }
  const zombies = [];
  const own = [];
  let descendants = 0;
  const stack = [top];
  while (stack.length > 0) {
    const pid = stack.pop();
    for (const kid of byParent.get(pid) ?? []) {
      descendants += 1;
      if (state.get(kid) === 'Z') {
        zombies.push(kid);
        // tend's to reap; the others wait for their own parent (the forker's shell).
        if (pid === top) own.push(kid);
      }
      stack.push(kid);
    }
  }
  return { zombies, own, descendants };
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]);
}

const fdCount = (pid) => readdirSync(`/proc/${pid}/fd`).length;

/** One request on a fresh connection; resolves with the reply and the round trip in ms. */
function request(cmd, args = {}, timeout = 5000) {
  return new Promise((done) => {
    const t0 = performance.now();
    const s = connect(socket);
    let buffer = '';
    const timer = setTimeout(() => { s.destroy(); done({ error: 'timeout', ms: timeout }); }, timeout);
    s.on('connect', () => s.write(`${JSON.stringify({ id: 1, cmd, args })}\n`));
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buffer += d;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.destroy();
      try {
        done({ reply: JSON.parse(buffer.slice(0, nl)), ms: performance.now() - t0 });
      } catch (error) {
        done({ error: String(error), ms: performance.now() - t0 });
      }
    });
    s.on('error', (error) => { clearTimeout(timer); done({ error: error.code ?? String(error), ms: performance.now() - t0 }); });
  });
}

function slope(points) {
  // least squares, y per minute
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}

const pct = (sorted, q) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);

// ---- run --------------------------------------------------------------------------
const tpid = await tendPid();
const t0 = Date.now();
globalThis.soakT0 = t0;
const deadline = t0 + minutes * 60_000;
for (;;) {
  const r = await request('status');
  if (r.reply?.ok) break;
  if (Date.now() - t0 > 15_000) throw new Error(`tend's socket did not answer: ${JSON.stringify(r)}\n${stderrTail}`);
  await new Promise((res) => setTimeout(res, 100));
}
console.log(`soak: tend pid ${tpid} (${pid1 ? 'PID 1 under unshare' : 'subreaper'}), ${minutes} min, dir ${dir}`);

const samples = [];
const latencies = [];
let statusErrors = 0;
let lastStatus = null;
let kills = 0;
let previousZombies = new Set();
let persistentZombies = 0;
let maxTransientZombies = 0;
let maxOwnZombies = 0;
let running = true;

const statusLoop = (async () => {
  while (running) {
    const r = await request('status');
    if (r.reply?.ok) {
      latencies.push(r.ms);
      lastStatus = r.reply.result;
    } else statusErrors += 1;
    await new Promise((res) => setTimeout(res, STATUS_MS));
  }
})();

const killLoop = (async () => {
  while (running) {
    await new Promise((res) => setTimeout(res, KILL_MS * (0.5 + Math.random())));
    if (!running || lastStatus === null) continue;
    const victims = lastStatus.services.filter((s) => s.name.startsWith('victim') && s.pid !== null && s.state === 'running');
    const victim = victims[Math.floor(Math.random() * victims.length)];
    if (victim === undefined) continue;
    // status pids are tend's namespace's; find the host pid among tend's children by
    // matching NSpid in /proc/PID/status.
    for (const pid of childrenOf(tpid)) {
      try {
        const ns = /NSpid:\s+([\d\s]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].trim().split(/\s+/).map(Number) ?? [];
        if (ns[ns.length - 1] === victim.pid) {
          process.kill(pid, 'SIGKILL');
          kills += 1;
          break;
        }
      } catch {
        // gone meanwhile
      }
    }
  }
})();

while (Date.now() < deadline) {
  await new Promise((res) => setTimeout(res, SAMPLE_MS));
  const { zombies, own, descendants } = zombiesUnder(tpid);
  const now = new Set(zombies);
  for (const z of now) if (previousZombies.has(z)) persistentZombies += 1;
  previousZombies = now;
  maxTransientZombies = Math.max(maxTransientZombies, zombies.length);
  maxOwnZombies = Math.max(maxOwnZombies, own.length);
  const restarts = lastStatus === null ? 0 : lastStatus.services.reduce((a, s) => a + s.restarts, 0);
  const sample = { t: Date.now() - t0, rss: rssKiB(tpid), fds: fdCount(tpid), zombies: zombies.length, descendants, restarts, restartsLogged };
  samples.push(sample);
  process.stdout.write(`${(sample.t / 1000).toFixed(0).padStart(5)}s rss ${(sample.rss / 1024).toFixed(1)} MiB heap ${gcHeap.at(-1)?.y ?? '-'} fds ${sample.fds} zombies ${sample.zombies}/${own.length} procs ${descendants} restarts ${restarts}/${restartsLogged} kills ${kills} seq ${lastSeq}\n`);
}
running = false;
await Promise.all([statusLoop, killLoop]);

// Restarts from status and from the log, compared at one quiet moment.
const final = await request('status');
const restartsCounted = final.reply?.ok ? final.reply.result.services.reduce((a, s) => a + s.restarts, 0) : NaN;
const lostServices = final.reply?.ok ? final.reply.result.services.filter((s) => !['running', 'ready', 'starting', 'backoff'].includes(s.state)).map((s) => `${s.name}:${s.state}`) : ['status failed'];
const logger = final.reply?.ok ? final.reply.result.services.find((s) => s.name === 'logger') : null;
const restartsLoggedAtEnd = restartsLogged;

const stopT0 = Date.now();
process.kill(tpid, 'SIGTERM');
const exit = await exited;
const shutdownMs = Date.now() - stopT0;
await new Promise((res) => setTimeout(res, 100)); // let the pipes deliver their last lines

const steady = samples.filter((s) => s.t >= WARMUP_MS);
const pts = (key) => steady.map((s) => ({ x: s.t, y: s[key] }));
const sorted = [...latencies].sort((a, b) => a - b);
const result = {
  minutes,
  pid1,
  samples: samples.length,
  rss_mib: { first: samples[0]?.rss / 1024, min: Math.min(...samples.map((s) => s.rss)) / 1024, max: Math.max(...samples.map((s) => s.rss)) / 1024, last: samples.at(-1)?.rss / 1024, slope_kib_per_min: slope(pts('rss')) },
  fds: { first: samples[0]?.fds, min: Math.min(...samples.map((s) => s.fds)), max: Math.max(...samples.map((s) => s.fds)), last: samples.at(-1)?.fds, slope_per_min: slope(pts('fds')) },
  zombies: { max_in_a_sample: maxTransientZombies, max_children_of_tend_in_a_sample: maxOwnZombies, persisted_across_samples: persistentZombies },
  heap_after_full_gc_mib: gcHeap.length === 0 ? null : { first: gcHeap[0].y, min: Math.min(...gcHeap.map((p) => p.y)), max: Math.max(...gcHeap.map((p) => p.y)), last: gcHeap.at(-1).y, count: gcHeap.length, slope_mib_per_min: slope(gcHeap.filter((p) => p.x >= WARMUP_MS)) },
  restarts: { counted_by_status: restartsCounted, logged: restartsLoggedAtEnd, kills_from_outside: kills },
  logger: { lines_seen: seqLines, last_seq: lastSeq, gaps: seqGaps, restarts: logger?.restarts ?? null },
  status: { requests: latencies.length, errors: statusErrors, p50_ms: pct(sorted, 0.5), p99_ms: pct(sorted, 0.99), max_ms: sorted.at(-1) },
  lost_services: lostServices,
  shutdown: { code: exit.code, signal: exit.signal, ms: shutdownMs },
  error_lines: errors.slice(0, 20),
  timeline: samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 12)) === 0 || i === samples.length - 1)
    .map((s) => ({ t_s: Math.round(s.t / 1000), rss_mib: +(s.rss / 1024).toFixed(1), fds: s.fds, zombies: s.zombies, restarts: s.restarts })),
};
// The churn profile's memory check: the end against a sixth of the way in (the 5-minute
// mark of 30 minutes), when every pool and cache has had time to reach its working size.
const reference = samples.find((s) => s.t >= (minutes * 60_000) / 6) ?? samples[0];
result.rss_mib.reference = { t_s: Math.round((reference?.t ?? 0) / 1000), mib: reference?.rss / 1024 };
result.rss_mib.end_over_reference = samples.at(-1)?.rss / reference?.rss;
// Under churn the fd count swings with the services' pipes in flight (±25 around its
// mean), so a slope over a few minutes is noise; a leak of even one fd per thousand
// restarts adds tens a minute. Compare the mean of the last sixth with the mean of the
// second sixth instead.
const meanFds = (from, to) => {
  const window = samples.filter((s) => s.t >= (minutes * 60_000 * from) / 6 && s.t <= (minutes * 60_000 * to) / 6);
  return window.reduce((a, s) => a + s.fds, 0) / Math.max(1, window.length);
};
result.fds.mean_second_sixth = meanFds(1, 2);
result.fds.mean_last_sixth = meanFds(5, 6);
const fdsFlat = churn
  ? result.fds.mean_last_sixth <= result.fds.mean_second_sixth * 1.25 + 5
  : Math.abs(result.fds.slope_per_min) < 0.5;
// RSS under churn is a sawtooth (buffers and garbage between collections swing it by
// ±10 %), so one sample at the end can land on a tooth: the verdict compares the median of
// the last sixth with the median of the second sixth, as the fd check compares means.
const medianRss = (from, to) => {
  const window = samples.filter((s) => s.t >= (minutes * 60_000 * from) / 6 && s.t <= (minutes * 60_000 * to) / 6).map((s) => s.rss).sort((a, b) => a - b);
  return window.length === 0 ? NaN : window[Math.floor(window.length / 2)] / 1024;
};
result.rss_mib.median_second_sixth = medianRss(1, 2);
result.rss_mib.median_last_sixth = medianRss(5, 6);
result.rss_mib.last_sixth_over_second = result.rss_mib.median_last_sixth / result.rss_mib.median_second_sixth;
const memoryFlat = churn
  ? result.rss_mib.last_sixth_over_second <= 1.1
  : traceGc || Math.abs(result.rss_mib.slope_kib_per_min) < 256;
const pass = persistentZombies === 0 && (gcHeap.length < 3 || Math.abs(result.heap_after_full_gc_mib.slope_mib_per_min) < 0.25) && lostServices.length === 0 && seqGaps === 0 && statusErrors === 0 && exit.code === 143 &&
  memoryFlat && fdsFlat;
console.log(JSON.stringify(result, null, 2));
if (jsonOut !== null) writeFileSync(jsonOut, `${JSON.stringify(result, null, 2)}\n`);
console.log(pass ? 'soak: PASS' : 'soak: FAIL (see above)');
process.exitCode = pass ? 0 : 1;
