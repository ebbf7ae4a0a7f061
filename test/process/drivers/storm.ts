// Driver: a storm of double-forked orphans next to managed children, with the real
// spawner and reaper. Prints one JSON line: the managed exits, orphans reaped, the most
// zombies seen at once, and how long after the storm the last one was reaped.
import { readFileSync, readdirSync } from 'node:fs';
import { startReaper, directChildren } from '../../../src/process/reaper';
import { exitCodeOf, spawnProcess, type SpawnSpec } from '../../../src/process/spawn';

const orphans = Number(process.argv[2] ?? 1000);
const spec = (script: string): SpawnSpec => ({
  service: 'storm', argv: ['sh', '-c', script], env: {}, cwd: null, user: null, group: null,
  stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
});

function zombies(): number {
  let count = 0;
  for (const pid of directChildren()) {
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) count++;
    } catch { /* gone */ }
  }
  return count;
}

async function main(): Promise<void> {
  const reaper = startReaper();
  let peak = 0;
  const latencies: number[] = [];
  let lastReap = 0;
  reaper.onReap((reaped) => {
    if (reaped.length > 0) lastReap = performance.now();
    peak = Math.max(peak, zombies());
  });
  // Each orphan: a subshell forks `sh -c 'exit 0'` and exits at once, so the grandchild
  // re-parents to us (PID 1 or subreaper) and dies there.
  const storm = spawnProcess(spec(`i=0; while [ $i -lt ${orphans} ]; do (sh -c 'exit 0' &); i=$((i+1)); done`), { instance: 'x', socket: null });
  const managed = [
    spawnProcess(spec('exit 3'), { instance: 'x', socket: null }),
    spawnProcess(spec('sleep 0.3; exit 4'), { instance: 'x', socket: null }),
    spawnProcess(spec('sleep 0.5; kill -9 $$'), { instance: 'x', socket: null }),
  ];
  const stormExit = await storm.exit;
  const stormEnded = performance.now();
  const codes = await Promise.all(managed.map(async (m) => exitCodeOf(await m.exit)));
  // Wait (event-driven, with a deadline) until no zombie is left.
  const deadline = Date.now() + 10_000;
  while ((zombies() > 0 || reaper.reaped < orphans) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  latencies.push(lastReap - stormEnded);
  process.stdout.write(`${JSON.stringify({
    pid: process.pid, storm: exitCodeOf(stormExit), codes, reaped: reaper.reaped, zombiesLeft: zombies(), peak,
    lastReapAfterStormMs: Math.max(0, Math.round(lastReap - stormEnded)),
    procs: readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length,
  })}\n`);
  reaper.stop();
}
void main();
