// limits: end to end, tend as PID 1 of a PID namespace with real cgroup leaves: the kernel
// OOM-kills a service above limits.memory and tend names it so everywhere, and says an OOM
// kill of any other process of a service as it happens; pids.max refuses
// forks past the cap; rlimits and oom_score_adj read back from /proc; and with no cgroup
// (tracking: proc) tend's own check stops the service gracefully and restarts it.
import { afterEach, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { canUnshare, tempDir, waitFor, writeManifest } from '../helpers/tend';
import { freePort, get, killLeftovers, startManifest } from '../examples/helpers';
import { ServiceResources } from '../../src/process/limits';
import { ServiceCgroups } from '../../src/process/cgroup';

afterEach(killLeftovers);

/** Where memory and pids limits can go on this machine (v2 with controllers, or v1); null: why not. */
function cgroupFor(controller: 'memory' | 'pids' | 'cpu'): string | null {
  const cgroups = ServiceCgroups.create(`probe${process.hrtime.bigint()}`);
  const resources = new ServiceResources({ cgroups, instance: `probe${process.hrtime.bigint()}`, noCgroups: false, pid: process.pid });
  const choice = resources.backends().get(controller)!;
  resources.close();
  cgroups?.removeAll();
  if (choice.backend !== 'none') return null;
  return choice.detail;
}

const memoryMissing = cgroupFor('memory');
const pidsMissing = cgroupFor('pids');
const cpuMissing = cgroupFor('cpu');
if (cpuMissing !== null) console.warn(`skipping the cpu test: no cpu controller tend can use here (${cpuMissing})`);
if (memoryMissing !== null) console.warn(`skipping the kernel OOM test: no memory controller tend can use here (${memoryMissing})`);
if (pidsMissing !== null) console.warn(`skipping the pids test: no pids controller tend can use here (${pidsMissing})`);

/** Allocates 8 MiB every 20 ms up to 400 MiB, touching every page, then holds it. */
const HOG = `["python3", "-c", "import time\\nx=[]\\nfor i in range(50):\\n    x.append(bytearray(8*1024*1024))\\n    time.sleep(0.02)\\ntime.sleep(600)"]`;

describe.skipIf(!canUnshare())('limits:', () => {
  it.skipIf(memoryMissing !== null)('a service above limits.memory is OOM-killed by the kernel and named so in the log, last_exit, status and metrics; it restarts per policy', async () => {
    const dir = tempDir('tend-limits-');
    const port = await freePort();
    const example = startManifest(writeManifest(dir, `
settings: { http: "127.0.0.1:${port}" }
services:
  hog:
    command: ${HOG}
    limits: { memory: 32M }
    restart: { policy: on-failure, backoff: { initial: 100ms } }
  quiet:
    command: sleep 600
  master:                        # its worker is OOM-killed, the master stays
    command: ["sh", "-c", "python3 -c 'x=[bytearray(8*1024*1024) for i in range(50)]'; echo worker gone; sleep 600"]
    limits: { memory: 32M }
`));
    const doc = await example.waitStatus((d) => (d.services.find((s) => s.name === 'hog')?.oom_kills ?? 0) >= 2
      && (d.services.find((s) => s.name === 'master')?.oom_kills ?? 0) >= 1, 'two OOM kills of hog, one in master', 20_000);
    // A worker's OOM kill is counted for its service, which goes on running, and said as it
    // happens: its master reaped it, so that line is all the log has of it.
    expect(doc.services.find((s) => s.name === 'master')).toMatchObject({ state: 'running', restarts: 0, last_exit: null, oom_kills: 1 });
    await example.tend.waitOutput("master: the kernel's OOM killer killed one of its processes (limits.memory 32.0M; 1 since tend started)");
    await example.tend.waitOutput(/hog: the kernel's OOM killer killed one of its processes \(limits\.memory 32\.0M; [12] since tend started\)/);
    expect(example.events().filter((line) => line.startsWith('quiet: the kernel'))).toEqual([]);
    const hog = doc.services.find((s) => s.name === 'hog')!;
    expect(hog.last_exit).toEqual({ signal: 'SIGKILL', oom: true });
    expect(hog.restarts).toBeGreaterThanOrEqual(1);
    // The other service is not touched.
    expect(doc.services.find((s) => s.name === 'quiet')).toMatchObject({ state: 'running', restarts: 0 });
    expect(example.events()).toContain("hog: killed by the kernel's OOM killer (SIGKILL)");
    expect(example.events().some((line) => /^hog: limits\.memory through cgroup/.test(line))).toBe(true);
    expect((await example.cli(['status', '-v'])).stdout).toMatch(/limits:\n  memory: through cgroup/);
    const table = await example.cli(['status']);
    expect(table.stdout).toMatch(/hog .*SIGKILL \(OOM kill\)/);
    const metrics = parsePrometheusTextFormat((await get(`http://127.0.0.1:${port}/metrics`)).body);
    const oom = metrics.find((f) => f.name === 'tend_service_oom_kills_total')!;
    expect(Number(oom.metrics.find((m) => m.labels?.service === 'hog')!.value)).toBeGreaterThanOrEqual(2);
    expect(Number(oom.metrics.find((m) => m.labels?.service === 'quiet')!.value)).toBe(0);
  }, 30_000);

  it.skipIf(memoryMissing !== null)('a forking daemon the kernel OOM-kills is named too', async () => {
    const dir = tempDir('tend-limits-');
    const example = startManifest(writeManifest(dir, `
services:
  daemon:
    type: forking
    command: ["sh", "-c", "python3 -c 'import time\\nx=[]\\ntime.sleep(0.5)\\nfor i in range(50): x.append(bytearray(8*1024*1024))' & echo $$! > daemon.pid"]
    pid_file: daemon.pid
    limits: { memory: 32M }
    restart: { policy: never }
  keeper:
    command: sleep 600
`), {}, { cwd: dir });
    const doc = await example.waitStatus((d) => d.services[0]!.last_exit !== null, 'the daemon ended', 15_000);
    expect(doc.services[0]!.state).toBe('exited');
    expect(doc.services[0]!.last_exit).toEqual({ signal: 'SIGKILL', oom: true });
    expect(example.events()).toContain("daemon: killed by the kernel's OOM killer (SIGKILL)");
  }, 20_000);

  it.skipIf(pidsMissing !== null)('limits.pids refuses the fork past the cap; tend and the other services go on', async () => {
    const dir = tempDir('tend-limits-');
    const example = startManifest(writeManifest(dir, `
services:
  forker:
    command: ["python3", "-c", "import os,time\\nok=refused=0\\nfor i in range(20):\\n    try:\\n        if os.fork() == 0:\\n            time.sleep(600); os._exit(0)\\n        ok += 1\\n    except OSError:\\n        refused += 1\\nprint(f'forked={ok} refused={refused}', flush=True)\\ntime.sleep(600)"]
    limits: { pids: 10 }
  other:
    command: ["sh", "-c", "for i in $$(seq 15); do sleep 600 & done; sleep 600"]
`));
    // python itself and 9 children: the 11th process is refused, and so is every later one.
    await example.tend.waitOutput(/forked=\d+ refused=\d+/);
    expect(example.tend.stdout).toMatch(/forker\s+\| forked=9 refused=11/);
    const doc = await example.waitStatus((d) => d.services.find((s) => s.name === 'other')!.processes.length === 17, 'other with its 17 processes (sh, 15 sleeps in the background, one in front)', 15_000);
    expect(doc.services.find((s) => s.name === 'forker')).toMatchObject({ state: 'running', restarts: 0 });
    expect(doc.services.find((s) => s.name === 'forker')!.processes).toHaveLength(10);
  }, 30_000);

  it.skipIf(cpuMissing !== null)('limits.cpu: 0.2 holds a busy loop near 20 % of a core over a few seconds', async () => {
    const dir = tempDir('tend-limits-');
    const example = startManifest(writeManifest(dir, `
services:
  busy:
    command: ["python3", "-c", "while True: pass"]
    limits: { cpu: 0.2 }
`));
    const sample = async () => ({ at: Date.now(), seconds: (await example.service('busy')).cpu_seconds ?? NaN });
    await example.waitStatus((d) => (d.services[0]!.cpu_seconds ?? 0) > 0.1, 'busy using CPU');
    const first = await sample();
    // Until it has used 0.8 s of CPU: about 4 s of wall time at 20 %, under 1 s unlimited.
    const last = await waitFor(async () => {
      const now = await sample();
      return now.seconds - first.seconds >= 0.8 ? now : undefined;
    }, { timeout: 15_000, interval: 200, what: 'busy to use 0.8 s of CPU' });
    const share = (last.seconds - first.seconds) / ((last.at - first.at) / 1000);
    // A tolerance band: the quota is exact over 100 ms periods, the two samples are not.
    expect(share).toBeGreaterThan(0.12);
    expect(share).toBeLessThan(0.28);
  }, 20_000);

  it('tend status memory is within 10 % of the RSS the service\'s processes report, with a cgroup and without', async () => {
    for (const tracking of ['auto', 'proc']) {
      const dir = tempDir('tend-limits-');
      const example = startManifest(writeManifest(dir, `
settings: { tracking: ${tracking} }
services:
  holder:
    command: ["python3", "-c", "import time,re\\nx=bytearray(64*1024*1024)\\nfor i in range(0, len(x), 4096): x[i]=1\\nprint('rss', re.search(r'VmRSS:\\\\s+(\\\\d+)', open('/proc/self/status').read()).group(1), flush=True)\\ntime.sleep(600)"]
    limits: { memory: 256M }
`));
      await example.tend.waitOutput(/rss \d+/);
      const rss = Number(/rss (\d+)/.exec(example.tend.stdout)![1]) * 1024;
      const memory = (await example.service('holder')).memory_bytes!;
      expect(Math.abs(memory - rss) / rss, `${tracking}: status ${memory}, RSS ${rss}`).toBeLessThan(0.1);
      killLeftovers();
    }
  }, 30_000);

  it('nofile, core and oom_score_adj are set by the exec helper and read back from /proc/PID/limits', async () => {
    const dir = tempDir('tend-limits-');
    const example = startManifest(writeManifest(dir, `
services:
  limited:
    command: ["sh", "-c", "grep -E 'open files|core file' /proc/$$$$/limits; echo adj=$$(cat /proc/$$$$/oom_score_adj); sleep 600"]
    limits: { nofile: 321, core: 0 }
    oom_score_adj: 700
`));
    await example.tend.waitOutput(/adj=700/);
    const out = example.tend.stdout;
    expect(out).toMatch(/Max open files\s+321\s+321\s+files/);
    expect(out).toMatch(/Max core file size\s+0\s+0\s+bytes/);
  }, 20_000);

  it('with no cgroup (tracking: proc), tend checks memory itself: a graceful stop above the limit, last_exit "memory limit", restart per policy; cpu and pids said not enforced', async () => {
    const dir = tempDir('tend-limits-');
    const example = startManifest(writeManifest(dir, `
settings: { tracking: proc }
services:
  hog:
    command: ["python3", "-c", "import signal,sys,time\\nsignal.signal(signal.SIGTERM, lambda *a: (print('graceful', flush=True), sys.exit(0)))\\nx=[bytearray(8*1024*1024) for i in range(8)]\\ntime.sleep(600)"]
    limits: { memory: 32M, cpu: 0.5, pids: 50 }
    restart: { policy: on-failure, backoff: { initial: 100ms } }
  small:
    command: sleep 600
    limits: { memory: 64M }
`));
    const doc = await example.waitStatus((d) => d.services.find((s) => s.name === 'hog')!.restarts >= 1, 'hog restarted after the memory check', 20_000);
    const hog = doc.services.find((s) => s.name === 'hog')!;
    expect(hog.last_exit).toEqual({ code: 0, reason: 'memory limit' });
    expect(example.tend.stdout).toMatch(/hog\s+\| graceful/);
    const events = example.events();
    expect(events.some((l) => /^hog: its processes hold \d+\.\d MiB, above limits\.memory 32\.0 MiB \(checked by tend: no memory controller\); stopping and restarting per its policy$/.test(l))).toBe(true);
    // Said once per service, not once per start.
    expect(events.filter((l) => l.startsWith('hog: limits.cpu is not enforced (tracking: proc'))).toHaveLength(1);
    expect(events.filter((l) => l.startsWith('hog: limits.pids is not enforced'))).toHaveLength(1);
    expect(events.filter((l) => l.startsWith('hog: limits.memory is enforced by tend'))).toHaveLength(1);
    expect(doc.services.find((s) => s.name === 'small')).toMatchObject({ state: 'running', restarts: 0 });
    // tend status -v says how each limit is carried.
    expect((await example.cli(['status', '-v'])).stdout).toContain("limits:\n  memory: tend's own check every 3 s (tracking: proc — tend uses no cgroup)\n  cpu: not enforced (tracking: proc — tend uses no cgroup)\n  pids: not enforced (tracking: proc — tend uses no cgroup)\n");
    // Usage from /proc: the hog's RSS is there (≥ 64 MiB of touched pages).
    const again = await example.waitStatus((d) => (d.services.find((s) => s.name === 'hog')!.memory_bytes ?? 0) > 60 * 1024 * 1024, 'hog usage', 10_000);
    expect(again.services.find((s) => s.name === 'small')!.memory_bytes).toBeGreaterThan(0);
  }, 40_000);
});
