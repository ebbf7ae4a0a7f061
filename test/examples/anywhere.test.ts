// tend runs anywhere a container puts it (issue 7, "Runs anywhere"):
// - under another init (`docker run --init`, compose `init: true`): tini is PID 1 and
//   tend, its child, registers as child subreaper, so a daemon that double-forks out
//   of a service still comes to tend, is attributed to its service and stopped with it;
// - as a random non-root uid with no passwd entry, on a read-only working directory,
//   with /run not writable and a tmpfs /tmp (Kubernetes readOnlyRootFilesystem plus an
//   emptyDir at /tmp): the socket falls back to /tmp/tend-$UID/tend.sock and a client of
//   the same uid finds it with no TEND_SOCKET.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TEND_BIN, canUnshare, childrenOf, tempDir, waitFor, writeManifest } from '../helpers/tend';
import type { StatusDocument } from '../../src/control/api';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

const tini = spawnSync('tini', ['--version'], { encoding: 'utf8' }).status === 0;
if (!tini) console.warn('skipping "under another init": tini is not installed (apt-get install tini)');

interface Launched {
  readonly child: ChildProcess;
  output: string;
  readonly exited: Promise<number | null>;
}

function launch(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = ROOT): Launched {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_EXTRA_CA_CERTS;
  delete childEnv.TEND_SOCKET;
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const child = spawn(argv[0]!, argv.slice(1), { env: childEnv, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const launched: Launched = {
    child,
    output: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { launched.output += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { launched.output += d; });
  return launched;
}

/** argv[] of a process, from /proc; [] once it is gone. */
function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.TEND_SOCKET;
    delete childEnv.NODE_EXTRA_CA_CERTS;
    execFile(file, args, { env: childEnv, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

const LOOP = `trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done`;

describe.skipIf(!canUnshare())('tend runs anywhere', () => {
  it.skipIf(!tini)('under another init (tini as PID 1): a subreaper that adopts, owns and stops escaped daemons', async () => {
    const dir = tempDir('tend-init-');
    const socket = join(dir, 'tend.sock');
    const file = writeManifest(dir, `
services:
  app:
    main: true
    # A daemon that double-forks into its own session, then the app's own loop.
    command: ["sh", "-c", "(setsid sleep 600 &); ${LOOP}"]
`);
    const box = launch(['unshare', '--pid', '--fork', '--mount-proc', '--kill-child', 'tini', '--', process.execPath, TEND_BIN, 'run', '-c', file], { TEND_SOCKET: socket });
    // unshare → tini (PID 1 inside) → tend.
    const tiniPid = await waitFor(() => childrenOf(box.child.pid!)[0], { what: 'tini to start' });
    const tendPid = await waitFor(() => childrenOf(tiniPid)[0], { what: 'tend to start under tini' });
    expect(argvOf(tendPid)).toContain(TEND_BIN);

    // The escaped sleep's parent exited: it was re-parented to tend (the subreaper), not to tini.
    const daemon = await waitFor(() => childrenOf(tendPid).find((pid) => argvOf(pid).join(' ') === 'sleep 600'), {
      what: () => `the escaped daemon to be tend's child; output:\n${box.output}`,
    });
    expect(childrenOf(tiniPid)).toEqual([tendPid]);
    const status = await run(process.execPath, [TEND_BIN, 'status', '--json'], { TEND_SOCKET: socket });
    expect(status.code, status.stderr).toBe(0);
    const app = (JSON.parse(status.stdout) as StatusDocument).services.find((s) => s.name === 'app');
    expect(app?.processes.length).toBe(3); // sh, its sleep, and the escaped daemon
    expect(box.output).toMatch(/subreaper/);

    process.kill(tiniPid, 'SIGTERM'); // as `docker stop` does: tini forwards it to tend
    expect(await box.exited).toBe(0);
    expect(argvOf(daemon)).toEqual([]); // stopped with its service
  });

  it('as uid/gid 12345 without a passwd entry, on a read-only working directory, /run not writable: socket in /tmp/tend-12345', async () => {
    const uid = 12345;
    const dir = tempDir('tend-ro-');
    chmodSync(dir, 0o755);
    writeManifest(dir, `
services:
  app:
    main: true
    command: ["sh", "-c", "${LOOP}"]
  where:
    type: oneshot
    command: ["sh", "-c", "echo \\"socket=$$TEND_SOCKET uid=$$(id -u)\\"; touch ./written 2>/dev/null || echo 'cwd is read-only'"]
    cwd: .
`);
    // In a private mount namespace, like a container with readOnlyRootFilesystem and an
    // emptyDir at /tmp: the manifest directory read-only at /mnt/app, a fresh tmpfs /tmp.
    // tend itself is bind-mounted read-only at /mnt/tend first: the checkout may live under
    // /tmp (CI clones there), which the fresh tmpfs hides.
    const tendBin = '/mnt/tend/bin/tend.cjs';
    const setup = [
      'set -e',
      'mount -t tmpfs -o mode=0755 tmpfs /mnt',
      'mkdir /mnt/app /mnt/tend',
      `mount --bind "${dir}" /mnt/app`,
      'mount -o remount,bind,ro /mnt/app',
      `mount --bind "${ROOT}" /mnt/tend`,
      'mount -o remount,bind,ro /mnt/tend',
      'mount -t tmpfs -o mode=1777 tmpfs /tmp',
      'cd /mnt/app',
      `exec setpriv --reuid=${uid} --regid=${uid} --clear-groups "${process.execPath}" "${tendBin}" run`,
    ].join('\n');
    const box = launch(['unshare', '--mount', '--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', setup], { TEND_SOCKET: undefined, TEND_CONFIG: undefined });
    const tendPid = await waitFor(() => {
      const pid = childrenOf(box.child.pid!)[0];
      return pid !== undefined && argvOf(pid).includes(tendBin) ? pid : undefined;
    }, { what: () => `tend to start; output:\n${box.output}` });

    // A client of the same uid, in the same mount namespace, with no TEND_SOCKET: it finds the fallback.
    const client = (args: string[]) => run('nsenter', ['--target', String(tendPid), '--mount', '--',
      'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, tendBin, ...args]);
    const status = await waitFor(async () => {
      const result = await client(['status', '--json']);
      if (result.code !== 0) return null;
      const doc = JSON.parse(result.stdout) as StatusDocument;
      // The oneshot may still be running at the first answer: wait for it to complete.
      return doc.services.some((s) => s.name === 'where' && s.state === 'completed') ? doc : null;
    }, { what: () => `tend status as uid ${uid}; output:\n${box.output}` });
    expect(status.services.map((s) => [s.name, s.state])).toEqual([['app', 'running'], ['where', 'completed']]);
    expect(box.output).toContain(`socket=/tmp/tend-${uid}/tend.sock uid=${uid}`);
    expect(box.output).toContain('cwd is read-only');
    const dirMode = await run('nsenter', ['--target', String(tendPid), '--mount', '--', 'stat', '-c', '%a %u', `/tmp/tend-${uid}`]);
    expect(dirMode.stdout.trim()).toBe(`700 ${uid}`);

    const down = await client(['shutdown', '--wait']);
    expect(down.code, down.stderr).toBe(0);
    expect(await box.exited).toBe(0);
  });
});
