// Driver: a storm of orphans while "services" crash and restart, with the real spawner
// and reaper. Prints one JSON line: every managed exit compared with what it was told to
// do, pids reported more than once, orphans reaped, zombies left.
import { readdirSync } from 'node:fs';
import { startReaper } from '../../../src/process/reaper';
import { spawnProcess, type SpawnSpec } from '../../../src/process/spawn';
import { exitCodeOf } from '../../../src/vocab/exit';
import { readProc } from '../../../src/process/proc';
import { directChildren } from '../../helpers/children';

const orphans = Number(process.argv[2] ?? 1000);
const spec = (script: string): SpawnSpec => ({
  service: 'storm', argv: ['sh', '-c', script], env: {}, cwd: null, user: null, group: null,
  stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
});
const context = { instance: 'x', socket: null };
const zombies = (): number => directChildren().filter((pid) => readProc(pid)?.state === 'Z').length;

async function main(): Promise<void> {
  const reaper = startReaper();
  const reportedExits = new Map<number, number>();
  const reportedOrphans = new Set<number>();
  reaper.onReap((pass) => {
    for (const { pid } of pass.exits) reportedExits.set(pid, (reportedExits.get(pid) ?? 0) + 1);
    for (const pid of pass.orphans) reportedOrphans.add(pid);
  });

  // Each orphan: a subshell starts `exit 0` in the background and exits at once, so the
  // grandchild re-parents to us (PID 1 or subreaper) and dies there.
  const storm = spawnProcess(spec(`i=0; while [ $i -lt ${orphans} ]; do (exit 0 &); i=$((i+1)); done`), context);
  let stormOver = false;
  const stormDone = storm.exit.then((status) => { stormOver = true; return status; });

  // Four services crash-looping through the whole storm, each run with a known end.
  const wrong: string[] = [];
  const managed: number[] = [];
  let runs = 0;
  const service = async (slot: number): Promise<void> => {
    for (let run = 0; !stormOver || run < 3; run++) {
      const code = (slot * 37 + run * 11) % 256;
      const bySignal = run % 5 === 4;
      const child = spawnProcess(spec(bySignal ? 'kill -9 $$' : `exit ${code}`), context);
      managed.push(child.pid);
      const got = exitCodeOf(await child.exit);
      const expected = bySignal ? 137 : code;
      runs++;
      if (got !== expected) wrong.push(`${child.pid}: expected ${expected}, got ${got}`);
    }
  };
  await Promise.all([0, 1, 2, 3].map(service));
  const stormStatus = exitCodeOf(await stormDone);

  // Wait until every orphan has been reaped and no zombie is left: checked on each of the
  // reaper's passes (each reap wakes one), with a deadline.
  const settled = (): boolean => zombies() === 0 && reaper.reaped >= orphans;
  if (!settled()) {
    await new Promise<void>((done) => {
      const deadline = setTimeout(finish, 20_000);
      const unsubscribe = reaper.onReap(() => { if (settled()) finish(); });
      function finish(): void {
        clearTimeout(deadline);
        unsubscribe();
        done();
      }
      if (settled()) finish();
    });
  }
  reaper.reapNow();

  const twice = [...reportedExits].filter(([, n]) => n > 1).map(([pid]) => pid);
  const managedAsOrphans = managed.filter((pid) => reportedOrphans.has(pid));
  const unreported = [storm.pid, ...managed].filter((pid) => reportedExits.get(pid) !== 1);
  process.stdout.write(`${JSON.stringify({
    pid: process.pid, storm: stormStatus, runs, wrong, twice, managedAsOrphans, unreported,
    reaped: reaper.reaped, zombiesLeft: zombies(),
    procs: readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length,
  })}\n`);
  process.exit(0);
}
void main();
