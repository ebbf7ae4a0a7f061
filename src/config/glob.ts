// The file globs of `include:` — `*`, `?` and `[...]` within one path segment, matched
// against the directory's entries, results sorted so the join order is the same on every
// machine. Node 20 has no fs.glob; this is the small part `include:` needs. A wildcard
// never matches a leading dot: an editor's `.app.yaml.swp` beside the files must not join.
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

const WILDCARD = /[*?[]/;

export function hasWildcard(pattern: string): boolean {
  return WILDCARD.test(pattern);
}

/** Absolute paths of the regular files `pattern` (relative to `dir`) names, sorted. */
export function globFiles(dir: string, pattern: string): string[] {
  const start = isAbsolute(pattern) ? sep : dir;
  const segments = pattern.split('/').filter((segment) => segment !== '' && segment !== '.');
  let candidates = [resolve(start)];
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const base of candidates) {
      if (!hasWildcard(segment)) {
        next.push(join(base, segment));
        continue;
      }
      const matcher = segmentMatcher(segment);
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        continue; // not a directory, or unreadable: it matches nothing
      }
      for (const name of names.sort()) if (matcher.test(name)) next.push(join(base, name));
    }
    candidates = last ? next : next.filter(isDirectory);
  }
  return candidates.filter(isFile);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return !statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function segmentMatcher(segment: string): RegExp {
  let source = segment.startsWith('.') ? '' : '(?!\\.)';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end === -1) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      source += `[${negated ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
