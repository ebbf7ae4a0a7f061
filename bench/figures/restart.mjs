// Crash → new process, zero backoff. A service (C tool `crash FILE 50`) stamps its start
// ("S", first instruction), lives 50 ms, stamps "E" just before exit(1). The init restarts
// it at once (tend: backoff { initial: 0, max: 0 }; supervisord: autorestart, startsecs=0).
// Sample: next S − previous E, one per restart.
import { join } from 'node:path';
import { launch, msBetween, stamps, waitFor, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'restart';

export async function run(ctx) {
  const m = metric({ id, title: 'crash → new process, zero backoff', goal: '≤ 20 ms', unit: 'ms', holds: (x) => x <= 20 });
  const restarts = ctx.smoke ? 2 : Math.max(ctx.runs, 10);
  await forSubjects(ctx, ['tend run', 'supervisord'], async (subject) => {
    const dir = workDir(ctx, `restart-${subject}`);
    const file = join(dir, 'crash');
    const init = launch(subject, [{ name: 'crash', argv: [ctx.tools, 'crash', file, '50'], restart: 'always', backoffZero: true }], dir, { pid1: true });
    try {
      await waitFor(() => stamps(file, 'S').length > restarts, { timeout: 60_000, interval: 20, what: `${restarts} restarts under ${subject}` });
    } finally {
      await init.kill();
    }
    const s = stamps(file, 'S');
    const e = stamps(file, 'E');
    const samples = [];
    for (let i = 0; i + 1 < s.length && i < e.length && samples.length < restarts; i++) samples.push(msBetween(e[i], s[i + 1]));
    return samples;
  }, [m]);
  notApplicable(m, ['tend --', 'tini', 'dumb-init'], 'no restarts');
  m.notes.push('n = restarts observed in one run of the init (each restart is a sample).');
  return [m];
}
