// Imported manifests run as PID 1 and behave as their source described: start order, restart
// policy and its limit, stop signal, exit code. Each source is what such a file looks like on
// a VM, with commands that record what happens to them in $EVENTS.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, canUnshare, lines, runTendSync, tempDir, waitFor } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';
import { killLeftovers, startManifest, type Example } from '../examples/helpers';

afterEach(killLeftovers);
beforeAll(ensureBuilt, 180_000);

// A service that records its start and each signal it gets, then exits 0 on INT or TERM.
const RECORDER = `#!/bin/sh
name=$1
echo "start $name" >> "$EVENTS"
for sig in INT TERM QUIT HUP; do trap "echo \\"$name got $sig\\" >> \\"$EVENTS\\"; kill \\$child; exit 0" $sig; done
while :; do sleep 1000 & child=$!; wait $child; done
`;

interface Imported {
  readonly dir: string;
  readonly events: string;
  readonly manifest: string;
  readonly env: NodeJS.ProcessEnv;
  start(): Example;
  log(): string[];
}

/** Writes the source files, imports `paths` with the CLI, and returns how to run the result. */
function imported(files: Record<string, string>, paths: readonly string[]): Imported {
  const dir = tempDir('tend-import-run-');
  for (const [name, text] of Object.entries({ 'bin/recorder': RECORDER, ...files })) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
    if (name.startsWith('bin/') || name.endsWith('/run') || name.includes('cont-init.d/')) chmodSync(join(dir, name), 0o755);
  }
  const events = join(dir, 'events');
  writeFileSync(events, '');
  const env = { EVENTS: events, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` };
  const manifest = join(dir, 'tend.yaml');
  const result = runTendSync(['import', ...paths, '-o', manifest], { cwd: dir, env });
  expect(result.code, result.stderr).toBe(0);
  const check = runTendSync(['check', '-c', manifest], { cwd: dir, env });
  expect(check.code, check.stderr).toBe(0);
  return { dir, events, manifest, env, start: () => startManifest(manifest, env, { cwd: dir }), log: () => lines(events) };
}

describe.skipIf(!canUnshare())('imported manifests run as PID 1', () => {
  it('supervisord: autorestart=unexpected with exitcodes, startretries as a limit, stopsignal', async () => {
    const source = imported({
      'supervisord.conf': `
[supervisord]
nodaemon=true

[program:db]
command=recorder db
stopsignal=INT

[program:flaky]
command=sh -c 'echo "start flaky" >> "$EVENTS"; exit 1'
autorestart=unexpected
startretries=2

[program:expected]
command=sh -c 'echo "start expected" >> "$EVENTS"; exit 2'
autorestart=unexpected
exitcodes=0,2
`,
    }, ['supervisord.conf']);
    const tend = source.start();
    const fatal = await tend.waitStatus((doc) => doc.services.some((s) => s.name === 'flaky' && s.state === 'fatal')
      && doc.services.some((s) => s.name === 'expected' && s.state === 'exited'), 'flaky to give up and expected to exit');
    expect(fatal.services.find((s) => s.name === 'db')?.state).toBe('running');
    // startretries=2: the first start and two restarts, then it gives up.
    expect(source.log().filter((line) => line === 'start flaky')).toHaveLength(3);
    // exit 2 is one of its exitcodes: not restarted.
    expect(source.log().filter((line) => line === 'start expected')).toHaveLength(1);
    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
    expect(source.log()).toContain('db got INT');
  });

  it('Procfile: release runs first, web is main and its exit code is the container\'s', async () => {
    const source = imported({
      Procfile: [
        'release: echo "start release" >> $EVENTS',
        'web: recorder web & sleep 1; echo "web exits" >> $EVENTS; exit 3',
        'worker: recorder worker',
        '',
      ].join('\n'),
      '.env': 'GREETING=hello\n',
    }, ['Procfile']);
    const tend = source.start();
    const { code } = await tend.tend.exited;
    expect(code, tend.tend.stderr).toBe(3);
    const log = source.log();
    expect(log.indexOf('start release')).toBeLessThan(log.indexOf('start web'));
    expect(log.indexOf('start release')).toBeLessThan(log.indexOf('start worker'));
    expect(log).toContain('worker got TERM');
  });

  it('systemd: After= a oneshot and ExecStartPre run first, Restart=on-failure, KillSignal, ${VAR} from Environment=', async () => {
    const source = imported({
      'units/prepare.service': `[Unit]
Description=Prepare the data directory

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "start prepare" >> "$EVENTS"'
RemainAfterExit=yes
`,
      'units/app.service': `[Unit]
Description=The application
After=network.target prepare.service
Requires=prepare.service

[Service]
Environment="NAME=app"
ExecStartPre=/bin/sh -c 'echo "pre $NAME" >> "$EVENTS"'
ExecStart=/usr/bin/env recorder \${NAME}
Restart=on-failure
RestartSec=100ms
KillSignal=SIGQUIT
TimeoutStopSec=5
`,
    }, ['units']);
    const tend = source.start();
    await waitFor(() => source.log().includes('start app'), { what: () => `app to start:\n${source.log().join('\n')}\n${tend.tend.stderr}` });
    expect(source.log().slice(0, 3)).toEqual(['start prepare', 'pre app', 'start app']);
    // A crash (SIGKILL) is a failure: on-failure restarts it.
    expect((await tend.cli(['signal', 'app', 'KILL'])).code).toBe(0);
    await tend.waitStatus((doc) => doc.services.some((s) => s.name === 'app' && s.restarts === 1 && s.state === 'running'), 'app restarted');
    await waitFor(() => source.log().filter((line) => line === 'start app').length === 2);
    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
    expect(source.log()).toContain('app got QUIT');
  });

  it('systemd: Type=forking with PIDFile= runs as long as its daemon, and its dependents start after the start program', async () => {
    const pidDir = tempDir('tend-import-pid-');
    const pidFile = join(pidDir, 'daemon.pid');
    const source = imported({
      'units/daemon.service': `[Unit]
Description=An old-style daemon

[Service]
Type=forking
PIDFile=${pidFile}
ExecStart=${join(ROOT, 'test', 'fixtures', 'bin', 'daemonize')} ${pidFile} 0
`,
      'units/app.service': `[Unit]
After=daemon.service

[Service]
ExecStart=/usr/bin/env recorder app
`,
    }, ['units']);
    expect(readFileSync(source.manifest, 'utf8')).toMatch(/type: forking\n\s+pid_file: /);
    const tend = source.start();
    await waitFor(() => source.log().includes('start app'), { what: () => `app to start:\n${source.log().join('\n')}\n${tend.tend.stderr}` });
    const daemonPid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(source.log().indexOf(`start ${daemonPid}`)).toBeLessThan(source.log().indexOf('start app'));
    expect((await tend.service('daemon')).pid).toBe(daemonPid);
    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
    expect(source.log().indexOf('app got TERM')).toBeLessThan(source.log().indexOf(`stop ${daemonPid}`));
  });

  it('crontab: @reboot runs at start, a scheduled job waits for its time', async () => {
    const source = imported({
      crontab: [
        'MAILTO=""',
        'GREETING=hello',
        '@reboot   echo "boot $GREETING" >> $EVENTS',
        '0 4 * * * echo "nightly" >> $EVENTS',
        '',
      ].join('\n'),
    }, ['crontab']);
    const tend = source.start();
    await waitFor(() => source.log().includes('boot hello'), { what: () => tend.tend.stderr });
    const status = await tend.status();
    expect(status.services.find((s) => s.name === 'echo-2')?.state).toBe('stopped');
    expect(source.log()).not.toContain('nightly');
    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
  });

  it('s6-overlay: cont-init.d first, then a longrun ready by notification-fd before its dependent', async () => {
    const rc = 's6-overlay/s6-rc.d';
    const source = imported({
      'cont-init.d/10-init': '#!/command/with-contenv sh\necho "cont-init" >> "$EVENTS"\n',
      [`${rc}/db/type`]: 'longrun\n',
      [`${rc}/db/run`]: '#!/command/with-contenv sh\necho "start db" >> "$EVENTS"; sleep 0.3\necho "db ready" >> "$EVENTS"; echo >&3\nexec recorder db-main\n',
      [`${rc}/db/notification-fd`]: '3\n',
      [`${rc}/db/down-signal`]: 'SIGHUP\n',
      [`${rc}/app/type`]: 'longrun\n',
      [`${rc}/app/run`]: '#!/command/with-contenv sh\nexec recorder app\n',
      [`${rc}/app/dependencies.d/db`]: '',
      [`${rc}/app/dependencies.d/base`]: '',
      [`${rc}/user/type`]: 'bundle\n',
      [`${rc}/user/contents.d/app`]: '',
    }, ['.']);
    const tend = source.start();
    await waitFor(() => source.log().includes('start app'), { what: () => `${source.log().join('\n')}\n${tend.tend.stderr}` });
    expect(source.log().slice(0, 4)).toEqual(['cont-init', 'start db', 'db ready', 'start db-main']);
    expect(source.log()[4]).toBe('start app');
    await tend.tend.signal('SIGTERM');
    expect((await tend.tend.exited).code).toBe(0);
    const log = source.log();
    expect(log.indexOf('app got TERM')).toBeLessThan(log.indexOf('db-main got HUP'));
  });
});
