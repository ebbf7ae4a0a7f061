// 200 services × 5 processes: start all, stop all. Each service is the C tool's
// `procs 5 FILE`: it forks 4 children that wait, then appends a stamp (all 5 are up).
// Start: process.hrtime before spawn() → the last service's stamp. Stop: SIGTERM to the
// init (PID 1 of a new namespace) → the init has exited (everything gone: the namespace
// dies with it). The processes die at once on SIGTERM (default action), so the slowest
// service's own stop is ~0 and all of "stop all" is the init's overhead.
import { join } from 'node:path';
import { launch, msBetween, now, sleep, stamps, waitFor, withTimeout, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'fleet';

export async function run(ctx) {
  const count = ctx.smoke ? 5 : 200;
  const start = metric({ id: 'fleet-start', title: `${count} services × 5 processes: start all`, goal: '≤ 2 s', unit: 'ms', holds: (x) => x <= 2000 });
  const stop = metric({ id: 'fleet-stop', title: `${count} services × 5 processes: stop all`, goal: '≤ 1 s beyond the slowest stop', unit: 'ms', holds: (x) => x <= 1000 });
  await forSubjects(ctx, ['tend run', 'supervisord'], async (subject, runs) => {
    const starts = [];
    const stops = [];
    for (let r = 0; r < runs; r++) {
      const dir = workDir(ctx, `fleet-${subject}`);
      const file = join(dir, 'up');
      const list = Array.from({ length: count }, (_, i) => ({ name: `s${i}`, argv: [ctx.tools, 'procs', '5', file] }));
      const init = launch(subject, list, dir, { pid1: true });
      try {
        const pid = await init.initPid();
        await waitFor(() => stamps(file).length >= count, { timeout: 120_000, interval: 10, what: `${count} services under ${subject}` });
        const last = stamps(file).reduce((a, b) => (a > b ? a : b));
        starts.push(msBetween(init.started, last));
        await sleep(ctx.smoke ? 200 : 1000);
        const t0 = now();
        process.kill(pid, 'SIGTERM');
        const exit = await withTimeout(init.exited, 120_000, `${subject} stop`);
        stops.push(msBetween(t0, exit.at));
      } finally {
        await init.kill();
      }
    }
    return [starts, stops];
  }, [start, stop], { interleave: true });
  for (const m of [start, stop]) notApplicable(m, ['tend --', 'tini', 'dumb-init'], 'one command only');
  stop.notes.push('Stop: SIGTERM to the init until the init (and with it the namespace) is gone; the services die at once on SIGTERM, so this is all overhead.');
  return [start, stop];
}
