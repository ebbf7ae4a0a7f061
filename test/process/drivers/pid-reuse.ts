// Driver for proc-scan.test.ts, run as PID 1 of a new PID namespace: a process is seen by
// a ProcScanner, ends, and its pid is handed to a new process (ns_last_pid); the next
// scan must report the new process, not the cached entry of the old one.
import { spawnSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ProcScanner } from '../../../src/process/proc';

async function main(): Promise<void> {
  const scanner = new ProcScanner();
  const first = spawn('sleep', ['300'], { stdio: 'ignore' });
  const pid = first.pid!;
  const before = scanner.scan(() => false).find((e) => e.pid === pid) ?? null;
  const exited = new Promise((resolve) => first.once('exit', resolve));
  first.kill('SIGKILL');
  await exited;
  writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
  const second = spawn('sh', ['-c', 'exec cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
  // cat blocks on its stdin; exec has happened once /proc shows its comm.
  for (let i = 0; i < 200 && spawnSync('cat', [`/proc/${second.pid}/comm`], { encoding: 'utf8' }).stdout.trim() !== 'cat'; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const after = scanner.scan(() => false).find((e) => e.pid === pid) ?? null;
  second.kill('SIGKILL');
  process.stdout.write(`${JSON.stringify({ pid, reused: second.pid === pid, before, after })}\n`);
  process.exit(0);
}
void main();
