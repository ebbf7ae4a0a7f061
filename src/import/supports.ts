// Whether this tend's manifest has a key yet. Some sources map to keys of README: Manifest reference, §10
// and §13 (`type: forking`, `ready: { sd_notify }`, `watchdog`, `sockets`, `limits`,
// `stop_mode`); the importer emits them once the schema accepts them and a
// "not imported" comment until then — asked of the schema itself, so the two never drift.
import { knownKeys } from '../config/zod-issues';
import { manifestSchema } from '../config/schema';

const SERVICE = ['services', 'x'] as const;

export function serviceKey(key: string): boolean {
  return knownKeys(manifestSchema, SERVICE).includes(key);
}

export function logKey(key: string): boolean {
  return knownKeys(manifestSchema, [...SERVICE, 'log']).includes(key);
}

export function readyKey(key: string): boolean {
  return knownKeys(manifestSchema, [...SERVICE, 'ready']).includes(key);
}

/** Whether `type:` accepts this value (e.g. forking). */
export function serviceType(type: string): boolean {
  const raw = { services: { x: { command: 'x', type } } };
  const result = manifestSchema.safeParse(raw, { jitless: true });
  return result.success || !result.error.issues.some((issue) => issue.path.join('.') === 'services.x.type');
}

export const NOT_YET = (what: string) => `tend does not support ${what} yet`;

/** Whether tend knows this signal name (TERM, SIGTERM) — as the manifest's stop_signal does. */
export function validSignal(name: string): boolean {
  return manifestSchema.safeParse({ services: { x: { command: 'x', stop_signal: name } } }, { jitless: true }).success;
}

/** Whether env_file accepts `{ path, required: false }` (README: Manifest reference) for a file that may be missing. */
export function optionalEnvFiles(): boolean {
  const raw = { services: { x: { command: 'x', env_file: [{ path: '/x', required: false }] } } };
  return manifestSchema.safeParse(raw, { jitless: true }).success;
}

/**
 * Whether tend accepts `value` for the service key `key` (e.g. limits: { nofile: 2000000 }
 * may be beyond what tend allows): a value the schema would refuse becomes a note instead.
 */
export function acceptsValue(key: string, value: unknown): boolean {
  const result = manifestSchema.safeParse({ services: { x: { command: 'x', [key]: value } } }, { jitless: true });
  return result.success || !result.error.issues.some((issue) => issue.path.slice(0, 3).join('.') === `services.x.${key}`);
}
