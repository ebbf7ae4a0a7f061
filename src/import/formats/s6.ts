// s6-overlay v3: the s6-rc.d source tree (longruns, oneshots, bundles, dependencies.d,
// notification-fd), the legacy cont-init.d scripts (oneshots in name order that every
// service waits for) and services.d longruns. Short run scripts are carried inline; longer
// ones are run from where s6-overlay keeps them in the image (/etc/s6-overlay/…), so the
// image keeps its scripts and loses s6-overlay.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ImportError, type Importer, type ImportedService, type Note, type Origin, type Value } from '../types';
import { Names, literal } from '../names';
import { validSignal } from '../supports';
import { Draft, duration, readInput } from './common';

export const s6: Importer = {
  kind: 's6',
  detect: (path) => layout(path) !== null,
  read: (paths) => {
    const names = new Names();
    const files: string[] = [];
    const services: ImportedService[] = [];
    const notes: Note[] = [];
    for (const path of paths) {
      const found = layout(path);
      if (found === null) throw new ImportError({ file: path, line: 0 }, 'no s6-overlay tree here: expected an s6-rc.d, cont-init.d or services.d directory (or an etc/ holding them)');
      services.push(...readTree(found, names, files, notes));
    }
    return {
      files,
      header: [
        'No service is main: tend runs until it is stopped, as s6-overlay does without a CMD. If the image has a CMD, add it as a service with `main: true`.',
        'Longruns restart when they exit, as under s6-supervise. A failing oneshot fails tend\'s start (exit 1), as S6_BEHAVIOUR_IF_STAGE2_FAILS=2 does.',
        'with-contenv is left out: tend gives every service the container\'s environment.',
      ],
      services,
      notes,
    };
  },
};

interface Layout {
  /** The directory that stands for /etc in the image. */
  readonly etc: string;
  readonly rc: string | null;
  readonly contInit: string | null;
  readonly contFinish: string | null;
  readonly servicesD: string | null;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Where the parts of an s6-overlay tree are, from an etc/, s6-overlay/ or s6-rc.d/ directory. */
function layout(path: string): Layout | null {
  if (!isDir(path)) return null;
  const base = basename(resolve(path));
  const etc = base === 's6-rc.d' ? dirname(dirname(path)) : base === 's6-overlay' ? dirname(path) : isDir(join(path, 'etc')) ? join(path, 'etc') : path;
  const rc = base === 's6-rc.d' ? path : [join(etc, 's6-overlay', 's6-rc.d'), join(path, 's6-rc.d')].find(isDir) ?? null;
  const find = (name: string) => (isDir(join(etc, name)) ? join(etc, name) : null);
  const found = { etc, rc, contInit: find('cont-init.d'), contFinish: find('cont-finish.d'), servicesD: find('services.d') };
  return found.rc === null && found.contInit === null && found.servicesD === null ? null : found;
}

/** Where a file of the tree is inside the image: s6-overlay trees live under /etc. */
function imagePath(file: string): string {
  const absolute = resolve(file);
  const at = absolute.search(/\/etc\/(s6-overlay|cont-init\.d|cont-finish\.d|services\.d)\//);
  return at === -1 ? absolute : absolute.slice(at);
}

function readOptional(file: string): string | null {
  return existsSync(file) && !isDir(file) ? readInput(file, file).trim() : null;
}

function listDir(dir: string): string[] {
  return isDir(dir) ? readdirSync(dir).filter((name) => !name.startsWith('.')).sort() : [];
}

interface RcService {
  readonly name: string;
  readonly dir: string;
  readonly type: 'longrun' | 'oneshot' | 'bundle';
  readonly deps: string[];
  readonly contents: string[];
}

function readTree(tree: Layout, names: Names, files: string[], notes: Note[]): ImportedService[] {
  const out: Draft[] = [];
  // cont-init.d: run one after another in name order, before any service.
  let lastInit: string | null = null;
  for (const script of listDir(tree.contInit ?? '')) {
    const file = join(tree.contInit!, script);
    if (isDir(file)) continue;
    files.push(file);
    const draft = new Draft(names.fresh(`init-${script.replace(/\.(sh|bash)$/, '')}`), { file, line: 0 });
    draft.comments.push(`cont-init.d/${script}`);
    draft.set('command', scriptCommand(file, draft));
    draft.set('type', 'oneshot');
    if (lastInit !== null) draft.set('depends_on', { [lastInit]: { condition: 'completed' } });
    lastInit = draft.name;
    out.push(draft);
  }
  for (const script of listDir(tree.contFinish ?? '')) {
    const file = join(tree.contFinish!, script);
    files.push(file);
    notes.push({ origin: { file, line: 0 }, setting: `cont-finish.d/${script}`, text: 'tend runs nothing after the services stop: make it the stop_command of the service it cleans up after, or run it at the end of main', kind: 'lost' });
  }

  const rc = new Map<string, RcService>();
  for (const name of listDir(tree.rc ?? '')) {
    const dir = join(tree.rc!, name);
    if (!isDir(dir)) continue;
    const typeFile = join(dir, 'type');
    const type = readOptional(typeFile);
    if (type === null) throw new ImportError({ file: dir, line: 0 }, 'no type file: expected longrun, oneshot or bundle in it');
    if (type !== 'longrun' && type !== 'oneshot' && type !== 'bundle') throw new ImportError({ file: typeFile, line: 1 }, `expected longrun, oneshot or bundle, got ${JSON.stringify(type.slice(0, 40))}`);
    files.push(dir);
    const fromList = (file: string, folder: string) => [...(readOptional(join(dir, file))?.split(/\s+/).filter(Boolean) ?? []), ...listDir(join(dir, folder))];
    rc.set(name, { name, dir, type, deps: fromList('dependencies', 'dependencies.d'), contents: fromList('contents', 'contents.d') });
  }
  // What s6-overlay starts: the `user` bundle (and user2), with their dependencies.
  const started = new Set<string>();
  const start = (name: string) => {
    const service = rc.get(name);
    if (!service || started.has(name)) return;
    started.add(name);
    for (const next of [...service.deps, ...service.contents]) start(next);
  };
  const hasUserBundle = rc.has('user') || rc.has('user2');
  start('user');
  start('user2');
  /** A dependency on a bundle is a dependency on what it holds. */
  const expand = (name: string, seen = new Set<string>()): string[] => {
    const service = rc.get(name);
    if (!service || service.type !== 'bundle' || seen.has(name)) return [name];
    seen.add(name);
    return service.contents.flatMap((inner) => expand(inner, seen));
  };
  const consumers = new Map<string, string>(); // producer → consumer (an s6-log pipeline)
  for (const service of rc.values()) {
    const consumerFor = readOptional(join(service.dir, 'consumer-for'));
    if (consumerFor) for (const producer of consumerFor.split(/\s+/)) consumers.set(producer, service.name);
  }
  // s6-rc-compile refuses a dependency cycle; so does tend.
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (done.has(name)) return;
    if (visiting.has(name)) {
      const loop = [...path.slice(path.indexOf(name)), name];
      throw new ImportError({ file: join(rc.get(path.at(-1)!)!.dir, 'dependencies.d'), line: 0 }, `a dependency cycle: ${loop.join(' -> ')}`);
    }
    visiting.add(name);
    for (const next of rc.get(name)?.deps.flatMap((dep) => expand(dep)) ?? []) if (rc.has(next)) visit(next, [...path, name]);
    visiting.delete(name);
    done.add(name);
  };
  for (const name of rc.keys()) visit(name, []);
  const loggers = new Set(consumers.values());
  const drafts = new Map<string, Draft>();
  for (const service of rc.values()) {
    // A bundle is not a process; a logger (consumer-for) is replaced by tend's own capture.
    if (service.type === 'bundle' || loggers.has(service.name)) continue;
    const origin: Origin = { file: service.dir, line: 0 };
    const draft = new Draft(names.name(service.name), origin);
    draft.comments.push(`s6-rc.d/${service.name} (${service.type})`);
    if (service.type === 'longrun') {
      const run = join(service.dir, 'run');
      if (!existsSync(run)) throw new ImportError(origin, 'a longrun with no run script');
      draft.set('command', scriptCommand(run, draft));
      longrunFiles(service.dir, draft);
      const consumer = consumers.get(service.name);
      if (consumer) {
        draft.lost({ file: join(service.dir, 'producer-for'), line: 0 }, `producer-for ${consumer}`, `its output went to ${consumer} (s6-log): tend captures it; set log.file (rotated by max_size, keep) for a file`);
      }
    } else {
      const up = join(service.dir, 'up');
      const text = readOptional(up);
      if (text === null) throw new ImportError(origin, 'a oneshot with no up file');
      draft.set('command', upCommand(text, { file: up, line: 1 }, draft, tree.etc));
      draft.set('type', 'oneshot');
      if (readOptional(join(service.dir, 'down')) !== null) draft.lost({ file: join(service.dir, 'down'), line: 0 }, 'down', 'tend runs nothing when a oneshot is stopped');
    }
    if (hasUserBundle && !started.has(service.name)) {
      draft.set('autostart', false);
      draft.info(origin, 'not in the user bundle', `s6-overlay did not start it: \`tend start ${draft.name}\` does`);
    }
    drafts.set(service.name, draft);
    out.push(draft);
  }
  for (const service of rc.values()) {
    const draft = drafts.get(service.name);
    if (!draft) continue;
    const depends: Record<string, Value> = {};
    for (const dep of service.deps.flatMap((name) => expand(name))) {
      if (dep === 'base' || dep === 'legacy-cont-init' || dep === 'legacy-services') continue; // s6-overlay's own
      const target = rc.get(dep);
      const targetDraft = drafts.get(dep);
      if (!target || !targetDraft) {
        draft.lost({ file: join(service.dir, 'dependencies.d', dep), line: 0 }, `dependencies.d/${dep}`, 'not a service of this tree: import it too, or drop the dependency');
        continue;
      }
      const ready = targetDraft.get('ready') !== undefined;
      depends[targetDraft.name] = target.type === 'oneshot' ? { condition: 'completed' } : ready ? { condition: 'ready' } : null;
    }
    // Every service waits for cont-init.d; through another service of the tree it already does.
    if (lastInit !== null && Object.keys(depends).length === 0) depends[lastInit] = { condition: 'completed' };
    if (Object.keys(depends).length > 0) {
      const simple = Object.values(depends).every((v) => v === null);
      draft.set('depends_on', simple ? Object.keys(depends) : Object.fromEntries(Object.entries(depends).map(([k, v]) => [k, v ?? { condition: 'started' }])));
    }
  }
  // services.d: legacy longruns, started after cont-init.d.
  for (const name of listDir(tree.servicesD ?? '')) {
    const dir = join(tree.servicesD!, name);
    if (!isDir(dir)) continue;
    files.push(dir);
    const origin: Origin = { file: dir, line: 0 };
    const run = join(dir, 'run');
    if (!existsSync(run)) throw new ImportError(origin, 'a service with no run script');
    const draft = new Draft(names.name(name), origin);
    draft.comments.push(`services.d/${name}`);
    draft.set('command', scriptCommand(run, draft));
    longrunFiles(dir, draft);
    if (existsSync(join(dir, 'down'))) draft.set('autostart', false);
    if (lastInit !== null) draft.set('depends_on', { [lastInit]: { condition: 'completed' } });
    out.push(draft);
  }
  return out.map((draft) => draft.done());
}

/** The files beside a longrun's run script. */
function longrunFiles(dir: string, draft: Draft): void {
  const at = (name: string): Origin => ({ file: join(dir, name), line: 1 });
  const fd = readOptional(join(dir, 'notification-fd'));
  if (fd !== null) {
    if (!/^\d+$/.test(fd)) throw new ImportError(at('notification-fd'), `expected a file descriptor number, got ${JSON.stringify(fd.slice(0, 20))}`);
    if (Number(fd) < 3 || Number(fd) > 99) draft.lost(at('notification-fd'), `notification-fd ${fd}`, 'tend accepts a notify_fd from 3 to 99: change the number the service writes to');
    else draft.set('ready', { notify_fd: Number(fd) });
  }
  const timeoutUp = readOptional(join(dir, 'timeout-up'));
  if (timeoutUp !== null) {
    if (!/^\d+$/.test(timeoutUp)) throw new ImportError(at('timeout-up'), `expected milliseconds, got ${JSON.stringify(timeoutUp.slice(0, 20))}`);
    const ready = draft.get('ready') as Record<string, Value> | undefined;
    if (ready && Number(timeoutUp) > 0) draft.set('ready', { ...ready, timeout: duration(Number(timeoutUp)) });
    else if (Number(timeoutUp) > 0) draft.info(at('timeout-up'), `timeout-up ${timeoutUp}`, 'only meaningful with a readiness notification');
  }
  const timeoutDown = readOptional(join(dir, 'timeout-down'));
  if (timeoutDown !== null) {
    if (!/^\d+$/.test(timeoutDown)) throw new ImportError(at('timeout-down'), `expected milliseconds, got ${JSON.stringify(timeoutDown.slice(0, 20))}`);
    if (Number(timeoutDown) > 0) draft.set('stop_timeout', duration(Number(timeoutDown)));
  }
  const downSignal = readOptional(join(dir, 'down-signal'));
  if (downSignal !== null) {
    if (!validSignal(downSignal)) throw new ImportError(at('down-signal'), `unknown signal ${JSON.stringify(downSignal.slice(0, 20))}`);
    if (!/^(SIG)?TERM$/.test(downSignal)) draft.set('stop_signal', downSignal.replace(/^SIG/, ''));
  }
  if (existsSync(join(dir, 'finish'))) {
    draft.lost({ file: join(dir, 'finish'), line: 0 }, 'finish', 's6 passes the exit code and signal as arguments; tend\'s post_stop gets them as EXIT_CODE and EXIT_STATUS (systemd\'s names): make it the post_stop, reading those');
  }
  for (const name of ['max-death-tally', 'flag-essential', 'lock-fd']) {
    if (existsSync(join(dir, name))) draft.lost({ file: join(dir, name), line: 0 }, name, 'not imported: tend has no such setting');
  }
}

/**
 * A run or cont-init script as a command. A short sh script is carried inline, so the
 * image needs nothing of the tree; a longer one runs from its place in the image.
 * with-contenv is dropped: tend gives every service the container's environment.
 */
function scriptCommand(file: string, draft: Draft): Value {
  const text = readInput(file, file);
  const [first = '', ...rest] = text.split(/\r?\n/);
  const shebang = first.startsWith('#!') ? first.slice(2).trim().split(/\s+/) : [];
  const interpreter = shebang[0] === undefined ? null : basename(shebang[0]);
  const args = interpreter === 'with-contenv' ? shebang.slice(1) : shebang;
  const program = args[0] === undefined ? null : basename(args[0]);
  const origin = { file, line: 1 };
  if (program !== null && /^execlineb$/.test(program)) {
    draft.lost(origin, 'execline script', 'tend does not ship execline: install it in the image (the script then runs as it is), or rewrite the script in sh');
    return [imagePath(file)];
  }
  const body = rest.filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  const shell = program === 'bash' ? 'bash' : program === 'sh' || program === 'ash' || program === 'dash' || program === null ? 'sh' : null;
  if (shell !== null && body.length > 0 && body.length <= 3) {
    const setuid = body.length === 1 ? /^(exec\s+)?(s6-setuidgid|gosu|su-exec)\s+([A-Za-z0-9_.:-]+)\s+(.*)$/.exec(body[0]!.trim()) : null;
    if (setuid) {
      const [user, group] = setuid[3]!.split(':');
      draft.set('user', literal(user!));
      if (group) draft.set('group', literal(group));
      const line = `exec ${setuid[4]}`;
      return shell === 'sh' ? literal(line) : ['bash', '-c', literal(line)];
    }
    const line = body.map((l) => l.trim()).join('\n');
    return shell === 'sh' ? literal(line) : ['bash', '-c', literal(line)];
  }
  if (shell !== null && interpreter === 'with-contenv') return [shell === 'sh' ? '/bin/sh' : 'bash', imagePath(file)];
  return [imagePath(file)];
}

/** An s6-rc oneshot's `up`: one execline command line, most often the path of a script. */
function upCommand(text: string, origin: Origin, draft: Draft, etc: string): Value {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const words = lines.length === 1 ? execlineWords(lines[0]!) : null;
  if (words === null || words.length === 0 || words.some((word) => ['{', '}', 'if', 'foreground', 'background', 'backtick', 'importas', 'define', 'multisubstitute'].includes(word))) {
    draft.lost(origin, 'up', 'an execline program tend cannot translate: it runs with execlineb, which the image must have (or rewrite it in sh)');
    return ['execlineb', '-Pc', literal(text)];
  }
  const argv = words[0] === 'with-contenv' ? words.slice(1) : words;
  if (argv.length === 0) throw new ImportError(origin, 'with-contenv with no command');
  // The usual `up`: the path of a script of the tree, which may itself need s6-overlay
  // (#!/command/with-contenv): read it as a run script.
  const script = argv.length === 1 && argv[0]!.startsWith('/etc/') ? join(etc, argv[0]!.slice('/etc/'.length)) : null;
  if (script !== null && existsSync(script) && !isDir(script)) return scriptCommand(script, draft);
  return argv.map(literal);
}

/** Words of a plain execline line: whitespace-separated, "double quotes" with backslash escapes. */
function execlineWords(line: string): string[] | null {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    if (match[1] !== undefined) words.push(match[1].replace(/\\(.)/g, '$1'));
    else if (match[2]!.includes('"')) return null;
    else words.push(match[2]!);
  }
  return words;
}
