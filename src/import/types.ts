// What every format's reader produces: the services it found, each with where it came
// from, and every setting that did not map. One writer (write.ts) turns this into the
// manifest, so a new format is one file in formats/ that fills these in.

/** A place in an input file, as the user named the file. */
export interface Origin {
  readonly file: string;
  /** 1-based; 0 when the thing is a file or directory as a whole. */
  readonly line: number;
}

export function at(origin: Origin): string {
  return origin.line > 0 ? `${origin.file}:${origin.line}` : origin.file;
}

/**
 * A setting the manifest does not carry as the source meant it. `lost`: behaviour differs
 * (listed on stderr, and `--strict` fails); `info`: an equivalent by design, said once as a
 * comment so a reviewer does not go looking for it.
 */
export interface Note {
  readonly origin: Origin;
  /** The setting as written in the source, e.g. `priority=100`. */
  readonly setting: string;
  /** Why it did not map, and what to do instead. */
  readonly text: string;
  readonly kind: 'lost' | 'info';
}

/** A manifest value as a user writes it (strings already `$$`-escaped where meant literally). */
export type Value = string | number | boolean | null | readonly Value[] | { readonly [key: string]: Value };

export interface ImportedService {
  /** A valid, unique service name (names.ts). */
  readonly name: string;
  readonly origin: Origin;
  /** The source's own comments about this service, carried over. */
  readonly comments: readonly string[];
  /** Manifest keys in the order they are written. */
  readonly fields: ReadonlyArray<readonly [string, Value]>;
  readonly notes: readonly Note[];
}

export interface Imported {
  /** Every input file read, as named in messages. */
  readonly files: readonly string[];
  /** Comments for the head of the manifest (how the source's semantics were carried). */
  readonly header: readonly string[];
  readonly services: readonly ImportedService[];
  /** Notes about sections that are not one service (an event listener, a group). */
  readonly notes: readonly Note[];
}

/** Unreadable or malformed input: exit 2, located. */
export class ImportError extends Error {
  override readonly name = 'ImportError';
  constructor(readonly origin: Origin, message: string) {
    super(message);
  }
}

export interface ReadContext {
  /** tend's environment at import time (to tell whether a referenced variable is set). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A path as the written manifest should name it: relative to its directory when below it. */
  readonly manifestPath: (absolute: string) => string;
}

export const KINDS = ['supervisord', 'systemd', 'procfile', 's6', 'crontab'] as const;
export type Kind = (typeof KINDS)[number];

export interface Importer {
  readonly kind: Kind;
  /** Whether `path` (a file or directory) looks like this kind, for guessing --from. */
  readonly detect: (path: string) => boolean;
  readonly read: (paths: readonly string[], context: ReadContext) => Imported;
}
