// How tend's costs grow with the number of services (issue 20): the same figures at 10, 100
// and 1,000 services, so the curve is visible. Each service is the C tool's `procs 1 FILE`
// (appends a stamp once it runs, then waits; SIGTERM's default action ends it), tend runs as
// PID 1 of its own namespace.
//
// Per run, sizes interleaved (run 1 at every size, then run 2, ...):
//   start all   process.hrtime before spawn() → the last service's stamp
//   idle RSS    VmRSS of tend 5 s after the last start (and per service: its growth over the
//               smallest size of the same round, divided by the services added)
//   status      median round trip of 50 sequential `status` requests on one connection
//   reload      one service's command changed in the manifest among N, `reload` on the socket:
//               the reply, and the changed service's new process running (its stamp)
//   stop all    SIGTERM to tend → tend has exited (the services die at once: all overhead)
// Idle CPU: `runs` instances of one size at once, utime+stime of tend over the idle window
// (--idle-seconds), and the wake-ups of all tend's threads over it (context switches from
// /proc/PID/task/*/status): a timer per service would show as wake-ups growing with N.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { children, CLK_TCK, cpuTicks, launch, manifest, msBetween, now, procStatus, readText, sleep, stamps, stats, waitFor, withTimeout, workDir } from '../lib/common.mjs';
import { metric } from '../lib/figure.mjs';
import { tendClient } from './status.mjs';

export const id = 'scale';

/** Voluntary + involuntary context switches of every thread of `pid`: how often it woke. */
function wakeups(pid) {
  let total = 0;
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  for (const tid of tasks) {
    const text = readText(`/proc/${pid}/task/${tid}/status`);
    for (const key of ['voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches']) {
      const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
      if (m) total += Number(m[1]);
    }
  }
  return total;
}

const services = (ctx, count, file) => Array.from({ length: count }, (_, i) => ({ name: `s${i}`, argv: [ctx.tools, 'procs', '1', file] }));

async function startAll(ctx, count, dir, file) {
  const init = launch('tend run', services(ctx, count, file), dir, { pid1: true });
  const pid = await init.initPid();
  await waitFor(() => stamps(file).length >= count, { timeout: 180_000, interval: 20, what: `${count} services` });
  const last = stamps(file).reduce((a, b) => (a > b ? a : b));
  return { init, pid, start: msBetween(init.started, last) };
}

export async function run(ctx) {
  // TEND_BENCH_SCALE_SIZES=10,1000: fewer sizes (each round at 1,000 takes ~30 s); the smallest is the reference.
  const sizes = ctx.smoke ? [2, 5] : (process.env.TEND_BENCH_SCALE_SIZES ?? '10,100,1000').split(',').map(Number).sort((a, b) => a - b);
  const big = sizes[sizes.length - 1];
  const label = (n) => `${n} services`;
  const mk = (key, title, goal, unit, holds) => metric({ id: `scale-${key}`, title: `scale: ${title}`, goal, unit, holds, primary: label(big) });
  const start = mk('start', 'start all', '≤ 3 s at 1,000', 'ms', (x) => x <= 3000);
  const stop = mk('stop', 'stop all (SIGTERM → tend gone; the services end at once)', '≤ 1 s beyond the slowest stop at 1,000', 'ms', (x) => x <= 1000);
  const rss = mk('rss', 'RSS of tend 5 s after the last start', '–', 'MiB', () => null);
  const perService = mk('rss-per-service', `RSS 5 s after the last start, added per service over ${sizes[0]} services`, '–', 'KiB', () => null);
  const settled = mk('rss-idle', `idle RSS of tend at the end of the idle window (${ctx.smoke ? 0.5 : 5} s + ${ctx.idleSeconds} s after the last start)`, '–', 'MiB', () => null);
  const settledPerService = mk('rss-idle-per-service', `idle RSS at the end of the idle window, added per service over ${sizes[0]} services`, '≤ 25 KiB per service at 1,000', 'KiB', (x) => x <= 25);
  const status = mk('status', 'status round trip (median of 50 on one connection)', '≤ 10 ms at 1,000', 'ms', (x) => x <= 10);
  const reloadReply = mk('reload-reply', 'reload with one service changed: the reply', '–', 'ms', () => null);
  const reloadUp = mk('reload-up', "reload with one service changed: the changed service's new process runs", '–', 'ms', () => null);
  const cpu = mk('idle-cpu', `idle CPU over ${ctx.idleSeconds} s`, '≤ 0.5 % of a core at 1,000', '% of a core', (x) => x <= 0.5);
  const wake = mk('wakeups', `wake-ups of tend (all threads) per second, idle, over ${ctx.idleSeconds} s`, 'not growing with services', '/s', () => null);
  const all = [start, stop, rss, perService, settled, settledPerService, status, reloadReply, reloadUp, cpu, wake];
  const push = (m, n, value) => { (m.results[label(n)] ??= { samples: [] }).samples.push(value); };

  for (let round = 0; round < ctx.runs; round++) {
    const rssOfRound = new Map();
    for (const n of sizes) {
      ctx.log(`  ${n} services (run ${round + 1}/${ctx.runs})`);
      const dir = workDir(ctx, `scale-${n}`);
      const file = join(dir, 'up');
      const { init, pid, start: startMs } = await startAll(ctx, n, dir, file);
      try {
        push(start, n, startMs);
        await sleep(ctx.smoke ? 300 : 5000);
        const mib = procStatus(pid, 'VmRSS') / 1024;
        push(rss, n, mib);
        rssOfRound.set(n, mib);
        if (n !== sizes[0] && rssOfRound.has(sizes[0])) push(perService, n, ((mib - rssOfRound.get(sizes[0])) * 1024) / (n - sizes[0]));

        const client = await waitFor(async () => { try { return await tendClient(init.socket); } catch { return null; } }, { timeout: 30_000, interval: 50, what: 'the control socket' });
        for (let i = 0; i < 10; i++) await client.request('status'); // warm-up
        const times = [];
        for (let i = 0; i < 50; i++) {
          const t = performance.now();
          const reply = await client.request('status');
          times.push(performance.now() - t);
          if (!reply.ok || reply.result.services.length !== n) throw new Error(`status: ${JSON.stringify(reply).slice(0, 200)}`);
        }
        push(status, n, stats(times).median);

        // Reload: s0 gets another command (another stamp file); the other n-1 stay as they are.
        const changed = join(dir, 'changed');
        const list = services(ctx, n, file);
        list[0] = { ...list[0], argv: [ctx.tools, 'procs', '1', changed] };
        manifest(dir, list, {});
        const t0 = now();
        const reply = await client.request('reload');
        const replied = now();
        if (!reply.ok) throw new Error(`reload: ${JSON.stringify(reply).slice(0, 300)}`);
        const [up] = await waitFor(() => stamps(changed).length > 0 && stamps(changed), { timeout: 60_000, interval: 5, what: 'the reloaded service' });
        push(reloadReply, n, msBetween(t0, replied));
        push(reloadUp, n, msBetween(t0, up));
        client.close();

        const t1 = now();
        process.kill(pid, 'SIGTERM');
        const exit = await withTimeout(init.exited, 120_000, `tend with ${n} services stop`);
        push(stop, n, msBetween(t1, exit.at));
      } finally {
        await init.kill();
      }
    }
  }

  // Idle CPU and wake-ups: every instance of one size at once, over the same window. Their
  // RSS at its end is the settled idle RSS: V8's memory reducer compacts the start-up's
  // garbage 20-40 s into idleness, so a read 5 s after the start sees the start, not idleness.
  const settledOf = new Map(); // size → RSS (MiB) of each instance
  for (const n of sizes) {
    ctx.log(`  idle CPU: ${ctx.runs} × ${n} services at once`);
    const running = [];
    try {
      for (let r = 0; r < ctx.runs; r++) {
        const dir = workDir(ctx, `scale-idle-${n}`);
        running.push({ dir, init: launch('tend run', services(ctx, n, join(dir, 'up')), dir, { pid1: true }) });
      }
      for (const entry of running) {
        entry.pid = await entry.init.initPid();
        await waitFor(() => stamps(join(entry.dir, 'up')).length >= n, { timeout: 300_000, interval: 50, what: `${n} services` });
      }
      await sleep(ctx.smoke ? 500 : 5000);
      for (const e of running) { e.ticks = cpuTicks(e.pid); e.wakes = wakeups(e.pid); }
      const t0 = performance.now();
      await sleep(ctx.idleSeconds * 1000);
      const seconds = (performance.now() - t0) / 1000;
      for (const e of running) {
        if (e.init.child.exitCode !== null || children(e.pid).length < n) throw new Error(`an instance with ${n} services ended early: ${e.init.output().slice(-300)}`);
        push(cpu, n, ((cpuTicks(e.pid) - e.ticks) / CLK_TCK / seconds) * 100);
        push(wake, n, (wakeups(e.pid) - e.wakes) / seconds);
      }
      const mibs = running.map((e) => procStatus(e.pid, 'VmRSS') / 1024);
      settledOf.set(n, mibs);
      for (const [i, mib] of mibs.entries()) {
        push(settled, n, mib);
        const base = settledOf.get(sizes[0])?.[i];
        if (n !== sizes[0] && base !== undefined) push(settledPerService, n, ((mib - base) * 1024) / (n - sizes[0]));
      }
    } finally {
      await Promise.all(running.map((e) => e.init.kill()));
    }
  }

  start.notes.push('process.hrtime just before spawn() of `unshare … tend run` → the last of the N services\' own first-instruction stamps.');
  perService.notes.push(`Per run: (RSS at N − RSS at ${sizes[0]} in the same round) ÷ (N − ${sizes[0]}). Read before V8's memory reducer has compacted the start's garbage: the start, not idleness.`);
  settledPerService.notes.push(`Instance i of N against instance i of ${sizes[0]}: (RSS − RSS) ÷ (N − ${sizes[0]}), each read at the end of its idle window.`);
  cpu.notes.push(`utime+stime of tend's process over the window, resolution 1/${CLK_TCK} s (${(100 / CLK_TCK / ctx.idleSeconds).toFixed(3)} % over this window); all ${ctx.runs} instances of a size idle at once.`);
  wake.notes.push('Context switches (voluntary + involuntary) summed over tend\'s threads: each is one wake-up of a thread.');
  return all;
}
