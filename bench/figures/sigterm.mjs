// SIGTERM to the init (PID 1 of a new namespace) → the handler in main runs. The main is
// the C tool's `sigterm` role: armed, it creates a ready file; its handler stamps
// CLOCK_MONOTONIC. Start: process.hrtime just before kill(2). 300 ms settle after ready.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { launch, msBetween, now, sleep, stamps, waitFor, withTimeout, workDir } from '../lib/common.mjs';
import { forSubjects, metric } from '../lib/figure.mjs';

export const id = 'sigterm';

export async function run(ctx) {
  const m = metric({ id, title: 'SIGTERM to the init → handler in main', goal: '≤ 2 ms median', unit: 'ms', holds: (x) => x <= 2 });
  await forSubjects(ctx, ['tend run', 'tend --', 'tini', 'dumb-init', 'supervisord'], async (subject, runs) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const dir = workDir(ctx, `sigterm-${subject}`);
      const ready = join(dir, 'ready');
      const out = join(dir, 'handled');
      const init = launch(subject, [{ name: 'main', argv: [ctx.tools, 'sigterm', ready, out], main: true }], dir, { pid1: true });
      try {
        const pid = await init.initPid();
        await waitFor(() => existsSync(ready), { timeout: 20_000, what: `${subject}'s main armed` });
        await sleep(ctx.smoke ? 100 : 300);
        const t0 = now();
        process.kill(pid, 'SIGTERM');
        const [handled] = await waitFor(() => stamps(out).length > 0 && stamps(out), { timeout: 10_000, interval: 2, what: `${subject}'s main handler` });
        samples.push(msBetween(t0, handled));
        await withTimeout(init.exited, 15_000, `${subject} exit`).catch(() => {});
      } finally {
        await init.kill();
      }
    }
    return samples;
  }, [m], { interleave: true });
  return [m];
}
