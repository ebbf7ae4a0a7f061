// What tend loads before its main process starts — the start-up budget (issue 8: exec →
// main ≤ 80 ms) is spent on Node's own start, the bundle and the manifest; these guard
// against a change that quietly brings back a costly module or breaks the code caches.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { canUnshare, ROOT, TEND_LAUNCHER, tempDir, writeManifest } from '../helpers/tend';

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
    expect(readFileSync(join(ROOT, 'native', 'tend-launch.c'), 'utf8')).toContain(`#define V8_FLAG "${v8Flag}"`);
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

// The V8 start-up snapshots (bin/tend-snapshot.cjs, scripts/snapshot.mjs), chosen by the
// launcher (native/tend-launch.c) only when their stamp matches; TEND_DEBUG_STARTUP=1 makes
// tend say how it started. Every fallback must behave exactly as a start without a snapshot.
describe.skipIf(!existsSync(TEND_LAUNCHER))('the start-up snapshot', () => {
  if (!existsSync(TEND_LAUNCHER)) console.warn('skipped: bin/tend was not built (no C compiler at `npm ci`)');

  const cleanEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', TEND_DEBUG_STARTUP: '1' };
    delete env.TEND_SOCKET;
    delete env.TEND_NO_SNAPSHOT;
    return { ...env, ...extra };
  };
  const MAIN = 'echo "to stdout $TEND_LAUNCH_SNAPSHOT"; echo to stderr >&2; exit 3';

  /** `tend run` and `tend -- CMD` through the launcher in `root`, with their outcome. */
  function starts(root: string, dir: string, extra: NodeJS.ProcessEnv = {}) {
    const manifest = writeManifest(dir, `services:\n  app:\n    command: ["sh", "-c", ${JSON.stringify(MAIN)}]\n    main: true\n`, 'snapshot.yaml');
    const modes = { run: ['run', '-c', manifest], tini: ['--', 'sh', '-c', MAIN] } as const;
    return Object.entries(modes).map(([mode, args]) => {
      const r = spawnSync(join(root, 'bin', 'tend'), args, { cwd: dir, env: cleanEnv({ TEND_SOCKET: mode === 'run' ? join(dir, 'tend.sock') : '', ...extra }), encoding: 'utf8', timeout: 20_000 });
      const said = /tend: start-up: (.*)\n/.exec(r.stderr)?.[1] ?? `(no start-up line) ${r.stderr}`;
      return { mode, status: r.status, signal: r.signal, stdout: r.stdout, other: r.stderr.includes('to stderr'), said };
    });
  }
  const outcome = (rows: ReturnType<typeof starts>) => rows.map(({ mode, status, signal, stdout, other }) => ({ mode, status, signal, stdout: stdout.replace(/^app \| /gm, ''), other }));
  const same = [
    { mode: 'run', status: 3, signal: null, stdout: 'to stdout \n', other: true },
    { mode: 'tini', status: 3, signal: null, stdout: 'to stdout \n', other: true },
  ];

  test('tend run and tend -- start from their own snapshots, and behave as without one', () => {
    const dir = tempDir();
    const used = starts(ROOT, dir);
    expect(used.map((r) => r.said)).toEqual([
      `from the start-up snapshot ${join(ROOT, 'dist', 'run.snapshot')}`,
      `from the start-up snapshot ${join(ROOT, 'dist', 'tini.snapshot')}`,
    ]);
    expect(outcome(used)).toEqual(same);
    const without = starts(ROOT, dir, { TEND_NO_SNAPSHOT: '1' });
    expect(without.map((r) => r.said)).toEqual(Array(2).fill('without a start-up snapshot (TEND_NO_SNAPSHOT is set)'));
    expect(outcome(without)).toEqual(same);
  });

  test('each blob keeps only the code cache of Node modules tend may still load; a blob of unknown layout is kept whole', async () => {
    // scripts/snapshot.mjs, trimBuiltinCache: Node's cache of its own ~320 modules was 2.8 MB
    // of a 7 MB blob, read and held in memory at every start.
    const { builtinCache, trimBuiltinCache } = await import(pathToFileURL(join(ROOT, 'scripts', 'snapshot.mjs')).href) as {
      builtinCache(blob: Buffer): { start: number; entries: { id: string }[] } | null;
      trimBuiltinCache(from: string, to: string, loaded: Set<string>): boolean;
    };
    for (const mode of ['run', 'tini']) {
      const found = builtinCache(readFileSync(join(ROOT, 'dist', `${mode}.snapshot`)));
      expect(found, mode).not.toBeNull();
      const ids = found!.entries.map((entry) => entry.id);
      expect(ids.length, mode).toBeLessThan(120);
      // what a tend run loads after its start (http probes, dns, worker_threads for a report...)
      for (const later of ['http', '_http_client', 'dns', 'worker_threads']) expect(ids, mode).toContain(later);
      // never consulted: loaded in the snapshot already (fs, net) or never loaded by tend
      for (const never of ['fs', 'net', 'repl', 'internal/deps/acorn/acorn/dist/acorn', 'internal/test_runner/test']) expect(ids, mode).not.toContain(never);
    }
    const dir = tempDir();
    const garbage = join(dir, 'garbage.snapshot');
    writeFileSync(garbage, Buffer.alloc(4096, 7));
    expect(trimBuiltinCache(garbage, join(dir, 'trimmed'), new Set())).toBe(false);
    expect(existsSync(join(dir, 'trimmed'))).toBe(false);
  });

  test.skipIf(!canUnshare())('as PID 1 of a PID namespace, from the snapshot and without: the same pids, output and exit codes', () => {
    const dir = tempDir();
    const manifest = writeManifest(dir, 'services:\n  app:\n    command: ["sh", "-c", "echo pid $$$$; exit 3"]\n    main: true\n', 'pid1.yaml'); // $$ is a $ in a manifest
    for (const [extra, said] of [[{}, 'from the start-up snapshot'], [{ TEND_NO_SNAPSHOT: '1' }, 'without a start-up snapshot']] as const) {
      for (const args of [['--', 'sh', '-c', 'echo pid $$; exit 3'], ['run', '-c', manifest]]) {
        const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', TEND_LAUNCHER, ...args], {
          cwd: dir, env: cleanEnv({ TEND_SOCKET: args[0] === 'run' ? join(dir, 'pid1.sock') : '', ...extra }), encoding: 'utf8', timeout: 20_000,
        });
        expect({ args, status: r.status, said: r.stderr.includes(`tend: start-up: ${said}`), pid: /pid (\d+)/.exec(r.stdout)?.[1] }, r.stderr)
          .toEqual({ args, status: 3, said: true, pid: expect.stringMatching(/^\d+$/) });
        // tend is PID 1: what it starts has another pid.
        expect(Number(/pid (\d+)/.exec(r.stdout)?.[1])).toBeGreaterThan(1);
      }
    }
  });

  test('a moved, missing, rewritten, truncated, other-Node or other-flag snapshot is not used; tend starts the same without it', () => {
    // A copy of tend elsewhere, as `npm ci` would leave it (ffi-rs from this node_modules).
    const root = tempDir('tend-copy-');
    for (const dir of ['bin', 'dist', 'native/build']) mkdirSync(join(root, dir), { recursive: true });
    for (const file of ['bin/tend', 'bin/tend.cjs', 'bin/tend-snapshot.cjs', 'native/build/libtend.so', 'native/build/tend-exec']) copyFileSync(join(ROOT, file), join(root, file));
    chmodSync(join(root, 'bin', 'tend'), 0o755);
    for (const file of readdirSync(join(ROOT, 'dist'))) {
      if (/\.cjs(\.cache)?$|\.snapshot(\.stamp)?$/.test(file)) copyFileSync(join(ROOT, 'dist', file), join(root, 'dist', file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    const dir = tempDir();
    const MISMATCH = "without a start-up snapshot (the snapshot's stamp does not match this Node, flag, place, blob or bundles)";
    const fallsBack = (why: string, expected = MISMATCH) => {
      const rows = starts(root, dir);
      expect({ why, said: rows.map((r) => r.said) }).toEqual({ why, said: [expected, expected] });
      expect(outcome(rows)).toEqual(same);
    };
    const stamp = (mode: string) => join(root, 'dist', `${mode}.snapshot.stamp`);
    const rewriteStamps = (edit: (text: string) => string) => {
      for (const mode of ['run', 'tini']) writeFileSync(stamp(mode), edit(readFileSync(stamp(mode), 'utf8')));
    };
    const make = () => {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'snapshot.mjs'), root], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    };

    fallsBack('moved: the stamps name the checkout they were made in');
    make();
    expect(starts(root, dir).map((r) => r.said)).toEqual([
      `from the start-up snapshot ${join(realpathSync(root), 'dist', 'run.snapshot')}`,
      `from the start-up snapshot ${join(realpathSync(root), 'dist', 'tini.snapshot')}`,
    ]);
    rewriteStamps((text) => text.replace(/^node (\d+)/m, (_all, size: string) => `node ${Number(size) + 1}`));
    fallsBack('another Node binary made them');
    make();
    rewriteStamps((text) => text.replace(/^flags .*/m, 'flags --max-semi-space-size=16'));
    fallsBack('made under another V8 flag');
    make();
    // Rewritten after the stamp, same size (later: the stamp holds whole seconds): the
    // mtime says so. Truncated: the size does.
    for (const mode of ['run', 'tini']) {
      const blob = join(root, 'dist', `${mode}.snapshot`);
      const bytes = readFileSync(blob);
      bytes.fill(0xff, bytes.length >> 1, (bytes.length >> 1) + 64);
      writeFileSync(blob, bytes);
      const later = new Date(statSync(blob).mtimeMs + 2000);
      utimesSync(blob, later, later);
    }
    fallsBack('damaged after its stamp was written');
    make();
    for (const mode of ['run', 'tini']) truncateSync(join(root, 'dist', `${mode}.snapshot`), 1000);
    fallsBack('truncated');
    make();
    // The stub edited after the snapshot was made (it runs as the snapshot's main function).
    writeFileSync(join(root, 'bin', 'tend.cjs'), `${readFileSync(join(root, 'bin', 'tend.cjs'), 'utf8')}\n`);
    fallsBack('made from another bin/tend.cjs');
    make();
    // Unreadable (tend started as a user the blob is not readable by; Node would end, exit 14).
    const setpriv = spawnSync('setpriv', ['--version']).status === 0;
    if (process.getuid?.() !== 0 || !setpriv) console.warn('skipped the unreadable-snapshot case: it needs root and setpriv (util-linux)');
    if (process.getuid?.() === 0 && setpriv) {
      for (const mode of ['run', 'tini']) chmodSync(join(root, 'dist', `${mode}.snapshot`), 0o600);
      for (const dir of [root, join(root, 'bin'), join(root, 'dist'), join(root, 'native'), join(root, 'native', 'build')]) chmodSync(dir, 0o755);
      chmodSync(dir, 0o777);
      const rows = ['run', 'tini'].map((mode) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(root, 'bin', 'tend'), ...(mode === 'run' ? ['run', '-c', writeManifest(dir, `services:\n  app:\n    command: ["sh", "-c", ${JSON.stringify(MAIN)}]\n    main: true\n`, 'nobody.yaml')] : ['--', 'sh', '-c', MAIN])], {
        cwd: dir, env: cleanEnv({ TEND_SOCKET: mode === 'run' ? join(dir, 'nobody.sock') : '' }), encoding: 'utf8', timeout: 20_000,
      }));
      expect(rows.map((r) => ({ status: r.status, said: /tend: start-up: (.*)\n/.exec(r.stderr)?.[1] ?? r.stderr }))).toEqual(Array(2).fill({ status: 3, said: 'without a start-up snapshot (the snapshot is not readable by this user)' }));
    }
    for (const mode of ['run', 'tini']) rmSync(join(root, 'dist', `${mode}.snapshot`));
    fallsBack('missing', 'without a start-up snapshot (no snapshot made (npm run build or scripts/snapshot.mjs makes it))');
  }, 120_000);
});
