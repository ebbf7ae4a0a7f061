#!/usr/bin/env node
// Where tend's start-up goes, phase by phase (issue 20): exec → main's first instruction for
// `tend run` with one service and for `tend --`, against the Node floor measured in the same
// run. The marks come from bench/fixtures/startup-trace.cjs, preloaded into an unchanged
// tend (so tend runs as `node --max-semi-space-size=1 -r trace bin/tend.cjs`, without the
// launcher, which cannot pass -r: its exec costs ~1 ms more, measured by the untraced rows).
//
//   node bench/startup-trace.mjs [--runs 9] [--out FILE.md]
//
// Subjects, interleaved run by run so load swings hit all alike:
//   node -e 0        Node starts and exits: exec → exit seen by the parent
//   node (floor)     `node -e` spawning the main at once: exec → the main's first instruction
//   tend run / tend -- traced, with the phases, and untraced through the launcher (bin/tend)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTools, cleanEnv, msBetween, now, ROOT, stamps, stats, waitFor } from './lib/common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, out: { type: 'string' } } });
const runs = Number(values.runs);
const tools = buildTools().path;
if (tools === null) throw new Error('bench tools could not be built');
const work = mkdtempSync(join(tmpdir(), 'tend-trace-'));
const trace = join(ROOT, 'bench', 'fixtures', 'startup-trace.cjs');
const v8Flag = /const TEND_V8_FLAG = '([^']+)'/.exec(readFileSync(join(ROOT, 'bin', 'tend.cjs'), 'utf8'))[1];
const FLOOR = "require('child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1))";

/** Runs argv; resolves { started, exited, marks, stamp } once it exited (and the main stamped, if any). */
async function once(argv, { stampFile = null, traceFile = null, env = {} } = {}) {
  const started = now();
  const child = spawn(argv[0], argv.slice(1), { cwd: work, stdio: 'ignore', env: cleanEnv(env) });
  const exited = await new Promise((resolve) => child.on('exit', () => resolve(now())));
  const stamp = stampFile === null ? null : (await waitFor(() => stamps(stampFile)[0], { what: 'the main', timeout: 10_000 }));
  const marks = new Map();
  if (traceFile !== null) {
    for (const line of readFileSync(traceFile, 'utf8').trim().split('\n')) {
      const cut = line.lastIndexOf(' ');
      const phase = line.slice(0, cut);
      const ns = line.slice(cut + 1);
      if (!marks.has(phase)) marks.set(phase, msBetween(started, ns));
    }
  }
  return { exit: msBetween(started, exited), main: stamp === null ? null : msBetween(started, stamp), marks };
}

const manifest = (stampFile) => {
  const file = join(work, `m${process.hrtime.bigint()}.yaml`);
  writeFileSync(file, `services:\n  app:\n    command: ["${tools}", "stamp", "${stampFile}"]\n    main: true\n`);
  return file;
};
let n = 0;
const fresh = () => join(work, `f${n++}`);
const subjects = {
  'node -e 0': async () => ({ exit: (await once([process.execPath, '-e', '0'])).exit }),
  'node (floor)': async () => { const s = fresh(); return once([process.execPath, '-e', FLOOR, tools, 'stamp', s], { stampFile: s }); },
  // tend run with a control socket (TEND_SOCKET), as the benchmark suite runs it; tend -- without (a drop-in for tini).
  'tend run': async () => { const s = fresh(); return once([join(ROOT, 'bin', 'tend'), 'run', '-c', manifest(s)], { stampFile: s, env: { TEND_SOCKET: `${s}.sock` } }); },
  'tend --': async () => { const s = fresh(); return once([join(ROOT, 'bin', 'tend'), '--', tools, 'stamp', s], { stampFile: s }); },
  'tend run (traced)': async () => { const s = fresh(); const t = fresh(); return once([process.execPath, v8Flag, '-r', trace, join(ROOT, 'bin', 'tend.cjs'), 'run', '-c', manifest(s)], { stampFile: s, traceFile: t, env: { TEND_TRACE_OUT: t, TEND_SOCKET: `${s}.sock` } }); },
  'tend -- (traced)': async () => { const s = fresh(); const t = fresh(); return once([process.execPath, v8Flag, '-r', trace, join(ROOT, 'bin', 'tend.cjs'), '--', tools, 'stamp', s], { stampFile: s, traceFile: t, env: { TEND_TRACE_OUT: t } }); },
};
const results = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (const name of Object.keys(subjects)) await subjects[name](); // warm-up: page cache, code caches
for (let r = 0; r < runs; r++) for (const [name, run] of Object.entries(subjects)) results[name].push(await run());
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
rmSync(work, { recursive: true, force: true });

const f = (x) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));
const med = (xs) => stats(xs.filter((x) => x !== null && x !== undefined)).median;
const range = (xs) => { const s = stats(xs.filter((x) => x !== null && x !== undefined)); return `${f(s.min)}–${f(s.max)}`; };
const lines = [`Start-up trace (bench/startup-trace.mjs), ${runs} runs each, interleaved; Node ${process.version}; load average ${loadBefore} before, ${loadAfter} after.`, ''];
lines.push('| subject | exec → main (median ms) | min–max | exec → exit |', '|---|---|---|---|');
for (const [name, rs] of Object.entries(results)) lines.push(`| ${name} | ${f(med(rs.map((r) => r.main)))} | ${rs[0].main === undefined || rs[0].main === null ? '' : range(rs.map((r) => r.main))} | ${f(med(rs.map((r) => r.exit)))} |`);
lines.push('');
for (const name of ['tend run (traced)', 'tend -- (traced)']) {
  const rs = results[name];
  const phases = [...new Set(rs.flatMap((r) => [...r.marks.keys()]))];
  const at = (phase) => med(rs.map((r) => r.marks.get(phase)));
  const rows = phases.map((phase) => ({ phase, at: at(phase) })).concat([{ phase: "main's first instruction", at: med(rs.map((r) => r.main)) }]).sort((a, b) => a.at - b.at);
  lines.push(`**${name}**: each phase's mark (median ms after exec) and the time since the previous mark`, '', '| mark | at (ms) | since the previous |', '|---|---|---|');
  let previous = 0;
  for (const row of rows) {
    lines.push(`| ${row.phase} | ${f(row.at)} | ${f(row.at - previous)} |`);
    previous = row.at;
  }
  lines.push('');
}
const text = `${lines.join('\n')}\n`;
if (values.out) writeFileSync(values.out, text);
process.stdout.write(text);
