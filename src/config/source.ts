// Step 1: YAML text → a Document that remembers where every node came from. Syntax
// errors and duplicate keys become located issues; `locate` maps a key path back to
// line:col for the later steps, which work on plain values.
import { LineCounter, parseDocument, isMap, isSeq, isScalar, isPair, visit, type Document, type Node, type ParsedNode } from 'yaml';
import type { ConfigIssue } from './issues';
import { joinPath } from './issues';

export interface Source {
  /** The manifest path as given, used in messages. */
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

/**
 * The file a key path was written in: with `include:`, a service's keys live in the file
 * that defines it, everything else in the manifest itself.
 */
export type SourceFor = (path: readonly PropertyKey[]) => Source;

export type ParseResult = { readonly ok: true; readonly source: Source } | { readonly ok: false; readonly issues: ConfigIssue[] };

export function parseYaml(file: string, text: string): ParseResult {
  const lineCounter = new LineCounter();
  // uniqueKeys makes a duplicate key an error rather than last-one-wins. merge enables
  // `<<: *defaults`, which compose users reach for to share settings between services.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, merge: true, prettyErrors: false });
  if (doc.errors.length === 0) {
    const aliasIssues = checkAliases(file, doc, lineCounter);
    return aliasIssues.length === 0 ? { ok: true, source: { file, doc, lineCounter } } : { ok: false, issues: aliasIssues };
  }
  const issues = doc.errors.map((error): ConfigIssue => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const key = error.code === 'DUPLICATE_KEY' ? duplicateKeyPath(doc, error.pos[0]) : '';
    const message = error.code === 'DUPLICATE_KEY' ? 'duplicate key' : `invalid YAML: ${firstLine(error.message)}`;
    return { file, line, col, path: key, message };
  });
  return { ok: false, issues };
}

/**
 * Problems the yaml library only finds when it builds values (toJS throws a
 * ReferenceError, or drops a `__proto__` key): an alias to an anchor that is not defined before it, and an alias
 * expansion beyond its resource-exhaustion limit. Found here, located, so that nothing
 * downstream throws for a bad manifest.
 */
function checkAliases(file: string, doc: Document.Parsed, lineCounter: LineCounter): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  let first: number | null = null;
  let merge: number | null = null;
  visit(doc, {
    // toJS assigns keys to plain objects: `__proto__:` would set the prototype and the
    // entry would vanish — a service silently dropped. No manifest needs such a key.
    Pair(_key, pair) {
      // With `merge: true` the library gives a merge key the value Symbol(<<).
      if (isScalar(pair.key) && (pair.key.value === '<<' || String(pair.key.value) === 'Symbol(<<)')) merge ??= pair.key.range?.[0] ?? 0;
      if (isScalar(pair.key) && pair.key.value === '__proto__') {
        const offset = pair.key.range?.[0] ?? 0;
        issues.push({ file, ...lineCounter.linePos(offset), path: duplicateKeyPath(doc, offset), message: 'a key named __proto__ is not allowed' });
      }
    },
    Alias(_key, node) {
      const offset = node.range?.[0] ?? 0;
      first ??= offset;
      if (node.resolve(doc) === undefined) {
        issues.push({ file, ...lineCounter.linePos(offset), path: '', message: `invalid YAML: alias *${node.source} refers to no anchor defined before it` });
      }
    },
  });
  // Aliases and merge keys (`<<: ""` is not a map) fail only when values are built.
  if (issues.length > 0 || (first === null && merge === null)) return issues;
  try {
    doc.toJS();
  } catch (error) {
    const message = error instanceof Error ? firstLine(error.message) : String(error);
    const at = /merge/i.test(message) ? merge ?? first ?? 0 : first ?? merge ?? 0;
    issues.push({ file, ...lineCounter.linePos(at), path: '', message: `invalid YAML: ${message}` });
  }
  return issues;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** The dotted path of the duplicated key at `offset`, found by walking the tree. */
function duplicateKeyPath(doc: Document.Parsed, offset: number): string {
  const path: PropertyKey[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => p.key && isNodeAt(p.key, offset)) ?? node.items.find((p) => contains(p.value, offset));
      if (!pair) break;
      path.push(keyText(pair.key));
      if (isNodeAt(pair.key, offset)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => contains(item, offset));
      if (index === -1) break;
      path.push(index);
      node = node.items[index];
    } else break;
  }
  return joinPath(path);
}

function isNodeAt(node: unknown, offset: number): boolean {
  return isScalar(node) && node.range?.[0] === offset;
}

function contains(node: unknown, offset: number): boolean {
  const range = (node as Node | null)?.range;
  return !!range && range[0] <= offset && offset < range[2];
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

export type Anchor = 'key' | 'value';

/**
 * line:col of the node at `path`: the key itself (`at: 'key'`, for unknown keys) or its
 * value. When the path does not exist (a missing required key), the deepest node that
 * does is used, so the message still points into the right block.
 */
export function locate(source: Source, path: readonly PropertyKey[], at: Anchor = 'value'): { line: number; col: number } {
  let node: unknown = source.doc.contents;
  let offset = (node as ParsedNode | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(segment));
      if (!pair) break;
      const keyOffset = (pair.key as ParsedNode | null)?.range?.[0];
      const valueOffset = (pair.value as ParsedNode | null)?.range?.[0];
      // An empty value (`ready:`) has no useful range of its own: point at the key.
      const valueIsEmpty = pair.value === null || (isScalar(pair.value) && pair.value.value === null && pair.value.source === '');
      offset = (last && at === 'key') || valueIsEmpty || valueOffset === undefined ? keyOffset ?? offset : valueOffset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)] as ParsedNode | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return source.lineCounter.linePos(offset);
}

/** The source text of the scalar at `path` as written (e.g. `0600`), or null. */
export function sourceText(source: Source, path: readonly PropertyKey[]): string | null {
  const node = source.doc.getIn(path, true);
  return isScalar(node) && typeof node.source === 'string' ? node.source : null;
}
