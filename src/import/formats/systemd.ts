// systemd units: each *.service becomes a service (template instances each their own),
// each *.timer makes its service a scheduled oneshot, each *.socket is noted. Semantics
// carried over: Type=, ExecStartPre as a oneshot the service waits for, Restart= with
// RestartSec and the start limit, After=/Before= among the imported units as depends_on,
// EnvironmentFile= (optional with -), specifiers (%i, %n…) where they can be resolved.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ImportError, type Importer, type ImportedService, type Note, type Origin, type Value } from '../types';
import { Names, literal } from '../names';
import { shQuote } from '../shell';
import { calendarToCron } from '../calendar';
import { NOT_YET, acceptsValue, optionalEnvFiles, readyKey, serviceKey, serviceType, validSignal } from '../supports';
import { Draft, duration, readInput, numberedLines } from './common';

interface Entry {
  readonly value: string;
  readonly origin: Origin;
}

/** A parsed unit: section → key → every assignment in order. */
interface Unit {
  /** Full unit name, instance included: `worker@2.service`. */
  readonly name: string;
  readonly file: string;
  readonly origin: Origin;
  readonly comments: readonly string[];
  readonly sections: Map<string, Map<string, Entry[]>>;
}

const UNIT_FILE = /\.(service|timer|socket)$/;

export const systemd: Importer = {
  kind: 'systemd',
  detect: (path) => {
    if (/\.(service|timer|socket|target)$/.test(path)) return true;
    try {
      return statSync(path).isDirectory() && readdirSync(path).some((name) => UNIT_FILE.test(name));
    } catch {
      return false;
    }
  },
  // Unit files name absolute paths only: nothing is made relative to the manifest.
  read: (paths) => read(paths),
};

function read(paths: readonly string[]) {
  const files: string[] = [];
  const units = new Map<string, Unit>();
  const templates = new Map<string, string>(); // `worker@.service` → its file
  const wanted: string[] = []; // instance names found in *.wants/ directories or named on the command line
  const load = (file: string, name = basename(file)) => {
    if (units.has(name)) return;
    if (!files.includes(file)) files.push(file);
    units.set(name, parseUnit(file, name, files));
  };
  for (const path of paths) {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) {
        const full = join(path, entry);
        if (/@\.(service|timer|socket)$/.test(entry)) templates.set(entry, full);
        else if (UNIT_FILE.test(entry) && !isDirectory(full)) load(full);
        else if (entry.endsWith('.wants') && isDirectory(full)) {
          for (const link of readdirSync(full).sort()) if (/@.+\.(service|timer|socket)$/.test(link)) wanted.push(link);
        }
      }
    } else if (/@\.(service|timer|socket)$/.test(basename(path))) templates.set(basename(path), path);
    else if (/@.+\.(service|timer|socket)$/.test(basename(path)) && !existsSync(path)) wanted.push(basename(path));
    else load(path);
  }
  // An instance named on the command line (`worker@2.service`) or enabled in a .wants
  // directory comes from its template beside it.
  const instantiate = (name: string, from: Origin | null) => {
    if (units.has(name)) return true;
    const template = name.replace(/@.+\.(service|timer|socket)$/, '@.$1');
    const file = templates.get(template) ?? (from ? join(dirname(from.file), template) : null);
    if (file === null || !existsSync(file)) return false;
    if (!files.includes(file)) files.push(file);
    units.set(name, parseUnit(file, name, files));
    return true;
  };
  for (const name of wanted) {
    if (!instantiate(name, null)) {
      const dir = paths.find((path) => isDirectory(path)) ?? dirname(paths[0]!);
      throw new ImportError({ file: join(dir, name), line: 0 }, `no template ${name.replace(/@.+\./, '@.')} for this instance`);
    }
  }
  // Instances other units ask for (Requires=worker@1.service) come from their templates too.
  for (const unit of [...units.values()]) {
    for (const key of ['Requires', 'Wants', 'BindsTo', 'After', 'Before']) {
      for (const entry of list(unit, 'Unit', key)) for (const other of words(entry.value)) if (/@.+\./.test(other)) instantiate(other, unit.origin);
    }
  }
  const notes: Note[] = [];
  for (const [template, file] of templates) {
    const prefix = template.replace(/@\..*$/, '@');
    if (![...units.keys()].some((name) => name.startsWith(prefix))) {
      notes.push({ origin: { file, line: 0 }, setting: template, text: `a template with no instance: import it as ${template.replace('@.', '@NAME.')} (or enable instances in a .wants directory)`, kind: 'lost' });
    }
  }
  return convert(files, units, notes);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A unit file and its drop-ins (`name.d/*.conf`, and the template's `prefix@.service.d/`
 * for an instance), applied in that order as systemd does: a later assignment adds to a
 * list or replaces a value, an empty one resets it.
 */
function parseUnit(file: string, name: string, files?: string[]): Unit {
  const unit = parseUnitFile(file, name, new Map());
  const dir = dirname(file);
  const dropins = [...new Set([`${basename(file)}.d`, `${name}.d`])]
    .map((folder) => join(dir, folder))
    .filter(isDirectory)
    .flatMap((folder) => readdirSync(folder).filter((entry) => entry.endsWith('.conf')).sort().map((entry) => join(folder, entry)));
  for (const dropin of dropins) {
    if (files && !files.includes(dropin)) files.push(dropin);
    const extra = parseUnitFile(dropin, name, unit.sections);
    if (extra.comments.length > 0) (unit.comments as string[]).push(...extra.comments);
  }
  return unit;
}

function parseUnitFile(file: string, name: string, sections: Map<string, Map<string, Entry[]>>): Unit {
  const text = readInput(resolve(file), file);
  let current: Map<string, Entry[]> | null = null;
  let pending: { key: string; value: string; origin: Origin } | null = null;
  const comments: string[] = [];
  let sawSection = false;
  let serviceLine = 0;
  const finish = () => {
    if (pending === null || current === null) return;
    const entries = current.get(pending.key) ?? [];
    // An empty assignment resets a list setting (ExecStartPre=, Environment=…).
    if (pending.value === '') entries.length = 0;
    else entries.push({ value: pending.value, origin: pending.origin });
    current.set(pending.key, entries);
    pending = null;
  };
  for (const { line, text: raw } of numberedLines(text)) {
    const trimmed = raw.trim();
    if (pending !== null) {
      if (/^[#;]/.test(trimmed)) continue; // comments inside a continued line are skipped
      const more = trimmed.endsWith('\\') ? trimmed.slice(0, -1) : trimmed;
      pending.value = `${pending.value} ${more}`.trim();
      if (!trimmed.endsWith('\\')) finish();
      continue;
    }
    if (trimmed === '') continue;
    if (/^[#;]/.test(trimmed)) {
      if (!sawSection) comments.push(trimmed.replace(/^[#;]+\s?/, ''));
      continue;
    }
    const header = /^\[([A-Za-z0-9-]+)\]$/.exec(trimmed);
    if (header) {
      sawSection = true;
      if (header[1] === 'Service' && serviceLine === 0) serviceLine = line;
      current = sections.get(header[1]!) ?? new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const pair = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(trimmed);
    if (!pair) throw new ImportError({ file, line }, `expected "Key=value" or a [Section], got ${JSON.stringify(trimmed.slice(0, 60))}`);
    if (current === null) throw new ImportError({ file, line }, 'an assignment before any [Section]');
    const value = pair[2]!;
    pending = { key: pair[1]!, value: value.endsWith('\\') ? value.slice(0, -1).trim() : value.trim(), origin: { file, line } };
    if (!value.endsWith('\\')) finish();
  }
  finish();
  return { name, file, origin: { file, line: serviceLine }, comments, sections };
}

function list(unit: Unit, section: string, key: string): Entry[] {
  return unit.sections.get(section)?.get(key) ?? [];
}

function last(unit: Unit, section: string, key: string): Entry | undefined {
  return list(unit, section, key).at(-1);
}

function words(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

// ---------------------------------------------------------------------------------------

/** systemd.time(7) time span → ms; null for infinity; throws located when unreadable. */
function timespan(entry: Entry): number | null {
  const text = entry.value.trim();
  if (text === 'infinity') return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = {
    us: 0.001, usec: 0.001, ms: 1, msec: 1, s: 1000, sec: 1000, second: 1000, seconds: 1000, m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000,
    h: 3_600_000, hr: 3_600_000, hour: 3_600_000, hours: 3_600_000, d: 86_400_000, day: 86_400_000, days: 86_400_000, w: 604_800_000, week: 604_800_000, weeks: 604_800_000,
  };
  let total = 0;
  const pattern = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/gy;
  let index = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const factor = units[match[2]!];
    if (factor === undefined) break;
    total += Number(match[1]) * factor;
    index = pattern.lastIndex;
  }
  if (index !== text.length || text === '') throw new ImportError(entry.origin, `expected a time span like 5s or 1min 30s, got ${JSON.stringify(text)}`);
  return total;
}

interface Specifiers {
  readonly unit: string;
  readonly user: string | null;
}

const unescape = (text: string) => text.replace(/-/g, '/').replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** Resolves %i, %n… (systemd.unit(5) "Specifiers"); those that depend on the host are noted and left. */
function specifiers(text: string, entry: Entry, spec: Specifiers, draft: Draft | null): string {
  const full = spec.unit;
  const stem = full.replace(/\.[a-z]+$/, '');
  const at = stem.indexOf('@');
  const prefix = at === -1 ? stem : stem.slice(0, at);
  const instance = at === -1 ? '' : stem.slice(at + 1);
  const known: Record<string, string> = {
    n: full, N: stem, p: prefix, P: unescape(prefix), i: instance, I: unescape(instance), j: prefix.split('-').at(-1)!, J: unescape(prefix.split('-').at(-1)!),
    f: `/${unescape(instance || prefix)}`, t: '/run', S: '/var/lib', C: '/var/cache', L: '/var/log', E: '/etc', T: '/tmp', V: '/var/tmp', '%': '%',
  };
  if (spec.user !== null) known.u = spec.user;
  if (spec.user === 'root' || spec.user === null) known.h = '/root';
  return text.replace(/%(.)/g, (whole, letter: string) => {
    const value = known[letter];
    if (value !== undefined) return value;
    if ('hHuUgGdlmbvwaAMoBW'.includes(letter)) {
      draft?.lost(entry.origin, `%${letter}`, 'depends on the host or user systemd ran on: replace it with the value the container needs');
      return whole;
    }
    throw new ImportError(entry.origin, `unknown specifier %${letter}`);
  });
}

interface Command {
  /** Prefixes: - (failure ignored), @ (argv[0] given), + ! !! (privileges), : (no expansion). */
  readonly flags: string;
  readonly words: string[];
}

/** An Exec*= line: prefixes, then words with systemd's quoting (C escapes in quotes and out). */
function parseCommand(entry: Entry, spec: Specifiers, draft: Draft | null): Command {
  const text = entry.value;
  const flags = /^[-@:+!]*/.exec(text)![0];
  // Specifiers are resolved in each word once it is unquoted: a resolved %n may hold a
  // backslash (`\x2d`) that must not be read as an escape.
  const out = splitWords(text.slice(flags.length), entry).map((word) => specifiers(word, entry, spec, draft));
  if (out.length === 0) throw new ImportError(entry.origin, 'the command is empty');
  if (out.includes(';')) throw new ImportError(entry.origin, 'several commands on one line (" ; ") are not supported: put each on its own line');
  if (flags.includes('@')) {
    draft?.lost(entry.origin, '@ prefix', `argv[0] is not set apart: tend runs ${out[0]} with its own name`);
    out.splice(1, 1);
  }
  if (/[+!]/.test(flags)) draft?.lost(entry.origin, `${flags} prefix`, 'no privileged commands: it runs as the service\'s user in tend');
  return { flags, words: out };
}

/** Words with systemd's quoting: "double" and 'single' quotes, C escapes in quotes and out. */
function splitWords(body: string, entry: Entry): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ', ' ': ' ', ';': ';' };
  for (let i = 0; i < body.length; i++) {
    const char = body[i]!;
    if (char === ' ' || char === '\t') {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else if (char === '"' || char === "'") {
      const end = body.indexOf(char, i + 1);
      if (end === -1) throw new ImportError(entry.origin, 'no closing quotation');
      word += body.slice(i + 1, end).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => (e.startsWith('x') && e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : escapes[e] ?? e));
      inWord = true;
      i = end;
    } else if (char === '\\' && i + 1 < body.length) {
      const next = body[i + 1]!;
      word += escapes[next] ?? next;
      inWord = true;
      i++;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/;

/**
 * A command as a manifest value: an argv list, or — when it refers to variables systemd
 * expands from the unit's environment — a shell line that expands them the same way
 * (`$VAR` alone split into words, `${VAR}` one word), from the service's environment.
 */
function commandValue(commands: readonly Command[]): Value {
  // `:` turns systemd's variable expansion off: `$` is then literal.
  const usesVariables = commands.some((command) => !command.flags.includes(':') && command.words.some((word) => VARIABLE.test(word)));
  if (commands.length === 1 && !usesVariables && !commands[0]!.flags.includes('-')) return commands[0]!.words.map(literal);
  const line = commands.map((command) => {
    const text = command.words.map((word) => (command.flags.includes(':') ? shQuote(word) : shellWord(word))).join(' ');
    return command.flags.includes('-') ? `{ ${text} || true; }` : text;
  });
  return literal(line.length === 1 ? `exec ${line[0]}` : line.join(' && '));
}

function shellWord(word: string): string {
  const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
  if (whole) return `$${whole[1]}`;
  if (!VARIABLE.test(word)) return shQuote(word);
  const quoted = word.replace(/[\\"`]/g, '\\$&').replace(/\$(?![{A-Za-z_])/g, '\\$');
  return `"${quoted}"`;
}

/** Environment= values: space-separated VAR=value words, quotes as in commands. */
function parseEnvironment(entry: Entry, spec: Specifiers, draft: Draft): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of splitWords(entry.value, entry).map((w) => specifiers(w, entry, spec, draft))) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new ImportError(entry.origin, `Environment: expected VAR=value, got ${JSON.stringify(word)}`);
    env[word.slice(0, eq)] = literal(word.slice(eq + 1));
  }
  return env;
}

// ---------------------------------------------------------------------------------------

const SANDBOX = /^(Private|Protect|Restrict|NoNewPrivileges|Capability|AmbientCapabilities|SystemCall|ReadOnly|ReadWrite|Inaccessible|DeviceAllow|DevicePolicy|LockPersonality|MemoryDeny|RemoveIPC|KeyringMode|SecureBits|IPAddress|Bind|TemporaryFileSystem|Mount|RootDirectory|RootImage|SELinux|AppArmor|Personality|Nice|CPUWeight|CPUShares|IOWeight|IOScheduling|CPUScheduling|CPUAffinity|Slice|Delegate|IgnoreSIGPIPE|LogRateLimit|LogLevelMax|Limit)/;

interface Plan {
  readonly unit: Unit;
  readonly draft: Draft;
  readonly type: string;
  pre: Draft | null;
}

function convert(files: string[], units: Map<string, Unit>, notes: Note[]) {
  const names = new Names();
  const plans = new Map<string, Plan>();
  const services = [...units.values()].filter((unit) => unit.name.endsWith('.service'));
  for (const unit of services) plans.set(unit.name, service(unit, names));
  for (const unit of units.values()) {
    if (unit.name.endsWith('.timer')) timer(unit, plans, notes);
    if (unit.name.endsWith('.socket')) socket(unit, plans, notes);
  }
  dependencies(plans);
  const out: ImportedService[] = [];
  for (const plan of plans.values()) {
    if (plan.pre) out.push(plan.pre.done());
    out.push(plan.draft.done());
  }
  return {
    files,
    header: [
      'No service is main: tend runs until it is stopped, as systemd does. Mark the service the container should live and die with as `main: true`.',
      'Every imported unit starts when tend starts ([Install] is not read); After=/Before= among them order the start, and the stop in reverse.',
      'A unit without KillMode= gets tend\'s default stop_mode: mixed (the stop signal to the main process, SIGKILL to everything left at stop_timeout), not systemd\'s control-group.',
    ],
    services: out,
    notes,
  };
}

function service(unit: Unit, names: Names): Plan {
  const stem = unit.name.replace(/\.service$/, '');
  const draft = new Draft(names.name(stem), unit.origin);
  draft.comments.push(...unit.comments);
  const S = (key: string) => last(unit, 'Service', key);
  const U = (key: string) => last(unit, 'Unit', key);
  const user = S('User')?.value ?? null;
  const spec: Specifiers = { unit: unit.name, user };
  const description = U('Description');
  if (description) draft.comments.push(specifiers(description.value, description, spec, null));
  const handled = new Set<string>();
  const take = (key: string) => {
    handled.add(key);
    return S(key);
  };

  const type = (take('Type')?.value ?? (S('BusName') ? 'dbus' : 'simple')).toLowerCase();
  const starts = list(unit, 'Service', 'ExecStart');
  handled.add('ExecStart');
  if (starts.length === 0) throw new ImportError(unit.origin, `${unit.name} has no ExecStart=`);
  if (starts.length > 1 && type !== 'oneshot') throw new ImportError(starts[1]!.origin, 'more than one ExecStart= is only allowed with Type=oneshot');
  const commands = starts.map((entry) => parseCommand(entry, spec, draft));
  draft.set('command', commandValue(commands));
  const typeEntry = S('Type');
  const typeOrigin = typeEntry?.origin ?? unit.origin;
  switch (type) {
    case 'simple':
    case 'exec':
    case 'idle':
      break;
    case 'oneshot':
      draft.set('type', 'oneshot');
      break;
    case 'forking':
      if (serviceType('forking')) {
        draft.set('type', 'forking');
        if (S('PIDFile')) draft.set('pid_file', specifiers(S('PIDFile')!.value, S('PIDFile')!, spec, draft));
      } else {
        draft.lost(typeOrigin, 'Type=forking', `${NOT_YET('type: forking')}: it is imported as a longrun, so the daemon must stay in the foreground — use its foreground flag (e.g. --nodaemon, -D, daemonize no)`);
        if (S('PIDFile')) draft.lost(S('PIDFile')!.origin, `PIDFile=${S('PIDFile')!.value}`, NOT_YET('pid_file'));
      }
      handled.add('PIDFile');
      break;
    case 'notify':
    case 'notify-reload':
      if (readyKey('sd_notify')) draft.set('ready', { sd_notify: true });
      else draft.lost(typeOrigin, `Type=${type}`, `${NOT_YET('sd_notify readiness (ready: { sd_notify: true })')}: the service counts as started once spawned; add a ready: probe (tcp, http) if others must wait for it`);
      break;
    case 'dbus':
      draft.lost(typeOrigin, 'Type=dbus', 'there is no D-Bus in tend: the service counts as started once spawned');
      break;
    default:
      throw new ImportError(typeOrigin, `Type=${type}: expected simple, exec, forking, oneshot, notify, dbus or idle`);
  }

  // Dependencies are wired once every unit is known (dependencies()).
  const plan: Plan = { unit, draft, type, pre: null };

  const pres = list(unit, 'Service', 'ExecStartPre');
  handled.add('ExecStartPre');
  if (pres.length > 0) {
    const preCommands = pres.map((entry) => parseCommand(entry, spec, draft));
    if (serviceKey('pre_start')) draft.set('pre_start', commandValue(preCommands));
    else {
      const pre = new Draft(names.fresh(`${stem}-pre`), pres[0]!.origin);
      pre.comments.push(`ExecStartPre= of ${unit.name}`);
      pre.set('command', commandValue(preCommands));
      pre.set('type', 'oneshot');
      plan.pre = pre;
      draft.info(pres[0]!.origin, 'ExecStartPre', `runs as the oneshot ${pre.name}, once before the first start (systemd runs it before every start)`);
    }
  }
  for (const key of ['ExecStartPost', 'ExecStopPost', 'ExecCondition']) {
    handled.add(key);
    const entries = list(unit, 'Service', key);
    if (entries.length === 0) continue;
    if (key === 'ExecStopPost' && serviceKey('post_stop')) draft.set('post_stop', commandValue(entries.map((e) => parseCommand(e, spec, draft))));
    else draft.lost(entries[0]!.origin, `${key}=${entries[0]!.value}`, key === 'ExecStartPost' ? 'no post-start hook in tend: a oneshot that depends on this service (condition: started or ready) runs after it' : `no ${key} hook in tend: run it from the command (a wrapper script)`);
  }
  const reload = take('ExecReload');
  if (reload) {
    const hup = /kill\s+(-s\s+)?-?(SIG)?HUP\s+\$MAINPID/.test(reload.value);
    draft.lost(reload.origin, `ExecReload=${reload.value}`, hup ? `tend has no reload command: \`tend signal ${draft.name} HUP\` does this` : `tend has no reload command: run it by hand, or \`tend restart ${draft.name}\``);
  }
  const stop = take('ExecStop');
  if (stop) {
    draft.set('stop_command', commandValue([parseCommand(stop, spec, draft)]));
    if (stop.value.includes('MAINPID')) draft.info(stop.origin, 'ExecStop', 'refers to $MAINPID: check that tend gives it to stop_command');
  }

  // Environment: files first, then Environment= (systemd lets files win; tend lets env win).
  const envFiles: Value[] = [];
  for (const entry of list(unit, 'Service', 'EnvironmentFile')) {
    const optional = entry.value.startsWith('-');
    const path = specifiers(entry.value.replace(/^-/, ''), entry, spec, draft);
    if (!path.startsWith('/')) throw new ImportError(entry.origin, `EnvironmentFile=${entry.value}: systemd wants an absolute path`);
    if (!optional) envFiles.push(literal(path));
    else if (optionalEnvFiles()) envFiles.push({ path: literal(path), required: false });
    else draft.lost(entry.origin, `EnvironmentFile=${entry.value}`, `optional (-), and tend's env_file must exist: add \`env_file: ${path}\` once the image has it, or leave it out`);
  }
  handled.add('EnvironmentFile');
  const env: Record<string, string | null> = {};
  for (const entry of list(unit, 'Service', 'Environment')) Object.assign(env, parseEnvironment(entry, spec, draft));
  handled.add('Environment');
  for (const entry of list(unit, 'Service', 'PassEnvironment')) for (const name of words(entry.value)) env[name] = null;
  handled.add('PassEnvironment');

  const group = take('Group');
  handled.add('User');
  if (user !== null) draft.set('user', /^\d+$/.test(user) ? Number(user) : literal(user));
  if (group) draft.set('group', /^\d+$/.test(group.value) ? Number(group.value) : literal(group.value));
  const cwd = take('WorkingDirectory');
  if (cwd && cwd.value !== '') {
    // systemd: "-" makes a directory that is not there non-fatal, and a path that is not
    // absolute is then ignored with a warning; without "-" that path fails the unit.
    const optional = cwd.value.startsWith('-');
    const path = specifiers(cwd.value.replace(/^-/, ''), cwd, spec, draft);
    if (path === '~') draft.lost(cwd.origin, 'WorkingDirectory=~', 'the user\'s home: write its path');
    else if (path.startsWith('/')) draft.set('cwd', literal(path));
    else if (optional) draft.lost(cwd.origin, `WorkingDirectory=${cwd.value}`, 'not an absolute path: systemd ignores it (the "-" makes it non-fatal)');
    else throw new ImportError(cwd.origin, `WorkingDirectory=${cwd.value}: systemd wants an absolute path (or ~)`);
  }
  // A file name alone reads best; the long form ({ path, required }) is only allowed in a list.
  if (envFiles.length > 0) draft.set('env_file', envFiles.length === 1 && typeof envFiles[0] === 'string' ? envFiles[0] : envFiles);
  if (Object.keys(env).length > 0) draft.set('env', env);

  restartSettings(unit, draft, handled);

  const killSignal = take('KillSignal');
  if (killSignal) {
    if (!validSignal(killSignal.value)) throw new ImportError(killSignal.origin, `KillSignal: unknown signal ${JSON.stringify(killSignal.value)}`);
    if (!/^(SIG)?TERM$/.test(killSignal.value)) draft.set('stop_signal', killSignal.value.replace(/^SIG/, ''));
  }
  // KillMode= written out is kept as stop_mode; left out (systemd's control-group), the
  // service gets tend's default, mixed (the README says why; the header says so).
  const killMode = take('KillMode');
  if (killMode) {
    const mode = killMode.value === 'control-group' ? 'group' : killMode.value === 'process' ? 'main' : killMode.value === 'mixed' ? 'mixed' : null;
    if (mode !== null && serviceKey('stop_mode')) draft.set('stop_mode', mode);
    else draft.lost(killMode.origin, `KillMode=${killMode.value}`, mode === null ? 'tend always stops the service\'s processes (stop_mode: group | main | mixed)' : `${NOT_YET('stop_mode')}: tend signals every process the service owns`);
  }
  const stopTimeout = take('TimeoutStopSec') ?? take('TimeoutSec');
  handled.add('TimeoutSec');
  if (stopTimeout) {
    const ms = timespan(stopTimeout);
    if (ms === null || ms === 0) draft.lost(stopTimeout.origin, `${stopTimeout.value === 'infinity' ? 'TimeoutStopSec=infinity' : 'TimeoutStopSec=0'}`, 'tend always SIGKILLs after stop_timeout; set one long enough');
    else draft.set('stop_timeout', duration(ms));
  }
  const startTimeout = take('TimeoutStartSec');
  if (startTimeout) {
    const ms = timespan(startTimeout);
    const ready = draft.get('ready');
    if (ready && typeof ready === 'object' && !Array.isArray(ready) && ms !== null && ms > 0) draft.set('ready', { ...(ready as Record<string, Value>), timeout: duration(ms) });
    else draft.info(startTimeout.origin, `TimeoutStartSec=${startTimeout.value}`, 'tend has no start timeout without a ready: probe (ready.timeout)');
  }
  const watchdog = take('WatchdogSec');
  if (watchdog) {
    const ms = timespan(watchdog);
    const ready = draft.get('ready');
    const notifies = ready !== null && typeof ready === 'object' && !Array.isArray(ready) && (ready as Record<string, Value>).sd_notify === true;
    if (!serviceKey('watchdog') || ms === null) draft.lost(watchdog.origin, `WatchdogSec=${watchdog.value}`, `${NOT_YET('watchdog')}: add a healthcheck: to restart the service when it hangs`);
    // systemd too ignores WatchdogSec= unless the service talks sd_notify (Type=notify).
    else if (!notifies) draft.lost(watchdog.origin, `WatchdogSec=${watchdog.value}`, 'only a Type=notify service sends WATCHDOG=1; add a healthcheck: to restart the service when it hangs');
    else draft.set('watchdog', duration(ms));
  }
  resourceSettings(unit, draft, handled);
  logSettings(unit, draft, handled, spec);
  for (const [key, entries] of unit.sections.get('Service') ?? []) {
    if (handled.has(key) || entries.length === 0) continue;
    const entry = entries.at(-1)!;
    const setting = `${key}=${entry.value}`;
    if (key === 'RemainAfterExit') draft.info(entry.origin, setting, 'a oneshot stays completed in tend');
    else if (key === 'SyslogIdentifier') draft.info(entry.origin, setting, 'tend prefixes each line with the service name; what the service sends to /dev/log keeps its own tag (settings.syslog)');
    else if (key === 'NotifyAccess' && entry.value !== 'none') draft.info(entry.origin, setting, 'tend accepts sd_notify messages from any process the service owns (NotifyAccess=all)');
    else if (SANDBOX.test(key)) draft.lost(entry.origin, setting, 'tend does not sandbox or tune services one by one: the container\'s own isolation and limits apply');
    else if (key === 'UMask' && serviceKey('umask')) draft.set('umask', entry.value);
    else if (key === 'RuntimeDirectory' && serviceKey('runtime_directory')) draft.set('runtime_directory', entry.value);
    else if (['RuntimeDirectory', 'StateDirectory', 'CacheDirectory', 'LogsDirectory', 'ConfigurationDirectory'].includes(key)) draft.lost(entry.origin, setting, 'tend does not create directories for services: make it in the image, or in a oneshot this service depends on');
    else draft.lost(entry.origin, setting, 'tend has no such setting');
  }
  // ExecStartPre runs as the service would: same user, directory and environment.
  if (plan.pre) for (const key of ['user', 'group', 'cwd', 'env_file', 'env']) {
    const value = draft.get(key);
    if (value !== undefined) plan.pre.set(key, value);
  }
  for (const [key, entries] of unit.sections.get('Unit') ?? []) {
    const entry = entries.at(-1);
    if (!entry || ['Description', 'Documentation', 'After', 'Before', 'Requires', 'Wants', 'BindsTo', 'Requisite', 'PartOf', 'StartLimitBurst', 'StartLimitIntervalSec', 'StartLimitInterval', 'DefaultDependencies'].includes(key)) continue;
    if (key.startsWith('Condition') || key.startsWith('Assert')) draft.lost(entry.origin, `${key}=${entry.value}`, 'tend has no start conditions: check it at the start of the command instead');
    else draft.lost(entry.origin, `${key}=${entry.value}`, 'tend has no such setting');
  }
  return plan;
}

function restartSettings(unit: Unit, draft: Draft, handled: Set<string>): void {
  const S = (key: string) => {
    handled.add(key);
    return last(unit, 'Service', key);
  };
  const restartEntry = S('Restart');
  const value = restartEntry?.value ?? 'no';
  const origin = restartEntry?.origin ?? unit.origin;
  let policy: 'always' | 'on-failure' | 'never';
  switch (value) {
    case 'no': policy = 'never'; break;
    case 'always': policy = 'always'; break;
    case 'on-failure': policy = 'on-failure'; break;
    case 'on-abnormal':
    case 'on-abort':
    case 'on-watchdog':
      policy = 'on-failure';
      draft.lost(origin, `Restart=${value}`, 'tend restarts on any failure, a non-zero exit code included (on-failure)');
      break;
    case 'on-success':
      policy = 'never';
      draft.lost(origin, 'Restart=on-success', 'tend has no restart-on-success policy: always restarts on success and failure alike');
      break;
    default:
      throw new ImportError(origin, `Restart=${value}: expected no, always, on-success, on-failure, on-abnormal, on-abort or on-watchdog`);
  }
  const restart: Record<string, Value> = { policy };
  if (policy !== 'never') {
    const sec = S('RestartSec');
    const maxDelay = S('RestartMaxDelaySec');
    if (sec) {
      const ms = timespan(sec) ?? 100;
      restart.backoff = maxDelay
        ? { initial: duration(ms), max: duration(timespan(maxDelay) ?? ms) }
        : { initial: duration(ms), max: duration(ms), factor: 1, jitter: 0 };
    }
    const burstEntry = last(unit, 'Unit', 'StartLimitBurst');
    const intervalEntry = last(unit, 'Unit', 'StartLimitIntervalSec') ?? last(unit, 'Unit', 'StartLimitInterval') ?? S('StartLimitInterval');
    const burst = burstEntry ? Number(burstEntry.value) : 5;
    if (burstEntry && !/^\d+$/.test(burstEntry.value)) throw new ImportError(burstEntry.origin, `StartLimitBurst: expected a whole number, got ${JSON.stringify(burstEntry.value)}`);
    const interval = intervalEntry ? timespan(intervalEntry) : 10_000;
    if (interval !== null && interval > 0 && burst > 0) {
      // systemd counts every start within the interval, the first included; tend counts restarts.
      restart.limit = { count: Math.max(0, burst - 1), window: duration(interval) };
      if (!burstEntry && !intervalEntry) draft.info(origin, 'start limit', 'systemd\'s default: 5 starts within 10s, then it gives up');
    }
  }
  draft.set('restart', Object.keys(restart).length === 1 ? policy : restart);
  const success = S('SuccessExitStatus');
  if (success) {
    const codes = words(success.value);
    const numbers = codes.filter((code) => /^\d+$/.test(code)).map(Number).filter((n) => n <= 255);
    if (numbers.length > 0) draft.set('success_exit_codes', [0, ...numbers.filter((n) => n !== 0)]);
    const signals = codes.filter((code) => !/^\d+$/.test(code));
    if (signals.length > 0) draft.lost(success.origin, `SuccessExitStatus=${signals.join(' ')}`, 'tend counts a death by signal as a failure');
  }
  for (const key of ['RestartPreventExitStatus', 'RestartForceExitStatus', 'StartLimitAction', 'RestartSteps']) {
    const entry = S(key);
    if (entry) draft.lost(entry.origin, `${key}=${entry.value}`, 'tend\'s restart policy has no such setting');
  }
}

function resourceSettings(unit: Unit, draft: Draft, handled: Set<string>): void {
  const limits: Record<string, Value> = {};
  const map: Record<string, [string, (value: string) => Value | null]> = {
    LimitNOFILE: ['nofile', (v) => (/^\d+$/.test(v) ? Number(v) : /^\d+:\d+$/.test(v) ? Number(v.split(':')[1]) : null)],
    LimitCORE: ['core', (v) => (/^\d+$/.test(v) ? Number(v) : null)],
    MemoryMax: ['memory', (v) => (/^\d+[KMG]?$/.test(v) ? (/\d$/.test(v) ? `${Math.ceil(Number(v) / 1024)}KB` : `${v}B`) : null)],
    MemoryLimit: ['memory', (v) => (/^\d+[KMG]?$/.test(v) ? (/\d$/.test(v) ? `${Math.ceil(Number(v) / 1024)}KB` : `${v}B`) : null)],
    CPUQuota: ['cpu', (v) => (/^\d+(\.\d+)?%$/.test(v) ? Number(v.slice(0, -1)) / 100 : null)],
    TasksMax: ['pids', (v) => (/^\d+$/.test(v) ? Number(v) : null)],
  };
  for (const [key, [name, convert]] of Object.entries(map)) {
    const entry = last(unit, 'Service', key);
    handled.add(key);
    if (!entry) continue;
    const value = convert(entry.value);
    if (serviceKey('limits') && value !== null && acceptsValue('limits', { [name]: value })) limits[name] = value;
    else draft.lost(entry.origin, `${key}=${entry.value}`, serviceKey('limits') ? `${entry.value} is not a value limits.${name} accepts: set it by hand` : `${NOT_YET('limits')} (limits.${name}): set it on the container (docker run --ulimit, --memory, --cpus, --pids-limit)`);
  }
  const oom = last(unit, 'Service', 'OOMScoreAdjust');
  handled.add('OOMScoreAdjust');
  if (oom) {
    if (serviceKey('oom_score_adj') && acceptsValue('oom_score_adj', Number(oom.value))) draft.set('oom_score_adj', Number(oom.value));
    else draft.lost(oom.origin, `OOMScoreAdjust=${oom.value}`, serviceKey('oom_score_adj') ? 'not a value oom_score_adj accepts (-1000 to 1000)' : NOT_YET('oom_score_adj'));
  }
  if (Object.keys(limits).length > 0) draft.set('limits', limits);
}

function logSettings(unit: Unit, draft: Draft, handled: Set<string>, spec: Specifiers): void {
  const log: Record<string, Value> = {};
  const outputs = ['StandardOutput', 'StandardError'].map((key) => {
    handled.add(key);
    return last(unit, 'Service', key);
  });
  const files = new Set<string>();
  let nulls = 0;
  for (const entry of outputs) {
    if (!entry) continue;
    const value = entry.value;
    if (/^(journal|syslog|kmsg|inherit|journal\+console|syslog\+console|kmsg\+console)$/.test(value)) continue;
    if (value === 'null') nulls++;
    else if (/^(file|append|truncate):/.test(value)) files.add(specifiers(value.replace(/^[a-z]+:/, ''), entry, spec, draft));
    else draft.lost(entry.origin, `${entry === outputs[0] ? 'StandardOutput' : 'StandardError'}=${value}`, 'tend captures output through pipes: it goes to tend\'s output and log.file');
  }
  if (nulls === 2) log.console = 'none';
  else if (nulls === 1 && files.size === 0) draft.lost((outputs[0]?.value === 'null' ? outputs[0] : outputs[1])!.origin, 'null output', 'tend keeps or drops both streams together');
  if (files.size > 0) {
    log.file = [...files][0]!;
    if (files.size > 1) draft.lost(outputs[1]!.origin, `StandardError=${outputs[1]!.value}`, `tend writes stdout and stderr to the one log.file (${log.file})`);
  }
  const input = last(unit, 'Service', 'StandardInput');
  handled.add('StandardInput');
  if (input && input.value !== 'null') draft.lost(input.origin, `StandardInput=${input.value}`, 'services read /dev/null in tend (stdin: inherit is for main only)');
  if (Object.keys(log).length > 0) draft.set('log', log);
}

// ---------------------------------------------------------------------------------------

function timer(unit: Unit, plans: Map<string, Plan>, notes: Note[]): void {
  const target = last(unit, 'Timer', 'Unit')?.value ?? unit.name.replace(/\.timer$/, '.service');
  const plan = plans.get(target);
  if (!plan) {
    notes.push({ origin: unit.origin, setting: unit.name, text: `starts ${target}, which is not among the imported units: import it too`, kind: 'lost' });
    return;
  }
  const { draft } = plan;
  draft.comments.push(`run by ${unit.name}`);
  const calendars = list(unit, 'Timer', 'OnCalendar');
  if (plan.type !== 'oneshot') {
    draft.set('type', 'oneshot');
    draft.info(calendars[0]?.origin ?? unit.origin, unit.name, 'a service a timer starts is a scheduled oneshot in tend');
    const restart = draft.get('restart');
    if (restart !== undefined) draft.set('restart', 'never');
  }
  let scheduled = false;
  for (const entry of calendars) {
    const result = calendarToCron(entry.value);
    if (!result.ok) draft.lost(entry.origin, `OnCalendar=${entry.value}`, `no cron equivalent (${result.why}): write the schedule as a cron expression by hand`);
    else if (scheduled) draft.lost(entry.origin, `OnCalendar=${entry.value}`, `tend has one schedule per service: this one is ${String(draft.get('schedule'))}; add a second service for this time`);
    else {
      draft.set('schedule', result.cron);
      scheduled = true;
    }
  }
  for (const [key, entries] of unit.sections.get('Timer') ?? []) {
    const entry = entries.at(-1);
    if (!entry || key === 'OnCalendar' || key === 'Unit') continue;
    const setting = `${key}=${entry.value}`;
    if (/^On(Boot|Startup|Active|UnitActive|UnitInactive)Sec$/.test(key)) draft.lost(entry.origin, setting, 'tend schedules by the calendar only (cron): convert the interval to a cron expression');
    else if (key === 'Persistent') draft.lost(entry.origin, setting, 'tend does not catch up runs missed while it was down');
    else if (key === 'AccuracySec') draft.info(entry.origin, setting, 'tend runs jobs on time');
    else draft.lost(entry.origin, setting, 'tend\'s schedule has no such setting');
  }
  if (!scheduled) {
    draft.set('autostart', false);
    draft.lost(unit.origin, unit.name, `no calendar time tend can use: the service is defined but not started; run it with \`tend start ${draft.name}\` or add a schedule`);
  }
}

function socket(unit: Unit, plans: Map<string, Plan>, notes: Note[]): void {
  const target = last(unit, 'Socket', 'Service')?.value ?? unit.name.replace(/\.socket$/, '.service');
  const plan = plans.get(target);
  const listens = ['ListenStream', 'ListenDatagram', 'ListenSequentialPacket'].flatMap((key) => list(unit, 'Socket', key));
  const accept = last(unit, 'Socket', 'Accept');
  if (plan && serviceKey('sockets') && accept?.value !== 'yes' && listens.every((e) => !e.value.startsWith('@'))) {
    // FileDescriptorName= names every socket of the unit (LISTEN_FDNAMES); Backlog= and SocketMode= apply to each.
    const name = last(unit, 'Socket', 'FileDescriptorName')?.value;
    const backlog = Number(last(unit, 'Socket', 'Backlog')?.value);
    const mode = last(unit, 'Socket', 'SocketMode')?.value;
    plan.draft.set('sockets', listens.map((entry) => {
      const unix = entry.value.startsWith('/');
      return {
        listen: unix ? `unix:${entry.value}` : entry.value,
        ...(name !== undefined && /^[A-Za-z0-9_.-]+$/.test(name) ? { name } : {}),
        ...(Number.isInteger(backlog) && backlog > 0 ? { backlog } : {}),
        ...(unix && mode !== undefined && /^0?[0-7]{3}$/.test(mode) ? { mode: mode.padStart(4, '0') } : {}),
      };
    }));
    return;
  }
  const where = listens.map((entry) => entry.value).join(', ');
  const text = plan
    ? `${NOT_YET('socket activation (sockets:)')}: ${plan.draft.name} must listen on ${where} itself (most daemons have an option for it)`
    : `activates ${target}, which is not among the imported units`;
  (plan ? plan.draft.notes : notes).push({ origin: listens[0]?.origin ?? unit.origin, setting: unit.name, text, kind: 'lost' });
}

/** After=/Before= among imported units → depends_on, with the condition each target can meet. */
function dependencies(plans: Map<string, Plan>): void {
  const edges = new Map<string, Map<string, Origin>>(); // from → to → where
  const add = (from: string, to: string, origin: Origin) => {
    const map = edges.get(from) ?? new Map<string, Origin>();
    if (!map.has(to)) map.set(to, origin);
    edges.set(from, map);
  };
  for (const [name, plan] of plans) {
    for (const entry of list(plan.unit, 'Unit', 'After')) {
      for (const other of words(entry.value)) {
        if (plans.has(other)) add(name, other, entry.origin);
        else if (!other.endsWith('.target')) plan.draft.lost(entry.origin, `After=${other}`, 'not among the imported units: import it too, or drop the order');
      }
    }
    for (const entry of list(plan.unit, 'Unit', 'Before')) {
      for (const other of words(entry.value)) if (plans.has(other)) add(other, name, entry.origin);
    }
    for (const key of ['Requires', 'Wants', 'BindsTo', 'Requisite', 'PartOf']) {
      for (const entry of list(plan.unit, 'Unit', key)) {
        for (const other of words(entry.value)) {
          if (other.endsWith('.target')) continue;
          if (!plans.has(other)) plan.draft.lost(entry.origin, `${key}=${other}`, 'not among the imported units: import it too');
          else if (!list(plan.unit, 'Unit', 'After').some((after) => words(after.value).includes(other))) {
            plan.draft.info(entry.origin, `${key}=${other}`, 'without After= systemd starts both at once; so does tend (every imported unit starts)');
          }
          if (key === 'BindsTo' || key === 'PartOf') plan.draft.lost(entry.origin, `${key}=${other}`, 'tend does not stop a service when another stops');
        }
      }
    }
  }
  const reaches = (from: string, to: string, seen = new Set<string>()): boolean => {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    return [...(edges.get(from)?.keys() ?? [])].some((next) => reaches(next, to, seen));
  };
  for (const [from, targets] of edges) {
    const plan = plans.get(from)!;
    const depends: Record<string, Value> = {};
    for (const [to, origin] of targets) {
      const target = plans.get(to)!;
      if (reaches(to, from)) {
        plan.draft.lost(origin, `After=${to}`, 'a dependency cycle: systemd breaks it at start; tend refuses it, so this order is dropped');
        edges.get(from)!.delete(to);
        continue;
      }
      const condition = target.type === 'oneshot' ? 'completed' : target.draft.get('ready') !== undefined ? 'ready' : 'started';
      depends[target.draft.name] = condition === 'started' ? null : { condition };
    }
    // ExecStartPre runs once the unit's own order is met, as part of its start.
    if (plan.pre && Object.keys(depends).length > 0) plan.pre.set('depends_on', simplify(depends));
    if (plan.pre) depends[plan.pre.name] = { condition: 'completed' };
    if (Object.keys(depends).length > 0) plan.draft.set('depends_on', simplify(depends));
  }
  for (const plan of plans.values()) {
    if (plan.pre && !edges.has(plan.unit.name)) plan.draft.set('depends_on', { [plan.pre.name]: { condition: 'completed' } });
  }
}

/** `{ a: null, b: null }` reads better as `[a, b]`; in a map, say `started` where it is meant. */
function simplify(depends: Record<string, Value>): Value {
  if (Object.values(depends).every((value) => value === null)) return Object.keys(depends);
  return Object.fromEntries(Object.entries(depends).map(([name, value]) => [name, value ?? { condition: 'started' }]));
}
