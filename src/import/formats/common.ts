// Helpers every reader shares: reading a file as a located input, and a draft of one
// service that collects its fields, carried comments and notes.
import { readFileSync, statSync } from 'node:fs';
import { ImportError, type ImportedService, type Note, type Origin, type Value } from '../types';

/** A file's text; an unreadable file is malformed input, located at the file. */
export function readInput(absolute: string, shown: string): string {
  try {
    const stat = statSync(absolute);
    if (stat.isDirectory()) throw new ImportError({ file: shown, line: 0 }, 'is a directory, expected a file');
    if (stat.size > 4 * 1024 * 1024) throw new ImportError({ file: shown, line: 0 }, 'is larger than 4 MiB: not a configuration file');
    const buffer = readFileSync(absolute);
    if (buffer.includes(0)) throw new ImportError({ file: shown, line: 0 }, 'holds NUL bytes: not a text file');
    return buffer.toString('utf8');
  } catch (error) {
    if (error instanceof ImportError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? error);
    throw new ImportError({ file: shown, line: 0 }, `cannot read: ${why}`);
  }
}

export class Draft {
  private readonly fields: Array<[string, Value]> = [];
  readonly notes: Note[] = [];
  readonly comments: string[] = [];

  constructor(readonly name: string, readonly origin: Origin) {}

  set(key: string, value: Value): this {
    const index = this.fields.findIndex(([name]) => name === key);
    if (index === -1) this.fields.push([key, value]);
    else this.fields[index] = [key, value];
    return this;
  }

  get(key: string): Value | undefined {
    return this.fields.find(([name]) => name === key)?.[1];
  }

  delete(key: string): void {
    const index = this.fields.findIndex(([name]) => name === key);
    if (index !== -1) this.fields.splice(index, 1);
  }

  lost(origin: Origin, setting: string, text: string): this {
    this.notes.push({ origin, setting, text, kind: 'lost' });
    return this;
  }

  info(origin: Origin, setting: string, text: string): this {
    this.notes.push({ origin, setting, text, kind: 'info' });
    return this;
  }

  done(order: readonly string[] = ORDER): ImportedService {
    const rank = (key: string) => (order.includes(key) ? order.indexOf(key) : order.length);
    const fields = [...this.fields].sort((a, b) => rank(a[0]) - rank(b[0]));
    return { name: this.name, origin: this.origin, comments: this.comments, fields, notes: this.notes };
  }
}

/** Keys in the order the README's manifest reference lists them. */
export const ORDER = [
  'command', 'main', 'type', 'pid_file', 'autostart', 'schedule', 'depends_on', 'ready', 'watchdog', 'healthcheck', 'restart',
  'success_exit_codes', 'critical', 'stop_signal', 'stop_command', 'stop_timeout', 'stop_mode', 'user', 'group', 'cwd', 'env_file', 'env',
  'sockets', 'limits', 'log',
];

/** A duration as tend writes one: whole seconds as `Ns`, else milliseconds. */
export function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

/** Splits a file into lines, 1-based, with the continuation rule left to the caller. */
export function numberedLines(text: string): Array<{ line: number; text: string }> {
  return text.split(/\r?\n/).map((line, index) => ({ line: index + 1, text: line }));
}
