// Last orphan exit → zero zombies, in a storm of 2,000 orphans, the init as PID 1 of a
// new PID namespace. The main is the C tool's `storm` role: it makes N double-forked
// orphans (re-parented to PID 1) that block on a pipe, releases them at once, and each
// orphan stamps its exit time into shared memory (the latest wins); the main then polls
// PID 1's children lists every ~50 µs until none but itself is left. Figure: zero − last exit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, msBetween, readText, waitFor, withTimeout, workDir } from '../lib/common.mjs';
import { forSubjects, metric } from '../lib/figure.mjs';

export const id = 'storm';

export async function run(ctx) {
  const orphans = ctx.smoke ? 50 : 2000;
  const runs = ctx.smoke ? ctx.runs : Math.max(ctx.runs, 11);
  const median = (samples) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)];
  const m = metric({ id, title: `last orphan exit → zero zombies, ${orphans}-orphan storm`, goal: '≤ 2× the best C init (tini, dumb-init, catatonit)', unit: 'ms',
    holds: (x, self) => {
      const best = ['tini', 'dumb-init', 'catatonit'].map((peer) => self.results[peer]?.samples).filter((t) => t?.length).map(median);
      return best.length ? x <= 2 * Math.min(...best) : null;
    } });
  const release = [];
  await forSubjects(ctx, ['tend run', 'tend --', 'tini', 'dumb-init', 'catatonit', 'supervisord'], async (subject, runs) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const dir = workDir(ctx, `storm-${subject}`);
      const out = join(dir, 'storm.json');
      const init = launch(subject, [{ name: 'storm', argv: [ctx.tools, 'storm', String(orphans), out], main: true }], dir, { pid1: true });
      try {
        const text = await waitFor(() => readText(out).endsWith('\n') && readText(out), { timeout: 90_000, interval: 20, what: `${subject}'s storm result` });
        const r = JSON.parse(text);
        if (r.exited !== orphans || r.zero_ns === 0) throw new Error(`storm incomplete: ${text.trim()}`);
        samples.push(msBetween(r.last_exit_ns, r.zero_ns));
        release.push(`${subject} ${msBetween(r.released_ns, r.zero_ns).toFixed(1)}`);
        if (subject === 'supervisord') process.kill(await init.initPid(), 'SIGTERM');
        await withTimeout(init.exited, 20_000, `${subject} exit`).catch(() => {});
      } finally {
        await init.kill();
      }
    }
    return samples;
  }, [m], { interleave: true, runs, maxRuns: { supervisord: ctx.runs } });
  m.notes.push(`Runs: ${runs} per init (supervisord ${Math.min(runs, ctx.runs)}: each of its runs takes ~20 s). The figure's spread comes from the scheduler: 2,000 processes wake and exit at once on this machine's CPUs, and the last one to exit may be preempted between its stamp and its exit — every init's min–max shows it — so the medians need more runs than the other figures.`);
  m.notes.push(`Release of all orphans → zero zombies (ms, each run): ${release.join('; ')}.`);
  return [m];
}
