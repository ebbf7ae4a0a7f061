#!/usr/bin/env node
// tend's benchmark suite against tini, dumb-init and supervisord (issue 8).
//
//   npm run bench                         build, then the whole suite → docs/benchmarks.md
//   node bench/run.mjs [options]
//     --smoke              tiny sizes, 1 run, no timing judgement (CI: test/bench/smoke.test.ts)
//     --out PATH           a .md file, or a directory that gets benchmarks.md (+ benchmarks.json);
//                          default docs/benchmarks.md (its JSON: node_modules/.cache/tend-bench/last-run.json)
//     --runs N             measured runs per figure and subject (default 5, smoke 1)
//     --idle-seconds S     idle CPU window (default 60, smoke 1)
//     --only a,b           only these figure modules (ids: see FIGURES below)
//     --note TEXT          a line for the report (e.g. "shared machine: tests were running")
//
// Each figure lives in bench/figures/<id>.mjs and measures real processes: the measured
// programs are the roles of bench/lib/tools.c, which stamp CLOCK_MONOTONIC themselves.
// A peer that is not installed is reported as missing, never silently skipped.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTools, CACHE, canUnshare, detectPeers, ROOT, stats, tendArgv } from './lib/common.mjs';

export const FIGURES = ['startup', 'idle-rss', 'idle-cpu', 'storm', 'sigterm', 'daemons', 'restart', 'logs', 'status', 'fleet', 'tracking', 'shutdown', 'scale', 'sd-notify', 'syslog', 'socket-restart'];

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    runs: { type: 'string' },
    'idle-seconds': { type: 'string' },
    only: { type: 'string' },
    note: { type: 'string', multiple: true, default: [] },
    keep: { type: 'boolean', default: false },
  },
});

const smoke = values.smoke;
const runs = Number(values.runs ?? (smoke ? 1 : 5));
const idleSeconds = Number(values['idle-seconds'] ?? (smoke ? 1 : 60));
const only = values.only ? values.only.split(',') : FIGURES;
for (const name of only) if (!FIGURES.includes(name)) throw new Error(`--only: unknown figure ${name} (known: ${FIGURES.join(', ')})`);
let outFile = resolve(values.out ?? join(ROOT, 'docs', 'benchmarks.md'));
if (!outFile.endsWith('.md') || (existsSync(outFile) && statSync(outFile).isDirectory())) outFile = join(outFile, 'benchmarks.md');

const log = (line) => process.stderr.write(`${line}\n`);
if (!existsSync(join(ROOT, 'dist', 'tend.cjs'))) throw new Error('dist/tend.cjs is missing: run `node scripts/build.mjs` (npm run bench does)');
const tools = buildTools();
const peers = detectPeers();
const unshare = canUnshare();
for (const [name, p] of Object.entries(peers)) if (p.missing) log(`peer ${name}: MISSING (${p.missing})`);
if (!unshare.ok) log(`unshare --pid --fork --mount-proc unavailable (${unshare.reason}): PID-1 figures will report errors`);

const work = mkdtempSync(join(tmpdir(), 'tend-bench-'));
const ctx = { smoke, runs, idleSeconds, tools: tools.path, peers, work, log, unshare: unshare.ok };
const startedAt = new Date();
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const metrics = [];
const t0 = performance.now();
for (const id of only) {
  log(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${id}`);
  const mod = await import(`./figures/${id}.mjs`);
  if (tools.path === null) {
    metrics.push({ id, title: id, goal: '', unit: '', results: { 'tend run': { error: `bench tools not built: ${tools.reason}` } }, notes: [] });
    continue;
  }
  try {
    metrics.push(...await mod.run(ctx));
  } catch (error) {
    log(`${id}: ${error.stack}`);
    metrics.push({ id, title: id, goal: '', unit: '', results: { 'tend run': { error: String(error.message) } }, notes: [] });
  }
}
const seconds = (performance.now() - t0) / 1000;
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
if (!values.keep) rmSync(work, { recursive: true, force: true });

// ---------------------------------------------------------------------------------------
const fmt = (x, unit) => {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (unit === '/10' || unit === 'count') return String(Math.round(x * 10) / 10);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
};
const describe = (r, unit) => {
  if (r === undefined) return { text: '–' };
  if (r.missing) return { text: `missing: ${r.missing}` };
  if (r.na) return { text: `n/a: ${r.na}` };
  if (r.error) return { text: `error: ${r.error}` };
  if (!r.samples?.length) return { text: 'no samples' };
  const s = stats(r.samples);
  return { s, text: `${fmt(s.median, unit)}`, range: `${fmt(s.min, unit)}–${fmt(s.max, unit)}` };
};

function verdict(m) {
  const r = m.results[m.primary];
  if (!r?.samples?.length) return 'no result';
  if (smoke) return 'not judged (smoke)';
  const h = m.holds ? m.holds(stats(r.samples).median, m) : null;
  return h === null ? '–' : h ? 'holds' : '**missed**';
}

const version = (argv) => { try { return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0]; } catch { return 'unknown'; } };
const tendVersion = version(tendArgv('--version'));
const lines = [];
lines.push('# Benchmarks', '');
lines.push(`Generated by \`${smoke ? 'node bench/run.mjs --smoke' : 'npm run bench'}\` (bench/run.mjs) on ${startedAt.toISOString()} in ${seconds.toFixed(0)} s.${smoke ? ' **Smoke mode: tiny sizes, one run, numbers are not meaningful.**' : ''}`, '');
lines.push('## Machine', '');
lines.push(`- ${cpus().length} CPUs (nproc ${version(['nproc'])}), ${cpus()[0]?.model ?? 'unknown CPU'}`);
lines.push(`- kernel ${release()}, ${version(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"'])}`);
lines.push(`- Node ${process.version}; ${tendVersion}; measured with NODE_EXTRA_CA_CERTS and NODE_OPTIONS unset`);
for (const [name, p] of Object.entries(peers)) lines.push(`- ${name}: ${p.missing ? `**missing** (${p.missing})` : p.version}`);
lines.push(`- load average ${loadBefore} before, ${loadAfter} after`);
for (const note of values.note) lines.push(`- ${note}`);
lines.push('');
lines.push('Each figure: the median of the runs, with min–max and the number of runs (n); "tend ÷ peer" is the ratio of medians measured in the same run of the suite. `tend run` is tend with a manifest (the product); `tend --` is its tini mode. Where each run is a fresh init (start-up, storm, SIGTERM, daemons, logs, fleet, shutdown), runs are interleaved across subjects (run 1 of each, then run 2, ...), so that load swings on a shared machine hit every subject alike; idle RSS and CPU run every instance at once.', '');

lines.push('## Summary', '');
lines.push('| figure | goal | tend (median) | min–max | n | verdict | peers (median) |', '|---|---|---|---|---|---|---|');
for (const m of metrics) {
  const d = describe(m.results[m.primary], m.unit);
  const others = Object.entries(m.results).filter(([s]) => s !== m.primary).map(([s, r]) => {
    const o = describe(r, m.unit);
    return o.s ? `${s} ${o.text}` : r.missing ? `${s} missing` : r.error ? `${s} error` : null;
  }).filter(Boolean).join('; ');
  lines.push(`| ${m.title} | ${m.goal} | ${d.text}${d.s ? ` ${m.unit}` : ''} | ${d.range ?? ''} | ${d.s?.n ?? ''} | ${verdict(m)} | ${others} |`);
}
lines.push('');

for (const m of metrics) {
  lines.push(`## ${m.title}`, '');
  lines.push(`Goal: ${m.goal || '–'} (\`${m.primary}\`). Verdict: ${verdict(m)}.`, '');
  const primary = describe(m.results[m.primary], m.unit).s;
  lines.push(`| subject | median (${m.unit}) | min–max | n | ${m.primary} ÷ subject |`, '|---|---|---|---|---|');
  for (const [subject, r] of Object.entries(m.results)) {
    const d = describe(r, m.unit);
    const ratio = d.s && primary && subject !== m.primary && d.s.median !== 0 ? `${fmt(primary.median / d.s.median)}×` : '';
    lines.push(`| ${subject} | ${d.text} | ${d.range ?? ''} | ${d.s?.n ?? ''} | ${ratio} |`);
    if (r.note) m.notes.push(`${subject}: ${r.note}`);
  }
  lines.push('');
  for (const note of m.notes) lines.push(`- ${note}`);
  if (m.notes.length) lines.push('');
}

lines.push('## Re-running', '');
lines.push('```sh', 'apt-get install -y tini dumb-init supervisor   # the peers; a missing one is reported, not skipped',
  'npm run bench                                  # build + the whole suite (~10 min) → docs/benchmarks.md',
  'node bench/run.mjs --only storm,sigterm --runs 7 --out /tmp/b   # some figures, more runs',
  'node bench/run.mjs --idle-seconds 20           # shorter idle-CPU window',
  'node bench/run.mjs --only sd-notify,syslog,socket-restart --out /tmp/b   # issue 15: services as they ran on the VM',
  'TEND_BENCH_BIN=/path/to/other/bin/tend.cjs node bench/run.mjs --only logs   # A/B against another build',
  'node bench/run.mjs --smoke --out /tmp/b        # CI: tiny sizes, one run (test/bench/smoke.test.ts)', '```', '');
lines.push('Older single-purpose benchmarks kept for deeper dives: bench/logs.mjs (the log router alone), bench/reap.mjs (the reaper in a storm), bench/spawn.mjs (exec-helper cost per spawn), bench/control.mjs (socket req/s with a fake supervisor).', '');
const analysis = join(ROOT, 'bench', 'analysis.md');
if (!smoke && existsSync(analysis)) lines.push(readFileSync(analysis, 'utf8').trimEnd(), '');

const json = metrics.map((m) => ({ id: m.id, title: m.title, goal: m.goal, unit: m.unit, primary: m.primary, verdict: verdict(m), notes: m.notes,
  results: Object.fromEntries(Object.entries(m.results).map(([s, r]) => [s, r.samples ? { ...r, ...stats(r.samples) } : r])) }));
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${lines.join('\n')}\n`);
// The machine-readable copy goes next to an explicit --out; for the default docs/benchmarks.md it
// stays out of the tree, in the bench cache.
const jsonFile = values.out ? outFile.replace(/\.md$/, '.json') : join(CACHE, 'last-run.json');
mkdirSync(dirname(jsonFile), { recursive: true });
writeFileSync(jsonFile, `${JSON.stringify({ smoke, seconds, peers, figures: json }, null, 2)}\n`);
log(`wrote ${outFile} (${seconds.toFixed(0)} s)`);
process.exit(0);
