// Shared parts of the benchmark suite: paths, the measured C program, the peers, how
// each init is launched (tend run, tend --, tini, dumb-init, supervisord), statistics.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// What runs tend: the launcher (bin/tend) when it is built, as users run it; TEND_BENCH_BIN
// picks another build for an A/B — a launcher, or a .cjs entry run by this Node (no launcher).
export const TEND_BIN = process.env.TEND_BENCH_BIN ?? (existsSync(join(ROOT, 'bin', 'tend')) ? join(ROOT, 'bin', 'tend') : join(ROOT, 'bin', 'tend.cjs'));
/** The command line that runs tend with `args`. */
export const tendArgv = (...args) => (TEND_BIN.endsWith('.cjs') ? [process.execPath, TEND_BIN, ...args] : [TEND_BIN, ...args]);
export const CACHE = join(ROOT, 'node_modules', '.cache', 'tend-bench');

export const now = () => process.hrtime.bigint(); // CLOCK_MONOTONIC, as the C tools stamp
export const msBetween = (a, b) => Number(BigInt(b) - BigInt(a)) / 1e6;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls until `condition()` is truthy; throws after `timeout` ms. */
export async function waitFor(condition, { timeout = 20_000, interval = 5, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

export const readText = (file) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
/** Numbers stamped by the tools: lines "<ns>" or "<TAG> <ns>". */
export function stamps(file, tag = null) {
  const out = [];
  for (const line of readText(file).split('\n')) {
    if (!line) continue;
    const parts = line.split(' ');
    if (tag === null && parts.length === 1) out.push(BigInt(parts[0]));
    else if (parts.length === 2 && parts[0] === tag) out.push(BigInt(parts[1]));
  }
  return out;
}

/** The environment every measured init gets: no NODE_EXTRA_CA_CERTS (FINDINGS: +60 ms). */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

export function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n === 0 ? NaN : n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { n, median, min: sorted[0], max: sorted[n - 1] };
}

/** Builds bench/lib/tools.c once per source change; null + reason without a compiler. */
export function buildTools() {
  const source = join(ROOT, 'bench', 'lib', 'tools.c');
  const out = join(CACHE, 'tools');
  mkdirSync(CACHE, { recursive: true });
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) return { path: out };
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean)) {
    const r = spawnSync(cc, ['-O2', '-o', out, source], { encoding: 'utf8' });
    if (r.status === 0) return { path: out };
    if (r.error?.code !== 'ENOENT') return { path: null, reason: `${cc} failed: ${r.stderr.trim().split('\n')[0]}` };
  }
  return { path: null, reason: 'no C compiler (cc, gcc, clang)' };
}

function versionOf(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.error) return null;
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0];
}

/** The peers, each { version } or { missing: reason }. Never silently skipped. */
export function detectPeers() {
  const peers = {};
  for (const [name, argv] of [['tini', ['tini', '--version']], ['dumb-init', ['dumb-init', '--version']], ['catatonit', ['catatonit', '--version']], ['supervisord', ['supervisord', '--version']]]) {
    const version = versionOf(argv);
    peers[name] = version === null ? { missing: `${argv[0]} not installed (apt-get install -y tini dumb-init catatonit supervisor)` } : { version: name === 'supervisord' ? `supervisord ${version}` : version };
  }
  return peers;
}

export function canUnshare() {
  const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
  return r.status === 0 ? { ok: true } : { ok: false, reason: (r.error?.message ?? r.stderr).trim() };
}

export function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function procStatus(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readText(`/proc/${pid}/status`));
  return m ? Number(m[1]) : null;
}

/** utime + stime of a process in clock ticks (all threads). */
export function cpuTicks(pid) {
  const text = readText(`/proc/${pid}/stat`);
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

// ---------------------------------------------------------------------------------------
// Subjects: how each init runs a set of services. A service: { name, argv, main?, restart?,
// backoffZero?, stopSignal?, logFile?, console?, dependsOn?, priority? }.

export const SUBJECTS = ['tend run', 'tend --', 'tini', 'dumb-init', 'catatonit', 'supervisord'];
const MULTI = new Set(['tend run', 'supervisord']);
export const isMulti = (subject) => MULTI.has(subject);
export const peerOf = (subject) => (subject.startsWith('tend') ? null : subject);

let sequence = 0;
export function workDir(ctx, label) {
  const dir = mkdtempSync(join(ctx.work, `${label.replace(/[^a-z0-9]+/gi, '-')}-${sequence++}-`));
  return dir;
}

/** Writes the tend manifest for `services` to dir/tend.yaml (JSON is YAML); returns its path. */
export function manifest(dir, services, settings = {}) {
  const doc = { settings: { shutdown_timeout: '30s', ...settings }, services: {} };
  for (const s of services) {
    const entry = { command: s.argv };
    if (s.main) entry.main = true;
    if (s.restart) entry.restart = s.backoffZero ? { policy: s.restart, backoff: { initial: 0, max: 0 } } : s.restart;
    if (s.dependsOn?.length) entry.depends_on = s.dependsOn;
    if (s.stopTimeout) entry.stop_timeout = s.stopTimeout;
    if (s.logFile) entry.log = { console: 'none', file: s.logFile, max_size: s.maxSize ?? '64MB', keep: s.keep ?? 3 };
    else if (s.console) entry.log = { console: s.console };
    doc.services[s.name] = entry;
  }
  const file = join(dir, 'tend.yaml');
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`); // JSON is YAML
  return file;
}

function supervisorConf(dir, services) {
  const lines = [
    '[supervisord]', 'nodaemon=true', `logfile=${dir}/supervisord.log`, `pidfile=${dir}/supervisord.pid`, `childlogdir=${dir}`, 'loglevel=warn',
    ...(process.getuid() === 0 ? ['user=root'] : []),
    '[unix_http_server]', `file=${dir}/supervisor.sock`,
    '[rpcinterface:supervisor]', 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '[supervisorctl]', `serverurl=unix://${dir}/supervisor.sock`,
  ];
  for (const s of services) {
    lines.push(`[program:${s.name}]`, `command=${s.argv.join(' ')}`, 'autostart=true', 'startsecs=0', 'startretries=1000000',
      `autorestart=${s.restart === 'always' ? 'true' : 'false'}`, 'stopasgroup=true', 'killasgroup=true', 'stopwaitsecs=30');
    if (s.priority !== undefined) lines.push(`priority=${s.priority}`);
    if (s.logFile) lines.push(`stdout_logfile=${s.logFile}`, `stdout_logfile_maxbytes=${s.maxSizeBytes ?? 64 * 1024 * 1024}`, `stdout_logfile_backups=${s.keep ?? 3}`, 'stderr_logfile=/dev/null');
    else lines.push('stdout_logfile=/dev/null', 'stderr_logfile=/dev/null');
  }
  const file = join(dir, 'supervisord.conf');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * The argv that runs `services` under `subject`. Single-command inits (tend --, tini,
 * dumb-init) take exactly one service. Returns { argv, env, socket? }.
 */
const NODE_FLOOR = "require('child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1))";

export function commandFor(subject, services, dir, { pid1 = false, settings = {} } = {}) {
  const env = cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') });
  if (!isMulti(subject) && services.length !== 1) throw new Error(`${subject} runs one command, not ${services.length}`);
  switch (subject) {
    case 'tend run': return { argv: tendArgv('run', '-c', manifest(dir, services, settings)), env, socket: env.TEND_SOCKET };
    // As a drop-in for tini: no control socket (TEND_SOCKET would open one).
    case 'tend --': return { argv: tendArgv('--', ...services[0].argv), env: cleanEnv() };
    case 'tini': return { argv: ['tini', ...(pid1 ? [] : ['-s']), '--', ...services[0].argv], env };
    case 'dumb-init': return { argv: ['dumb-init', ...services[0].argv], env };
    // -g: forward to CMD's process group, as tend and tini -g do.
    case 'catatonit': return { argv: ['catatonit', '-g', '--', ...services[0].argv], env };
    case 'supervisord': return { argv: ['supervisord', '-n', '-c', supervisorConf(dir, services)], env, socket: join(dir, 'supervisor.sock') };
    // Not an init: the least any Node program can do before its child runs — start, spawn.
    case 'node (floor)': return { argv: [process.execPath, '-e', NODE_FLOOR, ...services[0].argv], env };
    default: throw new Error(`unknown subject ${subject}`);
  }
}

/**
 * Starts an init. With pid1, as PID 1 of a new PID namespace (unshare --pid --fork
 * --mount-proc --kill-child: killing unshare kills the whole namespace). Output goes to
 * dir/init.out. Returns { child, started (ns), initPid(), exited, kill() }.
 */
export function launch(subject, services, dir, options = {}) {
  const { argv, env, socket } = commandFor(subject, services, dir, options);
  const wrapped = options.wrap ? [...options.wrap, ...argv] : argv; // e.g. taskset -c 0 (the logs figure's placements)
  const full = options.pid1 ? ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child', ...wrapped] : wrapped;
  const out = join(dir, 'init.out');
  const fd = options.stdout ?? 'ignore';
  const logFd = openSync(out, 'a');
  const started = now();
  const child = spawn(full[0], full.slice(1), { env, cwd: dir, stdio: ['ignore', fd === 'log' ? logFd : fd, logFd] });
  closeSync(logFd);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: now() })));
  child.on('error', () => {});
  const initPid = async () => options.pid1 ? waitFor(() => children(child.pid)[0], { what: `${subject} under unshare` }) : child.pid;
  let done = false;
  exited.then(() => { done = true; });
  return {
    child, started, exited, socket, output: () => readText(out), initPid,
    async kill(signal = 'SIGKILL') {
      if (done) return;
      try { process.kill(child.pid, signal); } catch { /* gone */ }
      await Promise.race([exited, sleep(10_000)]);
    },
  };
}

/** Runs `fn` with a deadline; a stuck run becomes an error, never a hang. */
export async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

