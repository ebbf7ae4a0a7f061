// The relocatable package (scripts/package.mjs) for the tests that unpack it, and a minimal
// root filesystem to unpack it into: the shared libraries `ldd` names for its binaries, a
// static busybox for a shell and coreutils, /dev/null and /dev/urandom — and no Node.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureBuilt } from './build';
import { ROOT } from './tend';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
export const ARCHIVE = join(ROOT, 'out', `tend-${pkg.version}-linux-${process.arch}.tar.gz`);
const LOCK = join(ROOT, 'node_modules', '.cache', 'tend-package.lock');
const INPUTS = ['dist/.built', 'native/build/tend-exec', 'native/build/libtend.so', 'native/tend-launch.c', 'bin/tend.cjs', 'scripts/package.mjs'];

const pause = (ms: number): void => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) as unknown as void;

function upToDate(): boolean {
  if (!existsSync(ARCHIVE)) return false;
  const made = statSync(ARCHIVE).mtimeMs;
  return INPUTS.every((input) => !existsSync(join(ROOT, input)) || statSync(join(ROOT, input)).mtimeMs <= made);
}

/** Builds dist/ and then the package unless the archive is newer than what goes into it. */
export function ensurePackaged(): string {
  ensureBuilt();
  if (upToDate()) return ARCHIVE;
  mkdirSync(dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${LOCK} held for 3 minutes: a packaging crashed? remove it`);
      pause(100);
    }
  }
  try {
    if (!upToDate()) {
      const made = spawnSync(process.execPath, ['scripts/package.mjs', '--no-build'], { cwd: ROOT, encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`npm run package failed: ${made.stdout}${made.stderr}`);
    }
  } finally {
    rmdirSync(LOCK);
  }
  return ARCHIVE;
}

/** A statically linked busybox (Debian's busybox-static): ldd finds nothing for it to load. */
export const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((path) => {
  if (!existsSync(path)) return false;
  const ldd = spawnSync('ldd', [path], { encoding: 'utf8' });
  return /not a dynamic executable|statically linked/.test(ldd.stdout + ldd.stderr);
});

/** Unpacks the archive into `root` + `into` (a path inside the new root) and returns the package directory there. */
export function unpack(archive: string, root: string, into: string): string {
  const target = join(root, into);
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', archive, '-C', target]);
  return join(target, 'tend');
}

/**
 * A root filesystem with no Node: the package's shared libraries at the paths `ldd` names,
 * busybox and its applets in /bin, /dev/null, /dev/urandom, /tmp, /run, /proc (mounted by
 * `unshare --mount-proc`), /etc/tend.
 */
export function minimalRoot(root: string, packageDir: string): void {
  for (const dir of ['bin', 'dev', 'proc', 'run', 'tmp', 'etc/tend', 'usr/local/bin']) mkdirSync(join(root, dir), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  const binaries = [join(packageDir, 'runtime', 'node'), join(packageDir, 'native', 'build', 'tend-exec'), join(packageDir, 'native', 'build', 'libtend.so')];
  const bindings = join(packageDir, 'node_modules', '@yuuang');
  for (const binding of readdirSync(bindings)) {
    for (const file of readdirSync(join(bindings, binding))) if (file.endsWith('.node')) binaries.push(join(bindings, binding, file));
  }
  const libraries = new Set<string>();
  for (const binary of binaries) {
    for (const match of execFileSync('ldd', [binary], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)) libraries.add(match[1]!);
  }
  for (const library of libraries) {
    mkdirSync(join(root, dirname(library)), { recursive: true });
    copyFileSync(library, join(root, library)); // follows the link: the file itself, under the name ldd gave
  }
  if (BUSYBOX === undefined) throw new Error('no static busybox (apt-get install busybox-static)');
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    if (applet !== 'busybox' && !existsSync(join(root, 'bin', applet))) symlinkSync('busybox', join(root, 'bin', applet));
  }
  execFileSync('mknod', ['-m', '666', join(root, 'dev', 'null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '666', join(root, 'dev', 'urandom'), 'c', '1', '9']);
}
