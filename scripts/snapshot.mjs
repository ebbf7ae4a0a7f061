// The V8 start-up snapshots (dist/<mode>.snapshot; bin/tend-snapshot.cjs says what they
// hold) and their stamps. scripts/build.mjs makes them after the code caches, which they are
// compiled with; the tests make them for a copy of tend elsewhere.
//
// A blob is only ever started by the Node binary that made it: Node ends at once on
// another's (exit code 14), and V8 aborts on a damaged one. So beside each blob is its
// stamp, what the launcher (native/tend-launch.c, choose_snapshot) must find byte for byte
// to use it: the V8 flag it was made under (Node rejects a blob made under other flags),
// tend's directory (a snapshot holds the paths it was built at), and this Node binary, the
// blob, what made it (bin/tend-snapshot.cjs), the entry stub and the bundles it holds as
// stat() sees them: size and mtime in whole seconds (not device and inode, which change
// when an image build copies tend from one stage to another, nor the nanoseconds, which
// Docker's layers do not always keep).
//
//   node scripts/snapshot.mjs [ROOT]     makes both for the tend in ROOT (default: this one)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The modes with a start-up snapshot of their own: the two that start an init. */
export const SNAPSHOT_MODES = ['run', 'tini'];

/** The V8 flag tend runs under (bin/tend.cjs's TEND_V8_FLAG; the launcher passes the same). */
export function v8Flag(root) {
  return /const TEND_V8_FLAG = '([^']+)'/.exec(readFileSync(join(root, 'bin', 'tend.cjs'), 'utf8'))[1];
}

function statLine(label, path) {
  const st = statSync(path, { bigint: true });
  return `${label} ${st.size} ${st.mtimeNs / 1_000_000_000n}\n`;
}

/** The stamp the launcher expects for `mode`'s `blob`, made by `node`, for the tend in `root`. */
export function snapshotStamp(root, mode, blob, node = process.execPath) {
  const from = ['bin/tend-snapshot.cjs', 'bin/tend.cjs', 'dist/tend.cjs', `dist/${mode}.cjs`].map((file) => statLine('from', join(root, file))).join('');
  return `tend start-up snapshot 2\nflags ${v8Flag(root)}\nat ${realpathSync(root)}\n${statLine('node', node)}${statLine('blob', blob)}${from}`;
}

function writeAtomically(path, contents) {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/** Removes the snapshots of the tend in `root`: stamps first (the launcher needs both). */
export function removeSnapshots(root) {
  for (const mode of SNAPSHOT_MODES) rmSync(join(root, 'dist', `${mode}.snapshot.stamp`), { force: true });
  for (const mode of SNAPSHOT_MODES) rmSync(join(root, 'dist', `${mode}.snapshot`), { force: true });
}

/**
 * Makes dist/<mode>.snapshot and its stamp for the tend in `root` (its dist/ bundles and
 * code caches built) with this Node. Returns the modes it could not make, each with why:
 * tend starts those without a snapshot, as it would with none.
 */
export function makeSnapshots(root, env = process.env) {
  const failed = [];
  const flag = v8Flag(root);
  const builderEnv = { ...env, NODE_OPTIONS: '' };
  delete builderEnv.TEND_BUILD_CODE_CACHE;
  for (const mode of SNAPSHOT_MODES) {
    const blob = join(root, 'dist', `${mode}.snapshot`);
    rmSync(`${blob}.stamp`, { force: true });
    const temporary = `${blob}.${process.pid}.tmp`;
    // --no-warnings: Node warns that net, child_process, vm... are "not yet fully verified"
    // in snapshots; test/cli/startup.test.ts runs tend from these blobs, end to end.
    const made = spawnSync(process.execPath, ['--no-warnings', flag, '--snapshot-blob', temporary, '--build-snapshot', join(root, 'bin', 'tend-snapshot.cjs'), mode], {
      cwd: root, env: builderEnv, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8',
    });
    if (made.status !== 0 || !existsSync(temporary)) {
      rmSync(temporary, { force: true });
      rmSync(blob, { force: true });
      failed.push({ mode, why: made.error?.message ?? (made.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${made.status}`) });
      continue;
    }
    renameSync(temporary, blob);
    writeAtomically(`${blob}.stamp`, snapshotStamp(root, mode, blob));
  }
  return failed;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  for (const { mode, why } of makeSnapshots(root)) console.warn(`snapshot: no start-up snapshot for ${mode} (tend starts without it): ${why}`);
}
