// SPEC §1 socket path rules, server and client side.
import { describe, expect, test } from 'vitest';
import { chmodSync, chownSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  clientSocketCandidates, ensurePrivateDir, fallbackDir, firstExistingSocket, manifestSocket, serverSocketPath,
} from '../../src/control/socketpath';
import { unreachableMessage } from '../../src/control/client';
import { tempDir } from '../helpers/tend';

const isRoot = process.getuid?.() === 0;
const uid = process.getuid?.() ?? 0;

describe('server path', () => {
  test('--socket, then TEND_SOCKET, then settings.socket, then /run, then the fallback', () => {
    const run = tempDir('tend-run-');
    const tmp = tempDir('tend-tmp-');
    const base = { uid, runDir: run, tmpDir: tmp, manifest: '/etc/tend/tend.yaml' };
    expect(serverSocketPath({ ...base, flag: '/a.sock', env: { TEND_SOCKET: '/b.sock' }, settingsSocket: '/c.sock' }))
      .toEqual({ ok: true, path: '/a.sock', source: { kind: 'flag' } });
    expect(serverSocketPath({ ...base, flag: null, env: { TEND_SOCKET: '/b.sock' }, settingsSocket: '/c.sock' }))
      .toEqual({ ok: true, path: '/b.sock', source: { kind: 'env' } });
    expect(serverSocketPath({ ...base, flag: null, env: { TEND_SOCKET: '' }, settingsSocket: '/c.sock' }))
      .toEqual({ ok: true, path: '/c.sock', source: { kind: 'settings', file: '/etc/tend/tend.yaml' } });
    expect(serverSocketPath({ ...base, flag: null, env: {}, settingsSocket: null }))
      .toEqual({ ok: true, path: join(run, 'tend.sock'), source: { kind: 'default' } });
    expect(serverSocketPath({ ...base, runDir: join(run, 'missing'), flag: null, env: {}, settingsSocket: null }))
      .toEqual({ ok: true, path: join(tmp, `tend-${uid}`, 'tend.sock'), source: { kind: 'fallback' } });
  });

  test('the fallback directory is created 0700', () => {
    const tmp = tempDir('tend-tmp-');
    const dir = fallbackDir(uid, tmp);
    expect(ensurePrivateDir(dir, uid)).toEqual({ ok: true });
    const stat = statSync(dir);
    expect(stat.isDirectory()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o700);
    expect(stat.uid).toBe(uid);
    // Ours but opened up: made private again.
    chmodSync(dir, 0o777);
    expect(ensurePrivateDir(dir, uid)).toEqual({ ok: true });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test('a symlinked fallback directory is refused', () => {
    const tmp = tempDir('tend-tmp-');
    const elsewhere = tempDir('tend-elsewhere-');
    symlinkSync(elsewhere, fallbackDir(uid, tmp));
    expect(ensurePrivateDir(fallbackDir(uid, tmp), uid)).toMatchObject({ ok: false, message: expect.stringContaining('is a symlink') });
    expect(serverSocketPath({ flag: null, env: {}, uid, runDir: '/nonexistent', tmpDir: tmp, settingsSocket: null, manifest: null }))
      .toMatchObject({ ok: false, message: expect.stringContaining('symlink') });
  });

  test('a fallback path that is a file is refused', () => {
    const tmp = tempDir('tend-tmp-');
    writeFileSync(fallbackDir(uid, tmp), '');
    expect(ensurePrivateDir(fallbackDir(uid, tmp), uid)).toMatchObject({ ok: false, message: expect.stringContaining('not a directory') });
  });

  test.runIf(isRoot)('a fallback directory owned by someone else is refused', () => {
    const tmp = tempDir('tend-tmp-');
    const dir = fallbackDir(uid, tmp);
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    expect(ensurePrivateDir(dir, uid)).toMatchObject({ ok: false, message: expect.stringContaining('belongs to uid 65534') });
  });
});

describe('client path', () => {
  test('an explicit path is the only candidate', () => {
    expect(clientSocketCandidates({ flag: null, env: { TEND_SOCKET: '/x.sock' }, uid: 5, settings: { socket: '/s.sock', file: 'f' } }))
      .toEqual([{ path: '/x.sock', source: { kind: 'env' } }]);
  });

  test('otherwise settings.socket, /run/tend.sock and the fallback, of which the first existing socket wins', async () => {
    const run = tempDir('tend-run-');
    const tmp = tempDir('tend-tmp-');
    const candidates = clientSocketCandidates({ flag: null, env: {}, uid: 5, runDir: run, tmpDir: tmp, settings: { socket: join(run, 'nope.sock'), file: 'tend.yaml' } });
    expect(candidates.map((c) => c.source.kind)).toEqual(['settings', 'default', 'fallback']);
    expect(firstExistingSocket(candidates)).toBeNull();
    // A regular file where the default would be does not count.
    writeFileSync(join(run, 'tend.sock'), '');
    expect(firstExistingSocket(candidates)).toBeNull();
    mkdirSync(join(tmp, 'tend-5'));
    const server = createServer();
    await new Promise<void>((r) => server.listen(join(tmp, 'tend-5', 'tend.sock'), r));
    expect(firstExistingSocket(candidates)).toMatchObject({ source: { kind: 'fallback' } });
    server.close();
  });

  test('settings.socket is read from the manifest tend would read, with ${VAR} expanded', () => {
    const dir = tempDir('tend-manifest-');
    const file = join(dir, 'tend.yaml');
    writeFileSync(file, 'settings:\n  socket: ${SOCK_DIR}/t.sock\nservices: {}\n');
    const expand = (text: string) => text.replace('${SOCK_DIR}', '/srv');
    expect(manifestSocket({ TEND_CONFIG: file }, parse, expand)).toEqual({ socket: '/srv/t.sock', file });
    writeFileSync(file, 'services: [unbalanced\n');
    expect(manifestSocket({ TEND_CONFIG: file }, parse, expand)).toBeNull();
  });

  test('the unreachable message names the paths tried and why they were chosen', () => {
    expect(unreachableMessage([{ path: '/run/tend.sock', source: { kind: 'default' } }], 'ENOENT'))
      .toBe('cannot reach /run/tend.sock (default path): no such file — is tend running? set --socket or TEND_SOCKET');
    expect(unreachableMessage([{ path: '/x.sock', source: { kind: 'env' } }], 'ECONNREFUSED'))
      .toBe('cannot reach /x.sock (TEND_SOCKET): nothing is listening (a stale socket file) — is tend running? set --socket or TEND_SOCKET');
  });
});
