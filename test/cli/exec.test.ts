// `tend exec` end to end, tend as PID 1 and the client entering its namespaces as
// `docker exec` does (nsenter --pid --mount): CMD runs as the service's processes run
// (user, groups, cwd, environment with env_file, env and a secret, limits), belongs to the
// service (listed by `tend status`, stopped with it — cgroup and proc tracking), runs
// interactively under a pseudo-terminal with job control, and exits with CMD's status; a
// read-only peer, an unknown or stopped service and a missing command are refused clearly.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canUnshare, startTend, tempDir, tendCommand, waitFor, writeManifest } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';
import { killLeftovers, startManifest, type Example } from '../examples/helpers';

afterEach(killLeftovers);
ensureBuilt();

const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
if (!hasSetpriv) console.warn('skipping tend exec as uid 65534: no setpriv (util-linux)');
const SERVICE_VIEW = `{ id -u; id -G; pwd; ulimit -n; umask; env | sort; }`;

interface Setup {
  readonly pid1: boolean;
  readonly dir: string;
  readonly work: string;
  readonly tend: Example;
}

async function setup(tracking: 'auto' | 'proc', pid1 = true): Promise<Setup> {
  const dir = tempDir('tend-exec-');
  const work = join(dir, 'work');
  mkdirSync(work);
  chmodSync(work, 0o777);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'svc.env'), 'FROM_ENV_FILE=yes\n');
  writeFileSync(join(dir, 'secret'), 'sekrit-value-42\n');
  const file = writeManifest(dir, `
settings:
  tracking: ${tracking}
  socket_allow: [{ user: nobody, access: read }]
services:
  app: { main: true, command: ["sleep", "600"] }
  svc:
    user: nobody
    cwd: work
    env_file: svc.env
    env: { GREETING: hello, SECRET: { file: secret } }
    limits: { nofile: 1000 }
    umask: "0027"
    command: ["sh", "-c", "${SERVICE_VIEW} > service.view; trap 'exit 0' TERM; while :; do sleep 600 & wait $$!; done"]
  later:
    command: ["sleep", "600"]
    autostart: false
`);
  const tend = startManifest(file, {}, { pid1 });
  await tend.waitStatus((d) => d.services.find((s) => s.name === 'svc')?.state === 'running' && existsSync(join(work, 'service.view')), 'svc running');
  chmodSync(tend.socket.replace(/\/tend\.sock$/, ''), 0o755);
  return { pid1, dir, work, tend };
}

/** `tend exec ...` inside tend's PID and mount namespaces, as `docker exec` runs it (tend as PID 1). */
async function execArgv(setup: Setup, ...args: string[]): Promise<string[]> {
  if (!setup.pid1) return tendCommand('exec', '--socket', setup.tend.socket, ...args);
  const pid = await setup.tend.tend.tendPid();
  return ['nsenter', '--target', String(pid), '--pid', '--mount', '--', ...tendCommand('exec', '--socket', setup.tend.socket, ...args)];
}

async function execSync(setup: Setup, ...args: string[]) {
  const argv = await execArgv(setup, ...args);
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const svcOf = async (setup: Setup) => (await setup.tend.status()).services.find((s) => s.name === 'svc')!;

describe.skipIf(!canUnshare())('tend exec', () => {
  it('runs CMD as the service runs: user, groups, cwd, limits, environment (env_file, env, secret, markers)', async () => {
    const s = await setup('auto');
    const result = await execSync(s, 'svc', '--', 'sh', '-c', SERVICE_VIEW);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const service = readFileSync(join(s.work, 'service.view'), 'utf8');
    expect(result.stdout).toBe(service);
    expect(result.stdout).toMatch(/^65534\n/);
    expect(result.stdout).toContain(`\n${s.work}\n1000\n0027\n`);
    for (const line of ['FROM_ENV_FILE=yes', 'GREETING=hello', 'SECRET=sekrit-value-42', 'TEND_SERVICE=svc', 'USER=nobody']) expect(result.stdout).toContain(`\n${line}\n`);
    expect(result.stdout).toMatch(/\nTEND_INSTANCE=\w+\n/);
    // The secret went to this control peer only: tend's log says who asked, never the value.
    await s.tend.tend.waitOutput(/svc: tend exec by pid \d+ \(uid 0\)/);
    expect(s.tend.tend.stdout + s.tend.tend.stderr).not.toContain('sekrit');
  });

  it('-u, -w and -e, as docker exec has them: another user, another directory (relative: from the service\'s), more environment', async () => {
    const s = await setup('auto');
    const view = 'id -u; id -g; pwd; echo "$EXTRA|$PASSED|$UNSET|$GREETING|$USER"';
    const argv = await execArgv(s, '-u', 'root', '-w', '..', '-e', 'EXTRA=a=b', '--env=PASSED', '-e', 'UNSET', '--env', 'GREETING=over', 'svc', '--', 'sh', '-c', view);
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PASSED: 'from-caller', UNSET: undefined } });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`0\n0\n${s.dir}\na=b|from-caller||over|root\n`);
    // USER:GROUP by ids, an absolute directory.
    const ids = await execSync(s, '--user=65534:0', '-w', '/tmp', 'svc', 'sh', '-c', 'id -u; id -g; pwd');
    expect(ids).toMatchObject({ code: 0, stdout: '65534\n0\n/tmp\n', stderr: '' });
    const bad = await execSync(s, '-u', 'a:b:c', 'svc', 'true');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/exec: --user "a:b:c": expected USER or USER:GROUP/);
    const badEnv = await execSync(s, '-e', '=x', 'svc', 'true');
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/exec: --env "=x": expected KEY=VALUE/);
  });

  it('exits with CMD\'s status (128+N for a signal); a missing command is 127 with a message; refusals say why', async () => {
    const s = await setup('auto');
    expect((await execSync(s, 'svc', 'sh', '-c', 'exit 7')).code).toBe(7);
    expect((await execSync(s, 'svc', 'sh', '-c', 'kill -TERM $$')).code).toBe(143);
    const missing = await execSync(s, 'svc', '--', 'no-such-command', '--flag');
    expect(missing).toMatchObject({ code: 127, stderr: 'tend: exec: command not found: no-such-command\n' });
    const unknown = await execSync(s, 'nope', 'true');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^tend: exec: unknown service "nope" \(known: app, svc, later\)\n$/);
    const stopped = await execSync(s, 'later', 'true');
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toBe('tend: exec: later is stopped: tend exec joins a running service; start it first (tend start later)\n');
  });

  it.skipIf(!hasSetpriv)('a read-only peer is refused with the reason', async () => {
    const s = await setup('auto');
    const argv = await execArgv(s, 'svc', 'id');
    const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv.slice(argv.indexOf('--') + 1)], { encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^tend: exec: uid 65534 \(nobody\) pid \d+ has read access only \(socket_allow user nobody\); "exec-plan" needs control access\n$/);
    expect(result.stdout).toBe('');
  });

  it.skipIf(!hasSetpriv)('a non-root caller with control access runs CMD as itself only where the service runs as that uid', async () => {
    const dir = tempDir('tend-exec-');
    chmodSync(dir, 0o755);
    const file = writeManifest(dir, `
settings:
  tracking: proc
  socket_allow: [{ user: nobody, access: control }]
services:
  app: { main: true, command: ["sleep", "600"] }
  mine: { user: nobody, command: ["sleep", "600"] }
`);
    const tend = startManifest(file);
    await tend.waitStatus((d) => d.services.every((x) => x.state === 'running'), 'both running');
    chmodSync(tend.socket.replace(/\/tend\.sock$/, ''), 0o755);
    const asNobody = (...args: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...tendCommand('exec', '--socket', tend.socket, ...args)], { encoding: 'utf8', timeout: 20_000 });
    const own = asNobody('mine', 'sh', '-c', 'id -u; echo "$TEND_SERVICE"');
    expect(own.stderr).toBe('');
    expect(own.stdout).toBe('65534\nmine\n');
    const other = asNobody('app', 'id', '-u');
    expect(other.status).toBe(1);
    expect(other.stderr).toBe('tend: exec: app runs as uid 0 (tend\'s own); you are uid 65534, and only root can switch to it\n');
    expect(other.stdout).toBe('');
    const asRoot = asNobody('-u', 'root', 'mine', 'id', '-u');
    expect(asRoot.status).toBe(1);
    expect(asRoot.stderr).toBe('tend: exec: -u root: only root can switch users; you are uid 65534\n');
  });

  it('tini mode has no services to join: it says so', async () => {
    const socket = join(tempDir('tend-sock-'), 'tend.sock');
    const tini = startTend(['--socket', socket, '--', 'sleep', '600'], { pid1: true });
    await waitFor(() => existsSync(socket), { what: 'the tini-mode socket' });
    const result = spawnSync(tendCommand('exec', '--socket', socket, 'main', 'true')[0]!, tendCommand('exec', '--socket', socket, 'main', 'true').slice(1), { encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('tend: exec: tend exec needs services from a manifest; this tend runs a single command (tini mode)\n');
    await tini.signal('SIGTERM');
    await tini.exited;
  });

  for (const tracking of ['auto', 'proc'] as const) {
    it(`the new process is the service's: listed by tend status, stopped with it (tracking: ${tracking})`, async () => {
      const s = await setup(tracking);
      const before = (await svcOf(s)).processes;
      const argv = await execArgv(s, 'svc', 'sh', '-c', 'echo $$ > exec.pid; exec sleep 300');
      const client = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => client.on('exit', (code) => resolve(code)));
      const pidFile = join(s.work, 'exec.pid');
      await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'), { what: 'the exec\'d command to start' });
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const listed = await waitFor(async () => {
        const svc = await svcOf(s);
        return svc.processes.includes(pid) ? svc : null;
      }, { what: `pid ${pid} in svc's processes`, interval: 50 });
      expect(listed.processes.length).toBe(before.length + 1);
      expect(listed.pid).toBe(before[0]);
      expect((await s.tend.cli(['status', '-v', 'svc'])).stdout).toContain(`    ${pid}`);
      const stop = await s.tend.cli(['stop', 'svc']);
      expect(stop.code).toBe(0);
      expect(await exited).toBe(143);
      expect((await svcOf(s)).processes).toEqual([]);
    });
  }
});

/**
 * Drives a pseudo-terminal (python3's pty): runs `argv` on it and plays `script` — a line
 * to type, `^C`/`^Z` for the control characters, `wait:TEXT` until the screen shows TEXT (after what the
 * last wait found), `proc:PATTERN` until a process whose command line matches runs (not stopped)
 * in the foreground of its terminal,
 * `stopped:PATTERN` until one is stopped. Prints the screen and
 * the exit status as JSON.
 */
const DRIVER = String.raw`
import json, os, pty, re, select, sys, time
argv, script = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
screen, status, failed, mark = b'', None, None, 0
def pump(t):
    global screen
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try: screen += os.read(fd, 65536)
        except OSError: time.sleep(t)
def running(pattern, states='RSD'):
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if re.search(pattern, open('/proc/%s/cmdline' % p, 'rb').read().replace(b'\0', b' ').decode()):
                    state, _, pgrp, _, _, tpgid = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[:6]
                    # A running job counts once its terminal is its own: a ^C or ^Z typed
                    # before the shell has handed it the terminal would reach the shell.
                    if state in states and (state == 'T' or pgrp == tpgid): return True
            except OSError: pass
    return False
for step in script:
    deadline = time.time() + 10
    if step.startswith('wait:'):
        while screen.find(step[5:].encode(), mark) < 0 and time.time() < deadline: pump(0.05)
        at = screen.find(step[5:].encode(), mark)
        if at < 0: failed = step; break
        mark = at + len(step) - 5
    elif step.startswith('proc:'):
        while not running(step[5:]) and time.time() < deadline: pump(0.05)
        if not running(step[5:]): failed = step; break
    elif step.startswith('stopped:'):
        while not running(step[8:], 'T') and time.time() < deadline: pump(0.05)
        if not running(step[8:], 'T'): failed = step; break
    elif step == '^C': os.write(fd, b'\x03')
    elif step == '^Z': os.write(fd, b'\x1a')
    else: os.write(fd, step.encode() + b'\n')
deadline = time.time() + 10
while time.time() < deadline:
    pump(0.05)
    done, raw = os.waitpid(pid, os.WNOHANG)
    if done: status = os.waitstatus_to_exitcode(raw); break
print(json.dumps({'screen': screen.decode(errors='replace'), 'status': status, 'failed': failed}))
`;

function onTerminal(argv: readonly string[], script: readonly string[]): { screen: string; status: number | null; failed: string | null } {
  const result = spawnSync('python3', ['-c', DRIVER, JSON.stringify(argv), JSON.stringify(script)], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`pty driver failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { screen: string; status: number | null; failed: string | null };
}

const hasPython = spawnSync('python3', ['-c', 'import pty']).status === 0;
if (!hasPython) console.warn('skipping tend exec on a terminal: no python3 with its pty module to drive a pseudo-terminal');

// On a terminal the client is the job's process group leader, as `docker exec -it` makes it
// (runc starts it in a session of its own inside the container). nsenter cannot give it
// that — the job's group would be outside tend's PID namespace, where CMD sees it as pgid
// 0 — so here tend runs as a subreaper in this namespace.
describe.skipIf(!hasPython)('tend exec on a terminal', () => {
  it('an interactive shell runs commands, Ctrl-C interrupts its job, Ctrl-Z and fg work, and its exit status comes back', async () => {
    const s = await setup('auto', false);
    const run = onTerminal(await execArgv(s, 'svc', 'sh', '-i'), [
      'wait:$ ', 'id -un; tty', 'wait:/dev/pts/',
      'sleep 77.1', 'proc:^sleep 77\\.1 $', '^C', 'echo "interrupted=$?"', 'wait:interrupted=130',
      'sleep 4.37', 'proc:^sleep 4\\.37 $', '^Z', 'wait:Stopped', 'wait:$ ', 'fg', 'wait:sleep 4.37', 'wait:$ ', 'echo "resumed=$?"', 'wait:resumed=0',
      'exit 3',
    ]);
    expect(run.failed, run.screen).toBeNull();
    expect(run.screen).toMatch(/nobody\r\n\/dev\/pts\/\d+\r\n/);
    expect(run.screen).not.toMatch(/Cannot set tty process group/);
    expect(run.status).toBe(3);
  });

  it('under a job-control shell, Ctrl-Z stops the whole job (client and CMD), fg continues it, Ctrl-C ends it with 130', async () => {
    const s = await setup('auto', false);
    const exec = (await execArgv(s, 'svc', 'sleep', '88.3')).map((a) => `'${a}'`).join(' ');
    const run = onTerminal(['bash', '--norc', '--noprofile', '-i'], [
      'PS1="prompt> "', 'wait:prompt> ', exec, 'proc:^sleep 88\\.3 $', '^Z', 'wait:Stopped', 'wait:prompt> ',
      // Both stopped: the shell's job is the client and CMD together.
      'stopped:^sleep 88\\.3 $', 'stopped:tend\\.cjs exec .* sleep 88\\.3 $', 'fg', 'proc:^sleep 88\\.3 $', '^C', 'wait:prompt> ', 'echo "rc=$?"', 'wait:rc=130', 'exit 0',
    ]);
    expect(run.failed, run.screen).toBeNull();
    expect(run.status).toBe(0);
  });
});
