// The reaper in a storm of 1,000 double-forked orphans: no zombie is left, and the exit
// statuses of the processes tend started itself are never stolen — as subreaper and as PID 1.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { canUnshare } from '../helpers/tend';
import { bundle, HELPER } from './bundle';

const driver = bundle(join(__dirname, 'drivers', 'storm.ts'));
const env: NodeJS.ProcessEnv = { ...process.env, TEND_EXEC_HELPER: HELPER };
delete env.NODE_EXTRA_CA_CERTS;

function storm(prefix: string[]) {
  const result = spawnSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), driver, '1000'], { env, encoding: 'utf8', timeout: 30_000 });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { pid: number; storm: number; codes: number[]; reaped: number; zombiesLeft: number; peak: number; lastReapAfterStormMs: number };
}

describe('reaper', () => {
  test('1,000 orphans as subreaper: all reaped, managed exit codes intact', () => {
    const r = storm([]);
    expect(r.codes).toEqual([3, 4, 137]);
    expect(r.storm).toBe(0);
    expect(r.reaped).toBeGreaterThanOrEqual(1000);
    expect(r.zombiesLeft).toBe(0);
    console.log(`subreaper storm: ${JSON.stringify(r)}`);
  });

  test.skipIf(!canUnshare())('1,000 orphans as PID 1: all reaped, managed exit codes intact', () => {
    const r = storm(['unshare', '--pid', '--fork', '--mount-proc', '--kill-child']);
    expect(r.pid).toBe(1);
    expect(r.codes).toEqual([3, 4, 137]);
    expect(r.reaped).toBeGreaterThanOrEqual(1000);
    expect(r.zombiesLeft).toBe(0);
    console.log(`PID 1 storm: ${JSON.stringify(r)}`);
  });
});
