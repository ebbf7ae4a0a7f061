// How durations and sizes read wherever tend writes them for people: the log, replies on
// the socket, the CLI. The same spelling as the manifest accepts (`250ms`, `1.5s`, `10MB`).

/** 1500 → "1.5s", 250 → "250ms", 90000 → "1.5m", 7200000 → "2h". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trim(ms / 1000)}s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)}m`;
  return `${trim(ms / 3_600_000)}h`;
}

/** 10485760 → "10MB", as sizes are written in the manifest. */
export function size(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${trim(bytes / 1024 ** 3)}GB`;
  if (bytes >= 1024 ** 2) return `${trim(bytes / 1024 ** 2)}MB`;
  if (bytes >= 1024) return `${trim(bytes / 1024)}KB`;
  return `${bytes}B`;
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1).replace(/\.0$/, '');
}
