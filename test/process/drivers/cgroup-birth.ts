// Driver: services started with a cgroup v2 leaf, with the real spawner. Each service's
// first action reads /proc/self/cgroup; the fail-fast cases (a command not found, a
// missing cwd, an unknown user) must say what they always said. Prints one JSON line:
// what each saw, how libtend started them (clone3 into the leaf, or posix_spawn + join),
// and — when clone3 is in use — what a program started with no exec helper at all saw
// (nobody joins it to anything: only being born in the leaf puts it there).
import { closeSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { pipe, prctlSetChildSubreaper, spawnChild, spawnStats } from '../../../native/libc';
import { ServiceCgroups, findCgroupV2 } from '../../../src/process/cgroup';
import { startReaper } from '../../../src/process/reaper';
import { spawnProcess, type SpawnSpec } from '../../../src/process/spawn';

const context = { instance: 'x', socket: null };
const spec = (argv: string[], cgroup: string | null, more: Partial<SpawnSpec> = {}): SpawnSpec => ({
  service: 'birth', argv, env: {}, cwd: null, user: null, group: null,
  stdin: 'null', output: 'pipe', notifyFd: null, cgroup, session: 'new', ...more,
});

async function outputOf(argv: string[], cgroup: string | null, more: Partial<SpawnSpec> = {}): Promise<{ text: string; exit: unknown; pid: number }> {
  const child = spawnProcess(spec(argv, cgroup, more), context);
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { text += d; });
  const ended = new Promise((done) => child.stdout!.once('close', done));
  const exit = await child.exit;
  await ended;
  return { text, exit, pid: child.pid };
}

async function main(): Promise<void> {
  if (process.pid !== 1) prctlSetChildSubreaper();
  const reaper = startReaper();
  const mount = findCgroupV2()?.mount;
  const cgroups = ServiceCgroups.create(`birth${process.pid}`);
  if (mount === undefined || cgroups === null) {
    console.log(JSON.stringify({ skip: 'no writable cgroup v2 here' }));
    return;
  }
  try {
    const services = [];
    for (const name of ['a', 'b', 'c']) {
      const leaf = cgroups.leaf(name);
      // sh's first action reads the file; then its session, as /proc says (field 6 of stat).
      const { text, exit, pid } = await outputOf(['sh', '-c', 'read -r _ < /proc/self/cgroup; grep "^0::" /proc/self/cgroup; set -- $(sed "s/.*) //" /proc/$$/stat); echo "sid $4"'], leaf);
      services.push({ expected: `0::/${relative(mount, leaf)}`, cgroup: text.split('\n')[0], sid: Number(/sid (\d+)/.exec(text)?.[1]), pid, exit });
    }
    const leaf = cgroups.leaf('failing');
    const failures = [];
    for (const more of [{ argv: ['nginxx'] }, { argv: ['true'], cwd: '/nonexistent/dir' }, { argv: ['true'], user: 'no-such-user-x' }] as const) {
      failures.push(await spawnProcess(spec([...more.argv], leaf, more), context).exit);
    }
    // A leaf removed behind tend's back: this spawn falls back to the helper's join, which
    // says why it cannot; clone3 stays in use for the next ones.
    failures.push(await spawnProcess(spec(['true'], `${cgroups.root}/gone`), context).exit);
    // No leaf (Docker's read-only cgroupfs): libtend's direct path starts it with clone,
    // which Docker's seccomp profile allows where it refuses clone3.
    const noLeaf = await outputOf(['sh', '-c', 'echo "$LISTEN_PID $$"'], null, { pidVariables: ['LISTEN_PID'] });
    let raw: string | null = null; // what a program libtend started without the helper sees
    if (spawnStats().clone3) {
      const [read, write] = pipe();
      // exec: grep is the process libtend started, as it left it (Node ignores SIGPIPE).
      const pid = spawnChild('/bin/sh', ['sh', '-c', 'exec grep -h -E "^(0::|SigBlk|SigIgn|NSsid)" /proc/self/cgroup /proc/self/status'], [], [-1, write, 2], 'session', cgroups.leaf('raw'));
      closeSync(write);
      if (pid > 0) {
        await new Promise<void>((done) => reaper.watch(pid, () => done()));
        raw = readFileSync(read, 'utf8').trim().replace(/NSsid:.*/, (line) => (line.split(/\s+/).pop() === String(pid) ? 'session: its own' : line));
      }
      closeSync(read);
    }
    console.log(JSON.stringify({ services, failures, noLeaf, gone: `${cgroups.root}/gone`, raw, rawExpected: `0::/${relative(mount, cgroups.leaf('raw'))}`, stats: spawnStats() }));
  } finally {
    cgroups.removeAll();
  }
}

void main();
