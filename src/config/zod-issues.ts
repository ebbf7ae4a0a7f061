// zod's issues → tend's located, user-worded issues. Unions are resolved to the branch the
// user evidently meant (the one whose type matched), so `restart: {policy: sometimes}`
// reports the policy, not "invalid input".
import type { z } from 'zod';
import type { ConfigIssue } from './issues';
import { joinPath } from './issues';
import { locate, sourceText, type SourceFor } from './source';
import { didYouMean } from './suggest';
import { describeValue, typeName } from './describe';
import { migrationHint, valueHint } from './migration';

type Issue = z.core.$ZodIssue;
type Schema = z.core.$ZodType;

export function fromZodIssues(issues: readonly Issue[], sourceFor: SourceFor, root: Schema): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) collect(issue, [], sourceFor, root, out);
  return out;
}

function collect(issue: Issue, prefix: readonly PropertyKey[], sourceFor: SourceFor, root: Schema, out: ConfigIssue[]): void {
  const path = [...prefix, ...issue.path];
  const at = (p: readonly PropertyKey[], anchor: 'key' | 'value' = 'value') => {
    const source = sourceFor(p);
    return { file: source.file, ...locate(source, p, anchor), path: joinPath(p) };
  };
  // A missing key has no place of its own: point at the key of the block it belongs in.
  const missing = (p: readonly PropertyKey[]) => ({ ...at(p.slice(0, -1), 'key'), path: joinPath(p), message: 'required key is missing' });
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        const keyPath = [...path, key];
        const known = knownKeys(root, path);
        // Another tool's word for a service key (supervisord's autorestart, systemd's ExecStart=).
        const migrated = path.length === 2 && path[0] === 'services' ? migrationHint(key, known) : null;
        out.push({ ...at(keyPath, 'key'), message: migrated !== null ? `unknown key; did you mean "${migrated.key}"? (${migrated.note})` : `unknown key${didYouMean(key, known)}` });
      }
      return;
    case 'invalid_union': {
      if (issue.input === undefined) {
        out.push(missing(path));
        return;
      }
      const branch = chooseBranch(issue.errors);
      if (branch) {
        for (const inner of branch) collect(inner, path, sourceFor, root, out);
        return;
      }
      out.push({ ...at(path), message: issue.message });
      return;
    }
    case 'invalid_key':
      for (const inner of issue.issues) out.push({ ...at(path, 'key'), message: inner.message });
      return;
    case 'invalid_element':
      for (const inner of issue.issues) collect(inner, path, sourceFor, root, out);
      return;
    case 'invalid_value': {
      const hint = valueHint(issue.input);
      out.push({ ...at(path), message: `expected ${issue.values.map(String).join(' | ')}, got ${describeValue(issue.input)}${hint === null ? '' : ` (${hint})`}` });
      return;
    }
    case 'invalid_type':
      if (octalKey(path) !== null && typeof issue.input === 'number') {
        out.push({ ...at(path), message: unquotedOctal(octalKey(path)!, sourceText(sourceFor(path), path), issue.input) });
      } else if (issue.input === undefined) {
        out.push(missing(path));
      } else {
        out.push({ ...at(path), message: `expected ${typeName(issue.expected)}, got ${describeValue(issue.input)}` });
      }
      return;
    case 'too_small':
      if ((issue.origin === 'array' || issue.origin === 'string') && Number(issue.minimum) === 1) {
        out.push({ ...at(path), message: issue.message.startsWith('Too small') ? 'must not be empty' : issue.message });
      } else {
        out.push({ ...at(path), message: `must be at least ${String(issue.minimum)}, got ${describeValue(issue.input)}` });
      }
      return;
    case 'too_big':
      out.push({ ...at(path), message: `must be at most ${String(issue.maximum)}, got ${describeValue(issue.input)}` });
      return;
    case 'custom':
      out.push({ ...at(path), message: issue.message });
      return;
    case 'invalid_format':
      out.push({ ...at(path), message: issue.message.startsWith('Invalid') ? `invalid ${issue.format}: ${describeValue(issue.input)}` : `${issue.message}, got ${describeValue(issue.input)}` });
      return;
    default:
      out.push({ ...at(path), message: issue.message });
  }
}

/**
 * The union branch the user meant: one whose own type matched (no issue at its root),
 * else one whose root issue is about the value rather than its type (an enum the
 * string was not one of). null: no branch fits; the union's own message says what is
 * accepted.
 */
function chooseBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] | null {
  const typeMatched = branches.find((issues) => issues.length > 0 && issues.every((i) => i.path.length > 0));
  if (typeMatched) return typeMatched;
  const valueWrong = branches.find((issues) => issues.length > 0 && issues.every((i) => i.code !== 'invalid_type' && i.code !== 'invalid_union'));
  return valueWrong ?? null;
}

/** Keys whose value is quoted octal, and the example offered when the digits are not octal. */
function octalKey(path: readonly PropertyKey[]): { key: string; example: string } | null {
  if (joinPath(path) === 'settings.socket_mode') return { key: 'socket_mode', example: '0600' };
  if (path.length === 3 && path[0] === 'services' && path[2] === 'umask') return { key: 'umask', example: '0027' };
  return null;
}

function unquotedOctal(octal: { key: string; example: string }, written: string | null, value: number): string {
  const text = written ?? String(value);
  const digits = text.replace(/^0o/i, '').padStart(4, '0');
  const suggestion = /^0?[0-7]{3}$/.test(digits) ? digits : octal.example;
  return `YAML reads the unquoted ${text} as the number ${value}, not as octal; quote it: ${octal.key}: "${suggestion}"`;
}

/** The keys the object schema at `path` accepts (for "did you mean"). */
export function knownKeys(root: Schema, path: readonly PropertyKey[]): string[] {
  let candidates: Schema[] = [root];
  for (const segment of path) {
    candidates = candidates.flatMap((schema) => children(schema, segment));
  }
  return [...new Set(candidates.flatMap((schema) => objectKeys(schema)))];
}

type Def = { type: string; shape?: Record<string, Schema>; innerType?: Schema; in?: Schema; options?: Schema[]; valueType?: Schema; element?: Schema };

function def(schema: Schema): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** The schema itself with wrappers (optional, pipe, union…) looked through. */
function unwrap(schema: Schema): Schema[] {
  const d = def(schema);
  switch (d.type) {
    case 'optional':
    case 'nullable':
    case 'default':
      return unwrap(d.innerType!);
    case 'pipe':
      return unwrap(d.in!);
    case 'union':
      return d.options!.flatMap(unwrap);
    default:
      return [schema];
  }
}

function children(schema: Schema, segment: PropertyKey): Schema[] {
  return unwrap(schema).flatMap((s) => {
    const d = def(s);
    if (d.type === 'object') return d.shape?.[String(segment)] ? [d.shape[String(segment)]!] : [];
    if (d.type === 'record') return [d.valueType!];
    if (d.type === 'array') return [d.element!];
    return [];
  });
}

function objectKeys(schema: Schema): string[] {
  return unwrap(schema).flatMap((s) => (def(s).type === 'object' ? Object.keys(def(s).shape ?? {}) : []));
}
