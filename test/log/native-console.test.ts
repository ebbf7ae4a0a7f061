// The native console reader (native/reader.c) end to end: real tend, real pipes. Its output
// must be byte for byte what the JavaScript router gives (src/log/lines.ts cuts, prefixes,
// the final newline), every line must still reach `tend logs`, log.file and a `log` probe,
// and a console that stalls or goes away must never stall or kill tend.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LineSplitter } from '../../src/log/lines';
import { lineKernel } from '../../native/lines';
import { ROOT, runTendSync, tempDir, tendCommand, waitFor, writeManifest } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

const kernel = lineKernel() as unknown as { readerStart?: unknown } | null;
const native = kernel !== null && typeof kernel.readerStart === 'function';
if (!native) console.warn('skipped: native/build/tend-lines.node has no console reader (not built?)');

const running: ChildProcess[] = [];
afterEach(() => {
  // Each was started in a process group of its own (detached): tend and the shell's pipeline go with it.
  for (const child of running.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** A service writing `text` (a file) to stdout in pieces of `piece` bytes, then exiting. */
function writer(file: string, piece: number, fd = 1, done = ''): string[] {
  const mark = done === '' ? '' : ` fs.writeFileSync(${JSON.stringify(done)}, '');`;
  return [process.execPath, '-e', `const fs = require('fs'); const b = fs.readFileSync(${JSON.stringify(file)}); for (let i = 0; i < b.length; i += ${piece}) fs.writeSync(${fd}, b.subarray(i, i + ${piece}));${mark}`];
}

/** What the JavaScript router makes of `text` behind `prefix`: every piece LineSplitter cuts, prefixed, the last line given its '\n'. */
function expected(text: Buffer, prefix: string): string {
  const splitter = new LineSplitter();
  const blocks = splitter.push(text);
  const last = splitter.flush();
  if (last) blocks.push(last);
  const whole = Buffer.concat(blocks).toString('latin1');
  return whole.split('\n').slice(0, -1).map((line) => `${prefix}${line}\n`).join('');
}

function env(dir: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, TEND_SOCKET: join(dir, 'tend.sock') };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
}

/** tend run with stdout and stderr into files (fds the native thread writes itself). */
function runToFiles(dir: string, manifest: string): { stdout: string; stderr: string; status: number | null } {
  const file = writeManifest(dir, manifest);
  const out = join(dir, 'out');
  const err = join(dir, 'err');
  const argv = tendCommand('run', '-c', file).map((a) => `'${a}'`).join(' ');
  const r = spawnSync('sh', ['-c', `${argv} >'${out}' 2>'${err}' </dev/null`], { env: env(dir), timeout: 60_000 });
  return { stdout: readFileSync(out, 'latin1'), stderr: readFileSync(err, 'latin1'), status: r.status };
}


/** The pid of the service `app` from `tend status --json`. */
function mainPid(statusJson: string): number {
  const app = (JSON.parse(statusJson) as { services: { name: string; pid: number | null }[] }).services.find((s) => s.name === 'app');
  if (!app?.pid) throw new Error(`no pid for app in ${statusJson}`);
  return app.pid;
}

/** Bytes a process has passed to write() so far (/proc/PID/io). */
function wchar(pid: number): number {
  return Number(/wchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

describe.skipIf(!native)('the native console reader', () => {
  ensureBuilt();

  it('gives the console the exact bytes: long, cut, empty, CR and unterminated lines, across reads, for two services at once', () => {
    const dir = tempDir();
    const parts: Buffer[] = [];
    for (let i = 0; i < 3000; i++) parts.push(Buffer.from(`line ${i} ${'x'.repeat(i % 300)}${i % 7 === 0 ? '\r' : ''}\n`));
    parts.push(Buffer.from('\n\n'));
    parts.push(Buffer.alloc(65536, 'a'), Buffer.from('\n')); // exactly MAX_LINE: not cut
    parts.push(Buffer.alloc(65537, 'b'), Buffer.from('\n')); // one byte over: cut
    parts.push(Buffer.alloc(200_000, 'c'), Buffer.from('\n'));
    parts.push(Buffer.alloc(131072, 'd'), Buffer.from('\n')); // two pieces exactly
    parts.push(Buffer.from('é ünïcödé\n'));
    parts.push(Buffer.alloc(70000, 'e')); // unterminated and over-long
    const text = Buffer.concat(parts);
    writeFileSync(join(dir, 'text'), text);
    const other = Buffer.from(Array.from({ length: 2000 }, (_, i) => `other ${i}\n`).join(''));
    writeFileSync(join(dir, 'other'), other);
    // The main service ends once the three writers have written everything (tend then stops the rest).
    const waiter = ['sh', '-c', `while [ $$(ls '${dir}'/done.* 2>/dev/null | wc -l) -lt 3 ]; do sleep 0.02; done`];
    const r = runToFiles(dir, `services:
  main: { main: true, command: ${JSON.stringify(waiter)}, log: { console: none } }
  app: { command: ${JSON.stringify(writer(join(dir, 'text'), 1000, 1, join(dir, 'done.1')))} }
  longer-name: { command: ${JSON.stringify(writer(join(dir, 'other'), 333, 1, join(dir, 'done.2')))} }
  bulk: { command: ${JSON.stringify(writer(join(dir, 'text'), 300_000, 1, join(dir, 'done.3')))}, depends_on: [longer-name] }
`);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').slice(0, -1).map((l) => `${l}\n`);
    expect(lines.every((l) => /^(app|longer-name|bulk) +\| /.test(l))).toBe(true);
    const of = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).join('');
    expect(of('app         | ')).toBe(expected(text, 'app         | '));
    expect(of('bulk        | ')).toBe(expected(text, 'bulk        | '));
    expect(of('longer-name | ')).toBe(expected(other, 'longer-name | '));
  }, 60_000);

  it('sends stderr lines to tend\'s stderr, raw mode unprefixed, and tend\'s own lines stay whole among them', () => {
    const dir = tempDir();
    const text = Buffer.from(Array.from({ length: 5000 }, (_, i) => `err ${i} ${'y'.repeat(i % 97)}\n`).join(''));
    writeFileSync(join(dir, 'text'), text);
    const r = runToFiles(dir, `services:
  app: { main: true, command: ${JSON.stringify(writer(join(dir, 'text'), 4096, 2))} }
`);
    expect(r.status).toBe(0);
    const errLines = r.stderr.split('\n').slice(0, -1);
    // tend's own lines (timestamped) and the service's, each whole.
    expect(errLines.every((l) => /^app \| err \d+ y*$/.test(l) || /^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO|WARN|ERROR|DEBUG) +tend: /.test(l))).toBe(true);
    expect(errLines.filter((l) => l.startsWith('app | ')).map((l) => `${l}\n`).join('')).toBe(expected(text, 'app | '));
    expect(r.stdout).toBe('');
    const raw = runToFiles(tempDir(), `services:
  raw: { main: true, command: ${JSON.stringify(writer(join(dir, 'text'), 5000))}, log: { console: raw } }
`);
    expect(raw.status).toBe(0);
    expect(raw.stdout).toBe(text.toString('latin1'));
  }, 60_000);

  it('keeps what `tend logs` shows, a log.file and a log probe fed while the thread reads', async () => {
    const dir = tempDir();
    const file = writeManifest(dir, `services:
  app:
    main: true
    command: [sh, -c, 'i=0; while [ $$i -lt 3000 ]; do echo "flood $$i"; i=$$((i+1)); done; echo "now ready"; exec sleep 1000']
  probed:
    command: [sh, -c, 'sleep 0.2; echo "booted"; echo "listening"; exec sleep 1000']
    ready: { log: "^listening$$" }
  filed:
    command: [sh, -c, 'i=0; while [ $$i -lt 2000 ]; do echo "to file $$i"; i=$$((i+1)); done; exec sleep 1000']
    log: { file: ${JSON.stringify(join(dir, 'filed.log'))} }
`);
    const child = spawn(tendCommand('run', '-c', file)[0]!, tendCommand('run', '-c', file).slice(1), { env: env(dir), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    running.push(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    await waitFor(() => /probed: ready after/.test(stderr), { what: () => `the log probe to match:\n${stderr}` });
    const cli = (...args: string[]) => runTendSync(args, { env: env(dir) });
    await waitFor(() => cli('logs', 'app', '-n', '3').stdout.includes('now ready'), { what: () => `tend logs app:\n${cli('logs', 'app', '-n', '3').stdout}` });
    const last = cli('logs', 'app', '-n', '3').stdout.trim().split('\n').map((l) => l.replace(/^.*?(flood|now)/, '$1'));
    expect(last).toEqual(['flood 2998', 'flood 2999', 'now ready']);
    const all = cli('logs', 'app').stdout.trim().split('\n');
    expect(all.length).toBe(1000);
    await waitFor(() => readFileSync(join(dir, 'filed.log'), 'utf8').split('\n').length === 2001, { what: 'the log file to have every line' });
    expect(readFileSync(join(dir, 'filed.log'), 'utf8')).toBe(Array.from({ length: 2000 }, (_, i) => `to file ${i}\n`).join(''));
    child.kill('SIGTERM');
  }, 60_000);

  it('`tend logs -f` follows every new line while the thread reads the pipe, and the console keeps them all', async () => {
    const dir = tempDir();
    const file = writeManifest(dir, `services:
  app:
    main: true
    command: [sh, -c, 'i=0; while true; do echo "tick $$i"; i=$$((i+1)); sleep 0.02; done']
`);
    const out = join(dir, 'out');
    const argv = tendCommand('run', '-c', file).map((a) => `'${a}'`).join(' ');
    const tend = spawn('sh', ['-c', `${argv} >'${out}' 2>'${join(dir, 'err')}'`], { env: env(dir), stdio: 'ignore', detached: true });
    running.push(tend);
    await waitFor(() => readFileSync(out, 'utf8').includes('tick 5\n'), { what: 'the first ticks' });
    const followArgv = tendCommand('logs', 'app', '-f');
    const follower = spawn(followArgv[0]!, followArgv.slice(1), { env: env(dir), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.push(follower);
    let followed = '';
    follower.stdout!.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    const ticks = () => [...followed.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    await waitFor(() => ticks().length >= 60, { timeout: 15_000, what: () => `the follower to see new ticks:\n${followed.slice(-500)}` });
    // Consecutive: no line lost between the ring's last ones and the followed ones.
    const seen = ticks();
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBe(seen[i - 1]! + 1);
    process.kill(-follower.pid!, 'SIGKILL');
    const after = Math.max(...seen) + 40;
    await waitFor(() => readFileSync(out, 'utf8').includes(`tick ${after}\n`), { what: 'the console to go on after the follower left' });
    const console = readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').slice(0, after);
    expect(console).toEqual(Array.from({ length: after }, (_, i) => `app | tick ${i}`));
  }, 60_000);

  it('a console that goes away (EPIPE) or stalls never stalls tend: the control socket answers and services run on', async () => {
    const dir = tempDir();
    const file = writeManifest(dir, `services:
  app:
    main: true
    command: [sh, -c, 'i=0; while true; do echo "line $$i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$$((i+1)); done']
`);
    const argv = tendCommand('run', '-c', file).map((a) => `'${a}'`).join(' ');
    // `| head -n 1`: the reader goes away after one line.
    const gone = spawn('sh', ['-c', `${argv} 2>'${join(dir, 'err')}' | head -n 1 >'${join(dir, 'head')}'; sleep 1000`], { env: env(dir), stdio: 'ignore', detached: true });
    running.push(gone);
    const cli = (...args: string[]) => runTendSync(args, { env: env(dir), timeout: 5000 });
    await waitFor(() => readFileSync(join(dir, 'err'), 'utf8').includes('is gone (EPIPE)'), { what: () => `tend to say its stdout closed:\n${readFileSync(join(dir, 'err'), 'utf8')}` });
    const first = cli('status', '--json');
    expect(first.code).toBe(0);
    // The service is not blocked: it keeps writing (its output discarded), a MiB more.
    const app = mainPid(first.stdout);
    const written = wchar(app);
    await waitFor(() => wchar(app) > written + 2 ** 20, { what: 'the service to go on writing after its console went away' });
    expect(cli('status', '--json').code).toBe(0);
    expect(readFileSync(join(dir, 'head'), 'utf8')).toMatch(/^app \| line 0 x+\n$/);
    cli('stop', 'app');
  }, 60_000);

  it('a stalled console: tend answers, its memory stays bounded, and the lines come whole once it reads again', async () => {
    const dir = tempDir();
    const file = writeManifest(dir, `services:
  app:
    main: true
    command: [sh, -c, 'i=0; while [ $$i -lt 200000 ]; do echo "line $$i"; i=$$((i+1)); done']
`);
    const argv = tendCommand('run', '-c', file).map((a) => `'${a}'`).join(' ');
    // The reader sleeps until told, then reads everything.
    const go = join(dir, 'go');
    const stalled = spawn('sh', ['-c', `${argv} 2>'${join(dir, 'err')}' | (while [ ! -f '${go}' ]; do sleep 0.05; done; cat >'${join(dir, 'out')}')`], { env: env(dir), stdio: 'ignore', detached: true });
    running.push(stalled);
    const cli = (...args: string[]) => runTendSync(args, { env: env(dir), timeout: 5000 });
    await waitFor(() => cli('status', '--json').code === 0, { what: 'tend to answer' });
    // The stall is real: the service sleeps in a write to its full pipe.
    const app = mainPid(cli('status', '--json').stdout);
    await waitFor(() => /pipe_write$/.test(readFileSync(`/proc/${app}/wchan`, 'utf8')), { what: 'the service to block on its full pipe' });
    const before = Date.now();
    const status = cli('status', '--json');
    expect(status.code).toBe(0);
    expect(Date.now() - before).toBeLessThan(3000);
    const tendPid = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(file) && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node';
      } catch {
        return false;
      }
    });
    if (tendPid !== undefined) {
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${tendPid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      expect(rss).toBeLessThan(120);
    }
    writeFileSync(go, '');
    const code = await new Promise<number | null>((r) => stalled.on('exit', r));
    expect(code).toBe(0);
    const out = readFileSync(join(dir, 'out'), 'utf8');
    expect(out).toBe(Array.from({ length: 200000 }, (_, i) => `app | line ${i}\n`).join(''));
  }, 90_000);
});

// The JavaScript fallback reads with the same result (the unit tests of src/log/output.ts);
// ROOT is imported for the build helper's sake.
void ROOT;
