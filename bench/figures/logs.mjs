// Log throughput. The service (C tool `gen SIZE FILE`) writes SIZE bytes of 100-byte
// lines to its stdout as fast as the reader takes them, stamping start and end; the
// figure is SIZE / (end − start) in MB/s (10^6 bytes): a blocking writer runs at the
// reader's pace, so this is the init's log throughput (within one pipe buffer).
//   prefixed: tend's stdout is /dev/null; baseline `gen | cat > /dev/null`.
//   Placement: `cat` is bimodal on a 2-CPU machine, ~0.8 or 3-9 GB/s from run to run, and
//   the modes are where the scheduler puts the reader and the generator: on one CPU the
//   pipe's pages stay in that CPU's cache and no wake-up crosses CPUs; on two, every read
//   waits on the writer's pipe lock and a cross-CPU wake-up (bench/ceiling.c, a C reader
//   that prefixes as tend does, shows the same two modes). So with taskset and at least
//   two CPUs, both subjects also run pinned the same two ways: `one CPU` (reader and
//   generator on CPU 0) and `two CPUs` (reader on 0, generator on 1), like against like.
//   rotating files: 64 MiB files, keep 3; tend (console: none) vs supervisord's logfile.
// Also tend's peak RSS (VmHWM) during the prefixed and rotating-file runs, and the CPU
// time tend spent on the GiB (all its threads, the last poll before it exits): steadier
// than MB/s on a shared machine, where the generator and `cat` compete for the cores.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync, readdirSync, readFileSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLK_TCK, cpuTicks, launch, msBetween, procStatus, stamps, waitFor, withTimeout, workDir, cleanEnv } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'logs';

function rate(size, file) {
  const [s] = stamps(file, 'S');
  const [e] = stamps(file, 'E');
  return size / (msBetween(s, e) / 1000) / 1e6;
}

/** The placements the prefixed run is measured in: unpinned, and pinned when taskset and two CPUs allow. */
function placements() {
  const pinned = availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return pinned ? [['', null], [', one CPU', { reader: '0', gen: '0' }], [', two CPUs', { reader: '0', gen: '1' }]] : [['', null]];
}

async function viaCat(ctx, size, place = null) {
  const dir = workDir(ctx, 'logs-cat');
  const file = join(dir, 'gen');
  const pin = (cpu) => (place === null ? '' : `taskset -c ${cpu} `);
  const child = spawn('sh', ['-c', `${pin(place?.gen)}'${ctx.tools}' gen ${size} '${file}' | ${pin(place?.reader)}cat > /dev/null`], { stdio: 'ignore', env: cleanEnv() });
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`gen | cat exited ${code}`);
  return rate(size, file);
}

/** Whole lines: every log file ends with a newline. */
function wholeLines(dir) {
  for (const f of readdirSync(dir).filter((n) => n.startsWith('svc.log'))) {
    const path = join(dir, f);
    const size = statSync(path).size;
    if (size === 0) continue;
    const fd = openSync(path, 'r');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    closeSync(fd);
    if (b[0] !== 10) return `${f} ends mid-line`;
  }
  return null;
}

export async function run(ctx) {
  const size = ctx.smoke ? 8 * 1024 * 1024 : 1024 ** 3;
  const mib = `${size / 1024 ** 2} MiB`;
  const prefixed = metric({ id: 'logs-prefixed', title: 'log throughput, prefixed to /dev/null', goal: '≥ 500 MB/s', unit: 'MB/s', better: 'higher', holds: (x) => x >= 500 });
  const files = metric({ id: 'logs-file', title: 'log throughput to rotating files', goal: '≥ supervisord', unit: 'MB/s', better: 'higher',
    holds: (x, self) => { const s = self.results.supervisord?.samples; return s?.length ? x >= [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)] : null; } });
  const peaks = [];
  const cpu = { prefixed: [], files: [] };
  /** Polls tend's VmHWM and CPU time every 50 ms; stop() returns the last values seen. */
  const watch = (pid) => {
    let peak = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, procStatus(pid, 'VmHWM') ?? 0);
      try { ticks = cpuTicks(pid); } catch { /* exited */ }
    }, 50);
    return () => {
      clearInterval(timer);
      return { peak, cpuMs: (ticks * 1000) / CLK_TCK };
    };
  };
  const peakRss = metric({ id: 'logs-peak-rss', title: "tend's peak RSS while one service logs as fast as it can", goal: '≤ Node floor + 25 MiB', unit: 'MiB',
    holds: (x, self) => { const s = self.results['node (floor)']?.samples; return s?.length ? x <= [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)] + 25 : null; } });
  const floorRss = async () => {
    // A bare Node, idle: the RSS under any init written for Node, measured beside tend.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1500)'], { stdio: 'ignore', env: cleanEnv() });
    await new Promise((r) => setTimeout(r, 1000));
    const rss = (procStatus(child.pid, 'VmRSS') ?? NaN) / 1024;
    await new Promise((r) => child.on('exit', r));
    return rss;
  };
  const places = placements();
  const placeOf = new Map(places.flatMap(([suffix, place]) => [[`tend run${suffix}`, place], [`cat${suffix}`, place]]));
  await forSubjects(ctx, [...placeOf.keys()], async (subject, runs) => {
    const samples = [];
    const place = placeOf.get(subject);
    for (let i = 0; i < runs; i++) {
      if (subject.startsWith('cat')) {
        samples.push(await viaCat(ctx, size, place));
        if (place === null) (peakRss.results['node (floor)'] ??= { samples: [] }).samples.push(await floorRss());
        continue;
      }
      const dir = workDir(ctx, 'logs-prefixed');
      const file = join(dir, 'gen');
      const gen = [ctx.tools, 'gen', String(size), file];
      const init = launch('tend run', [{ name: 'gen', argv: place === null ? gen : ['taskset', '-c', place.gen, ...gen], main: true }], dir, place === null ? {} : { wrap: ['taskset', '-c', place.reader] });
      const stop = watch(init.child.pid);
      let seen;
      try {
        await withTimeout(init.exited, 120_000, 'tend with a log generator');
      } finally {
        seen = stop();
        await init.kill();
      }
      if (stamps(file, 'E').length === 0) throw new Error(`generator did not finish: ${init.output().slice(-300)}`);
      samples.push(rate(size, file));
      if (place === null) {
        peaks.push(seen.peak / 1024);
        cpu.prefixed.push(seen.cpuMs);
      }
    }
    return samples;
  }, [prefixed], { interleave: true });
  const median = (subject) => {
    const s = prefixed.results[subject]?.samples;
    return s?.length ? [...s].sort((a, b) => a - b)[Math.floor(s.length / 2)] : NaN;
  };
  prefixed.notes.push(`tend ÷ cat by placement (medians): ${places.map(([suffix]) => `${suffix === '' ? 'unpinned' : suffix.slice(2)} ${(median(`tend run${suffix}`) / median(`cat${suffix}`)).toFixed(2)}×`).join(', ')}. Pinned: \`one CPU\` runs the reader and the generator on CPU 0, \`two CPUs\` the reader on 0 and the generator on 1 (see the figure's header: cat's two modes are these placements).`);
  prefixed.notes.push(`${mib} of 100-byte lines per run. tend's peak RSS (VmHWM, MiB) in the runs: ${peaks.map((p) => p.toFixed(0)).join(', ')} (issue 6 goal: < 80 MB). tend's CPU time for the run (ms, all threads): ${cpuSummary(cpu.prefixed)}.`);
  peakRss.results['tend run'] = { samples: [...peaks] };
  notApplicable(prefixed, ['tini', 'dumb-init', 'supervisord'], 'no prefixed console output (tini and dumb-init do not capture; supervisord logs to files)');

  const problems = [];
  await forSubjects(ctx, ['tend run', 'supervisord'], async (subject, runs) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const dir = workDir(ctx, `logs-file-${subject}`);
      const file = join(dir, 'gen');
      const service = { name: 'svc', argv: [ctx.tools, 'gen', String(size), file], main: true, logFile: join(dir, 'svc.log'), maxSize: '64MB', maxSizeBytes: 64 * 1024 * 1024, keep: 3 };
      const init = launch(subject, [service], dir);
      const stop = subject === 'tend run' ? watch(init.child.pid) : null;
      let seen = null;
      try {
        if (subject === 'supervisord') {
          await waitFor(() => stamps(file, 'E').length > 0, { timeout: 120_000, interval: 20, what: 'the generator under supervisord' });
          init.child.kill('SIGTERM');
        }
        await withTimeout(init.exited, 120_000, `${subject} with a log generator`);
      } finally {
        if (stop !== null) seen = stop();
        await init.kill();
      }
      samples.push(rate(size, file));
      if (seen !== null) {
        (peakRss.results['tend run, to rotating files'] ??= { samples: [] }).samples.push(seen.peak / 1024);
        cpu.files.push(seen.cpuMs);
      }
      const problem = wholeLines(dir);
      if (problem) problems.push(`${subject}: ${problem}`);
    }
    return samples;
  }, [files], { interleave: true });
  files.notes.push(`${mib} per run into 64 MiB files, keep 3. Whole lines: ${problems.length === 0 ? 'every file ends with a newline' : problems.join('; ')}. tend's CPU time for the run (ms, all threads): ${cpuSummary(cpu.files)}.`);
  notApplicable(files, ['tini', 'dumb-init'], 'no log files');
  peakRss.notes.push(`VmHWM of tend's process (not its service), polled every 50 ms, in the runs above (${mib} each); \`node (floor)\`: VmRSS of a bare \`node -e\` idle for 1 s, measured beside each \`cat\` run.`);
  return [prefixed, files, peakRss];
}

/** Median (min–max) of CPU times in ms. */
function cpuSummary(samples) {
  if (samples.length === 0) return 'not measured';
  const sorted = [...samples].sort((a, b) => a - b);
  return `${Math.round(sorted[Math.floor(sorted.length / 2)])} (${Math.round(sorted[0])}–${Math.round(sorted.at(-1))})`;
}
