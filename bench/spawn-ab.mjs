#!/usr/bin/env node
// The spawn path A/B (clone3 into the cgroup leaf vs the exec helper's join), interleaved run
// by run so load swings hit every subject alike. Subjects:
//   this       this checkout
//   base       another built checkout (--base DIR: e.g. a worktree of main before a change,
//              after `node native/build.mjs && node scripts/build.mjs` in it)
//   fallback   this checkout under a seccomp filter failing clone3 with ENOSYS, as Docker's
//              default profile does (test/process/drivers/no-clone3.c, compiled here)
//
//   node bench/spawn-ab.mjs --base DIR [--rounds 5] [--figures first,notify,start] [--sizes 10,100,1000]
//
// Figures:
//   first    spawn → first instruction: bench/fixtures/spawn-first.ts bundled against each
//            checkout, 12 lone spawns per round with a fresh leaf (and without one, for scale)
//   notify   sd_notify READY=1 → tend's "dep: started" and → dep's first instruction
//            (bench/figures/sd-notify.mjs's services, tend as PID 1)
//   start    N services of `tools procs 1 FILE`, tend as PID 1: hrtime before spawn() → the
//            last service's first stamp (bench/figures/scale.mjs's start all); and the CPU
//            that start cost, per service: the whole namespace's (a cgroup v1 cpuacct group
//            made for the run, exact to the ns: tend, the exec helpers, the commands), tend's
//            own (utime + stime of its /proc stat) and the rest (spawn children: the helper
//            and the command it becomes share a pid). Without a writable cpuacct, no CPU.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTools, cleanEnv, manifest, msBetween, readText, ROOT, stamps, stats, waitFor } from './lib/common.mjs';

const { values } = parseArgs({ options: {
  base: { type: 'string' }, rounds: { type: 'string', default: '5' },
  figures: { type: 'string', default: 'first,notify,start' }, sizes: { type: 'string', default: '10,100,1000' },
  subjects: { type: 'string', default: 'this,base,fallback' },
} });
const rounds = Number(values.rounds);
const tools = buildTools().path;
if (tools === null) throw new Error('bench tools could not be built');
const work = mkdtempSync(join(tmpdir(), 'tend-spawn-ab-'));
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const noClone3 = join(work, 'no-clone3');
const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-o', noClone3, join(ROOT, 'test', 'process', 'drivers', 'no-clone3.c')], { encoding: 'utf8' });
const subjects = {};
for (const name of values.subjects.split(',')) {
  if (name === 'this') subjects.this = { tree: ROOT, prefix: [] };
  else if (name === 'base') {
    if (values.base === undefined) throw new Error('--base DIR: a built checkout to compare with (or --subjects this,fallback)');
    subjects.base = { tree: resolve(values.base), prefix: [] };
  } else if (name === 'fallback') {
    if (cc.status !== 0) throw new Error(`cannot compile no-clone3.c: ${cc.stderr}`);
    subjects.fallback = { tree: ROOT, prefix: [noClone3, '38'] };
  } else throw new Error(`--subjects: unknown ${name}`);
}

// The driver, bundled against each checkout's own spawner.
for (const subject of Object.values(subjects)) {
  const dir = join(subject.tree, '.test-bundles');
  mkdirSync(dir, { recursive: true });
  const entry = join(subject.tree, 'bench', 'fixtures', 'spawn-first-copy.ts');
  copyFileSync(join(ROOT, 'bench', 'fixtures', 'spawn-first.ts'), entry);
  try {
    const esbuild = await import(join(subject.tree, 'node_modules', 'esbuild', 'lib', 'main.js'));
    esbuild.buildSync({ entryPoints: [entry], outfile: join(dir, 'spawn-first.cjs'), bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['ffi-rs'], logLevel: 'error' });
  } finally {
    rmSync(entry, { force: true });
  }
}

const samples = {};
const push = (key, x) => (samples[key] ??= []).push(x);
const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
const tendOf = (subject, ...args) => [...subject.prefix, ...UNSHARE, join(subject.tree, 'bin', 'tend'), ...args];

function first(name, subject) {
  for (const mode of ['leaf', 'none']) {
    if (name === 'fallback' && mode === 'none') continue;
    const argv = [...subject.prefix, process.execPath, join(subject.tree, '.test-bundles', 'spawn-first.cjs'), tools, join(work, `first-${name}`), '12', mode];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: cleanEnv() });
    if (r.status !== 0) throw new Error(r.stderr);
    // The first two spawns load ffi-rs and libtend.
    for (const x of JSON.parse(r.stdout.trim()).slice(2)) push(`${name}: spawn → first instruction, ${mode === 'leaf' ? 'with a leaf' : 'no leaf'}`, x);
  }
}

const SENDER = 'import os,socket,time\np=os.environ["NOTIFY_SOCKET"]\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.connect("\\0"+p[1:])\nopen(os.environ["MARKS"],"a").write("R %d\\nW %d\\n" % (time.monotonic_ns(), time.time_ns()))\ns.send(b"READY=1")\ntime.sleep(1000)';

async function notify(name, subject) {
  const dir = mkdtempSync(join(work, 'notify-'));
  const marks = join(dir, 'marks');
  writeFileSync(marks, '');
  writeFileSync(join(dir, 'tend.yaml'), JSON.stringify({ services: {
    api: { command: ['python3', '-c', SENDER], ready: { sd_notify: true }, env: { MARKS: marks } },
    dep: { main: true, command: [tools, 'stamp', join(dir, 'dep')], depends_on: { api: { condition: 'ready' } } },
  } }));
  const log = openSync(join(dir, 'tend.log'), 'w');
  const argv = tendOf(subject, 'run', '--log-format', 'json', '-c', join(dir, 'tend.yaml'));
  const init = spawn(argv[0], argv.slice(1), { env: cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') }), cwd: dir, stdio: ['ignore', 'ignore', log] });
  closeSync(log);
  try {
    const started = await waitFor(() => readText(join(dir, 'tend.log')).split('\n').map((line) => { try { return JSON.parse(line); } catch { return null; } })
      .find((record) => record?.msg?.startsWith('dep: started')), { timeout: 20_000, what: 'dep to start' });
    await waitFor(() => readText(join(dir, 'dep')) !== '', { timeout: 20_000, what: 'dep to stamp' });
    push(`${name}: READY=1 → dep: started`, Date.parse(started.time) - Number(stamps(marks, 'W')[0] / 1_000_000n));
    push(`${name}: READY=1 → dep's first instruction`, msBetween(stamps(marks, 'R')[0], stamps(join(dir, 'dep'))[0]));
  } finally {
    init.kill('SIGKILL');
    await new Promise((done) => init.once('exit', done));
  }
}

/** Whether a process of this machine still has `text` in its command line. */
function anyWith(text) {
  return readdirSync('/proc').some((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  });
}

const groups = []; // removed at the end: a group is busy until its last task is gone

/** A cpuacct (cgroup v1) group of its own for a run, or null where there is none to make. */
function cpuGroup(label) {
  const dir = `/sys/fs/cgroup/cpuacct/tend-spawn-ab-${process.pid}-${label}`;
  try {
    mkdirSync(dir);
    return dir;
  } catch {
    return null;
  }
}

/** utime + stime of a process, in ms (clock ticks of 10 ms: fine for tend's ~1 s). */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startAll(name, subject, n) {
  const dir = mkdtempSync(join(work, 'start-'));
  const file = join(dir, 'stamps');
  writeFileSync(file, '');
  let argv = tendOf(subject, 'run', '-c', manifest(dir, Array.from({ length: n }, (_, i) => ({ name: `s${i}`, argv: [tools, 'procs', '1', file] }))));
  const group = cpuGroup(`${name}-${n}-${Date.now()}`);
  // The shell joins the group and execs unshare, so tend and everything it starts count there.
  if (group !== null) argv = ['sh', '-c', `echo $$ > ${group}/cgroup.procs && exec "$@"`, 'sh', ...argv];
  const t0 = process.hrtime.bigint();
  const init = spawn(argv[0], argv.slice(1), { env: cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') }), cwd: dir, stdio: 'ignore' });
  try {
    await waitFor(() => stamps(file).length >= n, { timeout: 180_000, interval: 20, what: `${n} services` });
    push(`${name}: start all ${n}`, msBetween(t0, stamps(file).reduce((a, b) => (a > b ? a : b))));
    if (group !== null) {
      const total = Number(readFileSync(`${group}/cpuacct.usage`, 'utf8')) / 1e6;
      // unshare's child is tend (PID 1 of the namespace).
      const tendPid = readFileSync(`/proc/${init.pid}/task/${init.pid}/children`, 'utf8').trim().split(' ')[0];
      const tend = cpuOf(tendPid);
      push(`${name}: CPU per start ${n}, all (ms)`, total / n);
      push(`${name}: CPU per start ${n}, tend (ms)`, tend / n);
      push(`${name}: CPU per start ${n}, the rest (ms)`, (total - tend) / n);
    }
  } finally {
    init.kill('SIGKILL');
    await new Promise((done) => init.once('exit', done));
    // The namespace's services die after unshare: the next run must not start during this teardown.
    await waitFor(() => !anyWith(file), { timeout: 60_000, interval: 50, what: 'the services of the last run to end' });
    if (group !== null) groups.push(group);
  }
}

const loadBefore = load();
const names = Object.keys(subjects);
for (const figure of values.figures.split(',')) {
  for (const size of figure === 'start' ? values.sizes.split(',').map(Number) : [0]) {
    for (let r = 0; r < rounds; r++) {
      for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) { // who goes first rotates
        if (figure === 'first') first(name, subjects[name]);
        else if (figure === 'notify') await notify(name, subjects[name]);
        else if (figure === 'start') await startAll(name, subjects[name], size);
        else throw new Error(`--figures: unknown ${figure}`);
      }
    }
  }
}
rmSync(work, { recursive: true, force: true });
for (const group of groups) {
  await waitFor(() => { try { rmdirSync(group); return true; } catch { return false; } }, { timeout: 30_000, interval: 50, what: `${group} to empty` }).catch(() => console.warn(`left behind: ${group}`));
}
console.log(`spawn A/B, ${rounds} rounds, ${new Date().toISOString()}, load average ${loadBefore} before, ${load()} after`);
for (const [key, xs] of Object.entries(samples)) {
  const s = stats(xs);
  console.log(`  ${key.padEnd(52)} median ${s.median.toFixed(2)} ms (${s.min.toFixed(2)}–${s.max.toFixed(2)}), n ${s.n}`);
}
