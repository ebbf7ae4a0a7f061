// Idle RSS of the init itself (VmRSS of its own process, services not counted) with 10
// services (`sleep infinity`) after 10 s. Every run of every subject is started at once
// and read after the same 10 s. tini, dumb-init and tend -- run one command: they get one
// `sleep infinity` (their RSS is what a single-command init costs).
import { cpuTicks, CLK_TCK, launch, procStatus, sleep, workDir } from '../lib/common.mjs';
import { metric, notApplicable } from '../lib/figure.mjs';
import { measureIdle } from './idle-cpu.mjs';

export const id = 'idle-rss';

export async function run(ctx) {
  const services = ctx.smoke ? 2 : 10;
  const seconds = ctx.smoke ? 1 : 10;
  const m = metric({ id, title: `idle RSS, ${services} services, after ${seconds} s`, goal: '≤ 55 MB (read as MiB)', unit: 'MiB', holds: (x) => x <= 55 });
  await measureIdle(ctx, m, { services, seconds, read: (pid) => procStatus(pid, 'VmRSS') / 1024 });
  m.notes.push('MB here is MiB (VmRSS / 1024) of the init process alone. tini, dumb-init and tend -- supervise one `sleep infinity` (they cannot run 10 services).');
  return [m];
}
