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
 * Node's built-in modules a blob has already loaded (evaluated in its heap), as a Node
 * started from it lists them; null when Node cannot start from it.
 */
function builtinsLoaded(root, blob) {
  const listed = spawnSync(process.execPath, [v8Flag(root), '--snapshot-blob', blob, '--require', join(root, 'scripts', 'snapshot-builtins.cjs'), 'list'], {
    cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8',
  });
  if (listed.status !== 0) return null;
  try {
    return new Set(JSON.parse(listed.stdout));
  } catch {
    return null;
  }
}

/**
 * Node's built-in modules a tend may still load after the snapshot, on first use: what
 * `tend run` loaded after its start in a run with every kind of probe, the HTTP listener,
 * a compressed log file, schedules and control requests (http, dns, worker_threads for
 * a report, inspector, fs watchers...), and the families they belong to (https's TLS and
 * crypto, readline). The others' code caches are left out of the blobs (trimBuiltinCache).
 */
const LATER_BUILTINS = new RegExp(`^(${[
  '_http_\\w+', 'https?', 'internal/http', 'tls', '_tls_\\w+', 'internal/tls/.*', 'crypto', 'internal/crypto/.*',
  'dns', 'internal/dns/.*', 'dgram', 'internal/dgram', 'worker_threads', 'internal/worker(/.*)?', 'internal/error_serdes',
  'inspector', 'internal/fs/.*', 'fs/promises', 'zlib', 'internal/process/.*', 'internal/freelist', 'string_decoder',
  'stream(/.*)?', 'internal/streams/.*', 'child_process', 'internal/child_process(/.*)?', 'readline', 'internal/readline/.*',
  'timers(/.*)?', 'internal/timers', 'events', 'os', 'v8', 'vm', 'url', 'internal/url', 'util(/.*)?', 'internal/util(/.*)?',
  'buffer', 'path(/.*)?', 'net', 'tty', 'module', 'diagnostics_channel', 'perf_hooks', 'internal/perf/.*', 'async_hooks',
  'internal/async_hooks',
].join('|')})$`);

/**
 * Rewrites the blob `from` into `to` with only the part of Node's own code cache a tend
 * can use. A blob holds, after V8's heap, a code cache for every one of Node's ~320
 * built-in modules (2.8 MB of a 7 MB blob). Node reads it whole, copies it into memory it
 * keeps (resident: written when read) and consults an entry only when it compiles that
 * module — never for the ~115 the snapshot has loaded already, and tend loads only a few
 * dozen others (LATER_BUILTINS). Kept: those few, 0.4 MB. Measured (issue 20): ~2.5 ms of
 * CPU less to start and ~2.5 MiB less idle RSS. A module left out still loads; it is
 * compiled without a cache, as any module is when Node runs without one.
 *
 * The layout is Node's (src/node_snapshotable.cc, SnapshotData::ToBlob): the code cache
 * is last — a count, then per module its id and its data, each length a 64-bit little-endian
 * size_t. It is found as the one position after V8's data from which that parse ends
 * exactly at the end of the file; false (and `to` not written) when there is none, as
 * with a layout another Node version might have: the blob is then kept whole.
 */
export function trimBuiltinCache(from, to, loaded, keep = (id) => !loaded.has(id) && LATER_BUILTINS.test(id)) {
  const blob = readFileSync(from);
  const found = builtinCache(blob);
  if (found === null) return false;
  const kept = found.entries.filter((entry) => keep(entry.id));
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(kept.length));
  writeFileSync(to, Buffer.concat([blob.subarray(0, found.start), count, ...kept.map((entry) => blob.subarray(entry.start, entry.end))]));
  return true;
}

/** Where a blob's code cache of Node's own modules starts, and its entries (id, byte range); null if not found. */
export function builtinCache(blob) {
  const size = (at) => (at + 8 <= blob.length ? Number(blob.readBigUInt64LE(at)) : -1);
  // magic (4), snapshot type (1), Node version, arch and platform (length-prefixed), cache tag and flags (4 + 4)
  let at = 5;
  for (let i = 0; i < 3; i++) {
    const length = size(at);
    if (length < 0) return null;
    at += 8 + length;
  }
  at += 8;
  if (at + 4 > blob.length) return null;
  at += 4 + blob.readInt32LE(at); // V8's startup data: int size, then the data
  const parse = (start) => {
    const count = size(start);
    if (count < 0 || count > 10_000) return null;
    const entries = [];
    let p = start + 8;
    for (let i = 0; i < count; i++) {
      const idLength = size(p);
      if (idLength <= 0 || idLength > 256 || p + 8 + idLength > blob.length) return null;
      const id = blob.toString('latin1', p + 8, p + 8 + idLength);
      if (!/^[\w./-]+$/.test(id)) return null;
      const dataLength = size(p + 8 + idLength);
      const end = p + 16 + idLength + dataLength;
      if (dataLength < 0 || end > blob.length) return null;
      entries.push({ id, start: p, end });
      p = end;
    }
    return p === blob.length ? { start, entries } : null;
  };
  for (let start = at; start >= 0 && start < blob.length - 8; start++) {
    const found = parse(start);
    if (found !== null) return found;
  }
  return null;
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
    // Node's own code cache, trimmed (trimBuiltinCache): a blob that does not start with
    // it trimmed is kept whole.
    const trimmed = `${blob}.${process.pid}.trimmed`;
    const loaded = builtinsLoaded(root, temporary);
    if (loaded !== null && trimBuiltinCache(temporary, trimmed, loaded) && builtinsLoaded(root, trimmed) !== null) renameSync(trimmed, temporary);
    rmSync(trimmed, { force: true });
    renameSync(temporary, blob);
    writeAtomically(`${blob}.stamp`, snapshotStamp(root, mode, blob));
  }
  return failed;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  for (const { mode, why } of makeSnapshots(root)) console.warn(`snapshot: no start-up snapshot for ${mode} (tend starts without it): ${why}`);
}
