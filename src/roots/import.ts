// `tend import`: what a VM had (supervisord, systemd, Procfile, s6-overlay, crontab) → a
// tend manifest. Each format is a reader in formats/ behind one interface (types.ts); this
// file picks the reader, runs it, writes the manifest, checks it is one tend accepts, and
// lists what did not map. Exit 0; 1 with --strict when anything did not map; 2 for
// unreadable or malformed input, located.
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parseYaml } from '../config/source';
import { manifestSchema } from '../config/schema';
import { fromZodIssues } from '../config/zod-issues';
import { checkSemantics } from '../config/semantics';
import { formatIssue } from '../config/issues';
import { at, ImportError, KINDS, type Imported, type Importer, type Kind, type Note, type ReadContext } from '../import/types';
import { writeManifest } from '../import/write';
import { supervisord } from '../import/formats/supervisord';
import { systemd } from '../import/formats/systemd';
import { procfile } from '../import/formats/procfile';
import { s6 } from '../import/formats/s6';
import { crontab } from '../import/formats/crontab';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE } from '../vocab/exit';

/** Every format; the order is the order --from is guessed in. */
export const IMPORTERS: readonly Importer[] = [s6, systemd, procfile, supervisord, crontab];

export interface ImportCommand {
  readonly from: string | null;
  readonly paths: readonly string[];
  readonly output: string | null;
  readonly strict: boolean;
}

export type ImportResult =
  | { readonly ok: true; readonly kind: Kind; readonly text: string; readonly lost: readonly Note[] }
  | { readonly ok: false; readonly message: string };

const EXIT_NOT_MAPPED = 1;

/** Imports `paths` as `from` (or the kind they look like) for a manifest written in `outputDir`. */
export function importPaths(from: string | null, paths: readonly string[], outputDir: string, env: ReadContext['env'] = process.env): ImportResult {
  if (paths.length === 0) return { ok: false, message: 'import: name at least one file or directory to import' };
  for (const path of paths) {
    try {
      statSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return { ok: false, message: `${path}: cannot read: ${code === 'ENOENT' ? 'no such file or directory' : String(code ?? error)}` };
    }
  }
  let importer: Importer | undefined;
  if (from !== null) {
    importer = IMPORTERS.find((candidate) => candidate.kind === from);
    if (!importer) return { ok: false, message: `import: --from: expected ${KINDS.join(' | ')}, got "${from}"` };
  } else {
    const guesses = new Set(paths.map((path) => IMPORTERS.find((candidate) => candidate.detect(path))?.kind ?? null));
    if (guesses.size !== 1 || guesses.has(null)) {
      const named = paths.map((path) => `${path}: ${IMPORTERS.find((c) => c.detect(path))?.kind ?? 'unknown'}`).join(', ');
      return { ok: false, message: `import: cannot tell what to import from the files (${named}); say it with --from ${KINDS.join('|')}` };
    }
    importer = IMPORTERS.find((candidate) => candidate.kind === [...guesses][0]);
  }
  const context: ReadContext = {
    env,
    manifestPath: (absolute) => {
      const rel = relative(outputDir, absolute);
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : absolute;
    },
  };
  let imported: Imported;
  try {
    imported = importer!.read(paths, context);
  } catch (error) {
    if (error instanceof ImportError) return { ok: false, message: `${at(error.origin)}: ${error.message}` };
    throw error;
  }
  if (imported.services.length === 0) {
    return { ok: false, message: `${paths.join(', ')}: no service or job found to import` };
  }
  const text = writeManifest(importer!.kind, imported);
  const lost = [...imported.notes, ...imported.services.flatMap((service) => service.notes)].filter((note) => note.kind === 'lost');
  return { ok: true, kind: importer!.kind, text, lost };
}

/**
 * Problems tend's own loader finds in the written manifest (schema and cross-service
 * rules; files it names are not read). Any is a bug of an importer, not of the input.
 */
export function manifestProblems(text: string): string[] {
  const parsed = parseYaml('(imported manifest)', text);
  if (!parsed.ok) return parsed.issues.map(formatIssue);
  const raw = parsed.source.doc.toJS() as unknown;
  const schema = manifestSchema.safeParse(raw, { jitless: true });
  const sourceFor = () => parsed.source;
  const issues = [
    ...(schema.success ? [] : fromZodIssues(schema.error.issues, sourceFor, manifestSchema)),
    ...checkSemantics(raw, { sourceFor, cgroupWritable: () => ({ ok: true }) }),
  ];
  return issues.map(formatIssue);
}

export function runImport(command: ImportCommand): number {
  const outputDir = command.output === null ? process.cwd() : dirname(resolve(command.output));
  const result = importPaths(command.from, command.paths, outputDir);
  if (!result.ok) {
    process.stderr.write(`tend: ${result.message}\n`);
    return EXIT_USAGE;
  }
  const problems = manifestProblems(result.text);
  if (problems.length > 0) {
    process.stderr.write(`tend: internal error: the imported manifest is not one tend accepts (a bug in the ${result.kind} importer):\n`);
    process.stderr.write(problems.map((line) => `  ${line}\n`).join(''));
    process.stderr.write(result.text);
    return EXIT_INTERNAL;
  }
  if (command.output === null) process.stdout.write(result.text);
  else {
    // Whole or not at all: a manifest half written is worse than none.
    const temporary = `${command.output}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, result.text);
      renameSync(temporary, command.output);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? error);
      process.stderr.write(`tend: cannot write ${command.output}: ${why}\n`);
      return EXIT_USAGE;
    }
  }
  for (const note of result.lost) process.stderr.write(`${at(note.origin)}: ${note.setting}: ${note.text}\n`);
  if (result.lost.length > 0) {
    const count = result.lost.length;
    process.stderr.write(`tend: ${count} ${count === 1 ? 'setting' : 'settings'} not imported (each is a comment in the manifest)${command.strict ? '; --strict: exit 1' : ''}\n`);
  }
  return command.strict && result.lost.length > 0 ? EXIT_NOT_MAPPED : EXIT_OK;
}
