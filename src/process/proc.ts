// The /proc process table: who is alive, who is whose parent, which session and group,
// and when each started (the start time tells a pid's new owner from its old one).
// A full scan reads every /proc/PID/stat: ~45 ms with 1,000 processes (measured), so it
// runs for attribution, status and stops — never on the reaping hot path — and repeated
// scans go through ProcScanner, which reads only what changed.
import { readFileSync, readdirSync } from 'node:fs';
import { procList } from '../../native/libc';

export interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  /** Clock ticks after boot: with the pid, identifies one process for its whole life. */
  readonly starttime: number;
  /** R, S, D, Z, T... Z is a zombie: dead, waiting for its parent to reap it. */
  readonly state: string;
  readonly comm: string;
}

/**
 * Parses /proc/PID/stat. The comm field is in parentheses and may itself contain spaces
 * and ')' — everything after the last ')' is the fixed fields.
 */
export function parseStat(text: string): ProcEntry | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const fields = text.slice(close + 2).split(' ');
  // After comm: state(3) ppid(4) pgrp(5) session(6) ... starttime(22) → offsets 0,1,2,3 and 19.
  const starttime = Number(fields[19]);
  if (fields.length < 20 || !Number.isFinite(starttime)) return null;
  return {
    pid: Number(text.slice(0, open - 1)),
    comm: text.slice(open + 1, close),
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    starttime,
  };
}

/** One process's entry, or null when it is gone (or was never there). */
export function readProc(pid: number): ProcEntry | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * A process's command line as `tend status -v` shows it (its argv joined by spaces; a
 * kernel thread or a zombie has none: its comm in brackets, as ps shows it), and whether it
 * left the service's session (`session`: the sid of the service's own process). null when
 * the process is gone.
 */
export function describeProcess(pid: number, session: number | null): { command: string | null; escaped: boolean } | null {
  const entry = readProc(pid);
  if (entry === null) return null;
  let argv: string[] = [];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
  } catch {
    // Gone since its stat was read: what the stat said is all there is.
  }
  return { command: argv.length > 0 ? argv.join(' ') : `[${entry.comm}]`, escaped: session !== null && entry.sid !== session };
}

/** Every process visible in /proc (this PID namespace, as mounted). */
export function scanProcs(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    const code = name.charCodeAt(0);
    if (code < 48 || code > 57) continue; // not a pid directory
    const entry = readProc(Number(name));
    if (entry !== null) entries.push(entry);
  }
  return entries;
}

/**
 * Repeated /proc scans that read /proc/PID/stat only for processes not seen before. The
 * inode of a /proc/PID directory is made when its entry is first looked up and is new for
 * a new process under a reused pid (native/libtend.c tend_proc_list), so an unchanged pid
 * and inode is the same process with the same start time. (The kernel may drop and remake
 * a live process's entry under memory pressure: a new inode then only costs a re-read.) Its ppid, group, session and state
 * may have changed since: callers say, per entry, when those matter (`fresh`) and the
 * entry is read again — the tracker re-reads only processes it has not attributed, so an
 * attributed process that became a zombie still counts as its service's until reaped.
 * Without libtend every scan reads every stat, as scanProcs does.
 */
export class ProcScanner {
  private cache = new Map<number, { readonly inode: number; readonly entry: ProcEntry }>();

  /** Every process in /proc; `fresh(entry)` true: re-read that one's stat even if seen. */
  scan(fresh: (entry: ProcEntry) => boolean): ProcEntry[] {
    const listed = procList();
    if (listed === null) return scanProcs();
    const entries: ProcEntry[] = [];
    const next = new Map<number, { readonly inode: number; readonly entry: ProcEntry }>();
    for (let i = 0; i < listed.length; i += 2) {
      const pid = listed[i]!;
      const inode = listed[i + 1]!;
      const seen = this.cache.get(pid);
      const entry = seen !== undefined && seen.inode === inode && !fresh(seen.entry) ? seen.entry : readProc(pid);
      if (entry === null) continue; // gone between the listing and the read
      next.set(pid, seen !== undefined && seen.entry === entry ? seen : { inode, entry });
      entries.push(entry);
    }
    this.cache = next;
    return entries;
  }
}


/** The children of `pid` per /proc/PID/task/TID/children (cheap: no full scan). */
export function childrenOf(pid: number): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const field of text.split(' ')) {
      const child = Number(field);
      if (field.trim() !== '' && Number.isInteger(child)) pids.push(child);
    }
  }
  return pids;
}


/**
 * The TEND_SERVICE and TEND_INSTANCE markers of a process's environment, or null when it
 * has none or cannot be read (gone, a zombie — ESRCH — or another user's without
 * CAP_SYS_PTRACE). Read it while the process lives; callers cache by pid + start time.
 */
export function readMarkers(pid: number): { service: string; instance: string } | null {
  let environ: Buffer;
  try {
    environ = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return null;
  }
  let service: string | null = null;
  let instance: string | null = null;
  let start = 0;
  while (start < environ.length) {
    let end = environ.indexOf(0, start);
    if (end < 0) end = environ.length;
    // Compare bytes before decoding: most variables are not ours.
    if (environ[start] === 0x54 /* T */ && environ[start + 1] === 0x45 /* E */) {
      const entry = environ.toString('utf8', start, end);
      if (entry.startsWith('TEND_SERVICE=')) service = entry.slice(13);
      else if (entry.startsWith('TEND_INSTANCE=')) instance = entry.slice(14);
    }
    start = end + 1;
  }
  return service !== null && instance !== null ? { service, instance } : null;
}
