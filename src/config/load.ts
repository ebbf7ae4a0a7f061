// The config pipeline, one visible step after another:
//   read → parse YAML (positions, duplicate keys) → interpolate ${VAR} → drop x-* keys → schema (zod)
//   → cross-key rules → env_file and env.
// Every step returns problems as values; the loader reports all of them together,
// sorted by position. Nothing here throws for a bad manifest.
import { readConfigFile, readFailure } from './read';
import { dirname, resolve } from 'node:path';
import type { ConfigIssue } from './issues';
import { byPosition, formatIssue } from './issues';
import { parseYaml } from './source';
import { interpolateDocument, redactSubstitutions, type Env } from './interpolate';
import { manifestSchema, type Manifest } from './schema';
import { fromZodIssues } from './zod-issues';
import { checkSemantics } from './semantics';
import { serviceEnv } from './env';
import { writableCgroup2 } from './cgroup';

export interface LoadedManifest {
  /** Absolute path of the manifest. */
  readonly file: string;
  /** Directory relative paths resolve from. */
  readonly dir: string;
  readonly manifest: Manifest;
  /** Each service's own environment layer (env_files, then env). */
  readonly env: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** Not errors: e.g. a variable that was not set. */
  readonly warnings: readonly ConfigIssue[];
}

export type ManifestResult =
  | { readonly ok: true; readonly loaded: LoadedManifest }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

export interface LoadOptions {
  /** For tests: whether a writable cgroup v2 exists (default: look at /proc/self/mountinfo). */
  readonly cgroupWritable?: () => { ok: true } | { ok: false; reason: string };
}

export async function loadManifest(file: string, tendEnv: Env, options: LoadOptions = {}): Promise<ManifestResult> {
  const absolute = resolve(file);
  const dir = dirname(absolute);

  let text: string;
  try {
    text = (await readConfigFile(absolute)).toString('utf8');
  } catch (error) {
    const why = readFailure(error);
    return { ok: false, issues: [{ file, line: null, col: null, path: '', message: `cannot read the manifest: ${why}` }], warnings: [] };
  }

  const parsed = parseYaml(file, text);
  if (!parsed.ok) return { ok: false, issues: parsed.issues, warnings: [] };
  const { source } = parsed;

  const interpolation = interpolateDocument(source, tendEnv);
  const raw = withoutExtensions(source.doc.toJS() as unknown);

  // jitless: zod would otherwise generate (new Function) a fast parser per object shape on
  // first use — ~4 ms of start-up for a manifest that is parsed once, and code V8's cache
  // cannot keep.
  const schema = manifestSchema.safeParse(raw, { reportInput: true, jitless: true });
  // A document that is not a map at all (empty, a list) is reported once, by the rules below.
  const isMap = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  const schemaIssues = schema.success || !isMap ? [] : fromZodIssues(schema.error.issues, source, manifestSchema);
  const semanticIssues = checkSemantics(raw, {
    source,
    cgroupWritable: options.cgroupWritable ?? writableCgroup2,
  });
  const issues = [...interpolation.issues, ...schemaIssues, ...semanticIssues];

  const env = new Map<string, Readonly<Record<string, string>>>();
  if (schema.success) {
    for (const [name, service] of Object.entries(schema.data.services)) {
      const result = await serviceEnv(name, service, dir, tendEnv, source);
      if (result.ok) env.set(name, result.env);
      else issues.push(...result.issues);
    }
  }

  if (issues.length > 0 || !schema.success) {
    // A value that came from tend's environment is named by its variable, never printed.
    const redacted = issues.map((issue) => ({ ...issue, message: redactSubstitutions(issue.message, issue.path, interpolation.substitutions) }));
    return { ok: false, issues: unique(redacted).sort(byPosition), warnings: interpolation.warnings };
  }
  return { ok: true, loaded: { file: absolute, dir, manifest: schema.data, env, warnings: interpolation.warnings } };
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
