// Idle CPU of the init with N services (`sleep infinity`) over a window (--idle-seconds,
// 60 s by default): utime + stime of the init's process (all threads) from /proc, after a
// 3 s settle (0.5 s in smoke mode). Every run of every subject runs at once, over the same window.
import { cpuTicks, CLK_TCK, launch, sleep, workDir, waitFor, children } from '../lib/common.mjs';
import { metric } from '../lib/figure.mjs';

export const id = 'idle-cpu';

/**
 * Starts ctx.runs instances of every subject at once (as PID 1 of their own namespace),
 * waits, and reads `read(pid)` — or, with `window`, the CPU used across the window.
 */
export async function measureIdle(ctx, m, { services, seconds, read, window = false }) {
  const subjects = ['tend run', 'tend --', 'tini', 'dumb-init', 'supervisord'];
  const running = [];
  for (const subject of subjects) {
    const peer = subject.startsWith('tend') ? null : subject;
    if (peer && ctx.peers[peer].missing) { m.results[subject] = { missing: ctx.peers[peer].missing }; continue; }
    const count = subject === 'tend run' || subject === 'supervisord' ? services : 1;
    const list = Array.from({ length: count }, (_, i) => ({ name: `s${i}`, argv: ['sleep', 'infinity'] }));
    for (let r = 0; r < ctx.runs; r++) running.push({ subject, init: launch(subject, list, workDir(ctx, `idle-${subject}`), { pid1: ctx.unshare }) });
  }
  try {
    for (const entry of running) {
      entry.pid = await entry.init.initPid();
      // Wait until every service runs: the init's subtree holds them.
      const want = entry.subject === 'tend run' || entry.subject === 'supervisord' ? services : 1;
      await waitFor(() => children(entry.pid).length >= want, { timeout: 30_000, what: `${entry.subject}'s services` });
    }
    if (window) {
      await sleep(ctx.smoke ? 500 : 3000);
      for (const entry of running) entry.before = cpuTicks(entry.pid);
      const t0 = performance.now();
      await sleep(seconds * 1000);
      const elapsed = (performance.now() - t0) / 1000;
      for (const entry of running) entry.value = ((cpuTicks(entry.pid) - entry.before) / CLK_TCK / elapsed) * 100;
    } else {
      await sleep(seconds * 1000);
      for (const entry of running) entry.value = read(entry.pid);
    }
    for (const entry of running) {
      const r = (m.results[entry.subject] ??= { samples: [] });
      if (entry.init.child.exitCode !== null) { m.results[entry.subject] = { error: `exited early: ${entry.init.output().slice(-300)}` }; continue; }
      r.samples?.push(entry.value);
    }
  } finally {
    await Promise.all(running.map((e) => e.init.kill()));
  }
}

export async function run(ctx) {
  const services = ctx.smoke ? 5 : 50;
  const m = metric({ id, title: `idle CPU, ${services} services, over ${ctx.idleSeconds} s`, goal: '≤ 0.2% of a core', unit: '% of a core', holds: (x) => x <= 0.2 });
  await measureIdle(ctx, m, { services, seconds: ctx.idleSeconds, window: true });
  m.notes.push(`utime+stime of the init's process over the window, resolution 1/${CLK_TCK} s (${(100 / CLK_TCK / ctx.idleSeconds).toFixed(3)}% over this window). tini, dumb-init and tend -- supervise one \`sleep infinity\`.`);
  return [m];
}
