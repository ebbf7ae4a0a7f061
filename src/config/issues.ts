// A manifest problem, located. Every stage of the config pipeline returns these as
// values and the loader reports them all at once (a validator that stops at the
// first error is what we avoid).

export interface ConfigIssue {
  /** The manifest path as the user named it (relative stays relative in messages). */
  readonly file: string;
  /** 1-based; null when the problem has no place in the file (e.g. it cannot be read). */
  readonly line: number | null;
  readonly col: number | null;
  /** Dotted key path, e.g. `services.web.restart.policy`; '' for the document itself. */
  readonly path: string;
  readonly message: string;
}

/** `tend.yaml:7:15: services.web.restart.policy: expected always | on-failure | never, got "sometimes"` */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}:${issue.col ?? 1}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Key path segments as a dotted string. */
export function joinPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

/** Sorts issues by position so the report reads top to bottom. */
export function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0) || a.path.localeCompare(b.path);
}
