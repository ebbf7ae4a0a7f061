// Escaped setsid daemons that get the graceful stop signal on shutdown. The main (C tool
// `daemons 10 DIR`) starts 10 double-forked daemons that each call setsid, then waits.
// SIGTERM to the init (PID 1 of a new namespace); a daemon that gets SIGTERM writes
// DIR/term.<i>. Figure: how many of the 10 did, per run.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, sleep, waitFor, withTimeout, workDir } from '../lib/common.mjs';
import { forSubjects, metric } from '../lib/figure.mjs';

export const id = 'daemons';

export async function run(ctx) {
  const m = metric({ id, title: 'escaped setsid daemons that get the graceful stop signal', goal: '10/10 (peers 0/10)', unit: '/10', better: 'higher', holds: (x, self) => self.results['tend run'].samples.every((v) => v === 10) });
  await forSubjects(ctx, ['tend run', 'tend --', 'tini', 'dumb-init', 'supervisord'], async (subject, runs) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const dir = workDir(ctx, `daemons-${subject}`);
      const init = launch(subject, [{ name: 'main', argv: [ctx.tools, 'daemons', '10', dir], main: true }], dir, { pid1: true });
      try {
        const pid = await init.initPid();
        await waitFor(() => existsSync(join(dir, 'ready')), { timeout: 20_000, what: `${subject}'s daemons` });
        await sleep(ctx.smoke ? 100 : 300);
        process.kill(pid, 'SIGTERM');
        await withTimeout(init.exited, 20_000, `${subject} exit`);
      } finally {
        await init.kill();
      }
      samples.push(readdirSync(dir).filter((f) => f.startsWith('term.')).length);
    }
    return samples;
  }, [m], { interleave: true });
  m.notes.push('tini and dumb-init forward the signal to main (or its group); the daemons left it with setsid and are SIGKILLed by the kernel when PID 1 exits. supervisord (stopasgroup) signals the program\'s group only. tend -- reaches them through its PID-1 sweep (kill(-1, SIGTERM)); tend run through its tracking of the service.');
  return [m];
}
