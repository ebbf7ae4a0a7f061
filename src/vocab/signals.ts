// Signal names and numbers. Accepts TERM, SIGTERM, term and 15; never silently turns
// an unknown signal into SIGTERM.
import { constants } from 'node:os';

// The few tend sends by number, named once. Linux numbers them alike on every
// architecture tend builds for (x86-64, arm64).
export const SIGABRT = 6;
export const SIGKILL = 9;
export const SIGTERM = 15;
export const SIGCONT = 18;
export const SIGSTOP = 19;

const byName = constants.signals as Readonly<Record<string, number>>;
const byNumber = new Map<number, string>();
for (const [name, number] of Object.entries(byName)) {
  // Several names share a number (SIGIOT/SIGABRT, SIGPOLL/SIGIO): keep the first, canonical one.
  if (!byNumber.has(number)) byNumber.set(number, name);
}

/** The signal's number, or null when the name or number is not a signal here. */
export function signalNumber(signal: string | number): number | null {
  if (typeof signal === 'number') return byNumber.has(signal) ? signal : null;
  const text = signal.trim();
  if (/^\d+$/.test(text)) return signalNumber(Number(text));
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return byName[name] ?? null;
}

/** SIGTERM for 15; `signal 99` for a number with no name. */
export function signalName(number: number): string {
  return byNumber.get(number) ?? `signal ${number}`;
}

/** Every signal name known here, for error messages and schemas. */
export function signalNames(): string[] {
  return [...byNumber.values()];
}
