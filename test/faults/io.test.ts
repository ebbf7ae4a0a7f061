// Fault injection, I/O side: tend's stdout reader gone (EPIPE), a full disk under a
// service's log file, a socket path tend cannot use, a manifest gone before a reload.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, startTend, waitFor, type RunningTend } from '../helpers/tend';
import { launch, nodeTend, request, scenario, status, stopAll } from './helpers';

const namespaces = canUnshare(); // as root, the mount namespace works wherever the PID one does
const running: RunningTend[] = [];
afterEach(() => stopAll(running));

describe("tend's stdout closed", () => {
  it('EPIPE on stdout: tend and its services keep running, output still reaches `tend logs`, and the shutdown is clean', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  chatty:
    command: sh -c 'i=0; while :; do i=$$((i+1)); echo "tick $$i"; echo "tick $$i" >> "$DIR/ticks"; sleep 0.02; done'
`);
    const tend = startTend(['run', '-c', t.file], { env: t.env });
    running.push(tend);
    await tend.waitOutput('chatty | tick 3');
    tend.child.stdout!.destroy(); // the reader of tend's stdout goes away: writes now fail with EPIPE
    const ticks = () => Number(/tick (\d+)\n$/.exec(readFileSync(join(t.dir, 'ticks'), 'utf8'))?.[1] ?? 0);
    const after = ticks();
    // chatty is never blocked by the dead pipe: it keeps printing, and tend keeps reading.
    await waitFor(() => ticks() > after + 50, { what: 'chatty to keep writing' });
    const doc = await status(t.socket);
    expect(doc.services.map((s) => [s.name, s.state])).toEqual([['app', 'running'], ['chatty', 'running']]);
    expect(doc.services.find((s) => s.name === 'chatty')?.restarts).toBe(0);
    const logs = await request(t.socket, 'logs', { name: 'chatty', lines: 5 });
    expect(logs.ok).toBe(true);
    const last = Number(/tick (\d+)/.exec((logs.result.lines as Array<{ line: string }>).at(-1)!.line)![1]);
    expect(last).toBeGreaterThan(after + 40);
    // Said once, on tend's stderr (its own log), which still works.
    await tend.waitOutput(/tend's stdout is gone \(EPIPE\); service output to it is discarded from now on/);
    expect(tend.stderr.match(/tend's stdout is gone/g)).toHaveLength(1);
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
    expect(tend.stderr).toMatch(/exiting with status 0/);
  });
});

describe.skipIf(!namespaces)('full disk under a log file (tmpfs under unshare --mount)', () => {
  it('ENOSPC on a log file is reported once, the service and tend keep running, and writing resumes when space returns', async () => {
    const t = scenario('');
    const disk = join(t.dir, 'disk');
    mkdirSync(disk);
    writeFileSync(t.file, `
services:
  app: { main: true, command: [svc, app] }
  writer:
    command: sh -c 'i=0; while [ $$i -lt 2000 ]; do echo "line $$i of padding padding padding padding padding"; i=$$((i+1)); done; echo "written" >> "$EVENTS"; while [ ! -f "$DIR/go" ]; do sleep 0.05; done; echo "after the disk was freed"; exec sleep 1000'
    log: { file: ${join(disk, 'writer.log')}, max_size: 1MB }
`);
    const tend = launch(['unshare', '--mount', 'sh', '-c', `mount -t tmpfs -o size=32k tend-full "${disk}" && exec "$@"`, 'sh', ...nodeTend('run', '-c', t.file)], t.env);
    running.push(tend);
    await waitFor(() => t.events().includes('written'), { what: () => `the writer to finish\n${tend.stderr}` });
    await tend.waitOutput(/writer: cannot write log file .*writer\.log \(.*(ENOSPC|no space).*\)/i);
    await tend.waitOutput('writer | line 1999');
    const reports = tend.stderr.split('\n').filter((l) => /writer: cannot write log file/.test(l));
    expect(reports).toHaveLength(1);
    expect(tend.stderr).not.toMatch(/internal error/);
    expect((await status(t.socket)).services.find((s) => s.name === 'writer')?.state).toBe('running');

    // Free the space (inside tend's mount namespace: through /proc/PID/root), then the next line goes through.
    const tendPid = await tend.tendPid();
    unlinkSync(`/proc/${tendPid}/root${join(disk, 'writer.log')}`);
    writeFileSync(join(t.dir, 'go'), '');
    await tend.waitOutput('writer | after the disk was freed');
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});

describe('a socket path tend cannot use: exit 2, nothing started, a clear reason', () => {
  it('regression (socket-missing-dir-says-eacces): a missing directory is named as missing, not "permission denied"', async () => {
    const t = scenario('services:\n  app: { main: true, command: [svc, app] }\n');
    const tend = startTend(['run', '-c', t.file, '--socket', join(t.dir, 'no', 'such', 'dir', 'tend.sock')], { env: t.env });
    expect((await tend.exited).code).toBe(2);
    expect(tend.stderr).toMatch(/directory .*no\/such\/dir does not exist; create it or choose another --socket/);
    expect(tend.stderr).not.toMatch(/permission denied/i);
    expect(t.events()).toEqual([]);
  });

  it.skipIf(!namespaces)('a read-only directory (a read-only tmpfs under unshare --mount)', async () => {
    const t = scenario('services:\n  app: { main: true, command: [svc, app] }\n');
    const ro = join(t.dir, 'ro');
    mkdirSync(ro);
    const tend = launch(['unshare', '--mount', 'sh', '-c', `mount -t tmpfs -o ro tend-ro "${ro}" && exec "$@"`, 'sh', ...nodeTend('run', '-c', t.file, '--socket', join(ro, 'tend.sock'))], t.env);
    running.push(tend);
    expect((await tend.exited).code).toBe(2);
    expect(tend.stderr).toMatch(/ro is on a read-only file system; choose a writable directory with --socket/);
    expect(t.events()).toEqual([]);
  });
});

describe('a manifest that vanishes before a reload', () => {
  it('is refused over the socket and on SIGHUP; nothing changes', async () => {
    const t = scenario(`
services:
  app: { main: true, command: [svc, app] }
  side: { command: [svc, side] }
`);
    const tend = startTend(['run', '-c', t.file], { env: t.env });
    running.push(tend);
    await waitFor(() => t.events().includes('start side') && t.events().includes('start app'));
    const before = (await status(t.socket)).services.map((s) => [s.name, s.state, s.pid]);
    rmSync(t.file);

    const reply = await request(t.socket, 'reload');
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe('invalid_manifest');
    expect(JSON.stringify(reply.error)).toMatch(/cannot read the manifest: no such file/);
    await tend.signal('SIGHUP');
    await waitFor(() => (tend.stderr.match(/reload refused/g) ?? []).length >= 2, { what: () => `two refusals\n${tend.stderr}` });

    expect((await status(t.socket)).services.map((s) => [s.name, s.state, s.pid])).toEqual(before);
    expect(t.events()).toEqual(expect.not.arrayContaining(['stop side', 'stop app']));
    await tend.signal('SIGTERM');
    expect((await tend.exited).code).toBe(0);
  });
});
