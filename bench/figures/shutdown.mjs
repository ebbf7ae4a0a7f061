// Shutdown overhead, 50 services in 5 waves. Wave w depends on every service of wave
// w−1 (supervisord: priority by wave), so the shutdown stops wave 5 first, then 4, ...
// Each service is the C tool's `slowstop MS FILE`: on SIGTERM it stamps T, takes MS ms
// (10–99, fixed per service), stamps E and exits. The ideal shutdown takes the sum over
// waves of the wave's slowest own stop (max E−T); the figure is the init's overhead:
// (SIGTERM to the init → the init has exited) − that sum.
import { join } from 'node:path';
import { launch, msBetween, now, sleep, stamps, waitFor, withTimeout, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'shutdown';

export async function run(ctx) {
  const perWave = ctx.smoke ? 2 : 10;
  const waves = 5;
  const m = metric({ id, title: `shutdown overhead, ${perWave * waves} services in ${waves} waves`, goal: '< 50 ms beyond the slowest stops', unit: 'ms', holds: (x) => x < 50 });
  const totals = [];
  await forSubjects(ctx, ['tend run', 'supervisord'], async (subject, runs) => {
    const samples = [];
    for (let r = 0; r < runs; r++) {
      const dir = workDir(ctx, `shutdown-${subject}`);
      const services = [];
      for (let w = 0; w < waves; w++) {
        for (let i = 0; i < perWave; i++) {
          const ms = 10 + (((w * perWave + i) * 37) % 90);
          services.push({ name: `w${w}s${i}`, wave: w, file: join(dir, `w${w}s${i}`), argv: [ctx.tools, 'slowstop', String(ms), join(dir, `w${w}s${i}`)],
            dependsOn: w === 0 ? [] : Array.from({ length: perWave }, (_, j) => `w${w - 1}s${j}`), priority: (w + 1) * 10 });
        }
      }
      const init = launch(subject, services, dir, { pid1: true });
      try {
        const pid = await init.initPid();
        await waitFor(() => services.every((s) => stamps(s.file, 'U').length > 0), { timeout: 60_000, interval: 20, what: `${services.length} services under ${subject}` });
        await sleep(ctx.smoke ? 100 : 500);
        const t0 = now();
        process.kill(pid, 'SIGTERM');
        const exit = await withTimeout(init.exited, 60_000, `${subject} shutdown`);
        const total = msBetween(t0, exit.at);
        let ideal = 0;
        for (let w = 0; w < waves; w++) {
          let slowest = 0;
          for (const s of services.filter((x) => x.wave === w)) {
            const [t] = stamps(s.file, 'T');
            const [e] = stamps(s.file, 'E');
            if (t === undefined || e === undefined) throw new Error(`${s.name} was not stopped gracefully under ${subject}`);
            slowest = Math.max(slowest, msBetween(t, e));
          }
          ideal += slowest;
        }
        samples.push(total - ideal);
        totals.push(`${subject} ${total.toFixed(0)}/${ideal.toFixed(0)}`);
      } finally {
        await init.kill();
      }
    }
    return samples;
  }, [m], { interleave: true });
  m.notes.push(`Total shutdown / sum of the waves' slowest own stops (ms), each run: ${totals.join('; ')}.`);
  notApplicable(m, ['tend --', 'tini', 'dumb-init'], 'one command only');
  return [m];
}
