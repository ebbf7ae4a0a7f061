// crontab(5): each job becomes a scheduled oneshot. User crontabs have five time fields
// and the command; the system crontab (/etc/crontab, /etc/cron.d/*) has a user field
// before the command. Environment lines apply to the jobs after them, as in cron. An
// unescaped `%` ends the command: what follows is its standard input, `%` a newline.
import { basename, dirname, resolve } from 'node:path';
import { Cron } from 'croner';
import { ImportError, type Importer, type ImportedService, type Note, type Origin, type Value } from '../types';
import { Names, literal } from '../names';
import { Draft, readInput, numberedLines } from './common';
import { serviceKey } from '../supports';

const MACROS: Record<string, string | null> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *', '@reboot': null,
};

const ENV_LINE = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/;
const TIME_FIELD = /^[0-9A-Za-z*,/\-?LW#]+$/;

function isSystemCrontab(path: string): boolean {
  const full = resolve(path);
  return full === '/etc/crontab' || basename(dirname(full)) === 'cron.d';
}

export const crontab: Importer = {
  kind: 'crontab',
  detect: (path) => {
    const name = basename(path);
    if (/crontab|^cron\.|\.cron$/i.test(name) || basename(dirname(resolve(path))) === 'cron.d') return true;
    try {
      const first = numberedLines(readInput(resolve(path), path)).map((l) => l.text.trim()).find((l) => l !== '' && !l.startsWith('#') && !ENV_LINE.test(l));
      return first !== undefined && (/^@[a-z]+\s/.test(first) || first.split(/\s+/).slice(0, 5).every((f) => TIME_FIELD.test(f)) && first.split(/\s+/).length > 5);
    } catch {
      return false;
    }
  },
  read: (paths) => {
    const names = new Names();
    const services: ImportedService[] = [];
    const notes: Note[] = [];
    for (const path of paths) services.push(...readCrontab(path, names, notes));
    return {
      files: [...paths],
      header: [
        'Each cron job is a oneshot run on its schedule, in tend\'s time zone (TZ); a run that is due while the last one still runs is skipped. Its output goes to tend\'s log, prefixed with its name, and `tend logs NAME`.',
        'Jobs get tend\'s environment (cron gave them a minimal one) and the variables set above them in the crontab.',
      ],
      services,
      notes,
    };
  },
};

function readCrontab(path: string, names: Names, notes: Note[]): ImportedService[] {
  const system = isSystemCrontab(path);
  const env: Record<string, string> = {};
  let shell: string | null = null;
  /** CRON_TZ (cronie): the zone the schedules below it are read in. */
  let zone: string | null = null;
  const out: ImportedService[] = [];
  let comments: string[] = [];
  for (const { line, text: raw } of numberedLines(readInput(resolve(path), path))) {
    const origin: Origin = { file: path, line };
    const text = raw.trim();
    if (text === '') {
      comments = [];
      continue;
    }
    if (text.startsWith('#')) {
      comments.push(text.replace(/^#+\s?/, ''));
      continue;
    }
    const assignment = ENV_LINE.exec(text);
    if (assignment) {
      const [, name, rawValue] = assignment as unknown as [string, string, string];
      const value = unquote(rawValue.trim());
      comments = [];
      if (name === 'MAILTO' || name === 'MAILFROM') {
        if (value !== '') notes.push({ origin, setting: `${name}=${value}`, text: 'tend mails nothing: each run\'s output is in tend\'s log and `tend logs NAME`; ship that log to be alerted', kind: 'lost' });
      } else if (name === 'CRON_TZ' && serviceKey('time_zone')) {
        if (knownZone(value)) zone = value;
        else notes.push({ origin, setting: `${name}=${value}`, text: `not a zone tend knows; the jobs below it keep ${zone === null ? 'tend\'s time zone' : zone}`, kind: 'lost' });
      } else if (name === 'CRON_TZ' || name === 'TZ') {
        notes.push({ origin, setting: `${name}=${value}`, text: 'tend schedules in its own time zone: set TZ in the container\'s environment', kind: 'lost' });
      } else if (name === 'SHELL') {
        shell = value;
      } else env[name] = value;
      continue;
    }
    const job = parseJob(text, system, origin);
    const draft = new Draft(names.fresh(jobName(job.command)), origin);
    draft.comments.push(...comments);
    comments = [];
    const { command, stdin } = splitPercent(job.command);
    const shellLine = stdin === null ? command : `printf '%s' ${shQuote(stdin)} | ${command}`;
    draft.set('command', shell === null ? literal(shellLine) : [literal(shell), '-c', literal(shellLine)]);
    draft.set('type', 'oneshot');
    if (job.schedule === null) {
      draft.info(origin, '@reboot', 'runs once when tend starts; if it fails, tend\'s start fails (cron would go on): add `|| true` if that must not stop the container');
    } else {
      draft.set('schedule', job.schedule);
      if (zone !== null) draft.set('time_zone', zone);
    }
    if (stdin !== null) draft.info(origin, '%', 'the text after % is the job\'s standard input, as cron gives it');
    if (job.user !== null) draft.set('user', job.user);
    if (Object.keys(env).length > 0) draft.set('env', Object.fromEntries(Object.entries(env).map(([k, v]) => [k, literal(v)])) as Value);
    out.push(draft.done());
  }
  return out;
}

/** A zone name Node's zone database knows (the one tend checks time_zone against). */
function knownZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return value !== '';
  } catch {
    return false;
  }
}

interface Job {
  readonly schedule: string | null;
  readonly user: string | null;
  readonly command: string;
}

function parseJob(text: string, system: boolean, origin: Origin): Job {
  const words = (count: number) => {
    const parts: string[] = [];
    let rest = text;
    for (let i = 0; i < count; i++) {
      const match = /^(\S+)\s+/.exec(rest);
      if (!match) return null;
      parts.push(match[1]!);
      rest = rest.slice(match[0].length);
    }
    return { parts, rest };
  };
  if (text.startsWith('@')) {
    const split = words(system ? 2 : 1);
    const macro = split?.parts[0]?.toLowerCase() ?? text.split(/\s+/)[0]!;
    if (!(macro in MACROS)) throw new ImportError(origin, `unknown schedule ${macro}; expected one of ${Object.keys(MACROS).join(', ')}`);
    if (!split || split.rest.trim() === '') throw new ImportError(origin, `${macro} has no command${system ? ' (this system crontab has a user field before it)' : ''}`);
    return { schedule: MACROS[macro]!, user: system ? split.parts[1]! : null, command: split.rest.trim() };
  }
  const split = words(system ? 6 : 5);
  if (!split || split.rest.trim() === '') {
    throw new ImportError(origin, `expected "minute hour day month weekday${system ? ' user' : ''} command" or "@daily command", got ${JSON.stringify(text.slice(0, 60))}`);
  }
  const fields = split.parts.slice(0, 5);
  const schedule = fields.join(' ');
  if (!fields.every((field) => TIME_FIELD.test(field))) throw new ImportError(origin, `invalid schedule "${schedule}"`);
  try {
    new Cron(schedule, { paused: true });
  } catch (error) {
    throw new ImportError(origin, `invalid schedule "${schedule}": ${error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error)}`);
  }
  return { schedule, user: system ? split.parts[5]! : null, command: split.rest.trim() };
}

/** crontab(5): the first unescaped % ends the command; the rest is stdin, each % a newline. */
function splitPercent(command: string): { command: string; stdin: string | null } {
  let out = '';
  for (let i = 0; i < command.length; i++) {
    const char = command[i]!;
    if (char === '\\' && command[i + 1] === '%') {
      out += '%';
      i++;
    } else if (char === '%') {
      const stdin = command.slice(i + 1).replace(/\\%/g, '\u0000').replace(/%/g, '\n').replace(/\u0000/g, '%');
      return { command: out, stdin };
    } else out += char;
  }
  return { command: out, stdin: null };
}

function unquote(value: string): string {
  return /^(["']).*\1$/.test(value) && value.length >= 2 ? value.slice(1, -1) : value;
}

function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A readable name from the command: the program it runs (`backup` for `/usr/local/bin/backup.sh -v`). */
function jobName(command: string): string {
  const words = command.split(/[\s;&|()<>]+/).filter((word) => word !== '');
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word) || ['cd', 'exec', 'nice', 'ionice', 'env', 'test', '[', 'sudo', 'flock', 'timeout'].includes(word)) {
      if (word === 'cd') i++;
      continue;
    }
    if (word.startsWith('-')) continue;
    const base = basename(word).replace(/\.(sh|py|rb|pl|php|js)$/, '');
    if (/^[A-Za-z]/.test(base)) return base;
  }
  return 'job';
}
