// spawnProcess: libtend's spawn, output through pipes, exits from the reaper. Every test runs
// on both paths: direct (libtend's child does the exec helper's steps and execs the command:
// one exec) and helper (TEND_SPAWN_DIRECT=0: every start execs native/build/tend-exec),
// and each checks, through libtend's counters, that it took the path it is named for.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tend';
import { execHelper, spawnProcess, type SpawnSpec } from '../../src/process/spawn';
import { spawnStats } from '../../native/libc';
import { describeExit, exitCodeOf } from '../../src/vocab/exit';

function dupWithoutCloexec(fd: number): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ffi = require('ffi-rs') as typeof import('ffi-rs');
  ffi.open({ library: 'spawn-test-libc', path: '' });
  return ffi.load({ library: 'spawn-test-libc', funcName: 'dup', retType: ffi.DataType.I32, paramsType: [ffi.DataType.I32], paramsValue: [fd] }) as number;
}

const context = { instance: 'test-instance', socket: '/tmp/x.sock' };

function spec(argv: string[], extra: Partial<SpawnSpec> = {}): SpawnSpec {
  return { service: 'svc', argv, env: {}, cwd: null, user: null, group: null, stdin: 'null', output: 'pipe', notifyFd: null, cgroup: null, session: 'new', ...extra };
}

async function run(s: SpawnSpec) {
  const child = spawnProcess(s, context);
  let out = '';
  // exit resolves when the process is reaped, which may be before its output is read.
  const drained = child.stdout === null ? Promise.resolve() : new Promise((r) => child.stdout!.once('close', r));
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr?.resume();
  const status = await child.exit;
  await drained;
  return { status, out, pid: child.pid };
}

const helper = execHelper();
const dir = tempDir();
const script = join(dir, 'noexec.sh');
writeFileSync(script, '#!/bin/sh\necho hi\n');
chmodSync(script, 0o644);
const badInterp = join(dir, 'badinterp.sh');
writeFileSync(badInterp, '#!/nonexistent/interp\n');
chmodSync(badInterp, 0o755);

const CGROUP_MOUNT = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((m) => existsSync(join(m, 'cgroup.subtree_control')));

const noShebang = join(dir, 'no-shebang');
writeFileSync(noShebang, 'echo "run by sh: $0 $1"\n');
chmodSync(noShebang, 0o755);
const pathDirs = [join(dir, 'path-a'), join(dir, 'path-b')];
for (const d of pathDirs) mkdirSync(d);
writeFileSync(join(pathDirs[0]!, 'twice'), '#!/bin/sh\necho a\n');
chmodSync(join(pathDirs[0]!, 'twice'), 0o644); // found first, cannot run: execvp goes on
writeFileSync(join(pathDirs[1]!, 'twice'), '#!/bin/sh\necho b\n');
chmodSync(join(pathDirs[1]!, 'twice'), 0o755);
writeFileSync(join(pathDirs[0]!, 'only-here'), '#!/bin/sh\necho x\n');
chmodSync(join(pathDirs[0]!, 'only-here'), 0o644);

for (const mode of ['direct', 'helper'] as const) {
  describe(`spawnProcess (${mode})`, () => {
    if (helper === null) throw new Error('native/build/tend-exec is not built: run node native/build.mjs');
    const use = (): void => {};
    let before = spawnStats();
    beforeEach(() => {
      process.env.TEND_SPAWN_DIRECT = mode === 'direct' ? '1' : '0';
      before = spawnStats();
    });
    // Each test's starts took this describe's path, but those that need the helper's user
    // lookup (NSS) always take the helper: the user: test's, and one unknown user.
    afterEach((context) => {
      const after = spawnStats();
      const took = { direct: after.direct - before.direct, viaHelper: after.viaHelper - before.viaHelper };
      const name = context.task.name;
      if (mode === 'helper' || name.startsWith('user:')) expect({ direct: took.direct, viaHelper: took.viaHelper > 0 }).toEqual({ direct: 0, viaHelper: true });
      else expect({ direct: took.direct > 0, viaHelper: took.viaHelper }).toEqual({ direct: true, viaHelper: name.includes('unknown user') ? 1 : 0 });
      delete process.env.TEND_SPAWN_DIRECT;
    });

    test('exit codes, signal deaths and markers', async () => {
      use();
      const results = await Promise.all([0, 1, 3, 126, 127, 255].map((n) => run(spec(['sh', '-c', `exit ${n}`]))));
      expect(results.map((r) => exitCodeOf(r.status))).toEqual([0, 1, 3, 126, 127, 255]);
      expect(results[4]!.status).toEqual({ kind: 'exited', code: 127 }); // the service's own 127 is not a failure
      const killed = await run(spec(['sh', '-c', 'kill -9 $$']));
      expect(killed.status).toEqual({ kind: 'signaled', signal: 9 });
      expect(describeExit(killed.status)).toBe('killed by SIGKILL');
      expect(exitCodeOf(killed.status)).toBe(137);
      const env = await run(spec(['sh', '-c', 'echo "$TEND_SERVICE $TEND_INSTANCE $TEND_SOCKET $FOO"'], { env: { FOO: 'bar' } }));
      expect(env.out).toBe('svc test-instance /tmp/x.sock bar\n');
    });

    test('all 256 exit codes come back exactly', async () => {
      use();
      const codes: number[] = [];
      for (let start = 0; start < 256; start += 32) {
        const batch = Array.from({ length: 32 }, (_, i) => start + i);
        codes.push(...await Promise.all(batch.map(async (n) => exitCodeOf((await run(spec(['sh', '-c', `exit ${n}`], { output: 'null' }))).status))));
      }
      expect(codes).toEqual(Array.from({ length: 256 }, (_, i) => i));
    });

    test('missing command is 127, non-executable 126, missing interpreter 127, with a precise reason (and an unknown user)', async () => {
      use();
      const missing = await run(spec(['no-such-command-xyz']));
      expect(missing.status).toEqual({ kind: 'failed', code: 127, reason: 'command not found: no-such-command-xyz' });
      const noexec = await run(spec([script]));
      expect(noexec.status).toEqual({ kind: 'failed', code: 126, reason: `permission denied: ${script}` });
      const interp = await run(spec([badInterp]));
      expect(exitCodeOf(interp.status)).toBe(127);
      expect(describeExit(interp.status)).toMatch(/interpreter/);
      const cwd = await run(spec(['true'], { cwd: join(dir, 'nope') }));
      expect(cwd.status).toMatchObject({ kind: 'failed', code: 126 });
      expect(describeExit(cwd.status)).toMatch(/cannot change directory to .*nope: no such file/);
      const user = await run(spec(['true'], { user: 'no-such-user-xyz' }));
      expect(user.status).toEqual({ kind: 'failed', code: 126, reason: 'unknown user: no-such-user-xyz' });
    });

    test('new session: pid = pgid = sid, default signal dispositions, empty mask, cwd', async () => {
      use();
      // Read by the exec'd process itself: a shell would show its own mask (dash blocks
      // signals while it waits for a child).
      const ids = await run(spec(['cut', '-d', ' ', '-f5,6', '/proc/self/stat']));
      expect(ids.out.trim()).toBe(`${ids.pid} ${ids.pid}`);
      // tend handles signals (Node's own, and this one) and ignores SIGPIPE: none of it
      // reaches the service.
      const handler = (): void => {};
      process.on('SIGUSR2', handler);
      try {
        // cat: grep catches SIGSEGV itself.
        const sig = await run(spec(['cat', '/proc/self/status']));
        expect(sig.out.split('\n').filter((line) => /^Sig(Blk|Ign|Cgt):/.test(line)).join('\n')).toMatch(/^SigBlk:\s+0+\nSigIgn:\s+0+\nSigCgt:\s+0+$/);
      } finally {
        process.off('SIGUSR2', handler);
      }
      const pwd = await run(spec(['pwd'], { cwd: dir }));
      expect(pwd.out).toBe(`${dir}\n`);
    });

    test('notify fd: the child gets a pipe on the fd it asked for', async () => {
      use();
      const child = spawnProcess(spec(['sh', '-c', 'echo ready >&5; exit 0'], { notifyFd: 5 }), context);
      let text = '';
      const closed = new Promise((r) => child.notify!.once('close', r));
      child.notify!.setEncoding('utf8').on('data', (d: string) => { text += d; });
      await child.exit;
      await closed;
      expect(text).toBe('ready\n');
    });

    test.skipIf(process.getuid!() !== 0 || CGROUP_MOUNT === undefined)('cgroup leaf is joined before the first instruction', async () => {
      use();
      const leaf = join(CGROUP_MOUNT!, `tend-test-${process.pid}-${mode}`);
      mkdirSync(leaf);
      try {
        const r = await run(spec(['sh', '-c', 'grep ^0:: /proc/$$/cgroup'], { cgroup: leaf }));
        expect(r.out.trim()).toBe(`0::/${leaf.slice(CGROUP_MOUNT!.length + 1)}`);
        // tend itself is back where it was.
        expect(readFileSync('/proc/self/cgroup', 'utf8')).not.toContain(`tend-test-${process.pid}`);
      } finally {
        rmdirSync(leaf);
      }
    });

    test.skipIf(process.getuid!() !== 0)('user: uid, gid, HOME/USER from passwd; env overrides HOME', async () => {
      use();
      const r = await run(spec(['sh', '-c', 'echo "$(id -u) $(id -g) $HOME $USER $LOGNAME"'], { user: 'nobody' }));
      expect(r.out).toBe('65534 65534 /nonexistent nobody nobody\n');
      const o = await run(spec(['sh', '-c', 'echo "$HOME"'], { user: 'nobody', env: { HOME: '/srv' } }));
      expect(o.out).toBe('/srv\n');
      const n = await run(spec(['sh', '-c', 'echo "$(id -u)"'], { user: 4242 }));
      expect(n.out).toBe('4242\n');
    });

    test('output is a pipe, so /dev/stdout, /dev/stderr and /proc/self/fd/2 can be opened', async () => {
      const r = await run(spec(['sh', '-c', 'stat -L -c %F /proc/self/fd/1; echo to-stderr > /dev/stderr && echo opened /dev/stderr; echo x > /proc/self/fd/2 && echo opened fd 2']));
      expect(r.out).toBe('fifo\nopened /dev/stderr\nopened fd 2\n');
    });

    test('execvp as glibc does it: PATH order, a candidate that cannot run is passed over, a file without #! runs under sh', async () => {
      const path = `${pathDirs.join(':')}:/usr/bin:/bin`;
      expect((await run(spec(['twice'], { env: { PATH: path } }))).out).toBe('b\n');
      // Found only where it cannot run: permission denied (126), not "not found".
      expect((await run(spec(['only-here'], { env: { PATH: path } }))).status).toEqual({ kind: 'failed', code: 126, reason: 'permission denied: only-here' });
      expect((await run(spec([noShebang, 'arg']))).out).toBe(`run by sh: ${noShebang} arg\n`);
      expect((await run(spec(['no-shebang', 'arg'], { env: { PATH: `${dir}:/usr/bin:/bin` } }))).out).toBe(`run by sh: ${join(dir, 'no-shebang')} arg\n`);
      // The working directory is the service's when the path is relative.
      expect((await run(spec(['./no-shebang'], { cwd: dir }))).out).toBe('run by sh: ./no-shebang \n');
    });

    test('pid variables name the service itself; listening sockets land on 3, 4; umask, rlimits', async () => {
      const [read, write] = [openSync('/dev/null', 'r'), openSync('/dev/zero', 'r')];
      try {
        const r = await run(spec(['sh', '-c', 'echo "$LISTEN_PID $WATCHDOG_PID $$ $OTHER"; readlink /proc/self/fd/3 /proc/self/fd/4; umask; ulimit -n; ulimit -c'], {
          env: { WATCHDOG_PID: '1', OTHER: 'kept' }, pidVariables: ['LISTEN_PID', 'WATCHDOG_PID'], listenFds: [read, write], umask: 0o027, nofile: 4096, core: 0,
        }));
        expect(r.out).toBe(`${r.pid} ${r.pid} ${r.pid} kept\n/dev/null\n/dev/zero\n0027\n4096\n0\n`);
      } finally {
        closeSync(read);
        closeSync(write);
      }
    });

    test("no fd of tend's is inherited beyond stdio and the pipes it means to pass", async () => {
      // A library of tend's that opens an fd without O_CLOEXEC must not leak it to services.
      // dup(2) makes a copy without close-on-exec, as a careless library would.
      const original = openSync('/dev/null', 'r');
      const leaked = dupWithoutCloexec(original);
      closeSync(original);
      try {
        expect(leaked).toBeGreaterThan(2);
        const r = await run(spec(['sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "'], { notifyFd: 5 }));
        // 0-2 stdio, 3 the directory ls reads, 5 the readiness pipe asked for.
        expect(r.out.trim()).toBe('0 1 2 3 5');
      } finally {
        closeSync(leaked);
      }
    });

    test('regression (peer-init bug 2): the session or process group exists when spawnProcess returns', async () => {
      // Read at once, before the loop turns: the helper has not run a single line of its own.
      for (const session of ['new', 'foreground'] as const) {
        const child = spawnProcess(spec(['sleep', '30'], { session, output: 'null' }), context);
        const [, , , pgrp, sid] = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, ') ').split(' ');
        expect(Number(pgrp)).toBe(child.pid);
        if (session === 'new') expect(Number(sid)).toBe(child.pid);
        else expect(Number(sid)).not.toBe(child.pid);
        expect(process.kill(-child.pid, 'SIGTERM')).toBe(true);
        expect(await child.exit).toEqual({ kind: 'signaled', signal: 15 });
      }
    });

    test('tend\'s own NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* never reach a service, unless its spec sets them', async () => {
      const saved = { NOTIFY_SOCKET: process.env.NOTIFY_SOCKET, LISTEN_FDS: process.env.LISTEN_FDS };
      process.env.NOTIFY_SOCKET = '/run/systemd/notify';
      process.env.LISTEN_FDS = '2';
      try {
        const show = ['sh', '-c', 'echo "${NOTIFY_SOCKET:-none} ${LISTEN_FDS:-none}"'];
        expect((await run(spec(show))).out).toBe('none none\n');
        expect((await run(spec(show, { env: { NOTIFY_SOCKET: '@tend-notify-x' } }))).out).toBe('@tend-notify-x none\n');
        // Tini mode hands CMD the environment as it came, as tini does.
        const tini = spawnProcess(spec(show, { session: 'foreground' }), { ...context, markers: false });
        let out = '';
        const drained = new Promise((r) => tini.stdout!.once('close', r));
        tini.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
        await tini.exit;
        await drained;
        expect(out).toBe('/run/systemd/notify 2\n');
      } finally {
        for (const [key, value] of Object.entries(saved)) if (value === undefined) delete process.env[key]; else process.env[key] = value;
      }
    });
  });
}
