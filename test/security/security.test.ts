// The security review's claims (docs/security.md), each checked against the real tend:
// secrets never printed, the inspector closed, exactly the user's groups, log files not
// followed through symlinks, no shell for an argv command, socket access levels, and an
// internal error that still ends in an ordered shutdown with status 70.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ROOT, TEND_BIN, canUnshare, runTendSync, startTend, waitFor, type RunningTend, freePort } from '../helpers/tend';
import { launch, request, scenario, status, stopAll } from '../faults/helpers';

const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const pid1 = canUnshare();
const running: RunningTend[] = [];
afterEach(() => stopAll(running));


async function httpGet(port: number, path: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return response.text();
}

/** Lines of an `events` stream collected until `stop()`. */
function events(socket: string) {
  const lines: string[] = [];
  const s = connect(socket);
  s.setEncoding('utf8');
  s.on('connect', () => s.write('{"id":1,"cmd":"events","args":{}}\n'));
  s.on('data', (d: string) => lines.push(d));
  s.on('error', () => {});
  return { text: () => lines.join(''), stop: () => s.destroy() };
}

describe('environment values are never printed (SPEC §4)', () => {
  it('status, status -v, check, check --json, logs, events, reload errors, /status, /metrics and tend\'s own log never show them', async () => {
    const SECRETS = ['tend-env-Zq8xK2', 'env-file-Wm4pR7', 'inline-Hv9sT3', 'passthru-Yb6nL1'];
    const port = await freePort();
    const t = scenario(`
settings: { http: "127.0.0.1:${port}", http_status: true }
services:
  app:
    main: true
    command: [sh, -c, 'echo "app is up"; exec svc app']
    env: { TOKEN: "\${SECRET_TOKEN}", INLINE: "${SECRETS[2]}", PASSTHRU: null }
    env_file: secrets.env
    ready: { command: 'test -n "$$TOKEN"', interval: 50ms }
    healthcheck: { command: 'test -n "$$INLINE" && test -n "$$FILE_SECRET" && test -n "$$PASSTHRU"', interval: 100ms }
  failing:
    command: sh -c 'echo "failing sees a token of length $\${#TOKEN}"; exit 3'
    env: { TOKEN: "\${SECRET_TOKEN}" }
    restart: never
`);
    writeFileSync(join(t.dir, 'secrets.env'), `FILE_SECRET=${SECRETS[1]}\n`);
    const env = { ...t.env, SECRET_TOKEN: SECRETS[0], PASSTHRU: SECRETS[3] };
    const tend = startTend(['run', '-c', t.file], { env });
    running.push(tend);
    await waitFor(async () => (await status(t.socket)).services.find((s) => s.name === 'app')?.state === 'ready');
    await tend.waitOutput('failing sees a token of length 15');
    const stream = events(t.socket);
    await waitFor(() => stream.text().includes('"id":1'), { what: 'the events stream to open' });
    expect((await request(t.socket, 'restart', { names: ['failing'], wait: false })).ok).toBe(true);
    // A broken reload whose bad value comes from the environment names the variable only.
    const original = readFileSync(t.file, 'utf8');
    writeFileSync(t.file, original.replace('restart: never', 'restart: "${SECRET_TOKEN}"'));
    const refused = await request(t.socket, 'reload');
    expect(refused.ok).toBe(false);
    expect(JSON.stringify(refused)).toContain('got \\"${SECRET_TOKEN}\\"');
    writeFileSync(t.file, original);
    await waitFor(() => stream.text().includes('"service":"failing"'), { what: 'events about failing' });

    const cli = (...args: string[]) => runTendSync(args, { env });
    const outputs: Record<string, string> = {
      'status socket': JSON.stringify(await status(t.socket)),
      'tend status --json': cli('status', '--json').stdout,
      'tend status -v': cli('status', '-v').stdout,
      'tend check': cli('check', '-c', t.file).stdout,
      'tend check --json': cli('check', '--json', '-c', t.file).stdout,
      'tend logs app': cli('logs', 'app').stdout,
      'tend logs failing': cli('logs', 'failing').stdout,
      'logs socket': JSON.stringify(await request(t.socket, 'logs', { name: 'failing' })),
      reload: JSON.stringify(refused),
      events: stream.text(),
      '/status': await httpGet(port, '/status'),
      '/metrics': await httpGet(port, '/metrics'),
    };
    stream.stop();
    expect(outputs['tend check --json']).toContain('"TOKEN"'); // keys are shown, values are not
    expect(outputs['tend status -v']).toContain('app');
    await tend.signal('SIGTERM');
    await tend.exited;
    outputs["tend's stdout and stderr"] = tend.stdout + tend.stderr;
    for (const [where, text] of Object.entries(outputs)) {
      expect(text.length, `${where} printed nothing`).toBeGreaterThan(0);
      for (const secret of SECRETS) expect(text, `${where} shows ${secret}`).not.toContain(secret);
    }
  });

  it('tend check names the variable, not its value, when an interpolated value is invalid', () => {
    const t = scenario('services:\n  app:\n    command: [sleep, "1"]\n    stop_signal: ${SECRET_TOKEN}\n    stop_timeout: "${SECRET_TOKEN}"\n');
    const result = runTendSync(['check', '-c', t.file], { env: { SECRET_TOKEN: 'hunter2-Kx81' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/services\.app\.stop_signal: unknown signal "\$\{SECRET_TOKEN\}"/);
    expect(result.stderr).toMatch(/services\.app\.stop_timeout: .*got "\$\{SECRET_TOKEN\}"/);
    expect(result.stderr).not.toContain('hunter2-Kx81');
  });
});

describe("SIGUSR1 never opens Node's inspector", () => {
  /** TCP sockets tend holds that listen (state 0A) — the inspector would be one on 9229. */
  function listeningTcp(pid: number): string[] {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
    const found: string[] = [];
    for (const table of ['tcp', 'tcp6']) {
      if (!existsSync(`/proc/${pid}/net/${table}`)) continue; // no IPv6 here
      for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) found.push(f[1]!);
      }
    }
    return found;
  }

  it.each([
    ['run mode', ['run', '-c', 'MANIFEST'], false],
    ['run mode as PID 1', ['run', '-c', 'MANIFEST'], true],
    // main ignores SIGUSR1: tend forwards it, and a default disposition would end main
    // (and with it tend) while the test is still looking at tend's sockets.
    ['tini mode', ['--', 'sh', '-c', 'trap "" USR1; exec sleep 1000'], false],
  ] as const)('%s', async (_what, args, asPid1) => {
    if (asPid1 && !pid1) return;
    const t = scenario('services:\n  app: { main: true, command: [sh, -c, \'trap "" USR1; exec sleep 1000\'] }\n');
    const tend = startTend(args.map((a) => (a === 'MANIFEST' ? t.file : a)), { env: t.env, pid1: asPid1 });
    running.push(tend);
    const pid = await tend.tendPid();
    // Wait until main has exec'd sleep: its trap (SIGUSR1 ignored) is in place by then.
    const isSleep = (p: number | null | undefined) => p != null && p > 0 && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep';
    // (Read from here: as PID 1, status would give pids of tend's own namespace.)
    await waitFor(() => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').some((c) => isSleep(Number(c))));
    for (let i = 0; i < 3; i++) process.kill(pid, 'SIGUSR1');
    // The signal is handled (forwarded to main); prove it was processed, then look.
    if (args[0] === 'run') expect((await request(t.socket, 'version')).ok).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(listeningTcp(pid)).toEqual([]);
    expect(tend.stderr).not.toMatch(/Debugger listening|inspector/i);
    expect(tend.child.exitCode).toBeNull();
  });
});

describe.skipIf(!isRoot || !hasSetpriv)('user switching sets exactly the user\'s groups', () => {
  it("a service with user: nobody gets nobody's groups, none of tend's supplementary groups", async () => {
    const expected = spawnSync('id', ['-G', 'nobody'], { encoding: 'utf8' }).stdout.trim().split(/\s+/).sort();
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  probe:
    type: oneshot
    user: nobody
    command: [sh, -c, 'echo "uid $$(id -u) groups $$(id -G)"']
`);
    // tend itself runs with extra supplementary groups (adm, disk, sudo).
    const tend = launch(['setpriv', '--groups=4,6,27', '--', process.execPath, TEND_BIN, 'run', '-c', t.file], t.env);
    running.push(tend);
    await tend.waitOutput(/probe \| uid \d+ groups [\d ]+\n/);
    const [, uid, groups] = /probe \| uid (\d+) groups ([\d ]+)\n/.exec(tend.stdout)!;
    expect(uid).toBe('65534');
    expect(groups!.trim().split(/\s+/).sort()).toEqual(expected);
    expect(groups!.split(/\s+/)).not.toEqual(expect.arrayContaining(['4']));
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});

describe('log files are opened without following symlinks', () => {
  it('a log.file that is a symlink to another file is refused and reported; the target is untouched', async () => {
    const t = scenario('');
    const victim = join(t.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(t.dir, 'app.log'));
    writeFileSync(t.file, `
services:
  app:
    main: true
    command: [sh, -c, 'echo "this must not reach the victim"; exec svc app']
    log: { file: app.log }
`);
    const tend = startTend(['run', '-c', t.file], { env: t.env });
    running.push(tend);
    await tend.waitOutput(/app: log file .*app\.log is a symbolic link; tend does not follow it/);
    await tend.waitOutput('app | this must not reach the victim');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });
});

describe('no shell unless command is a string', () => {
  it('an argv command reaches the program verbatim; a string runs through /bin/sh -c', async () => {
    const t = scenario(`
services:
  literal:
    type: oneshot
    command: [sh, -c, 'printf "%s\\n" "$$1" >> "$$EVENTS"', sh, '$$HOME; touch $$DIR/pwned; $$(id)']
  shell:
    type: oneshot
    command: 'echo "shell $$((6*7))" >> "$$EVENTS"'
`);
    const plan = runTendSync(['check', '--json', '-c', t.file], { env: t.env });
    const services = JSON.parse(plan.stdout).services as Array<{ name: string; command: { argv: string[] } }>;
    expect(services.find((s) => s.name === 'literal')!.command.argv.at(-1)).toBe('$HOME; touch $DIR/pwned; $(id)');
    expect(services.find((s) => s.name === 'shell')!.command.argv.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    const tend = startTend(['run', '-c', t.file], { env: t.env });
    running.push(tend);
    expect((await tend.exited).code).toBe(0);
    expect(t.events().sort()).toEqual(['$HOME; touch $DIR/pwned; $(id)', 'shell 42']);
    expect(existsSync(join(t.dir, 'pwned'))).toBe(false);
  });
});

describe.skipIf(!isRoot || !hasSetpriv)('socket access levels with a real tend (SO_PEERCRED)', () => {
  it('a read grant may status but not stop; a peer with no grant is refused; root has control', async () => {
    const t = scenario(`
settings:
  socket_mode: "0666"
  socket_allow: [{ user: nobody, access: read }]
services:
  app: { main: true, command: [svc, app] }
  side: { command: [svc, side] }
`);
    const tend = startTend(['run', '-c', t.file], { env: t.env });
    running.push(tend);
    await waitFor(() => t.events().includes('start side'));
    const as = (user: string, group: string, ...args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('setpriv', [`--reuid=${user}`, `--regid=${group}`, '--clear-groups', process.execPath, TEND_BIN, ...args], { env: { ...process.env, TEND_SOCKET: t.socket }, cwd: ROOT });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      child.on('exit', (code) => resolve({ code, out }));
    });
    const read = await as('65534', '65534', 'status', '--json');
    expect(read.code, read.out).toBe(0);
    expect(JSON.parse(read.out).services).toHaveLength(2);
    const stop = await as('65534', '65534', 'stop', 'side');
    expect(stop.code).not.toBe(0);
    expect(stop.out).toMatch(/forbidden|read access|not allowed/i);
    // regression (refused-peer-loses-reason): tend closed the socket with the client's
    // request unread, the kernel reset the client, and it printed "closed before replying".
    for (let i = 0; i < 5; i++) {
      const stranger = await as('4242', '4242', 'status');
      expect(stranger.code).not.toBe(0);
      expect(stranger.out).toBe("tend: uid 4242 may not use this socket: only root, tend's uid 0 and socket_allow entries may, and none matches\n");
    }
    expect(t.events()).not.toContain('stop side');
    expect((await request(t.socket, 'stop', { names: ['side'], wait: true })).ok).toBe(true); // root: control
    expect(t.events()).toContain('stop side');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});

describe('an internal error still ends in an ordered shutdown with status 70', () => {
  it.each(['exception', 'rejection'])('an uncaught %s inside tend (test preload, no hook in tend)', async (kind) => {
    const t = scenario(`
services:
  db: { command: [svc, db] }
  app: { main: true, command: [svc, app], depends_on: [db] }
  web: { command: [svc, web], depends_on: [app] }
`);
    const trigger = join(t.dir, 'throw-now');
    const tend = launch([process.execPath, '--require', join(ROOT, 'test', 'security', 'fixtures', 'throw-later.cjs'), TEND_BIN, 'run', '-c', t.file],
      { ...t.env, TEND_TEST_THROW_FILE: trigger, TEND_TEST_THROW_KIND: kind });
    running.push(tend);
    await waitFor(() => ['start db', 'start app', 'start web'].every((e) => t.events().includes(e)));
    writeFileSync(trigger, '');
    const { code } = await tend.exited;
    expect(code).toBe(70);
    expect(tend.stderr).toMatch(new RegExp(`internal error: .*injected ${kind}`));
    expect(tend.stderr).toMatch(/\n\s+at /); // with its stack
    const stops = t.events().filter((e) => e.startsWith('stop '));
    expect(stops).toEqual(['stop web', 'stop app', 'stop db']); // reverse dependency order
    expect(tend.stderr).toMatch(/exiting with status 70/);
  });
});

describe.skipIf(!isRoot || !hasSetpriv)('what works without root', () => {
  it('tend as uid 65534: services run, status and stop work for its own uid, user: fails with a message saying root is needed', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [sh, -c, 'echo "app runs as $$(id -u)"; exec sleep 1000'] }
  side: { command: [sleep, "1000"] }
  switcher: { command: [id], user: root, restart: never }
`);
    chmodSync(t.dir, 0o755);
    const socketDir = join(t.dir, 'run');
    mkdirSync(socketDir, { mode: 0o777 });
    chmodSync(socketDir, 0o777);
    const socket = join(socketDir, 'tend.sock');
    const tend = launch(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, TEND_BIN, 'run', '-c', t.file], { ...t.env, TEND_SOCKET: socket });
    running.push(tend);
    await tend.waitOutput(/app +\| app runs as 65534/);
    await tend.waitOutput(/switcher: cannot start: cannot switch to user root: tend runs as uid 65534, and user:\/group: need root/);
    const asNobody = (...args: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, TEND_BIN, ...args], { env: { ...process.env, TEND_SOCKET: socket }, encoding: 'utf8' });
    expect(asNobody('stop', 'side').status).toBe(0);
    const doc = JSON.parse(asNobody('status', '--json').stdout);
    expect(doc.services.map((s: { name: string; state: string }) => [s.name, s.state])).toEqual([['app', 'running'], ['side', 'stopped'], ['switcher', 'fatal']]);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(143);
  });
});

describe('tini mode: an internal error stops CMD and exits 70', () => {
  it('regression (tini-internal-error-orphans-cmd): CMD gets SIGTERM, tend exits 70 instead of dying and leaving CMD without its init', async () => {
    const t = scenario('');
    const trigger = join(t.dir, 'throw-now');
    const tend = launch([process.execPath, '--require', join(ROOT, 'test', 'security', 'fixtures', 'throw-later.cjs'), TEND_BIN, '--',
      'sh', '-c', 'trap "echo cmd-got-TERM >> \\"$EVENTS\\"; exit 3" TERM; echo cmd-up >> "$EVENTS"; while :; do sleep 1 & wait $!; done'],
      { ...t.env, TEND_TEST_THROW_FILE: trigger });
    running.push(tend);
    await waitFor(() => t.events().includes('cmd-up'));
    writeFileSync(trigger, '');
    const { code } = await tend.exited;
    expect(code).toBe(70);
    expect(t.events()).toContain('cmd-got-TERM');
    expect(tend.stderr).toMatch(/tend: internal error: Error: injected exception from the test preload\n\s+at /);
    expect(tend.stderr).toMatch(/stopping sh, then exiting 70/);
  });
});
