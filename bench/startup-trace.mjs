#!/usr/bin/env node
// Where tend's start-up goes, phase by phase (issue 20): exec → main's first instruction for
// `tend run` with one service and for `tend --`, against the Node floor measured in the same
// run. The marks come from bench/fixtures/startup-trace.cjs, preloaded into an unchanged
// tend (so tend runs as `node --max-semi-space-size=1 [--snapshot-blob dist/MODE.snapshot]
// -r trace bin/tend.cjs`, without the launcher, which cannot pass -r: its exec costs ~1 ms
// more, measured by the untraced rows).
//
//   node bench/startup-trace.mjs [--runs 9] [--out FILE.md] [--ref DIR]
//     --ref DIR   also run the launcher of another built checkout (DIR/bin/tend), in the
//                 same runs: an A/B against, say, main's build
//
// Subjects, interleaved run by run so load swings hit all alike:
//   node -e 0        Node starts and exits: exec → exit seen by the parent
//   node (floor)     `node -e` spawning the main at once: exec → the main's first instruction
//   tend run / tend -- through the launcher (bin/tend): from the start-up snapshot, and
//                    without it (TEND_NO_SNAPSHOT=1); and traced, with the phases, both ways
// Each figure also has the init's CPU time up to its main's first instruction (the main,
// the bench tool's `stampcpu`, reads its parent's process CPU clock: every thread, exact),
// and each traced phase tend's CPU time by then (getrusage): a loaded machine stretches
// wall time by 2× and more, CPU time hardly.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTools, cleanEnv, msBetween, now, ROOT, stats, waitFor } from './lib/common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, out: { type: 'string' }, ref: { type: 'string' } } });
const runs = Number(values.runs);
const tools = buildTools().path;
if (tools === null) throw new Error('bench tools could not be built');
const work = mkdtempSync(join(tmpdir(), 'tend-trace-'));
const trace = join(ROOT, 'bench', 'fixtures', 'startup-trace.cjs');
const v8Flag = /const TEND_V8_FLAG = '([^']+)'/.exec(readFileSync(join(ROOT, 'bin', 'tend.cjs'), 'utf8'))[1];
const FLOOR = "require('child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1))";
const launcher = join(ROOT, 'bin', 'tend');
const blob = (mode) => join(ROOT, 'dist', `${mode}.snapshot`);
for (const path of [launcher, blob('run'), blob('tini')]) {
  if (!existsSync(path)) throw new Error(`${path} is missing: npm ci builds the launcher, npm run build the snapshots`);
}
// The launcher must choose the snapshots, or the rows below would not measure them.
const said = spawnSync(launcher, ['--', 'true'], { env: cleanEnv({ TEND_DEBUG_STARTUP: '1', TEND_NO_SNAPSHOT: '' }), encoding: 'utf8' }).stderr;
if (!said.includes('from the start-up snapshot')) throw new Error(`bin/tend does not start from dist/tini.snapshot: ${said.trim()}`);

/** The main's stamp: exec → its first instruction, and the CPU its init had used by then. */
function mainStamp(file, started) {
  let text;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (text === '') return undefined;
  const [at, cpu] = text.split('\n')[0].split(' ');
  return { main: msBetween(started, at), cpu: Number(cpu) / 1e6 };
}

/** Runs argv; resolves { exit, main, cpu, marks } once it exited (and the main stamped, if any). */
async function once(argv, { stampFile = null, traceFile = null, env = {} } = {}) {
  const started = now();
  const child = spawn(argv[0], argv.slice(1), { cwd: work, stdio: 'ignore', env: cleanEnv({ TEND_NO_SNAPSHOT: '', ...env }) });
  const exited = await new Promise((resolve) => child.on('exit', () => resolve(now())));
  const stamp = stampFile === null ? null : await waitFor(() => mainStamp(stampFile, started), { what: 'the main', timeout: 10_000 });
  const marks = new Map();
  if (traceFile !== null) {
    for (const line of readFileSync(traceFile, 'utf8').trim().split('\n')) {
      const [cpu, ns, ...words] = line.split(' ').reverse();
      const phase = words.reverse().join(' ');
      if (!marks.has(phase)) marks.set(phase, { at: msBetween(started, ns), cpu: Number(cpu) / 1e6 });
    }
  }
  return { exit: msBetween(started, exited), main: stamp?.main ?? null, cpu: stamp?.cpu ?? null, marks };
}

const manifest = (stampFile) => {
  const file = join(work, `m${process.hrtime.bigint()}.yaml`);
  writeFileSync(file, `services:\n  app:\n    command: ["${tools}", "stampcpu", "${stampFile}"]\n    main: true\n`);
  return file;
};
let n = 0;
const fresh = () => join(work, `f${n++}`);
const NO_SNAPSHOT = { TEND_NO_SNAPSHOT: '1' };
/** `tend run` through a launcher, with a control socket (TEND_SOCKET), as the benchmark suite runs it. */
const launchRun = (bin, env = {}) => async () => { const s = fresh(); return once([bin, 'run', '-c', manifest(s)], { stampFile: s, env: { TEND_SOCKET: `${s}.sock`, ...env } }); };
/** `tend --` through a launcher, without a socket (a drop-in for tini). */
const launchTini = (bin, env = {}) => async () => { const s = fresh(); return once([bin, '--', tools, 'stampcpu', s], { stampFile: s, env }); };
const node = (mode) => [process.execPath, v8Flag, ...(mode === null ? [] : ['--snapshot-blob', blob(mode)]), '-r', trace, join(ROOT, 'bin', 'tend.cjs')];
const tracedRun = (mode) => async () => { const s = fresh(); const t = fresh(); return once([...node(mode), 'run', '-c', manifest(s)], { stampFile: s, traceFile: t, env: { TEND_TRACE_OUT: t, TEND_SOCKET: `${s}.sock` } }); };
const tracedTini = (mode) => async () => { const s = fresh(); const t = fresh(); return once([...node(mode), '--', tools, 'stampcpu', s], { stampFile: s, traceFile: t, env: { TEND_TRACE_OUT: t } }); };
const subjects = {
  'node -e 0': async () => ({ exit: (await once([process.execPath, '-e', '0'])).exit }),
  'node (floor)': async () => { const s = fresh(); return once([process.execPath, '-e', FLOOR, tools, 'stampcpu', s], { stampFile: s }); },
  'tend run': launchRun(launcher),
  'tend run, no snapshot': launchRun(launcher, NO_SNAPSHOT),
  'tend --': launchTini(launcher),
  'tend --, no snapshot': launchTini(launcher, NO_SNAPSHOT),
  'tend run (traced)': tracedRun('run'),
  'tend run, no snapshot (traced)': tracedRun(null),
  'tend -- (traced)': tracedTini('tini'),
  'tend --, no snapshot (traced)': tracedTini(null),
};
if (values.ref) {
  const ref = join(resolve(values.ref), 'bin', 'tend');
  if (!existsSync(ref)) throw new Error(`--ref: ${ref} is missing (build that checkout: npm ci && npm run build)`);
  subjects[`ref tend run (${values.ref})`] = launchRun(ref);
  subjects[`ref tend -- (${values.ref})`] = launchTini(ref);
}
const results = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (const name of Object.keys(subjects)) await subjects[name](); // warm-up: page cache, code caches
for (let r = 0; r < runs; r++) for (const [name, run] of Object.entries(subjects)) results[name].push(await run());
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
rmSync(work, { recursive: true, force: true });

const f = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(1));
const present = (xs) => xs.filter((x) => x !== null && x !== undefined);
const med = (xs) => (present(xs).length === 0 ? undefined : stats(present(xs)).median);
const range = (xs) => { if (present(xs).length === 0) return ''; const s = stats(present(xs)); return `${f(s.min)}–${f(s.max)}`; };
const floor = { main: med(results['node (floor)'].map((r) => r.main)), cpu: med(results['node (floor)'].map((r) => r.cpu)) };
const lines = [`Start-up trace (bench/startup-trace.mjs), ${runs} runs each, interleaved; Node ${process.version}; load average ${loadBefore} before, ${loadAfter} after.`, ''];
lines.push("| subject | exec → main (median ms) | min–max | above the floor | init's CPU by then (ms) | above the floor's | exec → exit |", '|---|---|---|---|---|---|---|');
for (const [name, rs] of Object.entries(results)) {
  const main = med(rs.map((r) => r.main));
  const cpu = med(rs.map((r) => r.cpu));
  const above = (x, base) => (x === undefined || name === 'node (floor)' ? '' : `+${f(x - base)}`);
  lines.push(`| ${name} | ${f(main)} | ${range(rs.map((r) => r.main))} | ${above(main, floor.main)} | ${f(cpu)} | ${above(cpu, floor.cpu)} | ${f(med(rs.map((r) => r.exit)))} |`);
}
lines.push('');
for (const name of Object.keys(results).filter((k) => k.endsWith('(traced)'))) {
  const rs = results[name];
  const phases = [...new Set(rs.flatMap((r) => [...r.marks.keys()]))];
  const at = (phase, key) => med(rs.map((r) => r.marks.get(phase)?.[key]));
  const rows = phases.map((phase) => ({ phase, at: at(phase, 'at'), cpu: at(phase, 'cpu') }))
    .concat([{ phase: "main's first instruction (CPU: the main's stamp)", at: med(rs.map((r) => r.main)), cpu: med(rs.map((r) => r.cpu)) }])
    .sort((a, b) => a.at - b.at);
  lines.push(`**${name}**: each phase's mark (median ms after exec; tend's CPU time by then, all threads) and the time since the previous mark`, '', '| mark | at (ms) | since the previous | CPU by then (ms) | CPU since the previous |', '|---|---|---|---|---|');
  // Each "since the previous" is the median of each run's own difference, in this order.
  const valueOf = (r, phase, key) => (phase.startsWith("main's") ? r[key === 'at' ? 'main' : 'cpu'] : r.marks.get(phase)?.[key]);
  const since = (i, key) => (i === 0 ? rows[0][key] : med(rs.map((r) => {
    const a = valueOf(r, rows[i - 1].phase, key);
    const b = valueOf(r, rows[i].phase, key);
    return a === undefined || b === undefined || a === null || b === null ? undefined : b - a;
  })));
  rows.forEach((row, i) => lines.push(`| ${row.phase} | ${f(row.at)} | ${f(since(i, 'at'))} | ${f(row.cpu)} | ${f(since(i, 'cpu'))} |`));
  lines.push('');
}
const text = `${lines.join('\n')}\n`;
if (values.out) writeFileSync(values.out, text);
process.stdout.write(text);
