// What tend loads before its main process starts — the start-up budget (issue 8: exec →
// main ≤ 80 ms) is spent on Node's own start, the bundle and the manifest; these guard
// against a change that quietly brings back a costly module or breaks the code caches.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { ROOT, tempDir, writeManifest } from '../helpers/tend';

// Built-in modules tend run and tend -- must not load on their way to the main process:
// each costs 1–4 ms, and none is needed there (see the comments where they are used).
const HEAVY = ['crypto', 'worker_threads', 'inspector', 'fs/promises', 'assert'];

/** The built-in modules loaded when tend spawns its first process (the main). */
function modulesAtFirstSpawn(args: string[]): string[] {
  const dir = tempDir();
  const out = join(dir, 'modules');
  // Preloaded: records Node's module list at the first ChildProcess spawn.
  const preload = join(dir, 'preload.cjs');
  writeFileSync(preload, `
    const { ChildProcess } = require('node:child_process');
    const fs = require('node:fs');
    const spawn = ChildProcess.prototype.spawn;
    ChildProcess.prototype.spawn = function (...args) {
      if (!fs.existsSync(${JSON.stringify(out)})) fs.writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join('\\n'));
      return spawn.apply(this, args);
    };
  `);
  const env = { ...process.env, NODE_OPTIONS: '', TEND_SOCKET: '' };
  const argv = args.map((a) => (a === 'MANIFEST' ? writeManifest(dir, 'services:\n  main:\n    command: ["true"]\n    main: true\n') : a));
  const r = spawnSync(process.execPath, ['-r', preload, join(ROOT, 'bin', 'tend.cjs'), ...argv], { cwd: dir, env, encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(out, 'utf8').split('\n')
    .filter((line) => line.startsWith('NativeModule '))
    .map((line) => line.slice('NativeModule '.length));
}

describe('start-up', () => {
  test.each([
    ['tend run', ['run', '-c', 'MANIFEST']],
    ['tend --', ['--', 'true']],
  ])('%s loads none of the costly built-in modules before main starts', (_what, args) => {
    const loaded = modulesAtFirstSpawn(args);
    expect(loaded).toContain('child_process'); // the list is real
    expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
  });

  test.each(['run', 'tini', 'tini-control', 'check', 'client', 'top'])('dist/%s.cjs has a code cache this Node accepts', (mode) => {
    const file = join(ROOT, 'dist', `${mode}.cjs`);
    const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData: readFileSync(`${file}.cache`) });
    expect(script.cachedDataRejected).toBe(false);
  });
});
