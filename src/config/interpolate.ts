// Step 2: ${VAR} interpolation with docker compose semantics, applied to every string
// value (never to keys) using tend's own environment, passed in:
//   $$            a literal $
//   $VAR ${VAR}   the value; unset → '' with a warning
//   ${VAR:-def}   def when VAR is unset or empty      ${VAR-def}  only when unset
//   ${VAR:?msg}   an error with msg when unset/empty  ${VAR?msg}  only when unset
//   ${VAR:+alt}   alt when VAR is set and non-empty   ${VAR+alt}  when set
// Defaults and messages may themselves contain ${...}. Any other `$` is an error, as in
// compose, so a typo never reaches a command silently: write `$$` for a literal dollar.
import { visit, isScalar, isPair, isSeq, type Scalar } from 'yaml';
import type { ConfigIssue } from './issues';
import type { Source } from './source';
import { locate } from './source';
import { joinPath } from './issues';

export type Env = Readonly<Record<string, string | undefined>>;

export type Interpolated =
  | { readonly ok: true; readonly value: string; readonly unset: readonly string[] }
  | { readonly ok: false; readonly message: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

class InterpolationError extends Error {}

/** Interpolates one string. Unset variables read as '' and are listed in `unset`. */
export function interpolate(text: string, env: Env): Interpolated {
  const unset: string[] = [];
  try {
    return { ok: true, value: expand(text, env, unset), unset };
  } catch (error) {
    if (error instanceof InterpolationError) return { ok: false, message: error.message };
    throw error;
  }
}

/**
 * Expands `text`. With `show`, a value taken from a variable is written as `${NAME}`
 * instead: the text as it may be printed (tend's environment may hold secrets), with
 * every literal part — defaults, `:+` alternatives — as it is expanded.
 */
function expand(text: string, env: Env, unset: string[], show = false): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) return out + text.slice(i);
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const end = matchingBrace(text, dollar + 2);
      if (end === -1) throw new InterpolationError(`unterminated "\${" in "${text}"`);
      out += braced(text.slice(dollar + 2, end), env, unset, show);
      i = end + 1;
    } else {
      const name = NAME.exec(text.slice(dollar + 1))?.[0];
      if (name === undefined) {
        throw new InterpolationError(`invalid interpolation at "${text.slice(dollar, dollar + 6)}"; write $$ for a literal $`);
      }
      out += lookup(name, env, unset, show);
      i = dollar + 1 + name.length;
    }
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `start`, honouring nesting. */
function matchingBrace(text: string, start: number): number {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') i++;
    else if (text[i] === '$' && text[i + 1] === '{') { depth++; i++; }
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function braced(body: string, env: Env, unset: string[], show: boolean): string {
  const name = NAME.exec(body)?.[0];
  if (name === undefined) throw new InterpolationError(`invalid interpolation "\${${body}}": expected a variable name`);
  const rest = body.slice(name.length);
  if (rest === '') return lookup(name, env, unset, show);
  const operator = /^(:?[-?+])/.exec(rest)?.[1];
  if (operator === undefined) throw new InterpolationError(`invalid interpolation "\${${body}}": expected :-, -, :?, ?, :+ or + after ${name}`);
  const argument = rest.slice(operator.length);
  const value = own(env, name);
  const colon = operator.startsWith(':');
  // With a colon, an empty value counts as unset (compose and POSIX sh agree).
  const present = value !== undefined && (!colon || value !== '');
  const shown = show && value !== undefined && value !== '' ? `\${${name}}` : value;
  switch (operator.at(-1)) {
    case '-':
      return present ? shown! : expand(argument, env, unset, show);
    case '?':
      if (present) return shown!;
      throw new InterpolationError(`required variable ${name} is ${value === undefined ? 'unset' : 'empty'}${argument === '' ? '' : `: ${expand(argument, env, unset)}`}`);
    default: // '+'
      return present ? expand(argument, env, unset, show) : '';
  }
}

/**
 * A variable's value, from the environment's own keys only: `\${constructor}` must not
 * read Object.prototype (process.env inherits from it too).
 */
export function own(env: Env, name: string): string | undefined {
  return Object.hasOwn(env, name) ? env[name] : undefined;
}

function lookup(name: string, env: Env, unset: string[], show: boolean): string {
  const value = own(env, name);
  if (value === undefined) {
    unset.push(name);
    return '';
  }
  return show && value !== '' ? `\${${name}}` : value;
}

/** `text` interpolated for printing: each value from a variable written as `${NAME}`. */
export function interpolateShown(text: string, env: Env): string | null {
  try {
    return expand(text, env, [], true);
  } catch (error) {
    if (error instanceof InterpolationError) return null;
    throw error;
  }
}

export interface InterpolationReport {
  readonly issues: ConfigIssue[];
  readonly warnings: ConfigIssue[];
  /**
   * For each interpolated value (by dotted key path), the variables it took a value from.
   * A message about that value must name the variable, never print its value: the
   * environment may hold secrets (README: Control socket: never printed by check).
   */
  readonly substitutions: ReadonlyMap<string, ReadonlyArray<{ readonly name: string; readonly value: string }>>;
  /**
   * For each value that took something from a variable (by dotted key path), the same
   * value as it may be shown: those parts written as `${NAME}`.
   */
  readonly shown: ReadonlyMap<string, string>;
}

const REFERENCE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Replaces, in a message about `path`, every value taken from a variable by `${NAME}`. */
export function redactSubstitutions(message: string, path: string, substitutions: InterpolationReport['substitutions']): string {
  const related = (other: string) => other === path || other.startsWith(`${path}.`) || path.startsWith(`${other}.`) || path === '';
  const values = [...substitutions].filter(([other]) => related(other)).flatMap(([, list]) => list);
  let out = message;
  for (const { name, value } of values.sort((a, b) => b.value.length - a.value.length)) out = out.split(value).join(`\${${name}}`);
  return out;
}

/** Interpolates every string value of the document in place. */
export function interpolateDocument(source: Source, env: Env): InterpolationReport {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const substitutions = new Map<string, Array<{ name: string; value: string }>>();
  const shown = new Map<string, string>();
  visit(source.doc, {
    Scalar(key, node, ancestry) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const path = pathOf(ancestry, node);
      const at = { file: source.file, ...locate(source, path), path: joinPath(path) };
      const result = interpolate(node.value, env);
      if (!result.ok) {
        issues.push({ ...at, message: result.message });
        return;
      }
      for (const name of new Set(result.unset)) {
        warnings.push({ ...at, message: `variable ${name} is not set; using an empty string` });
      }
      const used = [...node.value.replaceAll('$$', '').matchAll(REFERENCE)]
        .map((m) => m[1] ?? m[2]!)
        .flatMap((name) => { const value = own(env, name); return value === undefined || value === '' ? [] : [{ name, value }]; });
      if (used.length > 0) substitutions.set(at.path, used);
      const printable = interpolateShown(node.value, env);
      if (printable !== null && printable !== result.value) shown.set(at.path, printable);
      (node as Scalar<string>).value = result.value;
    },
  });
  return { issues, warnings, substitutions, shown };
}

/** Key path of a visited node from its ancestry (Document, Map, Pair, Seq, …) and itself. */
function pathOf(ancestry: readonly unknown[], node: unknown): PropertyKey[] {
  const chain = [...ancestry, node];
  const path: PropertyKey[] = [];
  for (let i = 0; i < chain.length - 1; i++) {
    const ancestor = chain[i];
    if (isPair(ancestor)) path.push(isScalar(ancestor.key) ? String(ancestor.key.value) : String(ancestor.key));
    else if (isSeq(ancestor)) path.push(ancestor.items.indexOf(chain[i + 1]));
  }
  return path;
}
