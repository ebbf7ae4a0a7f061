// Driver for proc-scan.test.ts, run as PID 1 of a new PID namespace: a process is seen by
// a ProcScanner, ends, and its pid is handed to a new process (ns_last_pid); the next
// scan must report the new process, not the cached entry of the old one.
import { spawn } from 'node:child_process';
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
  // cat blocks on its stdin; Node's 'spawn' event comes once execve has succeeded.
  const second = spawn('cat', [], { stdio: ['pipe', 'ignore', 'ignore'] });
  await new Promise((resolve, reject) => second.once('spawn', resolve).once('error', reject));
  const after = scanner.scan(() => false).find((e) => e.pid === pid) ?? null;
  second.kill('SIGKILL');
  process.stdout.write(`${JSON.stringify({ pid, reused: second.pid === pid, before, after })}\n`);
  process.exit(0);
}
void main();
