// Tracking scan with 5,000 processes: tend's full /proc scan with attribution (proc
// mode, the fallback where no writable cgroup v2 exists), in a PID namespace holding the
// driver, one service's 5,000 processes and nothing else. Samples: warm scans; the cold
// first scan (reads each new process's environ markers once) is reported in the notes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { CACHE, cleanEnv, ROOT, workDir } from '../lib/common.mjs';
import { metric, notApplicable } from '../lib/figure.mjs';

export const id = 'tracking';

export async function run(ctx) {
  const count = ctx.smoke ? 200 : 5000;
  const m = metric({ id, title: `tracking scan with ${count} processes`, goal: '≤ 50 ms, not on the hot path', unit: 'ms', holds: (x) => x <= 50 });
  // Laid out like the package (dist/ beside native/), so that native/libc.ts finds
  // native/build/libtend.so as it does for tend itself.
  const driver = join(CACHE, 'dist', 'scan-driver.cjs');
  mkdirSync(join(CACHE, 'dist'), { recursive: true });
  if (!existsSync(join(CACHE, 'native'))) symlinkSync(join(ROOT, 'native'), join(CACHE, 'native'));
  buildSync({ entryPoints: [join(ROOT, 'bench', 'fixtures', 'scan-driver.ts')], outfile: driver, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['ffi-rs'], logLevel: 'error' });
  const dir = workDir(ctx, 'tracking');
  const argv = [...(ctx.unshare ? ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'] : []), process.execPath, driver, ctx.tools, String(count), String(ctx.runs), join(dir, 'up')];
  const r = spawnSync(argv[0], argv.slice(1), { env: cleanEnv(), encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) {
    m.results['tend run'] = { error: `driver exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}` };
  } else {
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    if (out.owned !== count) m.notes.push(`**attribution**: the scan owned ${out.owned} of ${count} processes to the service.`);
    m.results['tend run'] = { samples: out.warm };
    m.results['raw /proc scan (scanProcs)'] = { samples: out.raw };
    m.notes.push(`${out.procs} processes in the namespace; ${out.owned} attributed to the service. Cold first scan (reads environ markers of unknown processes once): ${out.cold.toFixed(1)} ms.`);
    m.notes.push('Warm scans read /proc/PID/stat only for processes not yet attributed (src/process/proc.ts ProcScanner, native/libtend.c tend_proc_list: a /proc/PID inode that has not changed is the same process). The raw scan reads all of them, as the cold scan does.');
    m.notes.push('Where it runs: in proc mode the reaper schedules a background scan at most once a second (an unref\'d timer after reaper passes, src/process/tracking.ts scheduleRefresh), never inside the reap itself; stops and `status` call it on demand. With a cgroup v2 leaf (the default here), ownership comes from cgroup.procs and no full scan is made.');
  }
  notApplicable(m, ['tini', 'dumb-init', 'supervisord'], 'no tracking of escaped descendants');
  return [m];
}
