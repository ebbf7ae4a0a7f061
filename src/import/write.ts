// The one manifest writer: Imported → YAML text a reviewer can read line by line. Each
// service says where it came from; what did not map is a comment where it applies. Values
// are written in flow style where short (commands, small maps) and quoted only when YAML
// would read them as something else.
import { parse } from 'yaml';
import { at, type Imported, type ImportedService, type Kind, type Note, type Value } from './types';

const WIDTH = 100;

export function writeManifest(kind: Kind, imported: Imported): string {
  const out: string[] = [];
  out.push(`# Imported by \`tend import --from ${kind}\` from ${imported.files.join(', ')}.`);
  out.push('# Review the "not imported" comments; `tend check` validates this file.');
  for (const line of imported.header) out.push(...comment('', line));
  for (const [kind, title] of [['lost', 'Not imported:'], ['info', 'Notes:']] as const) {
    const notes = imported.notes.filter((note) => note.kind === kind);
    if (notes.length === 0) continue;
    out.push('#', `# ${title}`);
    for (const note of notes) out.push(...comment('#   ', `${at(note.origin)}: ${note.setting}: ${note.text}`));
  }
  out.push('', 'services:');
  imported.services.forEach((service, index) => {
    if (index > 0) out.push('');
    out.push(...writeService(service));
  });
  return `${out.join('\n')}\n`;
}

function writeService(service: ImportedService): string[] {
  const out: string[] = [];
  out.push(`  # from ${at(service.origin)}`);
  for (const line of service.comments) out.push(...comment('  ', line));
  out.push(`  ${key(service.name)}:`);
  for (const [name, value] of service.fields) out.push(...field('    ', name, value));
  for (const note of service.notes) out.push(...comment('    ', noteText(note)));
  return out;
}

function noteText(note: Note): string {
  const where = note.origin.line > 0 ? ` (${at(note.origin)})` : '';
  return note.kind === 'lost' ? `not imported: ${note.setting}${where}: ${note.text}` : `note: ${note.setting}${where}: ${note.text}`;
}

/** `text` as comment lines, wrapped at WIDTH. */
function comment(indent: string, text: string): string[] {
  const prefix = indent.endsWith('#   ') ? indent : `${indent}# `;
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && prefix.length + line.length + 1 + word.length > WIDTH) {
        lines.push(line);
        line = indent.endsWith('#   ') ? `  ${word}` : `  ${word}`;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines.map((line) => `${prefix}${line}`.trimEnd());
}

function field(indent: string, name: string, value: Value): string[] {
  if (isMap(value)) {
    const flow = `${indent}${key(name)}: ${inline(value)}`;
    const entries = Object.entries(value);
    if (entries.length === 0) return [`${indent}${key(name)}: {}`];
    // env is a list a reviewer reads down; other small maps stay on one line.
    if (name !== 'env' && flow.length <= WIDTH) return [flow];
    return [`${indent}${key(name)}:`, ...entries.flatMap(([k, v]) => field(`${indent}  `, k, v))];
  }
  if (Array.isArray(value)) {
    const flow = `${indent}${key(name)}: ${inline(value)}`;
    if (flow.length <= WIDTH || value.length === 0) return [flow];
    return [`${indent}${key(name)}:`, ...value.map((item) => `${indent}  - ${inline(item)}`)];
  }
  return [`${indent}${key(name)}: ${inline(value)}`];
}

function isMap(value: Value): value is { readonly [key: string]: Value } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function inline(value: Value): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return scalar(value);
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  const entries = Object.entries(value as { readonly [key: string]: Value });
  return entries.length === 0 ? '{}' : `{ ${entries.map(([k, v]) => `${key(k)}: ${inline(v)}`).join(', ')} }`;
}

// Characters that never need quotes in a flow collection (no , [ ] { } # and no quotes).
const PLAIN = /^[A-Za-z0-9_/.~-][A-Za-z0-9_/.@%+=:~ -]*$/;

/** A string as YAML reads it back unchanged: plain when safe, else double-quoted (JSON is valid YAML). */
function scalar(text: string): string {
  const plain = PLAIN.test(text) && !text.endsWith(' ') && !text.includes(': ') && !text.endsWith(':') && !/^-( |$)/.test(text)
    && readsBackAs(text);
  return plain ? text : JSON.stringify(text);
}

/** Whether YAML reads `text`, unquoted, as that same string (not a number, boolean, null…). */
function readsBackAs(text: string): boolean {
  try {
    return parse(text) === text;
  } catch {
    return false;
  }
}

const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

function key(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) && !RESERVED.test(name) ? name : JSON.stringify(name);
}
