// supervisord.conf (and the files its [include] names): each [program:x] becomes one
// service per process (numprocs), with supervisord's semantics carried over: autorestart
// and exitcodes, startretries within startsecs, stop signal and wait, the log file and its
// rotation, %(ENV_X)s as ${X}. Sections tend replaces by design (the control socket, the
// daemon's own log) are noted once; those with no equivalent are listed as not imported.
import { basename, dirname, relative, resolve } from 'node:path';
import { hostname } from 'node:os';
import { globFiles } from '../../config/glob';
import { NOT_YET, acceptsValue, logKey, serviceKey, validSignal } from '../supports';
import { ImportError, type Importer, type ImportedService, type Note, type Origin, type Value } from '../types';
import { Names, literal } from '../names';
import { shlexSplit } from '../shell';
import { Draft, duration, readInput, numberedLines } from './common';

interface Entry {
  readonly value: string;
  readonly origin: Origin;
}

interface Section {
  readonly name: string;
  readonly origin: Origin;
  /** The config file's directory: %(here)s, and where [include] globs resolve from. */
  readonly here: string;
  readonly comments: string[];
  readonly entries: Map<string, Entry>;
}

export const supervisord: Importer = {
  kind: 'supervisord',
  detect: (path) => {
    if (!/\.(conf|ini)$/.test(path) && basename(path) !== 'supervisord.conf') return false;
    try {
      return /^\s*\[(program|supervisord|group|eventlistener|include):?/m.test(readInput(resolve(path), path));
    } catch {
      return false;
    }
  },
  read: (paths) => {
    const files: string[] = [];
    const sections: Section[] = [];
    for (const path of paths) readConfig(path, files, sections, new Set());
    return convert(files, sections);
  },
};

/** Parses one file and, through its [include] section, the files it names. */
function readConfig(path: string, files: string[], sections: Section[], reading: Set<string>): void {
  const absolute = resolve(path);
  if (reading.has(absolute) || files.includes(path)) return;
  reading.add(absolute);
  files.push(path);
  const parsed = parseIni(readInput(absolute, path), path, dirname(absolute));
  for (const section of parsed) {
    const twin = sections.find((other) => other.name === section.name && section.name !== 'include');
    if (twin) throw new ImportError(section.origin, `[${section.name}] is defined twice (first at ${twin.origin.file}:${twin.origin.line})`);
    if (section.name !== 'include') sections.push(section);
  }
  for (const include of parsed.filter((section) => section.name === 'include')) {
    const entry = include.entries.get('files');
    if (!entry) throw new ImportError(include.origin, '[include] has no files=');
    for (const pattern of entry.value.split(/\s+/).filter(Boolean)) {
      const expanded = pattern.replace(/%\(here\)s/g, include.here);
      for (const found of globFiles(include.here, expanded)) {
        const shown = relative(process.cwd(), found);
        readConfig(shown.startsWith('..') ? found : shown, files, sections, reading);
      }
    }
  }
}

/** Python's configparser as supervisord configures it: `;`/`#` comments, inline ones after whitespace, indented continuation lines. */
function parseIni(text: string, file: string, here: string): Section[] {
  const sections: Section[] = [];
  let current: Section | null = null;
  let last: { key: string; entry: Entry } | null = null;
  let comments: string[] = [];
  for (const { line, text: raw } of numberedLines(text)) {
    const origin = { file, line };
    if (raw.trim() === '') {
      last = null;
      continue;
    }
    if (/^\s*[;#]/.test(raw)) {
      comments.push(raw.trim().replace(/^[;#]+\s?/, ''));
      continue;
    }
    if (/^\s/.test(raw) && last !== null && current !== null) {
      const value = `${last.entry.value}\n${stripInline(raw.trim())}`;
      last.entry = { value, origin: last.entry.origin };
      current.entries.set(last.key, last.entry);
      continue;
    }
    const header = /^\[([^\]]*)\]\s*([;#].*)?$/.exec(raw.trim());
    if (header) {
      current = { name: header[1]!.trim(), origin, here, comments, entries: new Map() };
      comments = [];
      sections.push(current);
      last = null;
      continue;
    }
    const pair = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(raw.trim());
    if (!pair) throw new ImportError(origin, `expected "key = value" or a [section], got ${JSON.stringify(raw.trim().slice(0, 60))}`);
    if (current === null) throw new ImportError(origin, 'a setting before any [section]');
    const key = pair[1]!.trim().toLowerCase();
    if (current.entries.has(key)) throw new ImportError(origin, `${key} is set twice in [${current.name}] (first at line ${current.entries.get(key)!.origin.line})`);
    const entry = { value: stripInline(pair[2]!), origin };
    current.entries.set(key, entry);
    last = { key, entry };
    comments = [];
  }
  return sections;
}

function stripInline(value: string): string {
  return value.replace(/\s+[;#].*$/, '').trim();
}

// ---------------------------------------------------------------------------------------

const PROGRAM_KEYS = new Set([
  'command', 'process_name', 'numprocs', 'numprocs_start', 'priority', 'autostart', 'autorestart', 'startsecs', 'startretries',
  'exitcodes', 'stopsignal', 'stopwaitsecs', 'stopasgroup', 'killasgroup', 'user', 'redirect_stderr', 'stdout_logfile',
  'stdout_logfile_maxbytes', 'stdout_logfile_backups', 'stdout_capture_maxbytes', 'stdout_events_enabled', 'stdout_syslog',
  'stderr_logfile', 'stderr_logfile_maxbytes', 'stderr_logfile_backups', 'stderr_capture_maxbytes', 'stderr_events_enabled',
  'stderr_syslog', 'environment', 'directory', 'umask', 'serverurl',
]);

const REPLACED = 'tend\'s control socket replaces it: tend status, start, stop, restart, logs (see settings.socket and socket_allow)';

function convert(files: string[], sections: Section[]): { files: string[]; header: string[]; services: ImportedService[]; notes: Note[] } {
  const notes: Note[] = [];
  const names = new Names();
  const services: ImportedService[] = [];
  const daemon = sections.find((section) => section.name === 'supervisord');
  let globalEnv: Record<string, string> = {};
  if (daemon) globalEnv = daemonSettings(daemon, notes);
  for (const section of sections) {
    const [kind, name] = section.name.includes(':') ? [section.name.slice(0, section.name.indexOf(':')), section.name.slice(section.name.indexOf(':') + 1)] : [section.name, ''];
    const note = (text: string, lost = true) => notes.push({ origin: section.origin, setting: `[${section.name}]`, text, kind: lost ? 'lost' : 'info' });
    switch (kind) {
      case 'program':
        services.push(...program(name, section, names, globalEnv));
        break;
      case 'supervisord':
        break;
      case 'group': {
        const members = section.entries.get('programs')?.value ?? '';
        note(`tend has no groups: start and stop the programs together with \`tend start ${members.split(',').map((m) => m.trim()).filter(Boolean).join(' ')}\`; their order comes from depends_on`);
        break;
      }
      case 'eventlistener':
        note('tend events --json gives the same stream of state changes: run `tend events --json | your-listener` as a service if you need it');
        break;
      case 'fcgi-program':
        note('tend does not pass FastCGI sockets: run the program as a service that binds its own socket');
        break;
      case 'unix_http_server':
      case 'inet_http_server':
      case 'supervisorctl':
      case 'rpcinterface':
        note(REPLACED, false);
        break;
      case 'ctlplugin':
        note('no supervisorctl plugins in tend', true);
        break;
      default:
        note('not a section supervisord knows; ignored');
    }
  }
  return {
    files,
    header: [
      'No service is main: tend runs until it is stopped, as supervisord does. Mark the service the container should live and die with as `main: true`.',
      'tend stops a program as supervisord does, the stop signal to its own process (stop_mode: mixed, tend\'s default), but SIGKILLs everything it left at stop_timeout; stopasgroup=true is stop_mode: group. tend starts services in parallel unless depends_on orders them.',
      'autorestart=unexpected is restart: on-failure with exitcodes as success_exit_codes. startretries is restart.limit.count; its window is how long that many starts dying within startsecs take, with tend\'s backoff between them.',
    ],
    services,
    notes,
  };
}

/** [supervisord]: its environment= applies to every program; the rest is the daemon's own business. */
function daemonSettings(section: Section, notes: Note[]): Record<string, string> {
  let env: Record<string, string> = {};
  const own: string[] = [];
  for (const [key, entry] of section.entries) {
    const note = (text: string, lost: boolean) => notes.push({ origin: entry.origin, setting: `[supervisord] ${key}=${entry.value}`, text, kind: lost ? 'lost' : 'info' });
    switch (key) {
      case 'environment':
        env = parseEnvironment(expand(entry.value, entry.origin, { here: section.here }), entry.origin);
        break;
      case 'minfds':
      case 'minprocs':
        note('tend does not support limits yet: raise the container\'s ulimits (docker run --ulimit)', true);
        break;
      case 'umask':
        note(serviceKey('umask') ? 'supervisord\'s own umask, which its programs inherit: set umask: on each service that needs it' : 'tend does not support umask yet: set it in the image, or with `umask` in a shell command', true);
        break;
      case 'user':
        note('tend runs as the container\'s user; give each service a user: instead', false);
        break;
      case 'nodaemon': case 'logfile': case 'logfile_maxbytes': case 'logfile_backups': case 'loglevel': case 'pidfile':
      case 'childlogdir': case 'identifier': case 'silent': case 'strip_ansi': case 'nocleanup': case 'directory':
        own.push(key);
        break;
      default:
        note('not a [supervisord] setting tend knows; ignored', true);
    }
  }
  if (own.length > 0) {
    notes.push({ origin: section.origin, setting: `[supervisord] ${own.join(', ')}`, text: 'tend runs in the foreground and logs to its stderr (settings.log_level, log_format)', kind: 'info' });
  }
  return env;
}

function program(name: string, section: Section, names: Names, globalEnv: Record<string, string>): ImportedService[] {
  const e = section.entries;
  // An empty value (`directory=`) is as if the key were not there.
  const get = (key: string) => (e.get(key)?.value === '' ? undefined : e.get(key));
  const origin = (key: string) => e.get(key)?.origin ?? section.origin;
  const int = (key: string, fallback: number, min = 0): number => {
    const entry = get(key);
    if (!entry) return fallback;
    if (!/^\d+$/.test(entry.value)) throw new ImportError(entry.origin, `${key}: expected a whole number, got ${JSON.stringify(entry.value)}`);
    const value = Number(entry.value);
    if (value < min) throw new ImportError(entry.origin, `${key}: must be at least ${min}, got ${value}`);
    return value;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const entry = get(key);
    if (!entry) return fallback;
    const value = entry.value.toLowerCase();
    if (['true', 'yes', 'on', '1'].includes(value)) return true;
    if (['false', 'no', 'off', '0'].includes(value)) return false;
    throw new ImportError(entry.origin, `${key}: expected true or false, got ${JSON.stringify(entry.value)}`);
  };
  if (name === '') throw new ImportError(section.origin, '[program:] needs a name');
  const commandEntry = get('command');
  if (!commandEntry || commandEntry.value === '') throw new ImportError(section.origin, `[program:${name}] has no command=`);
  const numprocs = int('numprocs', 1, 1);
  const start = int('numprocs_start', 0);
  const processName = get('process_name')?.value ?? '%(program_name)s';
  if (numprocs > 1 && !/%\(process_num\)/.test(processName)) {
    throw new ImportError(get('process_name')?.origin ?? get('numprocs')!.origin, `numprocs=${numprocs} needs %(process_num)s in process_name, so that each process has its own name`);
  }
  const out: ImportedService[] = [];
  for (let num = start; num < start + numprocs; num++) {
    const vars = { here: section.here, program_name: name, process_num: num, group_name: name, numprocs };
    const instance = expand(processName, origin('process_name'), vars, false);
    const draft = new Draft(names.name(instance), section.origin);
    if (num === start) draft.comments.push(...section.comments);
    if (numprocs > 1) draft.comments.push(`process ${num - start + 1} of ${numprocs} of [program:${name}]`);
    const argv = shlexSplit(expand(commandEntry.value, commandEntry.origin, vars));
    if (argv === null || argv.length === 0) throw new ImportError(commandEntry.origin, 'command: no closing quotation');
    draft.set('command', argv);
    if (!bool('autostart', true)) draft.set('autostart', false);

    const autorestart = (get('autorestart')?.value ?? 'unexpected').toLowerCase();
    const exitcodes = (get('exitcodes')?.value ?? '0').split(',').map((code) => code.trim()).filter(Boolean);
    if (!exitcodes.every((code) => /^\d+$/.test(code) && Number(code) <= 255)) {
      throw new ImportError(origin('exitcodes'), `exitcodes: expected a list of exit codes like 0,2, got ${JSON.stringify(get('exitcodes')?.value)}`);
    }
    const policy = autorestart === 'unexpected' ? 'on-failure' : ['true', 'yes', 'on', '1'].includes(autorestart) ? 'always' : ['false', 'no', 'off', '0'].includes(autorestart) ? 'never' : null;
    if (policy === null) throw new ImportError(origin('autorestart'), `autorestart: expected true, false or unexpected, got ${JSON.stringify(get('autorestart')?.value)}`);
    const startsecs = int('startsecs', 1);
    const startretries = int('startretries', 3);
    const restart: Record<string, Value> = { policy };
    if (policy !== 'never') restart.limit = { count: startretries, window: duration(retryWindow(startsecs, startretries)) };
    draft.set('restart', Object.keys(restart).length === 1 ? policy : restart);
    if (policy === 'on-failure' && !(exitcodes.length === 1 && exitcodes[0] === '0')) draft.set('success_exit_codes', exitcodes.map(Number));

    const stopsignal = get('stopsignal');
    if (stopsignal) {
      const value = stopsignal.value.toUpperCase().replace(/^SIG/, '');
      if (!validSignal(value)) throw new ImportError(stopsignal.origin, `stopsignal: unknown signal ${JSON.stringify(stopsignal.value)}`);
      if (value !== 'TERM') draft.set('stop_signal', value);
    }
    draft.set('stop_timeout', duration(int('stopwaitsecs', 10) * 1000));
    // supervisord signals the program's own process unless stopasgroup: tend's default
    // (stop_mode mixed) does too, and SIGKILLs what is left at stop_timeout, as a container
    // wants. stopasgroup=true signals the whole group: stop_mode group.
    if (bool('stopasgroup', false)) {
      if (serviceKey('stop_mode') && acceptsValue('stop_mode', 'group')) draft.set('stop_mode', 'group');
      else draft.lost(origin('stopasgroup'), 'stopasgroup=true', `tend signals the program's own process only (${NOT_YET('stop_mode')})`);
    }
    const user = get('user');
    if (user) draft.set('user', /^\d+$/.test(user.value) ? Number(user.value) : literal(user.value));
    const directory = get('directory');
    if (directory) draft.set('cwd', expand(directory.value, directory.origin, vars));
    const envEntry = get('environment');
    const env = { ...globalEnv, ...(envEntry ? parseEnvironment(expand(envEntry.value, envEntry.origin, vars), envEntry.origin) : {}) };
    if (Object.keys(env).length > 0) draft.set('env', env);
    logSettings(draft, get, origin, vars);
    const priority = get('priority');
    if (priority) draft.lost(priority.origin, `priority=${priority.value}`, 'tend orders by depends_on; add one if this program needs another started first');
    const umask = get('umask');
    if (umask && serviceKey('umask') && acceptsValue('umask', umask.value)) draft.set('umask', umask.value);
    else if (umask) draft.lost(umask.origin, `umask=${umask.value}`, serviceKey('umask') ? 'not an octal umask tend accepts: set umask: by hand' : 'tend does not support umask yet: set it in a shell command (`sh -c \'umask 027; exec ...\'`)');
    for (const key of ['stdout_events_enabled', 'stderr_events_enabled']) {
      if (get(key) && bool(key, false)) draft.lost(origin(key), `${key}=true`, 'tend events --json streams state changes, not output; tend logs NAME -f follows output');
    }
    for (const key of ['stdout_capture_maxbytes', 'stderr_capture_maxbytes']) {
      if (get(key) && get(key)!.value !== '0') draft.lost(origin(key), `${key}=${get(key)!.value}`, 'no capture mode in tend (it belongs to event listeners)');
    }
    for (const key of ['stdout_syslog', 'stderr_syslog']) {
      if (get(key) && bool(key, false)) draft.lost(origin(key), `${key}=true`, 'tend does not send output to syslog: ship tend\'s output or log.file instead');
    }
    if (get('serverurl')) draft.info(origin('serverurl'), `serverurl=${get('serverurl')!.value}`, 'services reach tend through $TEND_SOCKET');
    for (const [key, entry] of e) {
      if (!PROGRAM_KEYS.has(key)) draft.lost(entry.origin, `${key}=${entry.value}`, 'not a [program:x] setting supervisord knows; ignored');
    }
    out.push(draft.done());
  }
  return out;
}

/** How long `retries` starts that die within `startsecs` take, with tend's backoff between them. */
function retryWindow(startsecs: number, retries: number): number {
  let ms = 0;
  for (let attempt = 0; attempt < retries; attempt++) ms += Math.max(startsecs, 1) * 1000 + Math.min(30_000, 100 * 2 ** attempt) * 1.1;
  return Math.max(1000, Math.ceil(ms / 1000) * 1000);
}

function logSettings(draft: Draft, get: (key: string) => Entry | undefined, origin: (key: string) => Origin, vars: Vars): void {
  const redirect = get('redirect_stderr') ? ['true', 'yes', 'on', '1'].includes(get('redirect_stderr')!.value.toLowerCase()) : false;
  const stdout = get('stdout_logfile');
  const stderr = get('stderr_logfile');
  const toConsole = (value: string | undefined) => value === undefined || value === 'AUTO' || /^\/dev\/(stdout|stderr|fd\/[12])$/.test(value) || /^\/proc\/(self|1)\/fd\/[12]$/.test(value);
  const stdoutFile = stdout ? expand(stdout.value, stdout.origin, vars) : undefined;
  const stderrFile = stderr ? expand(stderr.value, stderr.origin, vars) : undefined;
  const log: Record<string, Value> = {};
  if (stdoutFile === 'NONE' && (redirect || stderrFile === 'NONE')) log.console = 'none';
  else if (stdoutFile === 'NONE' || stderrFile === 'NONE') {
    draft.lost(origin(stdoutFile === 'NONE' ? 'stdout_logfile' : 'stderr_logfile'), `${stdoutFile === 'NONE' ? 'stdout' : 'stderr'}_logfile=NONE`, 'tend keeps or drops both streams together (log.console: none drops both)');
  }
  const fileOf = (value: string | undefined) => (value !== undefined && value !== 'NONE' && value !== 'syslog' && !toConsole(value) ? value : null);
  const outFile = fileOf(stdoutFile);
  const errFile = redirect ? null : fileOf(stderrFile);
  // stderr to a file of its own, where tend has log.stderr_file.
  const apart = errFile !== null && errFile !== outFile && logKey('stderr_file');
  const file = apart ? outFile : outFile ?? errFile;
  if (file !== null || apart) {
    const key = outFile !== null ? 'stdout' : 'stderr';
    if (file !== null) log.file = file;
    if (apart) log.stderr_file = errFile;
    const maxbytes = get(`${key}_logfile_maxbytes`)?.value ?? '50MB';
    const size = parseSupervisorSize(maxbytes, origin(`${key}_logfile_maxbytes`));
    if (size === 0) draft.lost(origin(`${key}_logfile_maxbytes`), `${key}_logfile_maxbytes=0`, 'tend always rotates log.file by size; max_size is left at its default (10MB)');
    else log.max_size = sizeText(size);
    const backups = get(`${key}_logfile_backups`)?.value ?? '10';
    if (!/^\d+$/.test(backups)) throw new ImportError(origin(`${key}_logfile_backups`), `${key}_logfile_backups: expected a whole number, got ${JSON.stringify(backups)}`);
    log.keep = Number(backups);
    if (outFile !== null && errFile !== null && errFile !== outFile && !apart) {
      draft.lost(origin('stderr_logfile'), `stderr_logfile=${stderrFile}`, `tend writes stdout and stderr to the one log.file (${outFile})`);
    } else if (outFile !== null && !redirect && (stderrFile === undefined || stderrFile === 'AUTO')) {
      draft.info(origin('stdout_logfile'), 'redirect_stderr=false', `stderr goes to ${outFile} too: tend writes both streams to log.file`);
    }
  }
  if (stdoutFile === 'syslog' || stderrFile === 'syslog') draft.lost(origin(stdoutFile === 'syslog' ? 'stdout_logfile' : 'stderr_logfile'), 'logfile=syslog', 'tend does not send output to syslog');
  if (Object.keys(log).length > 0) draft.set('log', log);
}

function parseSupervisorSize(text: string, origin: Origin): number {
  const match = /^(\d+)\s*(KB|MB|GB)?$/i.exec(text.trim());
  if (!match) throw new ImportError(origin, `expected a size like 50MB, got ${JSON.stringify(text)}`);
  const unit = { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(match[2] ?? '').toUpperCase() as 'KB'] ?? 1;
  return Number(match[1]) * unit;
}

function sizeText(bytes: number): string {
  for (const [unit, factor] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  return `${Math.max(1, Math.ceil(bytes / 1024))}KB`;
}

interface Vars {
  readonly here: string;
  readonly program_name?: string;
  readonly process_num?: number;
  readonly group_name?: string;
  readonly numprocs?: number;
}

/**
 * supervisord's %(name)s expansion, written as a tend string: literal text `$$`-escaped,
 * %(ENV_X)s as ${X} (tend reads it from its environment when it loads the manifest, as
 * supervisord did when it read its config). `forTend: false` gives plain text (names).
 */
function expand(text: string, origin: Origin, vars: Vars, forTend = true): string {
  let out = '';
  const pattern = /%(%|\(([A-Za-z0-9_]+)\)(-?0?\d*)([sd]))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const plain = text.slice(last, match.index);
    out += forTend ? literal(plain) : plain;
    last = match.index + match[0].length;
    if (match[1] === '%') {
      out += '%';
      continue;
    }
    const name = match[2]!;
    const width = match[3] ?? '';
    let value: string;
    if (name.startsWith('ENV_')) {
      value = forTend ? `\${${name.slice(4)}}` : (process.env[name.slice(4)] ?? '');
    } else if (name === 'host_node_name') value = hostname();
    else if (name in vars && (vars as unknown as Record<string, unknown>)[name] !== undefined) {
      const raw = (vars as unknown as Record<string, string | number>)[name]!;
      value = typeof raw === 'number' && width !== '' ? String(raw).padStart(Number(width.replace(/^-?0?/, '')) || 0, width.includes('0') ? '0' : ' ') : String(raw);
      if (forTend) value = literal(value);
    } else throw new ImportError(origin, `%(${name})s cannot be expanded here (known: ENV_X, here, program_name, process_num, group_name, numprocs, host_node_name)`);
    out += value;
  }
  const rest = text.slice(last);
  out += forTend ? literal(rest) : rest;
  return out;
}

/** environment=KEY="value",KEY2=value2 (values may be quoted; commas inside quotes are kept). */
function parseEnvironment(text: string, origin: Origin): Record<string, string> {
  const env: Record<string, string> = {};
  let i = 0;
  const src = text.replace(/\n/g, ' ');
  while (i < src.length) {
    while (src[i] === ' ' || src[i] === ',') i++;
    if (i >= src.length) break;
    const eq = src.indexOf('=', i);
    if (eq === -1) throw new ImportError(origin, `environment: expected KEY="value" pairs, got ${JSON.stringify(src.slice(i, i + 40))}`);
    const key = src.slice(i, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) throw new ImportError(origin, `environment: invalid variable name ${JSON.stringify(key)}`);
    i = eq + 1;
    let value = '';
    if (src[i] === '"' || src[i] === "'") {
      const quote = src[i]!;
      const end = src.indexOf(quote, i + 1);
      if (end === -1) throw new ImportError(origin, `environment: no closing quotation for ${key}`);
      value = src.slice(i + 1, end);
      i = end + 1;
    } else {
      const end = src.indexOf(',', i);
      value = (end === -1 ? src.slice(i) : src.slice(i, end)).trim();
      i = end === -1 ? src.length : end;
    }
    env[key] = value;
  }
  return env;
}
