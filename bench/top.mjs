// What one `tend top` costs tend, run by hand after a build: `node bench/top.mjs [rounds] [seconds]`.
// A real tend runs a service printing ~2,000 lines a second (100 lines every 50 ms) and a
// quiet one. Each round measures tend's CPU time over the window without a viewer, then
// with `tend top` in a pseudo-terminal (util-linux `script`) following the chatty service —
// alternated, so that a machine that slows down or speeds up weighs on both alike. top's
// own CPU time is reported too. CPU time is utime + stime from /proc/PID/stat.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const bin = join(root, 'bin', 'tend.cjs');
const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 10);
const work = mkdtempSync(join(tmpdir(), 'tend-bench-top-'));
const socket = join(work, 'tend.sock');
const env = { ...process.env, TEND_SOCKET: socket };
delete env.NODE_EXTRA_CA_CERTS;

writeFileSync(join(work, 'tend.yaml'), `services:
  chatty:
    main: true
    command: ["awk", "BEGIN { while (1) { for (i = 0; i < 100; i++) print \\"line \\" n++; fflush(); system(\\"sleep 0.05\\") } }"]
    log: { console: none }
  quiet:
    command: ["sleep", "100000"]
`);

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** CPU seconds a process has used so far. */
function cpu(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime (fields 14 and 15)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** CPU seconds each pid uses over the window. */
async function window(pids) {
  const before = pids.map(cpu);
  await sleep(seconds * 1000);
  return pids.map((pid, i) => cpu(pid) - before[i]);
}
function lastLine() {
  return Number(/line (\d+)/.exec(execFileSync(process.execPath, [bin, 'logs', 'chatty', '-n', '1'], { env, encoding: 'utf8' }))?.[1] ?? NaN);
}

const tend = spawn(process.execPath, [bin, '-c', join(work, 'tend.yaml')], { env, stdio: 'ignore' });
try {
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync(process.execPath, [bin, 'status'], { env, stdio: 'ignore' });
      break;
    } catch {
      await sleep(100);
    }
  }
  await sleep(1000);
  const first = lastLine();
  const started = Date.now();
  for (let round = 1; round <= rounds; round++) {
    const [alone] = await window([tend.pid]);
    // script gives top a terminal; its own output (the frames) goes nowhere.
    const viewer = spawn('script', ['-qfec', `${process.execPath} ${bin} top`, '/dev/null'], { env: { ...env, TERM: 'xterm-256color', COLUMNS: '120', LINES: '40' }, stdio: ['pipe', 'ignore', 'ignore'] });
    let top = null;
    for (let i = 0; i < 100 && top === null; i++) {
      await sleep(50);
      const children = readFileSync(`/proc/${viewer.pid}/task/${viewer.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      top = children.length > 0 ? Number(children[0]) : null;
    }
    await sleep(1000); // connected, backlog drawn
    const [withTop, topItself] = await window([tend.pid, top]);
    viewer.kill('SIGTERM');
    process.kill(top, 'SIGTERM');
    await new Promise((r) => viewer.once('exit', r));
    console.log(`round ${round}: tend alone ${alone.toFixed(2)} s, tend with top ${withTop.toFixed(2)} s, top itself ${topItself.toFixed(2)} s (CPU over ${seconds} s)`);
  }
  const rate = (lastLine() - first) / ((Date.now() - started) / 1000);
  console.log(`chatty printed ${Math.round(rate)} lines/s; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
} finally {
  tend.kill('SIGTERM');
  await new Promise((r) => tend.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
