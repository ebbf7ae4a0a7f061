// sd_notify READY=1 → dependent started. tend runs as PID 1 with `api` (ready: {
// sd_notify: true }) — a Python sender that stamps CLOCK_MONOTONIC and sends READY=1 on
// $NOTIFY_SOCKET — and `dep` (depends_on api: ready), the C tool `stamp FILE`, which stamps
// its first instruction. Two samples per run: READY=1 → tend's "dep: started" (its JSON
// log's wall-clock time, ms resolution; since stop_mode landed tend logs it once the exec
// helper has exec'd), and READY=1 → dep's first instruction (the stamp of the process).
// TEND_BENCH_TRACKING=proc|cgroup sets settings.tracking (default: auto, a cgroup where
// one is writable — moving the new process into its leaf is most of the time).
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, msBetween, readText, stamps, tendArgv, waitFor, workDir } from '../lib/common.mjs';
import { forSubjects, metric, notApplicable } from '../lib/figure.mjs';

export const id = 'sd-notify';

const SENDER = 'import os,socket,time\np=os.environ["NOTIFY_SOCKET"]\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.connect("\\0"+p[1:])\nopen(os.environ["MARKS"],"a").write("R %d\\nW %d\\n" % (time.monotonic_ns(), time.time_ns()))\ns.send(b"READY=1")\ntime.sleep(1000)';

export async function run(ctx) {
  const m = metric({ id, title: 'sd_notify READY=1 → dependent started', goal: '≤ 5 ms', unit: 'ms', holds: (x) => x <= 5 });
  const first = metric({ id: `${id}-exec`, title: 'sd_notify READY=1 → dependent\'s first instruction', goal: '–', unit: 'ms', holds: () => null });
  const runs = ctx.smoke ? 1 : Math.max(ctx.runs, 15);
  await forSubjects(ctx, ['tend run'], async () => {
    const dir = workDir(ctx, 'sd-notify');
    const marks = join(dir, 'marks');
    writeFileSync(marks, '');
    writeFileSync(join(dir, 'tend.yaml'), JSON.stringify({
      ...(process.env.TEND_BENCH_TRACKING ? { settings: { tracking: process.env.TEND_BENCH_TRACKING } } : {}),
      services: {
        api: { command: ['python3', '-c', SENDER], ready: { sd_notify: true }, env: { MARKS: marks } },
        dep: { main: true, command: [ctx.tools, 'stamp', join(dir, 'dep')], depends_on: { api: { condition: 'ready' } } },
      },
    }));
    const log = openSync(join(dir, 'tend.log'), 'w');
    const init = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...tendArgv('run', '--log-format', 'json', '-c', join(dir, 'tend.yaml'))], {
      env: cleanEnv({ TEND_SOCKET: join(dir, 'tend.sock') }), cwd: dir, stdio: ['ignore', 'ignore', log],
    });
    closeSync(log);
    let started;
    try {
      started = await waitFor(() => readText(join(dir, 'tend.log')).split('\n').map((line) => { try { return JSON.parse(line); } catch { return null; } })
        .find((record) => record?.msg?.startsWith('dep: started')), { timeout: 20_000, what: 'dep to start' });
      await waitFor(() => readText(join(dir, 'dep')) !== '', { timeout: 20_000, what: 'dep to stamp' });
    } finally {
      init.kill('SIGKILL');
    }
    const [ready] = stamps(marks, 'R');
    const [wall] = stamps(marks, 'W');
    const [dep] = stamps(join(dir, 'dep'));
    return [[Date.parse(started.time) - Number(wall / 1_000_000n)], [msBetween(ready, dep)]];
  }, [m, first], { interleave: true, runs });
  for (const x of [m, first]) notApplicable(x, ['tend --', 'tini', 'dumb-init', 'catatonit', 'supervisord'], 'no sd_notify');
  m.notes.push('Each run a fresh tend; the sender is Python (its start-up is not measured: it stamps just before sendto). "Started" is tend\'s own log line for the spawn (wall clock, ±1 ms); the next figure adds the exec helper and the exec.');
  return [m, first];
}
