// Who may use the control socket. The kernel tells us the peer's uid and gid at
// connect() (SO_PEERCRED); root and tend's own uid have full access, anyone else only
// what a `socket_allow` entry grants by user or group. Supplementary groups come from
// /etc/group, as initgroups() would have set them.
import { readFileSync, statSync } from 'node:fs';
import type { SocketGrant } from '../plan/types';
import type { PeerCredentials } from '../../native/libc';

export type Access = 'control' | 'read';

export type AccessDecision =
  | { readonly ok: true; readonly access: Access; readonly why: string }
  | { readonly ok: false; readonly message: string };

export interface Accounts {
  readonly users: ReadonlyMap<string, { readonly uid: number; readonly gid: number }>;
  readonly userNames: ReadonlyMap<number, string>;
  readonly groups: ReadonlyMap<string, { readonly gid: number; readonly members: readonly string[] }>;
}

export const NO_ACCOUNTS: Accounts = { users: new Map(), userNames: new Map(), groups: new Map() };

/** /etc/passwd and /etc/group, parsed. Malformed lines are skipped, as libc's nss_files does. */
export function parseAccounts(passwd: string, group: string): Accounts {
  const users = new Map<string, { uid: number; gid: number }>();
  const userNames = new Map<number, string>();
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (!name || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    if (users.has(name)) continue; // the first entry wins, as getpwnam does
    users.set(name, { uid: Number(uid), gid: Number(gid) });
    if (!userNames.has(Number(uid))) userNames.set(Number(uid), name);
  }
  const groups = new Map<string, { gid: number; members: string[] }>();
  for (const line of group.split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (!name || gid === undefined || !/^\d+$/.test(gid) || groups.has(name)) continue;
    groups.set(name, { gid: Number(gid), members: (members ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return { users, userNames, groups };
}

let cache: { key: string; accounts: Accounts } | null = null;

/**
 * The system's accounts, re-read only when /etc/passwd or /etc/group changed. Both are
 * small local files: reading them synchronously costs microseconds, and only peers
 * that are neither root nor tend's uid need them.
 */
export function systemAccounts(passwdFile = '/etc/passwd', groupFile = '/etc/group'): Accounts {
  const stamp = (file: string): string => {
    try {
      const s = statSync(file);
      return `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch {
      return 'missing';
    }
  };
  const key = `${passwdFile}=${stamp(passwdFile)};${groupFile}=${stamp(groupFile)}`;
  if (cache?.key === key) return cache.accounts;
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  cache = { key, accounts: parseAccounts(read(passwdFile), read(groupFile)) };
  return cache.accounts;
}

function resolveId(value: string | number, byName: (name: string) => number | undefined): number | null {
  if (typeof value === 'number') return value;
  const named = byName(value);
  if (named !== undefined) return named;
  return /^\d+$/.test(value) ? Number(value) : null;
}

/** The peer's groups: the gid it connected with, its passwd primary group, and every /etc/group entry listing it. */
function peerGroups(peer: PeerCredentials, accounts: Accounts): Set<number> {
  const gids = new Set<number>([peer.gid]);
  const name = accounts.userNames.get(peer.uid);
  if (name !== undefined) {
    const user = accounts.users.get(name);
    if (user !== undefined) gids.add(user.gid);
    for (const group of accounts.groups.values()) if (group.members.includes(name)) gids.add(group.gid);
  }
  return gids;
}

/** `uid 65534 (nobody)` */
export function describePeer(peer: PeerCredentials, accounts: Accounts): string {
  const name = accounts.userNames.get(peer.uid);
  return name === undefined ? `uid ${peer.uid}` : `uid ${peer.uid} (${name})`;
}

/** What the peer may do, or why it may not connect at all. */
export function decideAccess(peer: PeerCredentials, ownUid: number, grants: readonly SocketGrant[], accounts: Accounts): AccessDecision {
  if (peer.uid === 0) return { ok: true, access: 'control', why: 'root' };
  if (peer.uid === ownUid) return { ok: true, access: 'control', why: "tend's own uid" };
  let best: { access: Access; why: string } | null = null;
  let groups: Set<number> | null = null;
  for (const grant of grants) {
    let matched: string | null = null;
    if (grant.user !== undefined) {
      const uid = resolveId(grant.user, (n) => accounts.users.get(n)?.uid);
      if (uid === peer.uid) matched = `socket_allow user ${String(grant.user)}`;
    }
    if (matched === null && grant.group !== undefined) {
      const gid = resolveId(grant.group, (n) => accounts.groups.get(n)?.gid);
      groups ??= peerGroups(peer, accounts);
      if (gid !== null && groups.has(gid)) matched = `socket_allow group ${String(grant.group)}`;
    }
    if (matched !== null && (best === null || (best.access === 'read' && grant.access === 'control'))) {
      best = { access: grant.access, why: matched };
    }
  }
  if (best !== null) return { ok: true, ...best };
  return {
    ok: false,
    message: `${describePeer(peer, accounts)} may not use this socket: only root, tend's uid ${ownUid} and socket_allow entries may, and none matches`,
  };
}
