// Spawns in flight: libtend no longer waits for a child's exec (no CLONE_VFORK), only for
// its session. Each child runs beside tend on tend's memory until its exec, on a slot of
// its own (a stack, its strings, its prepared steps), taken back once the kernel says the
// child is past its exec (CLONE_CHILD_CLEARTID). These tests start many at once with few
// slots, so that a slot taken back too early would show as a child that exec'd the wrong
// command, argv, environment or fds.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setPriority } from 'node:os';
import { tempDir } from '../helpers/tend';
import { execHelper, spawnProcess, type SpawnSpec } from '../../src/process/spawn';
import { configureSpawn, pipe, spawnChild, spawnStats } from '../../native/libc';
import { startReaper } from '../../src/process/reaper';

const context = { instance: 'test-instance', socket: '/tmp/x.sock' };
const dir = tempDir();

function spec(argv: string[], extra: Partial<SpawnSpec> = {}): SpawnSpec {
  return { service: 'svc', argv, env: {}, cwd: null, user: null, group: null, stdin: 'null', output: 'pipe', notifyFd: null, cgroup: null, session: 'new', ...extra };
}

/** A child's stdout, whole, and its exit. */
async function outcome(child: ReturnType<typeof spawnProcess>): Promise<{ out: string; exit: unknown }> {
  let out = '';
  const drained = new Promise((done) => child.stdout!.once('close', done));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr?.resume();
  const exit = await child.exit;
  await drained;
  return { out, exit };
}

/** The first line of `path` that starts with `key`, as the test process itself has it. */
function own(path: string, key: string): string {
  return readFileSync(path, 'utf8').split('\n').find((line) => line.startsWith(key))!.replace(/\s+/g, ' ');
}

describe('spawns in flight (no wait for the exec)', () => {
  beforeAll(() => configureSpawn(false, 4));
  afterAll(() => configureSpawn(false, 32));

  test.each([[4, 200], [1, 50]])('%i slot(s), %i starts from one call site: each child execs its own command, argv, environment and fds', async (cap, count) => {
    configureSpawn(false, cap);
    const before = spawnStats();
    const children = [];
    for (let i = 0; i < count; i++) {
      // Its own argument, its own variable, its own file, its own stdout pipe and pid.
      const file = join(dir, `out-${cap}-${i}`);
      const argv = ['sh', '-c', 'echo "$1 $TAG $$"; echo "$1 $TAG $$" > "$2"', 'sh', `arg-${i}`, file];
      const child = spawnProcess(spec(argv, { env: { TAG: `tag-${i}` } }), context);
      children.push({ i, file, pid: child.pid, done: outcome(child) });
    }
    for (const { i, file, pid, done } of children) {
      const { out, exit } = await done;
      expect(exit).toEqual({ kind: 'exited', code: 0 });
      expect(out).toBe(`arg-${i} tag-${i} ${pid}\n`);
      expect(readFileSync(file, 'utf8')).toBe(`arg-${i} tag-${i} ${pid}\n`);
    }
    // Every child was left to exec on its own, and every slot came back; never more in
    // use than the cap (slots made earlier with a larger cap stay unused).
    const after = spawnStats();
    expect(after.unwaited - before.unwaited).toBe(count);
    expect(after.slotsReclaimed - before.slotsReclaimed).toBe(count);
    expect(after.slotsInFlight).toBe(0);
    expect(after.slotsMade).toBeLessThanOrEqual(4);
    expect(after.slotCap).toBe(cap);
    configureSpawn(false, 4);
  });

  test("a service runs on tend's CPUs with tend's time slice and nice value (the spawn's scheduler hint is undone before exec)", async () => {
    const show = ['sh', '-c', 'grep ^Cpus_allowed_list: /proc/self/status; grep ^se.slice /proc/self/sched; echo "nice $(cut -d" " -f19 /proc/self/stat)"'];
    for (const nice of [0, 5]) {
      // Read at each spawn: a renice of tend reaches the services started after it.
      setPriority(nice);
      try {
        const { out } = await outcome(spawnProcess(spec(show), context));
        expect(out.split('\n').filter(Boolean).map((line) => line.replace(/\s+/g, ' '))).toEqual([
          own('/proc/self/status', 'Cpus_allowed_list:'), own('/proc/self/sched', 'se.slice'), `nice ${nice}`,
        ]);
      } finally {
        setPriority(0);
      }
    }
  });

  test('a child that fails a step before its exec still reports it, with the status and message the old synchronous errno got', async () => {
    // fd 0 from an fd that is not open: the child's dup3 fails (EBADF) before anything else.
    const helper = execHelper()!;
    const reaper = startReaper();
    for (const wait of [false, true]) {
      configureSpawn(wait, 4);
      const [read, write] = pipe();
      const pid = spawnChild(helper, ['true', '--', 'true'], ['PATH=/usr/bin:/bin'], [999, 1, 2, write], 'session', null, 'direct');
      closeSync(write);
      if (wait) {
        // CLONE_VFORK: tend_spawn returns the errno, as it always did.
        expect(pid).toBe(-9);
        closeSync(read);
        continue;
      }
      expect(pid).toBeGreaterThan(0);
      const status = await new Promise<number>((done) => reaper.watch(pid, done));
      expect(status >> 8).toBe(126);
      expect(readFileSync(read, 'utf8')).toBe('exec 9 true\n');
      closeSync(read);
    }
    configureSpawn(false, 4);
    // Through spawnProcess, a step after the session (chdir) reports as before.
    const { exit } = await outcome(spawnProcess(spec(['true'], { cwd: '/nonexistent/dir' }), context));
    expect(exit).toEqual({ kind: 'failed', code: 126, reason: 'cannot change directory to /nonexistent/dir: no such file' });
  });

  test('TEND_SPAWN_WAIT=1 (CLONE_VFORK): the same children, each waited for', async () => {
    configureSpawn(true, 4);
    try {
      const before = spawnStats();
      const children = Array.from({ length: 20 }, (_, i) => {
        const child = spawnProcess(spec(['sh', '-c', 'echo "$1 $TAG"', 'sh', `arg-${i}`], { env: { TAG: `tag-${i}` } }), context);
        return { i, done: outcome(child) };
      });
      for (const { i, done } of children) expect((await done).out).toBe(`arg-${i} tag-${i}\n`);
      const after = spawnStats();
      expect(after.unwaited - before.unwaited).toBe(0);
      expect(after.direct - before.direct).toBe(20);
    } finally {
      configureSpawn(false, 4);
    }
  });
});
