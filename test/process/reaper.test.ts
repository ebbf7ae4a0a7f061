// The reaper in a storm of orphans while services crash and restart: no zombie is left,
// every exit status of a process tend started comes back exactly and exactly once, and
// none of them is mistaken for an orphan — as subreaper and as PID 1.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { canUnshare } from '../helpers/tend';
import { bundle } from './bundle';

const driver = bundle(join(__dirname, 'drivers', 'storm.ts'));
const env: NodeJS.ProcessEnv = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

interface StormResult {
  pid: number; storm: number; runs: number; wrong: string[]; twice: number[]; managedAsOrphans: number[];
  unreported: number[]; reaped: number; zombiesLeft: number;
}

function storm(prefix: string[], orphans: number): StormResult {
  const argv = [...prefix, process.execPath, driver, String(orphans)];
  const result = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8', timeout: 60_000 });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as StormResult;
}

function expectClean(r: StormResult, orphans: number): void {
  expect(r.storm).toBe(0);
  expect(r.wrong).toEqual([]);
  expect(r.twice).toEqual([]);
  expect(r.managedAsOrphans).toEqual([]);
  expect(r.unreported).toEqual([]);
  expect(r.runs).toBeGreaterThanOrEqual(12);
  expect(r.reaped).toBeGreaterThanOrEqual(orphans);
  expect(r.zombiesLeft).toBe(0);
}

describe('reaper', () => {
  test('2,000 orphans as subreaper while services crash and restart', () => {
    const r = storm([], 2000);
    expectClean(r, 2000);
    console.log(`subreaper storm: ${JSON.stringify(r)}`);
  });

  test.skipIf(!canUnshare())('5,000 orphans as PID 1 while services crash and restart', () => {
    const r = storm(['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'], 5000);
    expect(r.pid).toBe(1);
    expectClean(r, 5000);
    console.log(`PID 1 storm: ${JSON.stringify(r)}`);
  });
});
