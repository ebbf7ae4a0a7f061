// The relocatable package (`npm run package`, SPEC §12): unpacked into a root filesystem
// that has no Node at all, under a path with spaces, run through a symlink, as PID 1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX, ensurePackaged, minimalRoot, unpack } from '../helpers/package';
import { canUnshare, childrenOf, ROOT, tempDir, waitFor } from '../helpers/tend';

const ns = canUnshare();
const ready = ns && BUSYBOX !== undefined;
if (!ready) {
  const why = !ns ? 'no PID namespaces here' : 'no static busybox (apt-get install busybox-static)';
  if (process.env.TEND_REQUIRE_NS === '1') throw new Error(`the package tests cannot run: ${why}`);
  console.warn(`skipped: the package tests need ${why}`);
}

/** Inside the new root: the package under a path with spaces, and /usr/local/bin/tend linking to its launcher. */
const INSIDE = '/opt/my tend';
const TEND = '/usr/local/bin/tend';

let archive = '';
let root = '';
let packageDir = '';
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** A clean environment: what a container's would be, plus NODE_OPTIONS that would break any Node that read it. */
const ENV = { PATH: '/usr/local/bin:/bin', NODE_OPTIONS: '--require /nonexistent.js', HOME: '/root' };

/** `unshare` into the new root, as PID 1 of a new PID namespace with its own /proc. */
function inRoot(argv: readonly string[]): string[] {
  return ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child', `--root=${root}`, ...argv];
}

beforeAll(() => {
  if (!ready) return;
  archive = ensurePackaged();
  root = tempDir('tend-rootfs-');
  packageDir = unpack(archive, root, INSIDE);
  minimalRoot(root, packageDir);
  symlinkSync(join(INSIDE, 'tend', 'bin', 'tend'), join(root, TEND));
}, 300_000);

describe.skipIf(!ready)('the package', () => {
  it('holds only what tend runs with, and says how big it is', () => {
    const files: string[] = [];
    const visit = (dir: string, prefix: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) visit(path, `${prefix}${name}/`);
        else files.push(`${prefix}${name}`);
      }
    };
    visit(packageDir, '');
    expect(files).toEqual(expect.arrayContaining([
      'bin/tend', 'bin/tend.cjs', 'dist/tend.cjs', 'dist/run.cjs', 'dist/run.cjs.cache', 'dist/tini.cjs',
      'native/build/tend-exec', 'native/build/libtend.so', 'node_modules/ffi-rs/index.js', 'runtime/node',
    ]));
    expect(files.filter((file) => file.endsWith('.map') || file.endsWith('.ts') || file.endsWith('.md') || file.endsWith('.c'))).toEqual([]);
    const size = files.reduce((sum, file) => sum + statSync(join(packageDir, file)).size, 0);
    console.log(`package: ${(size / 2 ** 20).toFixed(1)} MiB unpacked, ${(statSync(archive).size / 2 ** 20).toFixed(1)} MiB as ${archive.split('/').pop()}`);
    // The root filesystem has no Node of its own to fall back on.
    expect(existsSync(join(root, 'usr', 'bin', 'node'))).toBe(false);
    expect(existsSync(join(root, 'usr', 'local', 'bin', 'node'))).toBe(false);
  });

  it('has no absolute path of the build machine in anything it loads', () => {
    const paths = [...new Set([ROOT, realpathSync(ROOT)])].map((path) => Buffer.from(path));
    const offenders: string[] = [];
    const visit = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) visit(path);
        else {
          const content = readFileSync(path);
          for (const needle of paths) if (content.includes(needle)) offenders.push(`${path.slice(packageDir.length + 1)} holds ${needle.toString()}`);
        }
      }
    };
    visit(packageDir);
    expect(offenders).toEqual([]);
    // The packaged launcher runs runtime/node only: not the Node that built it.
    expect(readFileSync(join(packageDir, 'bin', 'tend')).includes(Buffer.from(process.execPath))).toBe(false);
  });

  it('runs as PID 1 in a root with no Node: order, `tend status` from inside, SIGTERM → ordered shutdown and main\'s code, zero zombies', async () => {
    writeFileSync(join(root, 'etc', 'tend', 'tend.yaml'), [
      'services:',
      '  db:',
      '    command: ["sh", "-c", "echo db up; exec sleep 1000"]',
      '    ready: { command: ["true"], interval: 50ms }',
      '  app:',
      '    main: true',
      '    depends_on: { db: { condition: ready } }',
      // An orphan left behind (re-parented to tend), then a main that exits 7 on SIGTERM.
      '    command: ["sh", "-c", "(sleep 1000 &); env > /tmp/app.env; trap \'exit 7\' TERM; while :; do sleep 1 & wait $$!; done"]',
      '  check:',
      '    type: oneshot',
      '    depends_on: { app: { condition: started } }',
      `    command: ["sh", "-c", "${TEND} status > /tmp/status.txt 2>&1; echo $$? > /tmp/status.code"]`,
      '',
    ].join('\n'));
    const argv = inRoot([TEND, '-c', '/etc/tend/tend.yaml']);
    const child = spawn(argv[0]!, argv.slice(1), { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    await waitFor(() => existsSync(join(root, 'tmp', 'status.code')), { timeout: 20_000, what: () => `tend status from inside; output:\n${output}` });
    expect(readFileSync(join(root, 'tmp', 'status.code'), 'utf8').trim(), readText(join(root, 'tmp', 'status.txt'))).toBe('0');
    expect(readFileSync(join(root, 'tmp', 'status.txt'), 'utf8')).toMatch(/app\s+\S*\s*running|app.*running/);
    expect(output.indexOf('db: started')).toBeGreaterThanOrEqual(0);
    expect(output.indexOf('db: started')).toBeLessThan(output.indexOf('app: started'));

    const tend = await waitFor(() => childrenOf(child.pid!)[0], { what: 'tend under unshare' });
    // PID 1 is the package's own Node, found through the symlink, in the path with spaces.
    expect(readlinkSync(`/proc/${tend}/exe`)).toBe(join(root, INSIDE, 'tend', 'runtime', 'node'));
    // Everything it maps comes from the package or the root's libraries.
    const mapped = new Set(readFileSync(`/proc/${tend}/maps`, 'utf8').split('\n').map((line) => line.split(/\s+/).slice(5).join(' ')).filter((path) => path.startsWith('/')));
    for (const path of mapped) expect(path.startsWith(join(root, INSIDE, 'tend')) || path.startsWith(join(root, 'lib')), path).toBe(true);
    // What tend's Node was given stays its own: the service got NODE_OPTIONS back and nothing of the launcher's.
    const appEnv = readFileSync(join(root, 'tmp', 'app.env'), 'utf8');
    expect(appEnv).toContain('NODE_OPTIONS=--require /nonexistent.js');
    expect(appEnv).not.toMatch(/^(LD_PRELOAD|TEND_HELD_\w+|TEND_SIGNAL_INTAKE|TEND_LAUNCH_FD)=/m);
    expect(appEnv).not.toContain('runtime');

    // Zero zombies in the namespace once the orphan's parent is gone and the oneshot has ended.
    const zombies = (): string[] => descendants(tend).filter((pid) => stateOf(pid) === 'Z').map((pid) => `${pid}`);
    await waitFor(() => zombies().length === 0, { what: () => `no zombies (left: ${zombies().join(' ')})` });

    process.kill(tend, 'SIGTERM');
    expect(await exited).toBe(7);
    const stopped = (name: string) => output.indexOf(`${name}: stopped`);
    expect(stopped('app')).toBeGreaterThanOrEqual(0);
    expect(stopped('app')).toBeLessThan(stopped('db'));
  }, 60_000);

  it('runs `tend -- CMD` there too: CMD\'s code, signals forwarded, NODE_OPTIONS given back', () => {
    const run = (...args: string[]) => {
      const argv = inRoot([TEND, '--', ...args]);
      return spawnSync(argv[0]!, argv.slice(1), { env: ENV, encoding: 'utf8', timeout: 20_000 });
    };
    const code = run('sh', '-c', 'echo "[$NODE_OPTIONS]"; exit 3');
    expect(code.stdout).toBe('[--require /nonexistent.js]\n');
    expect(code.status, code.stderr).toBe(3);
    // CMD signals PID 1 — tend — which forwards it to CMD's group.
    const signaled = run('sh', '-c', 'kill -TERM 1; sleep 5; exit 0');
    expect(signaled.status, signaled.stderr).toBe(143);
  }, 30_000);

  it('finds itself unpacked under a path with spaces and run through a symlink, outside any chroot', () => {
    const dir = tempDir('tend pkg with spaces-');
    const unpacked = unpack(archive, dir, 'a b');
    const link = join(dir, 'tend-link');
    symlinkSync(join(unpacked, 'bin', 'tend'), link);
    const env = { PATH: '/usr/bin:/bin', NODE_OPTIONS: '--require /nonexistent.js' };
    const version = spawnSync(link, ['--version'], { env, encoding: 'utf8', timeout: 20_000 });
    expect(version.stdout, version.stderr).toMatch(/^tend \d+\.\d+\.\d+/);
    const tini = spawnSync(link, ['--', 'sh', '-c', 'readlink /proc/$PPID/exe'], { env, encoding: 'utf8', timeout: 20_000 });
    expect(tini.stdout.trim()).toBe(join(unpacked, 'runtime', 'node'));
    expect(tini.status).toBe(0);
  }, 30_000);

  // Where it is unpacked, the package makes its own start-up snapshots (the Dockerfile runs
  // this): trimmed of the code cache of Node's modules tend never loads (scripts/snapshot.mjs).
  it('makes its start-up snapshots where it is unpacked, with Node\'s code cache trimmed', async () => {
    const made = spawnSync(join(packageDir, 'runtime', 'node'), [join(packageDir, 'scripts', 'snapshot.mjs')], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH } });
    try {
      expect(made.status, made.stderr).toBe(0);
      expect(made.stderr).toBe('');
      const { builtinCache } = await import(pathToFileURL(join(ROOT, 'scripts', 'snapshot.mjs')).href) as { builtinCache(blob: Buffer): { entries: unknown[] } | null };
      for (const mode of ['run', 'tini']) {
        expect(existsSync(join(packageDir, 'dist', `${mode}.snapshot.stamp`)), mode).toBe(true);
        const found = builtinCache(readFileSync(join(packageDir, 'dist', `${mode}.snapshot`)));
        expect(found?.entries.length, mode).toBeLessThan(120);
      }
    } finally {
      // The other tests run the package as shipped: without snapshots.
      for (const mode of ['run', 'tini']) for (const file of [`${mode}.snapshot.stamp`, `${mode}.snapshot`]) rmSync(join(packageDir, 'dist', file), { force: true });
    }
  }, 90_000);
});

function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    for (const child of childrenOf(next)) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function stateOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

