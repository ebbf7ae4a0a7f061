#!/usr/bin/env node
// Idle RSS against the Node floor (issue 20's goal: `tend run` with 10 services ≤ Node floor
// + 10 MiB): every instance of every subject started at once, each as PID 1 of its own PID
// namespace as the suite runs inits, and VmRSS of the init alone read after 10 s and 30 s.
//
//   node bench/idle-floor.mjs [--runs 5] [--ref DIR]
//
// Subjects:
//   node (floor)   `node -e` that spawns `sleep infinity` and stays: Node's own idle memory
//                  with one child, the floor under any init written for Node
//   tend run       this checkout's launcher (bin/tend), 10 `sleep infinity` services
//   ref tend run   --ref DIR's launcher, the same manifest (an A/B in the same minutes)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { children, cleanEnv, ROOT, sleep, stats, waitFor } from './lib/common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, ref: { type: 'string' } } });
const runs = Number(values.runs);
const work = mkdtempSync(join(tmpdir(), 'tend-idle-floor-'));
const manifest = join(work, 'tend.yaml');
writeFileSync(manifest, `services:\n${Array.from({ length: 10 }, (_, i) => `  s${i}:\n    command: ["sleep", "infinity"]\n`).join('')}`);
const FLOOR = "require('child_process').spawn('sleep', ['infinity'], { stdio: 'ignore' }); setInterval(() => {}, 1 << 30)";
const subjects = { 'node (floor)': [process.execPath, '-e', FLOOR], 'tend run': [join(ROOT, 'bin', 'tend'), 'run', '-c', manifest] };
if (values.ref) subjects[`ref tend run (${values.ref})`] = [join(resolve(values.ref), 'bin', 'tend'), 'run', '-c', manifest];
for (const argv of Object.values(subjects)) if (!existsSync(argv[0])) throw new Error(`${argv[0]} is missing`);

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const loadBefore = loadavg();
const started = [];
let n = 0;
for (let r = 0; r < runs; r++) {
  for (const [name, argv] of Object.entries(subjects)) {
    const env = cleanEnv({ TEND_SOCKET: join(work, `s${n++}.sock`) });
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...argv], { env, cwd: work, stdio: 'ignore' });
    started.push({ name, child, pid: waitFor(() => children(child.pid)[0], { what: `${name} under unshare` }) });
  }
}
for (const s of started) s.pid = await s.pid;
const reads = { 10: {}, 30: {} };
const t0 = Date.now();
for (const at of [10, 30]) {
  await sleep(t0 + at * 1000 - Date.now());
  for (const s of started) (reads[at][s.name] ??= []).push(rss(s.pid));
}
for (const s of started) s.child.kill('SIGKILL');
await sleep(200);
rmSync(work, { recursive: true, force: true });

const f = (x) => x.toFixed(1);
const lines = [`Idle RSS (bench/idle-floor.mjs), ${runs} instances each, all at once, as PID 1; Node ${process.version}; load average ${loadBefore} before, ${loadavg()} after.`, ''];
lines.push('| subject | after 10 s (MiB, median) | min–max | above the floor | after 30 s | min–max | above the floor |', '|---|---|---|---|---|---|---|');
const floor = { 10: stats(reads[10]['node (floor)']).median, 30: stats(reads[30]['node (floor)']).median };
for (const name of Object.keys(subjects)) {
  const cells = [10, 30].flatMap((at) => {
    const s = stats(reads[at][name]);
    return [f(s.median), `${f(s.min)}–${f(s.max)}`, name === 'node (floor)' ? '' : `+${f(s.median - floor[at])}`];
  });
  lines.push(`| ${name} | ${cells.join(' | ')} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
