// What tend loads before its main process starts — the start-up budget (issue 8: exec →
// main ≤ 80 ms) is spent on Node's own start, the bundle and the manifest; these guard
// against a change that quietly brings back a costly module or breaks the code caches.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir, writeManifest } from '../helpers/tend';

// Built-in modules tend run and tend -- must not load on their way to the main process:
// each costs 1–4 ms, and none is needed there (see the comments where they are used).
const HEAVY = ['crypto', 'worker_threads', 'inspector', 'fs/promises', 'assert'];

/** The built-in modules loaded when tend spawns its first process (the main). */
function modulesAtFirstSpawn(args: string[]): string[] {
  const dir = tempDir();
  const out = join(dir, 'modules');
  // Preloaded: records Node's module list at tend's first spawn (libtend's tend_spawn,
  // called through ffi-rs).
  const preload = join(dir, 'preload.cjs');
  writeFileSync(preload, `
    const Module = require('node:module');
    const fs = require('node:fs');
    // tend starts processes only through libtend: libuv must never wait for a child of
    // tend's (it would race the reaper thread for the exit status). Any child_process
    // spawn is recorded.
    const childProcess = require('node:child_process');
    const spawn = childProcess.ChildProcess.prototype.spawn;
    childProcess.ChildProcess.prototype.spawn = function (...args) {
      fs.writeFileSync(${JSON.stringify(out + '.child_process')}, new Error().stack);
      return spawn.apply(this, args);
    };
    for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
      const original = childProcess[name];
      childProcess[name] = function (...args) {
        fs.writeFileSync(${JSON.stringify(out + '.child_process')}, new Error().stack);
        return original.apply(this, args);
      };
    }
    const load = Module._load;
    Module._load = function (request, ...rest) {
      const module = load.call(this, request, ...rest);
      if (request !== 'ffi-rs' || module.__tendWrapped) return module;
      const call = module.load;
      const wrapped = { ...module, __tendWrapped: true, load(options) {
        if (options.funcName === 'tend_spawn' && !fs.existsSync(${JSON.stringify(out)})) fs.writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join('\\n'));
        return call.call(module, options);
      } };
      return wrapped;
    };
  `);
  const env = { ...process.env, NODE_OPTIONS: '', TEND_SOCKET: '' };
  const argv = args.map((a) => (a === 'MANIFEST' ? writeManifest(dir, 'services:\n  main:\n    command: ["true"]\n    main: true\n') : a));
  const r = spawnSync(process.execPath, ['-r', preload, join(ROOT, 'bin', 'tend.cjs'), ...argv], { cwd: dir, env, encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(existsSync(`${out}.child_process`) ? readFileSync(`${out}.child_process`, 'utf8') : 'child_process never used').toBe('child_process never used');
  return readFileSync(out, 'utf8').split('\n')
    .filter((line) => line.startsWith('NativeModule '))
    .map((line) => line.slice('NativeModule '.length));
}

describe('start-up', () => {
  test.each([
    ['tend run', ['run', '-c', 'MANIFEST']],
    ['tend --', ['--', 'true']],
  ])('%s loads none of the costly built-in modules before main starts, and never uses child_process', (_what, args) => {
    const loaded = modulesAtFirstSpawn(args);
    expect(loaded).toContain('net'); // the list is real: pipes are read through net.Socket
    expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
  });

  // Under the V8 flag tend runs with (the launcher passes it; bin/tend.cjs sets it otherwise).
  const v8Flag = /const TEND_V8_FLAG = '([^']+)'/.exec(readFileSync(join(ROOT, 'bin', 'tend.cjs'), 'utf8'))![1]!;

  test('the launcher starts Node with the V8 flag bin/tend.cjs sets otherwise', () => {
    expect(readFileSync(join(ROOT, 'native', 'tend-launch.c'), 'utf8')).toContain(`args[1] = "${v8Flag}";`);
  });

  test.each(['run', 'tini', 'tini-control', 'check', 'client', 'top', 'exec'])('dist/%s.cjs has a code cache this Node accepts', (mode) => {
    const file = join(ROOT, 'dist', `${mode}.cjs`);
    const check = `const { Script } = require('node:vm'); const Module = require('node:module'); const fs = require('node:fs');
      const s = new Script(Module.wrap(fs.readFileSync(${JSON.stringify(file)}, 'utf8')), { filename: ${JSON.stringify(file)}, cachedData: fs.readFileSync(${JSON.stringify(`${file}.cache`)}) });
      process.stdout.write(String(s.cachedDataRejected));`;
    for (const argv of [[v8Flag, '-e', check], ['-e', `require('v8').setFlagsFromString(${JSON.stringify(v8Flag)}); ${check}`]]) {
      const result = spawnSync(process.execPath, argv, { encoding: 'utf8' });
      expect(result.stdout, result.stderr).toBe('false');
    }
  });
});
