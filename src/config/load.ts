// The config pipeline, one visible step after another:
//   read → parse YAML (positions, duplicate keys) → interpolate ${VAR} → drop x-* keys
//   → include: (each file read, parsed and interpolated alike; services joined) → schema (zod)
//   → cross-key rules → env (env_files are only checked here: they are read at each start).
// Every step returns problems as values; the loader reports all of them together,
// sorted by position. Nothing here throws for a bad manifest.
import { readConfigFile, readFailure } from './read';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { ConfigIssue } from './issues';
import { byPosition, formatIssue } from './issues';
import { locate, parseYaml, type Source, type SourceFor } from './source';
import { interpolateDocument, redactSubstitutions, type Env, type InterpolationReport } from './interpolate';
import { globFiles, hasWildcard } from './glob';
import { joinPath } from './issues';
import { manifestSchema, type Manifest } from './schema';
import { fromZodIssues } from './zod-issues';
import { checkSemantics } from './semantics';
import { checkEnvFiles, serviceEnv } from './env';
import type { ServiceConfig } from './schema';
import { machineWarnings, type MachineProbe } from './machine';

export interface LoadedManifest {
  /** Absolute path of the manifest. */
  readonly file: string;
  /** Directory relative paths resolve from. */
  readonly dir: string;
  readonly manifest: Manifest;
  /** Each service's own environment layer (env_files, then env). */
  readonly env: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /**
   * Where relative paths of a service resolve from when it is not `dir`: the directory of
   * the included file that defines it.
   */
  readonly serviceDirs: ReadonlyMap<string, string>;
  /** Values that took something from tend's environment, as they may be shown (by key path). */
  readonly shown: ReadonlyMap<string, string>;
  /** Every file read, the manifest first, as named in messages. */
  readonly files: readonly string[];
  /** Each `include:` entry and the files it matched (none is allowed for a glob). */
  readonly includes: readonly IncludeMatch[];
  /** Not errors: e.g. a variable that was not set. */
  readonly warnings: readonly ConfigIssue[];
  /** Where a key path was written (for problems found after loading: the plan's defaults). */
  readonly at: (path: readonly PropertyKey[]) => Omit<ConfigIssue, 'message'>;
}

export type ManifestResult =
  | { readonly ok: true; readonly loaded: LoadedManifest }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

export interface LoadOptions {
  /**
   * Whether a writable cgroup v2 exists, for `tracking: cgroup`. The runtime knows (the
   * process layer's writableCgroup2); config does not look at the machine itself, so a
   * caller that does not pass it gets no opinion on that one key.
   */
  readonly cgroupWritable?: () => { ok: true } | { ok: false; reason: string };
  /** `tend check`: looks for commands, users, groups and cwds that are not there (warnings). */
  readonly machine?: MachineProbe;
}

export async function loadManifest(file: string, tendEnv: Env, options: LoadOptions = {}): Promise<ManifestResult> {
  const absolute = resolve(file);
  const dir = dirname(absolute);

  const read = await readSource(file, absolute, 'the manifest');
  if (!read.ok) return { ok: false, issues: read.issues, warnings: [] };
  const { source } = read;

  const interpolation = interpolateDocument(source, tendEnv);
  const mainRaw = withoutExtensions(source.doc.toJS() as unknown);

  // include: every file is read, parsed and interpolated on its own, so that each
  // problem is located in the file it is in; then their services join the manifest's.
  const included = await readIncludes(file, dir, source, mainRaw, tendEnv);
  const raw = included.raw;
  const sourceFor: SourceFor = (path) => (path[0] === 'services' && path.length > 1 ? included.sources.get(String(path[1])) ?? source : source);
  const warnings = [...interpolation.warnings, ...included.warnings];
  const substitutions = new Map([...interpolation.substitutions, ...included.substitutions]);
  const shown = new Map([...interpolation.shown, ...included.shown]);

  // jitless: zod would otherwise generate (new Function) a fast parser per object shape on
  // first use — ~4 ms of start-up for a manifest that is parsed once, and code V8's cache
  // cannot keep.
  const schema = manifestSchema.safeParse(raw, { reportInput: true, jitless: true });
  // A document that is not a map at all (empty, a list) is reported once, by the rules below.
  const isMap = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  const schemaIssues = schema.success || !isMap ? [] : fromZodIssues(schema.error.issues, sourceFor, manifestSchema);
  const semanticIssues = checkSemantics(raw, {
    sourceFor,
    cgroupWritable: options.cgroupWritable ?? (() => ({ ok: true })),
  });
  const issues = [...interpolation.issues, ...included.issues, ...schemaIssues, ...semanticIssues];

  const env = new Map<string, Readonly<Record<string, string>>>();
  /** The env layer over what the env_files give now: what a start now would see (PATH, for the machine's look). */
  const envNow = new Map<string, Readonly<Record<string, string>>>();
  if (schema.success) {
    const services = schema.data.services;
    for (const [name, service] of Object.entries(services)) {
      env.set(name, serviceEnv(service, tendEnv));
      const files = checkEnvFiles(name, service, included.dirs.get(name) ?? dir, sourceFor(['services', name]), oneshotsBefore(name, services));
      issues.push(...files.issues);
      warnings.push(...files.warnings);
      envNow.set(name, { ...files.now, ...env.get(name) });
    }
  }

  if (schema.success && options.machine !== undefined) {
    warnings.push(...machineWarnings({
      manifest: schema.data, sourceFor, dirOf: (name) => included.dirs.get(name) ?? dir, env: envNow, tendPath: tendEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    }, options.machine));
  }

  if (issues.length > 0 || !schema.success) {
    // A value that came from tend's environment is named by its variable, never printed.
    const redacted = issues.map((issue) => ({ ...issue, message: redactSubstitutions(issue.message, issue.path, substitutions) }));
    return { ok: false, issues: unique(redacted).sort(byFileThenPosition(file)), warnings };
  }
  return {
    ok: true,
    loaded: {
      file: absolute, dir, manifest: schema.data, env, shown, serviceDirs: included.dirs,
      files: [file, ...included.files], includes: included.matches, warnings,
      at: (path) => {
        const source = sourceFor(path);
        return { file: source.file, ...locate(source, path, 'key'), path: joinPath(path) };
      },
    },
  };
}

type Read = { readonly ok: true; readonly source: Source } | { readonly ok: false; readonly issues: ConfigIssue[] };

async function readSource(file: string, absolute: string, what: string): Promise<Read> {
  let text: string;
  try {
    text = (await readConfigFile(absolute)).toString('utf8');
  } catch (error) {
    return { ok: false, issues: [{ file, line: null, col: null, path: '', message: `cannot read ${what}: ${readFailure(error)}` }] };
  }
  return parseYaml(file, text);
}

export interface IncludeMatch {
  /** The entry as written under `include:`. */
  readonly pattern: string;
  /** The files it matched, as named in messages. */
  readonly files: readonly string[];
}

interface Included {
  /** The manifest's document with every included file's services joined in. */
  readonly raw: unknown;
  readonly sources: ReadonlyMap<string, Source>;
  readonly dirs: ReadonlyMap<string, string>;
  readonly files: readonly string[];
  readonly matches: readonly IncludeMatch[];
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  readonly substitutions: InterpolationReport['substitutions'];
  readonly shown: InterpolationReport['shown'];
}

type Raw = Record<string, unknown>;

function record(value: unknown): Raw | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : null;
}

/**
 * Reads the files `include:` names (README: Coming from supervisord / systemd / s6-overlay / Procfile): paths or globs relative to the manifest,
 * each a YAML file with `services:` (and `x-` keys). A glob that matches nothing is
 * allowed — a base image's `tend.d/` is empty until a derived image adds a file — but a
 * plain path that does not exist is an error, as the user named that file.
 */
async function readIncludes(file: string, dir: string, main: Source, mainRaw: unknown, tendEnv: Env): Promise<Included> {
  const root = record(mainRaw);
  const empty: Included = { raw: mainRaw, sources: new Map(), dirs: new Map(), files: [], matches: [], issues: [], warnings: [], substitutions: new Map(), shown: new Map() };
  if (root === null || root.include === undefined) return empty;
  const entries = typeof root.include === 'string' ? [root.include] : Array.isArray(root.include) ? root.include : [];
  const entryPath = (index: number): PropertyKey[] => (typeof root.include === 'string' ? ['include'] : ['include', index]);

  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const substitutions = new Map<string, ReadonlyArray<{ name: string; value: string }>>();
  const shownValues = new Map<string, string>();
  const sources = new Map<string, Source>();
  const dirs = new Map<string, string>();
  const files: string[] = [];
  const matches: IncludeMatch[] = [];
  const seen = new Set([resolve(dir, basename(file))]);
  const services: Raw = { ...(record(root.services) ?? {}) };
  let anyServices = root.services !== undefined;
  const at = (path: readonly PropertyKey[]) => ({ file: main.file, ...locate(main, path), path: joinPath(path) });

  for (const [index, pattern] of entries.entries()) {
    if (typeof pattern !== 'string' || pattern === '') continue; // the schema reports it
    const found = globFiles(dir, pattern);
    if (found.length === 0 && !hasWildcard(pattern)) {
      issues.push({ ...at(entryPath(index)), message: `cannot read included file ${resolve(dir, pattern)}: no such file` });
    }
    const named: string[] = [];
    for (const absolute of found) {
      if (seen.has(absolute)) continue; // the manifest itself, or a file two entries match: read once
      seen.add(absolute);
      const shown = join(dirname(file), relative(dir, absolute));
      named.push(shown);
      files.push(shown);
      const read = await readSource(shown, absolute, 'the included file');
      if (!read.ok) {
        issues.push(...read.issues);
        continue;
      }
      const source = read.source;
      const interpolation = interpolateDocument(source, tendEnv);
      issues.push(...interpolation.issues);
      warnings.push(...interpolation.warnings);
      for (const [key, value] of interpolation.substitutions) substitutions.set(key, value);
      for (const [key, value] of interpolation.shown) shownValues.set(key, value);
      const doc = source.doc.toJS() as unknown;
      if (doc === null || doc === undefined) continue; // an empty file adds nothing
      const included = record(doc);
      const report = (path: readonly PropertyKey[], message: string, anchor: 'key' | 'value' = 'key') =>
        issues.push({ file: shown, ...locate(source, path, anchor), path: joinPath(path), message });
      if (included === null) {
        report([], 'expected a map with services:');
        continue;
      }
      for (const key of Object.keys(included)) {
        if (key === 'services' || key.startsWith('x-')) continue;
        if (key === 'settings') report([key], `settings: belong in the main manifest (${file}), not in an included file`);
        else if (key === 'include') report([key], `include: is read only in the main manifest (${file})`);
        else report([key], `unknown key; an included file has services: (and x- keys) only${key === 'service' ? '; did you mean "services"?' : ''}`);
      }
      if (included.services === undefined || included.services === null) continue;
      anyServices = true;
      const own = record(included.services);
      if (own === null) {
        report(['services'], 'expected a map of services', 'value');
        continue;
      }
      for (const [name, service] of Object.entries(own)) {
        const first = sources.get(name) ?? (record(root.services) && Object.hasOwn(record(root.services)!, name) ? main : null);
        if (first !== null) {
          const there = locate(first, ['services', name], 'key');
          report(['services', name], `service "${name}" is defined twice: here and at ${first.file}:${there.line}:${there.col}`);
          continue;
        }
        services[name] = service;
        sources.set(name, source);
        dirs.set(name, dirname(absolute));
      }
    }
    matches.push({ pattern, files: named });
  }
  const raw: Raw = { ...root };
  if (anyServices) raw.services = services;
  return { raw, sources, dirs, files, matches, issues, warnings, substitutions, shown: shownValues };
}

/** The oneshots `name` depends on, directly or through other services, in manifest order. */
function oneshotsBefore(name: string, services: Readonly<Record<string, ServiceConfig>>): string[] {
  const seen = new Set<string>();
  const visit = (service: string): void => {
    const deps = services[service]?.depends_on;
    const names = deps === undefined ? [] : Array.isArray(deps) ? deps : Object.keys(deps);
    for (const dep of names) {
      if (seen.has(dep) || !Object.hasOwn(services, dep)) continue;
      seen.add(dep);
      visit(dep);
    }
  };
  visit(name);
  return Object.keys(services).filter((other) => other !== name && seen.has(other) && services[other]!.type === 'oneshot');
}

/** The manifest's own problems first, then each included file's, each top to bottom. */
function byFileThenPosition(file: string): (a: ConfigIssue, b: ConfigIssue) => number {
  return (a, b) => (a.file === b.file ? byPosition(a, b) : a.file === file ? -1 : b.file === file ? 1 : a.file.localeCompare(b.file));
}

/**
 * Top-level `x-*` keys are extension fields, as in compose: a place for YAML anchors
 * (`x-defaults: &defaults`) that tend itself ignores.
 */
function withoutExtensions(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  return Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith('x-')));
}

/** Two steps can notice the same thing; say it once. */
function unique(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const line = formatIssue(issue);
    if (seen.has(line)) return false;
    seen.add(line);
    return true;
  });
}
