// Procfile (foreman, honcho, Heroku): `type: command` per line, run by a shell, with the
// `.env` beside it. As on Heroku, `web` is main (the container lives and dies with it),
// other processes restart when they exit, and `release` runs before the others start.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { ImportError, type Importer, type ImportedService, type ReadContext } from '../types';
import { Names, literal } from '../names';
import { Draft, readInput, numberedLines } from './common';

const LINE = /^([A-Za-z0-9_-]+)[ \t]*:[ \t]*(.*)$/;

export const procfile: Importer = {
  kind: 'procfile',
  detect: (path) => /^Procfile(\..+)?$/.test(basename(path)),
  read: (paths, context) => {
    const files: string[] = [];
    const services: ImportedService[] = [];
    const header: string[] = [];
    const names = new Names();
    for (const given of paths) {
      const path = isDirectory(given) ? join(given, 'Procfile') : given;
      files.push(path);
      services.push(...readProcfile(path, context, names, header, files));
    }
    return { files, header, services, notes: [] };
  },
};

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readProcfile(path: string, context: ReadContext, names: Names, header: string[], files: string[]): ImportedService[] {
  const text = readInput(resolve(path), path);
  const envPath = join(dirname(path), '.env');
  const hasEnv = existsSync(resolve(envPath));
  let envVars: Record<string, string> = {};
  if (hasEnv) {
    files.push(envPath);
    envVars = parseDotenv(readInput(resolve(envPath), envPath));
  }
  const drafts: Draft[] = [];
  const seen = new Map<string, number>();
  let comments: string[] = [];
  for (const { line, text: raw } of numberedLines(text)) {
    const trimmed = raw.trim();
    if (trimmed === '') {
      comments = [];
      continue;
    }
    if (trimmed.startsWith('#')) {
      comments.push(trimmed.replace(/^#+\s?/, ''));
      continue;
    }
    const match = LINE.exec(trimmed);
    if (!match) throw new ImportError({ file: path, line }, `expected "name: command", got ${JSON.stringify(trimmed.slice(0, 60))}`);
    const [, type, command] = match as unknown as [string, string, string];
    if (command.trim() === '') throw new ImportError({ file: path, line }, `"${type}" has no command`);
    const before = seen.get(type);
    if (before !== undefined) throw new ImportError({ file: path, line }, `"${type}" is defined twice (first at line ${before})`);
    seen.set(type, line);
    const draft = new Draft(names.name(type), { file: path, line });
    draft.comments.push(...comments);
    comments = [];
    // A Procfile line is run by a shell, so `$PORT` is expanded when the process starts:
    // written as `$$PORT`, tend hands the shell the `$` unchanged.
    draft.set('command', literal(command.trim()));
    if (type === 'web') draft.set('main', true);
    if (type === 'release') {
      draft.set('type', 'oneshot');
      draft.info({ file: path, line }, 'release', 'runs once, before every other process starts (Heroku\'s release phase)');
    }
    if (hasEnv) draft.set('env_file', context.manifestPath(resolve(envPath)));
    if (/\$\{?PORT\b/.test(command) && envVars.PORT === undefined && context.env.PORT === undefined) {
      // foreman gives each process type a port: 5000, 5100, 5200… in file order.
      const port = String(5000 + 100 * drafts.length);
      draft.set('env', { PORT: port });
      draft.info({ file: path, line }, '$PORT', `set to ${port} as foreman does; Heroku sets PORT for web — set it in .env or the image`);
    }
    drafts.push(draft);
  }
  const release = seen.has('release') ? drafts.find((draft) => draft.name === names.name('release')) : undefined;
  if (release) {
    for (const draft of drafts) if (draft !== release) draft.set('depends_on', { [release.name]: { condition: 'completed' } });
  }
  if (seen.has('web')) header.push(`web is main: the container lives and dies with it, as a Heroku dyno. The other processes restart when they exit.`);
  else header.push('No web process: no service is main, so tend runs until it is stopped. Mark the one the container should live and die with as `main: true`.');
  return drafts.map((draft) => draft.done());
}
