// Helpers shared by the fault, fuzz and security suites: a raw control-socket request,
// tend started under an arbitrary wrapper (unshare --mount, ulimit), and /proc scans of
// what tend leaves behind.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, TEND_BIN, tempDir, waitFor, writeManifest, lines, type RunningTend } from '../helpers/tend';

export const FIXTURES = join(ROOT, 'test', 'fixtures', 'bin');

export interface Reply {
  id: unknown;
  ok: boolean;
  result?: any;
  error?: { code: string; message: string; details?: unknown };
}

/** One request on a fresh connection; rejects after `timeout` ms without a reply. */
export function request(socket: string, cmd: string, args: unknown = {}, timeout = 3000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buffer = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply to ${cmd} on ${socket} within ${timeout} ms`));
    }, timeout);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify({ id: 1, cmd, args })}\n`));
    s.on('data', (d: string) => {
      buffer += d;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.destroy();
      resolve(JSON.parse(buffer.slice(0, nl)) as Reply);
    });
    s.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The status document, or throws. */
export async function status(socket: string, timeout = 3000): Promise<{ services: any[]; orphans: number[]; shutting_down: boolean }> {
  const reply = await request(socket, 'status', {}, timeout);
  if (!reply.ok) throw new Error(`status failed: ${JSON.stringify(reply.error)}`);
  return reply.result;
}

export const stateOf = async (socket: string, name: string): Promise<string | undefined> =>
  (await status(socket)).services.find((s) => s.name === name)?.state;

let sockets = 0;
export function socketPath(): string {
  return join(tmpdir(), `tend-fault-${process.pid}-${sockets++}.sock`);
}

/** A test directory with an events file and a manifest. */
export function scenario(manifest: string) {
  const dir = tempDir('tend-fault-');
  const events = join(dir, 'events');
  writeFileSync(events, '');
  const file = writeManifest(dir, manifest);
  const socket = socketPath();
  const env: NodeJS.ProcessEnv = { EVENTS: events, DIR: dir, PATH: `${FIXTURES}:${process.env.PATH ?? ''}`, TEND_SOCKET: socket };
  return { dir, file, socket, env, events: () => lines(events) };
}

/**
 * Starts `argv` (which must end by exec'ing tend) with the rig's conventions: output
 * captured, waitOutput, exited. `tendPid` finds the node process running bin/tend.cjs
 * among the wrapper's descendants.
 */
export function launch(argv: readonly string[], env: NodeJS.ProcessEnv, stdio: 'pipe' | 'ignore' = 'pipe'): RunningTend {
  const full: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete full.NODE_EXTRA_CA_CERTS;
  const child = spawn(argv[0]!, argv.slice(1), { env: full, cwd: ROOT, stdio: ['ignore', stdio, 'pipe'] });
  const running = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal }))),
    waitOutput: (pattern: RegExp | string, timeout = 10_000) =>
      waitFor(() => {
        const text = running.stdout + running.stderr;
        return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
      }, { timeout, what: () => `output ${String(pattern)}\n--- stdout:\n${running.stdout}\n--- stderr:\n${running.stderr}` }).then(() => undefined),
  } as RunningTend;
  running.tendPid = () => waitFor(() => findTend(child.pid!), { what: 'tend to start' });
  running.signal = async (signal) => {
    process.kill(await running.tendPid(), signal);
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { running.stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { running.stderr += d; });
  return running;
}

/** tend's own process: the first descendant of `top` (or top itself) whose cmdline runs bin/tend.cjs. */
export function findTend(top: number): number | undefined {
  for (const pid of [top, ...descendants(top)]) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmdline[0] === process.execPath && cmdline.includes(TEND_BIN)) return pid;
    } catch {
      // gone
    }
  }
  return undefined;
}

interface ProcEntry { pid: number; ppid: number; state: string }

function procTable(): ProcEntry[] {
  const table: ProcEntry[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.push({ pid: Number(entry), ppid: Number(fields[1]), state: fields[0]! });
    } catch {
      // gone
    }
  }
  return table;
}

/** Every descendant of `top` (host pids), breadth first. */
export function descendants(top: number, table = procTable()): number[] {
  const byParent = new Map<number, number[]>();
  for (const p of table) {
    if (!byParent.has(p.ppid)) byParent.set(p.ppid, []);
    byParent.get(p.ppid)!.push(p.pid);
  }
  const out: number[] = [];
  const queue = [top];
  while (queue.length > 0) {
    for (const kid of byParent.get(queue.shift()!) ?? []) {
      out.push(kid);
      queue.push(kid);
    }
  }
  return out;
}

/** Zombies among the descendants of `top`. */
export function zombiesUnder(top: number): number[] {
  const table = procTable();
  const state = new Map(table.map((p) => [p.pid, p.state]));
  return descendants(top, table).filter((pid) => state.get(pid) === 'Z');
}

/** The host pid whose innermost namespace pid is `nsPid`, among the descendants of `top`. */
export function hostPid(top: number, nsPid: number): number | undefined {
  for (const pid of descendants(top)) {
    try {
      const ns = /NSpid:\s+([\d\s]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]!.trim().split(/\s+/).map(Number) ?? [];
      if (ns[ns.length - 1] === nsPid) return pid;
    } catch {
      // gone
    }
  }
  return undefined;
}

export const nodeTend = (...args: string[]): string[] => [process.execPath, TEND_BIN, ...args];

/**
 * afterEach: stops every tend still running — SIGTERM first, so that its services go
 * with it (a SIGKILLed tend that is not PID 1 leaves them behind), SIGKILL after 3 s.
 */
export async function stopAll(list: RunningTend[]): Promise<void> {
  await Promise.all(list.splice(0).map(async (tend) => {
    if (tend.child.exitCode !== null || tend.child.signalCode !== null) return;
    try {
      const pid = findTend(tend.child.pid!);
      if (pid !== undefined) process.kill(pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
    const done = await Promise.race([tend.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    if (!done) tend.child.kill('SIGKILL');
  }));
}
