// What a service gets at each start, end to end with real tend as PID 1: env_files read at
// that start (a setup oneshot writes one for a later service; optional ones may be missing;
// a required one that is missing fails that start, naming the file and no value), a
// runtime directory under /run owned by the service's user and removed when it stops, its
// umask, and stderr written to a file of its own.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, readText, runTendSync, tempDir, waitFor, writeManifest } from '../helpers/tend';
import { scenario } from '../supervisor/scenario';

const pid1 = canUnshare();
const root = process.getuid?.() === 0;

describe.skipIf(!pid1)('env_file at each start, as PID 1', () => {
  it('a oneshot writes an env file the next service reads; an optional missing one is skipped; a required missing one fails that start', async () => {
    const t = scenario(`
services:
  setup:
    type: oneshot
    command: ["sh", "-c", "printf 'TOKEN=from-setup\\\\nSHARED=generated\\\\n' > $$DIR/generated.env"]
  app:
    depends_on: { setup: { condition: completed } }
    env_file: [ generated.env, { path: absent.env, required: false } ]
    env: { SHARED: from-env }
    command: ["sh", "-c", "echo \\"$$TOKEN $$SHARED\\" > $$DIR/seen; exec sleep 1000"]
    # Its probes get the same environment, env_files read at their own start.
    ready: { command: ["sh", "-c", "test \\"$$TOKEN\\" = from-setup"], interval: 50ms }
  strict:
    env_file: [ { path: later.env } ]
    command: ["sh", "-c", "echo should-not-run; exec sleep 1000"]
    restart: never
    autostart: false
`);
    // later.env exists at load (so the manifest is valid) and is gone by strict's start.
    writeFileSync(join(t.dir, 'later.env'), 'SECRET_VALUE=hunter2\n');
    const check = t.cli('check', '-c', t.file);
    expect(check.code).toBe(0);
    // generated.env does not exist yet: a warning, since setup (a oneshot app depends on) may write it.
    expect(check.stderr).toContain(`warning: env_file ${join(t.dir, 'generated.env')} does not exist yet; it is read at each start, after "setup" (a oneshot "app" depends on) has run`);

    const tend = t.start();
    await waitFor(() => readText(join(t.dir, 'seen')), { what: () => `app to start\n${tend.stderr}` });
    await tend.waitOutput(/app: ready after/);
    // The file's value, with env: over it.
    expect(readText(join(t.dir, 'seen'))).toBe('from-setup from-env\n');

    rmSync(join(t.dir, 'later.env'));
    t.cli('start', 'strict');
    await tend.waitOutput(`cannot read env_file ${join(t.dir, 'later.env')}: no such file`);
    expect(tend.stdout + tend.stderr).not.toContain('should-not-run');
    expect(tend.stdout + tend.stderr).not.toContain('hunter2');

    await tend.signal('SIGTERM');
    await tend.exited;
  });

  it('a reload restarts a service whose env_file changed since its start, and no other', async () => {
    const t = scenario(`
services:
  setup:
    type: oneshot
    command: ["sh", "-c", "echo GEN=1 > $$DIR/gen.env"]
  gen:
    depends_on: { setup: { condition: completed } }
    env_file: gen.env
    command: ["sh", "-c", "echo \\"gen $$GEN\\" >> $$DIR/seen; exec sleep 1000"]
  edited:
    env_file: edited.env
    command: ["sh", "-c", "echo \\"edited $$V\\" >> $$DIR/seen; exec sleep 1000"]
`);
    writeFileSync(join(t.dir, 'edited.env'), 'V=1\n');
    const tend = t.start();
    await waitFor(() => readText(join(t.dir, 'seen')).split('\n').length === 3, { what: () => `both to start\n${tend.stderr}` });
    // gen.env did not exist when tend loaded the manifest; it has not changed since gen
    // read it: a reload leaves gen alone. edited.env changed: edited restarts with it.
    writeFileSync(join(t.dir, 'edited.env'), 'V=2\n');
    const reload = t.cli('reload');
    expect(reload.stdout).toBe('reloaded: changed edited\n');
    await waitFor(() => readText(join(t.dir, 'seen')).includes('edited 2'), { what: () => tend.stderr });
    expect(readText(join(t.dir, 'seen')).split('\n').filter((l) => l.startsWith('gen'))).toEqual(['gen 1']);
    await tend.signal('SIGTERM');
    await tend.exited;
  });
});

describe.skipIf(!pid1 || !root)('runtime_directory and umask, as PID 1', () => {
  it('/run/NAME exists, owned by the service\'s user, while it runs, and is gone once it stops; the umask is the service\'s', async () => {
    const name = `tend-test-${process.pid}-${Date.now()}`;
    const dir = `/run/${name}`;
    try {
      const t = scenario(`
services:
  web:
    user: nobody
    runtime_directory: ${name}/inner
    umask: "0027"
    command: ["sh", "-c", "touch $$RUNTIME_DIRECTORY/made && echo \\"$$RUNTIME_DIRECTORY\\" > /tmp/${name}.seen; exec sleep 1000"]
  plain:
    command: ["sh", "-c", "umask > $$DIR/plain-umask; exec sleep 1000"]
  kept:
    runtime_directory: ${name}/kept
    command: ["sleep", "1000"]
  blocked:
    # Its parent is a file: the start fails, saying what and why.
    runtime_directory: ${name}/file/inner
    command: ["sleep", "1000"]
    restart: never
`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/file`, '');
      const tend = t.start();
      await waitFor(() => existsSync(`${dir}/inner/made`), { what: () => `web to start\n${tend.stderr}` });
      await tend.waitOutput(`cannot make runtime_directory ${dir}/file/inner: a parent is not a directory`);
      expect(tend.stderr).not.toContain('cannot remove');
      await waitFor(() => existsSync(`${dir}/kept`), { what: 'kept to start' });
      expect(statSync(`${dir}/kept`).uid).toBe(0);
      const stat = statSync(`${dir}/inner`);
      expect([stat.uid, stat.gid, stat.mode & 0o7777]).toEqual([65534, 65534, 0o755]);
      // 0666 & ~0027
      expect(statSync(`${dir}/inner/made`).mode & 0o777).toBe(0o640);
      expect(readFileSync(`/tmp/${name}.seen`, 'utf8')).toBe(`${dir}/inner\n`);
      // A service without umask: keeps tend's.
      await waitFor(() => readText(join(t.dir, 'plain-umask')), { what: 'plain to start' });
      expect(readText(join(t.dir, 'plain-umask')).trim()).toBe(`0${process.umask().toString(8).padStart(3, '0')}`);

      expect(t.cli('stop', 'web').code).toBe(0);
      await waitFor(() => !existsSync(`${dir}/inner`), { what: () => `the runtime directory to go\n${tend.stderr}` });
      // Its parent was made as a path to it, and stays (systemd removes only the directory named).
      expect(existsSync(dir)).toBe(true);
      // tend's shutdown stops every service: their runtime directories go too.
      await tend.signal('SIGTERM');
      await tend.exited;
      expect(existsSync(`${dir}/kept`)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(`/tmp/${name}.seen`, { force: true });
    }
  });
});

describe.skipIf(!pid1 || !root)('runtime_directory with pre_start, as PID 1', () => {
  it('pre_start finds the runtime directory made; when it fails, the directory goes with the run', async () => {
    const name = `tend-test-pre-${process.pid}-${Date.now()}`;
    try {
      const t = scenario(`
services:
  web:
    runtime_directory: ${name}
    pre_start: ["sh", "-c", "test -d /run/${name} && touch $$DIR/pre-saw-it; exit 1"]
    command: ["sleep", "1000"]
    restart: never
  keep: { command: ["sleep", "1000"] }
`);
      const tend = t.start();
      await waitFor(() => existsSync(join(t.dir, 'pre-saw-it')), { what: () => tend.stderr });
      await waitFor(() => /web\s+(fatal|exited)/.test(t.cli('status').stdout), { what: () => tend.stderr });
      await waitFor(() => !existsSync(`/run/${name}`), { what: () => `the runtime directory to go\n${tend.stderr}` });
      await tend.signal('SIGTERM');
      await tend.exited;
    } finally {
      rmSync(`/run/${name}`, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!pid1)('log.stderr_file, as PID 1', () => {
  it('stderr goes to its own file, stdout to log.file; both still prefixed on tend\'s output and in tend logs', async () => {
    const t = scenario(`
services:
  app:
    log: { file: out.log, stderr_file: err.log }
    command: ["sh", "-c", "echo to-stdout; echo to-stderr >&2; echo also-stderr > /dev/stderr; exec sleep 1000"]
`);
    const tend = t.start();
    await waitFor(() => readText(join(t.dir, 'err.log')).includes('also-stderr'), { what: () => tend.stderr });
    await waitFor(() => readText(join(t.dir, 'out.log')).includes('to-stdout'), { what: () => tend.stderr });
    expect(readText(join(t.dir, 'out.log'))).toBe('to-stdout\n');
    expect(readText(join(t.dir, 'err.log'))).toBe('to-stderr\nalso-stderr\n');
    await tend.waitOutput(/app \| to-stderr/);
    await tend.waitOutput(/app \| to-stdout/);
    const logs = t.cli('logs', 'app');
    expect(logs.stdout + logs.stderr).toContain('to-stdout');
    expect(logs.stdout + logs.stderr).toContain('to-stderr');
    await tend.signal('SIGTERM');
    await tend.exited;
  });
});

describe('tend check names other tools\' keys', () => {
  it('autorestart: did you mean "restart"', () => {
    const dir = tempDir();
    const file = writeManifest(dir, 'services:\n  php:\n    command: php-fpm\n    autorestart: true\n');
    const result = runTendSync(['check', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:4:5: services.php.autorestart: unknown key; did you mean "restart"? (supervisord's autorestart: true is always, unexpected is on-failure, false is never)`);
  });
});
