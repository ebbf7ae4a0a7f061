// A/B of the prefixed log path, interleaved: `gen SIZE` (bench/lib/tools.c) as tend's only
// service, builds given as label=CHECKOUT (its bin/tend), plus `cat` in the same rounds.
// Per subject: MB/s (10^6 bytes), tend's CPU time for the run (its own, all threads, not
// the generator's) and its peak RSS (VmHWM), polled every 50 ms as bench/figures/logs.mjs.
//   node bench/logs-ab.mjs --runs 9 [--file] [--pin R,G] ref=/work/ref new=. cat
//   --file: into a rotating log.file (console none) instead of the console (/dev/null)
//   --pin R,G: tend (or cat) on CPU R, the generator on CPU G (taskset)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTools, cleanEnv, stats as summary } from './lib/common.mjs';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '9' }, file: { type: 'boolean', default: false }, pin: { type: 'string' }, size: { type: 'string', default: String(1024 ** 3) } } });
const size = Number(values.size);
const tools = buildTools().path;
const pin = values.pin ? values.pin.split(',') : null;
const subjects = positionals.map((p) => (p === 'cat' ? ['cat', 'cat'] : p.split('=')));
const CLK_TCK = 100;

function rate(file) {
  const text = readFileSync(file, 'utf8');
  const s = BigInt(/^S (\d+)/m.exec(text)[1]);
  const e = BigInt(/^E (\d+)/m.exec(text)[1]);
  return size / (Number(e - s) / 1e9) / 1e6;
}

async function one(checkout) {
  const dir = mkdtempSync(join(tmpdir(), 'logs-ab-'));
  const stamps = join(dir, 'gen');
  const gen = [...(pin ? ['taskset', '-c', pin[1]] : []), tools, 'gen', String(size), stamps];
  const pre = pin ? ['taskset', '-c', pin[0]] : [];
  try {
    if (checkout === 'cat') {
      const child = spawn('sh', ['-c', `${gen.join(' ')} | ${[...pre, 'cat'].join(' ')} > /dev/null`], { stdio: 'ignore', env: cleanEnv() });
      await new Promise((r) => child.on('exit', r));
      return { mbs: rate(stamps), cpu: NaN, peak: NaN };
    }
    const service = { command: gen, main: true, ...(values.file ? { log: { console: 'none', file: join(dir, 'svc.log'), max_size: '64MB', keep: 3 } } : {}) };
    writeFileSync(join(dir, 'tend.yaml'), JSON.stringify({ settings: { shutdown_timeout: '30s' }, services: { gen: service } }));
    const argv = [...pre, join(checkout, 'bin', 'tend'), 'run', '-c', join(dir, 'tend.yaml')];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', openSync(join(dir, 'err'), 'w')], env: cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') }) });
    let ticks = 0;
    let peak = 0;
    const timer = setInterval(() => {
      try {
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
        ticks = Number(stat[11]) + Number(stat[12]);
        peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]));
      } catch { /* exited */ }
    }, 50);
    await new Promise((r) => child.on('exit', r));
    clearInterval(timer);
    return { mbs: rate(stamps), cpu: (ticks * 1000) / CLK_TCK, peak: peak / 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = new Map(subjects.map(([label]) => [label, []]));
for (let i = 0; i < Number(values.runs); i++) {
  for (const [label, checkout] of subjects) results.get(label).push(await one(checkout));
}
const fmt = (xs, digits = 0) => {
  const s = summary(xs.filter((x) => !Number.isNaN(x)));
  return s.n === 0 ? '-' : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
};
console.log(`${values.runs} interleaved runs, ${size} bytes, ${values.file ? 'rotating log.file' : 'prefixed to /dev/null'}${pin ? `, reader on CPU ${pin[0]}, generator on CPU ${pin[1]}` : ''}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
for (const [label, rows] of results) {
  console.log(`${label.padEnd(8)} MB/s ${fmt(rows.map((r) => r.mbs))}  CPU ms ${fmt(rows.map((r) => r.cpu))}  peak MiB ${fmt(rows.map((r) => r.peak), 1)}  n ${rows.length}`);
}
