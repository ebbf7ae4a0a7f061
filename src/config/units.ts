// Durations and sizes as users write them. Pure parsers: null means "not one of these".

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * The longest duration tend accepts: 2^31 − 1 ms, what Node's timers can wait. A longer
 * delay makes setTimeout fire after 1 ms, so `stop_timeout: 999h` (meant as "never kill my
 * database") would SIGKILL at once; it is refused where it is written instead.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;
export const MAX_DURATION_TEXT = '596h31m23s (about 24.8 days)';

export const DURATION_HINT = 'a duration like 250ms, 10s, 2m, 1h or a number of seconds';
export const SIZE_HINT = 'a size like 512KB, 10MB, 1GB or a number of bytes';

/** Milliseconds for `250ms`, `10s`, `2m`, `1h`, `1m30s` or a number of seconds; null otherwise. */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!DURATION.test(text)) return null;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) total += Number(amount) * DURATION_UNITS[unit!]!;
  return Math.round(total);
}

// Binary multiples, as docker and logrotate read them: 1KB = 1024 bytes.
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** Bytes for `512KB`, `10MB`, `1GB` (binary multiples) or a number of bytes; null otherwise. */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  if (!match) return null;
  const multiplier = match[2] === '' ? 1 : SIZE_UNITS[match[2]!.toLowerCase()];
  if (multiplier === undefined) return null;
  return Math.floor(Number(match[1]) * multiplier);
}

/** `host:port` (IPv6 as `[::1]:port`; an empty host means all addresses); null when malformed. */
export function parseHostPort(value: string): { host: string; port: number } | null {
  const match = /^(?:\[([^\]]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}
