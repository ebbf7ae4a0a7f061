// Secrets from files: `env: { KEY: { file: PATH } }`. The pure reading rules, then a real
// tend session: the value reaches the service, and no output of the session shows it.
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSecretFiles, withSecretFiles, MAX_SECRET_BYTES } from '../../src/process/secrets';
import type { SpawnSpec } from '../../src/process/spawn';
import { ensureBuilt } from '../helpers/build';
import { issuesOf, planOf, yaml } from '../config/manifest';
import { freePort, readText, runTendSync, startTend, tempDir, waitFor, writeManifest, ROOT, TEND_BIN, type RunningTend } from '../helpers/tend';

describe('in the manifest', () => {
  test('{ file: PATH } becomes a secret file (absolute), never a value of env; it replaces an env_file variable of the same name', async () => {
    const plan = await planOf(yaml`
      services:
        web:
          command: [web]
          env_file: .env
          env:
            DB_PASSWORD: { file: secrets/db }
            API_KEY: { file: /run/secrets/api }
            PLAIN: plain
    `, {}, { '.env': 'DB_PASSWORD=from-env-file\nKEPT=1\n' });
    const web = plan.services[0]!;
    // env_files are read at each start, under env: and the secret files (test/process/env-files.test.ts).
    expect(web.env).toEqual({ PLAIN: 'plain' });
    expect(web.secretFiles).toEqual({ DB_PASSWORD: join(plan.file!, '..', 'secrets', 'db'), API_KEY: '/run/secrets/api' });
  });

  test('a malformed secret entry is a located error that echoes no value', async () => {
    expect(await issuesOf(yaml`
      services:
        web:
          command: [web]
          env:
            A: { file: "" }
            B: { path: hunter2 }
    `)).toEqual([
      'tend.yaml:5:18: services.web.env.A.file: must not be empty',
      'tend.yaml:6:10: services.web.env.B: expected a string, number, boolean, null or { file: PATH }',
    ]);
  });
});

describe('resolveSecretFiles', () => {
  test('a file\'s content, one trailing newline (LF or CRLF) removed, inner ones kept', () => {
    const dir = tempDir('tend-secrets-');
    const files = { A: 'a', B: 'b', C: 'c', D: 'd', E: 'e' };
    writeFileSync(join(dir, 'a'), 's3cret\n');
    writeFileSync(join(dir, 'b'), 's3cret\r\n');
    writeFileSync(join(dir, 'c'), 'line1\nline2\n\n');
    writeFileSync(join(dir, 'd'), 'no newline');
    writeFileSync(join(dir, 'e'), '');
    const result = resolveSecretFiles(Object.fromEntries(Object.entries(files).map(([k, f]) => [k, join(dir, f)])));
    expect(result).toEqual({ ok: true, env: { A: 's3cret', B: 's3cret', C: 'line1\nline2\n', D: 'no newline', E: '' } });
  });

  test('a missing file, a directory, a FIFO, a NUL byte, an oversized file: refused, naming the variable and path, never the content', () => {
    const dir = tempDir('tend-secrets-');
    const path = (name: string): string => join(dir, name);
    expect(resolveSecretFiles({ DB_PASSWORD: path('missing') })).toEqual({ ok: false, message: `cannot read secret DB_PASSWORD (file ${path('missing')}): no such file` });
    expect(resolveSecretFiles({ K: dir })).toEqual({ ok: false, message: `cannot read secret K (file ${dir}): not a regular file` });
    // A FIFO with no writer: opening it must neither block nor wait for one.
    expect(spawnSync('mkfifo', [path('fifo')]).status).toBe(0);
    expect(resolveSecretFiles({ K: path('fifo') })).toEqual({ ok: false, message: `cannot read secret K (file ${path('fifo')}): not a regular file` });
    writeFileSync(path('nul'), 'hunter2\0tail');
    const nul = resolveSecretFiles({ K: path('nul') });
    expect(nul).toEqual({ ok: false, message: `secret K (file ${path('nul')}) contains a NUL byte, which an environment variable cannot hold` });
    writeFileSync(path('big'), 'x'.repeat(MAX_SECRET_BYTES + 10));
    const big = resolveSecretFiles({ K: path('big') });
    expect(big.ok).toBe(false);
    expect(!big.ok && big.message).toMatch(/^secret K \(file .*big\) is \d+ bytes: over the 131072-byte limit of an environment variable$/);
    // The last byte under the limit fits (with its newline removed).
    writeFileSync(path('max'), `${'y'.repeat(MAX_SECRET_BYTES)}\n`);
    expect(resolveSecretFiles({ K: path('max') }).ok).toBe(true);
  });

  test('withSecretFiles: read right before each spawn and put over env; an unreadable one fails the spawn (126) and starts nothing', async () => {
    const dir = tempDir('tend-secrets-');
    const file = join(dir, 'token');
    const spec: SpawnSpec = {
      service: 'web', argv: ['true'], env: { TOKEN: 'from env_file', OTHER: 'x' }, secretFiles: { TOKEN: file },
      cwd: null, user: null, group: null, stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new',
    };
    const seen: SpawnSpec[] = [];
    const spawn = withSecretFiles((s) => {
      seen.push(s);
      return { pid: 123, stdout: null, stderr: null, notify: null, exit: Promise.resolve({ kind: 'exited', code: 0 }) };
    });
    const failed = spawn(spec);
    expect(failed.pid).toBe(0);
    expect(await failed.exit).toEqual({ kind: 'failed', code: 126, reason: `cannot read secret TOKEN (file ${file}): no such file` });
    expect(seen).toHaveLength(0);
    writeFileSync(file, 'one\n');
    spawn(spec);
    writeFileSync(file, 'two\n'); // rotated: the next start reads it again
    spawn(spec);
    expect(seen.map((s) => s.env)).toEqual([{ TOKEN: 'one', OTHER: 'x' }, { TOKEN: 'two', OTHER: 'x' }]);
  });
});

const running: RunningTend[] = [];

afterEach(async () => {
  for (const t of running.splice(0)) {
    if (t.child.exitCode === null && t.child.signalCode === null) {
      t.child.kill('SIGTERM');
      const timer = setTimeout(() => t.child.kill('SIGKILL'), 10_000);
      await t.exited;
      clearTimeout(timer);
    }
  }
});

describe('a real tend with secrets from files', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  test('the value reaches the service (and its probes) at each start, and no output of the session shows it', async () => {
    const dir = tempDir('tend-secrets-e2e-');
    const secret = 'Sup3r-S3cret-' + Math.random().toString(36).slice(2);
    const rotated = 'R0tated-' + Math.random().toString(36).slice(2);
    writeFileSync(join(dir, 'db'), `${secret}\n`);
    writeFileSync(join(dir, '.env'), 'DB_PASSWORD=overridden-by-the-secret\n');
    const socket = join(dir, 'tend.sock');
    const port = await freePort();
    const manifest = writeManifest(dir, `
settings: { http: "127.0.0.1:${port}" }
services:
  app:
    main: true
    env_file: .env
    env:
      DB_PASSWORD: { file: db }
    # What the service saw goes to a file of its own, never to its output.
    command: ["sh", "-c", "printf '%s\\\\n' \\"$$DB_PASSWORD\\" >> '${dir}/seen'; echo app up; exec sleep 1000"]
    healthcheck:
      command: ["sh", "-c", "printf '%s\\\\n' \\"$$DB_PASSWORD\\" > '${dir}/probe-seen'"]
      interval: 100ms
  broken:
    env:
      DB_PASSWORD: { file: /nonexistent/secret }
    command: ["sh", "-c", "echo should not run; sleep 1000"]
    restart: never
`);
    const outputs: Array<[string, string]> = [];
    const cli = (...args: string[]): { code: number | null; out: string } => {
      const result = spawnSync(process.execPath, [TEND_BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, TEND_SOCKET: socket }, encoding: 'utf8', timeout: 20_000 });
      const out = result.stdout + result.stderr;
      outputs.push([`tend ${args.join(' ')}`, out]);
      return { code: result.status, out };
    };

    for (const args of [['check', '-c', manifest], ['check', '--json', '-c', manifest]]) {
      const result = runTendSync(args, { env: { TEND_SOCKET: socket } });
      expect(result.code).toBe(0);
      outputs.push([`tend ${args.join(' ')}`, result.stdout + result.stderr]);
    }
    expect(outputs[1]![1]).toContain(join(dir, 'db')); // the path is shown; the value is not

    const tend = startTend(['-c', manifest], { env: { TEND_SOCKET: socket } });
    running.push(tend);
    await waitFor(() => readText(join(dir, 'seen')).includes('\n'), { what: () => `the service to start\n${tend.stderr}` });
    expect(readText(join(dir, 'seen'))).toBe(`${secret}\n`);
    await waitFor(() => readText(join(dir, 'probe-seen')) === `${secret}\n`, { what: 'the healthcheck to see the secret' });

    // The missing file fails that start, with the reason, and runs nothing.
    await waitFor(() => /broken\s+(exited|fatal)/.test(cli('status').out), { what: () => `broken to fail\n${tend.stderr}` });
    await tend.waitOutput(`cannot read secret DB_PASSWORD (file /nonexistent/secret): no such file`);
    expect(tend.stdout + tend.stderr).not.toContain('should not run');

    // Rotated, then restarted: the new value is read at that start.
    const events = startTend(['events', '--json'], { env: { TEND_SOCKET: socket } });
    running.push(events);
    writeFileSync(join(dir, 'db'), `${rotated}\n`);
    // `tend events` subscribes at some point after it starts: restart until it has seen one.
    await waitFor(() => {
      expect(cli('restart', 'app').code).toBe(0);
      return events.stdout.includes('"to":"running"');
    }, { interval: 200, what: () => `tend events to show a restart\n${events.stderr}` });
    const seen = await waitFor(() => {
      const lines = readText(join(dir, 'seen')).split('\n').filter(Boolean);
      return lines.length >= 2 ? lines : null;
    }, { what: 'the restarted service to write what it saw' });
    expect(seen[0]).toBe(secret);
    expect(new Set(seen.slice(1))).toEqual(new Set([rotated]));

    cli('status');
    cli('status', '--json', '-v');
    cli('logs', 'app');
    cli('logs', 'broken');
    cli('health');
    for (const path of ['/status', '/metrics', '/healthz', '/readyz']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      outputs.push([`GET ${path}`, await response.text()]);
    }
    events.child.kill('SIGTERM');
    await events.exited;
    outputs.push(['tend events --json', events.stdout + events.stderr]);
    await tend.signal('SIGTERM');
    await tend.exited;
    outputs.push(['tend', tend.stdout + tend.stderr]);

    expect(outputs.find(([what]) => what === 'tend logs app')![1]).toContain('app up');
    for (const [what, text] of outputs) {
      expect(text, what).not.toContain(secret);
      expect(text, what).not.toContain(rotated);
      expect(text, what).not.toContain('overridden-by-the-secret');
    }
  }, 60_000);
});
