// Service names: a source's names (`worker@1`, `celery:beat`, `50-migrate`) made into valid,
// unique tend names (letters, digits, _ . -, starting with a letter) — the same name for
// the same source name, so dependencies can be wired by it.
import { SERVICE_NAME } from '../config/schema';

export class Names {
  private readonly given = new Map<string, string>();
  private readonly taken = new Set<string>();

  /** The tend name for `source` (stable: the same source name gets the same answer). */
  name(source: string): string {
    const known = this.given.get(source);
    if (known !== undefined) return known;
    const name = this.fresh(source);
    this.given.set(source, name);
    return name;
  }

  /** A new name made from `text`, for what has no name of its own (a cron job, an ExecStartPre). */
  fresh(text: string): string {
    let base = text.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z]+/, '').replace(/-+$/, '');
    if (base === '' || !SERVICE_NAME.test(base)) base = `service${base === '' ? '' : `-${base}`}`.replace(/[^A-Za-z0-9_.-]+/g, '-');
    let name = base;
    for (let n = 2; this.taken.has(name); n++) name = `${base}-${n}`;
    this.taken.add(name);
    return name;
  }
}

/** A string meant literally in the manifest: `$` is interpolation there, `$$` a dollar. */
export function literal(text: string): string {
  return text.replaceAll('$', '$$$$');
}
