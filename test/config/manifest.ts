// Loads a manifest written inline, from a fresh temp dir, and returns its issues as the
// one-line strings users see (so tests assert exactly what tend check prints).
import { loadPlan, formatIssue, type LoadOptions, type Plan } from '../../src/plan/index';
import { tempDir, writeManifest } from '../helpers/tend';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const noCgroup: LoadOptions = { cgroupWritable: () => ({ ok: false, reason: 'no cgroup2 filesystem is mounted' }) };
export const withCgroup: LoadOptions = { cgroupWritable: () => ({ ok: true }) };

/** Strips the common indentation, so manifests can be written indented in tests. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, '');
  const indent = Math.min(...text.split('\n').filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return text.split('\n').map((l) => l.slice(indent)).join('\n');
}

export interface Loaded {
  dir: string;
  file: string;
}

export function writeDir(manifest: string, files: Record<string, string> = {}): Loaded {
  const dir = tempDir('tend-config-');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return { dir, file: writeManifest(dir, manifest) };
}

/** The issue lines for a manifest, with the temp path shown as `tend.yaml`. */
export async function issuesOf(manifest: string, env: NodeJS.ProcessEnv = {}, options: LoadOptions = withCgroup): Promise<string[]> {
  const { file } = writeDir(manifest);
  const result = await loadPlan(file, env, options);
  if (result.ok) return [];
  return result.issues.map((issue) => formatIssue({ ...issue, file: 'tend.yaml' }));
}

/** The plan for a manifest that must be valid. */
export async function planOf(manifest: string, env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}): Promise<Plan> {
  const { file } = writeDir(manifest, files);
  const result = await loadPlan(file, env, withCgroup);
  if (!result.ok) throw new Error(`expected a valid manifest, got:\n${result.issues.map(formatIssue).join('\n')}`);
  return result.plan;
}
