// exec → main's first instruction. The main is the C tool's `stamp` role: its first act
// is clock_gettime(CLOCK_MONOTONIC), compared with process.hrtime taken just before
// spawn(). NODE_EXTRA_CA_CERTS unset. Not in a PID namespace (unshare would add its own
// cost), each init the same way; tini gets -s (subreaper) since it is not PID 1.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, launch, msBetween, stamps, tendArgv, waitFor, workDir, withTimeout } from '../lib/common.mjs';
import { forSubjects, metric } from '../lib/figure.mjs';

export const id = 'startup';

export async function run(ctx) {
  const m = metric({
    id, title: "exec → main's first instruction", goal: '≤ 80 ms', unit: 'ms', holds: (x) => x <= 80,
  });
  m.notes.push('Runs: one warm-up launch, then the measured ones. The main writes CLOCK_MONOTONIC as its first instruction; the start is process.hrtime just before spawn().');
  m.notes.push("`node (floor)` is not an init: `node -e` that spawns the main at once — Node's own start-up plus one spawn, the floor under any init written for Node on this machine at this moment. `tend run` − floor is what tend itself adds (the manifest, the logs, the socket, the cgroup leaf, the exec helper).");
  // How tend starts here (README: start-up from a snapshot): said, so a figure taken without
  // the snapshots (none built, another Node) is not read as one taken with them.
  for (const args of [['--', 'true'], ['--version']]) {
    const argv = tendArgv(...args);
    const said = /tend: start-up: (.*)/.exec(spawnSync(argv[0], argv.slice(1), { env: cleanEnv({ TEND_DEBUG_STARTUP: '1' }), encoding: 'utf8' }).stderr ?? '')?.[1];
    m.notes.push(`\`tend ${args[0] === '--' ? '--' : 'run'}\` started ${said ?? 'as it always did (this tend says nothing of a snapshot)'}.`);
  }
  await forSubjects(ctx, ['tend run', 'tend --', 'node (floor)', 'tini', 'dumb-init', 'supervisord'], async (subject, runs) => {
    const samples = [];
    const warmups = ctx.smoke ? 0 : 1;
    for (let i = 0; i < runs + warmups; i++) {
      const dir = workDir(ctx, `startup-${subject}`);
      const file = join(dir, 'stamp');
      const init = launch(subject, [{ name: 'main', argv: [ctx.tools, 'stamp', file], main: true }], dir);
      try {
        const [stamp] = await waitFor(() => stamps(file).length > 0 && stamps(file), { timeout: 20_000, what: `${subject}'s main` });
        if (i >= warmups) samples.push(msBetween(init.started, stamp));
        if (subject === 'supervisord') init.child.kill('SIGTERM');
        await withTimeout(init.exited, 15_000, `${subject} exit`);
      } finally {
        await init.kill();
      }
    }
    return samples;
  }, [m], { interleave: true });
  return [m];
}
