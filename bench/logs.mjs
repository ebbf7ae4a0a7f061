#!/usr/bin/env node
// Output throughput of tend's log path (run by hand, not in CI):
//   node bench/logs.mjs [--size 1G] [--runs 5] [--node='--max-semi-space-size=4']
// A service writes SIZE of 100-byte lines; tend routes them through OutputRouter, with the
// ring of recent lines tend keeps for every service,
//   prefix → /dev/null          (AsyncWriter's file path: fs.writev in the threadpool)
//   prefix (JavaScript)         the same without the native line kernel (native/lines.c)
//   prefix → pipe → cat         (the docker case: a real pipe, non-blocking writes)
//   raw    → /dev/null          (no prefixing: the router's floor)
//   file   → RotatingFile       (64 MB files, keep 3, console none)
// against `generator | cat > /dev/null` on the same data in the same run. Reports the
// median MB/s (10^6 bytes) of the runs and the harness's peak RSS (VmHWM).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSync } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { size: { type: 'string', default: '1G' }, runs: { type: 'string', default: '5' }, node: { type: 'string', default: '' } } });
const size = parseSize(values.size);
const runs = Number(values.runs);
const nodeFlags = values.node ? values.node.split(' ') : [];

const work = mkdtempSync(join(tmpdir(), 'tend-bench-logs-'));
const harness = join(work, 'harness.cjs');
buildSync({ entryPoints: [join(here, 'fixtures/logs-harness.ts')], outfile: harness, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error' });
const generator = join(here, 'fixtures/gen-lines.mjs');
const env = { ...process.env, TEND_LINES_NODE: join(here, '..', 'native', 'build', 'tend-lines.node') };
delete env.NODE_EXTRA_CA_CERTS;

const q = (s) => `'${s}'`;
const node = q(process.execPath);
const cases = {
  'cat (baseline)': () => shell(`${node} ${q(generator)} ${size} | cat > /dev/null`),
  'prefix → /dev/null': () => tend('prefix', '> /dev/null'),
  'prefix (JavaScript) → /dev/null': () => tend('prefix-js', '> /dev/null'),
  'prefix → pipe → cat': () => tend('prefix', '| cat > /dev/null'),
  'raw → /dev/null': () => tend('raw', '> /dev/null'),
  'file (rotating)': () => tend('file', '> /dev/null'),
};

function shell(command) {
  const started = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', command], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${command} failed: ${r.status}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

function tend(mode, redirect) {
  const result = join(work, 'result.json');
  const log = join(work, 'web.log');
  shell(`${node} ${nodeFlags.join(' ')} ${q(harness)} ${mode} ${size} ${q(generator)} ${q(result)} ${q(log)} ${redirect}`);
  rmSync(join(work, 'web.log'), { force: true });
  for (let i = 1; i <= 3; i++) rmSync(`${log}.${i}`, { force: true });
  return JSON.parse(readFileSync(result, 'utf8'));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${(size / 1024 ** 2).toFixed(0)} MiB of 100-byte lines, ${runs} runs, node ${process.version}${nodeFlags.length ? ` ${nodeFlags.join(' ')}` : ''}, ${execFileSync('nproc').toString().trim()} CPUs`);
const rows = [];
for (const name of Object.keys(cases)) {
  const rates = [];
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    const r = cases[name]();
    rates.push(size / r.seconds / 1e6);
    if (r.peakRssKiB) peak = Math.max(peak, r.peakRssKiB);
  }
  rows.push({ case: name, 'MB/s median': Math.round(median(rates)), 'min–max': `${Math.round(Math.min(...rates))}–${Math.round(Math.max(...rates))}`, 'peak RSS MiB': peak ? (peak / 1024).toFixed(0) : '' });
  console.log(`  ${name}: ${Math.round(median(rates))} MB/s`);
}
console.table(rows);
rmSync(work, { recursive: true, force: true });

function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text);
  if (!m) throw new Error(`bad --size ${text}`);
  return Math.round(Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase()]);
}
