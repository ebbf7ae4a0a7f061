// env_files at each start, the pure reading rules: in order, later over earlier; an optional
// file that is missing is skipped; anything else that cannot be read fails, naming the file
// and never a value; `cleared` variables stay unset; the spawner wrapper puts env: over them.
import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envFilesDigest, readEnvFiles, withEnvFiles } from '../../src/process/env-files';
import type { Spawned, SpawnSpec } from '../../src/process/spawn';
import { tempDir } from '../helpers/tend';

describe('readEnvFiles', () => {
  test('in order, later files over earlier ones; optional missing files skipped; cleared variables left out', () => {
    const dir = tempDir('tend-envfiles-');
    writeFileSync(join(dir, 'a.env'), 'A=1\nB=from-a\n# comment\nQUOTED="two words"\n');
    writeFileSync(join(dir, 'b.env'), 'B=from-b\nC=3\n');
    const result = readEnvFiles([
      { path: join(dir, 'a.env'), required: true },
      { path: join(dir, 'missing.env'), required: false },
      { path: join(dir, 'b.env'), required: true },
    ], ['C']);
    expect(result).toEqual({ ok: true, env: { A: '1', B: 'from-b', QUOTED: 'two words' } });
  });

  test('a required missing file, a directory, a FIFO (required or not): refused with the path, never a value', () => {
    const dir = tempDir('tend-envfiles-');
    writeFileSync(join(dir, 'secret.env'), 'PASSWORD=hunter2\n');
    mkdirSync(join(dir, 'dir.env'));
    execFileSync('mkfifo', [join(dir, 'fifo.env')]);
    const read = (path: string, required: boolean) => readEnvFiles([{ path: join(dir, 'secret.env'), required: true }, { path: join(dir, path), required }]);
    expect(read('missing.env', true)).toEqual({ ok: false, message: `cannot read env_file ${join(dir, 'missing.env')}: no such file` });
    expect(read('dir.env', false)).toEqual({ ok: false, message: `cannot read env_file ${join(dir, 'dir.env')}: not a regular file` });
    expect(read('fifo.env', false)).toEqual({ ok: false, message: `cannot read env_file ${join(dir, 'fifo.env')}: not a regular file` });
  });

  test('the fingerprint changes with the variables, not with comments or order of the same file', () => {
    const dir = tempDir('tend-envfiles-');
    const file = join(dir, 'x.env');
    writeFileSync(file, 'A=1\n');
    const before = envFilesDigest([{ path: file, required: true }]);
    writeFileSync(file, '# edited\nA=1\n');
    expect(envFilesDigest([{ path: file, required: true }])).toBe(before);
    writeFileSync(file, 'A=2\n');
    expect(envFilesDigest([{ path: file, required: true }])).not.toBe(before);
    expect(envFilesDigest([{ path: join(dir, 'gone'), required: true }])).toBeNull();
    expect(envFilesDigest([])).toBe('');
  });
});

describe('withEnvFiles', () => {
  const spec = (over: Partial<SpawnSpec>): SpawnSpec => ({
    service: 'web', argv: ['true'], env: {}, cwd: null, user: null, group: null, stdin: 'null', output: 'null', notifyFd: null, cgroup: null, session: 'new', ...over,
  });
  const fake = (seen: SpawnSpec[]) => (s: SpawnSpec): Spawned => {
    seen.push(s);
    return { pid: 42, stdout: null, stderr: null, notify: null, exit: new Promise(() => {}) };
  };

  test('env: over the files; only the service\'s own process is recorded; an unreadable required file starts nothing (126)', async () => {
    const dir = tempDir('tend-envfiles-');
    writeFileSync(join(dir, 'x.env'), 'A=file\nB=file\n');
    const spawned: SpawnSpec[] = [];
    const recorded: string[] = [];
    const spawn = withEnvFiles(fake(spawned), (s) => recorded.push(s.service));
    spawn(spec({ env: { B: 'env' }, envFiles: [{ path: join(dir, 'x.env'), required: true }], serviceProcess: true }));
    spawn(spec({ service: 'probe', envFiles: [{ path: join(dir, 'x.env'), required: true }] }));
    expect(spawned.map((s) => s.env)).toEqual([{ A: 'file', B: 'env' }, { A: 'file', B: 'file' }]);
    expect(recorded).toEqual(['web']);
    const failed = spawn(spec({ envFiles: [{ path: join(dir, 'nope.env'), required: true }], serviceProcess: true }));
    expect(failed.pid).toBe(0);
    expect(await failed.exit).toEqual({ kind: 'failed', code: 126, reason: `cannot read env_file ${join(dir, 'nope.env')}: no such file` });
    expect(spawned).toHaveLength(2);
  });
});
