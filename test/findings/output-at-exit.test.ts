// Finding 4 (reliability round two), end to end as PID 1: a main service prints a burst
// and exits while the reader of tend's stdout is stalled (docker logs, a log driver). tend
// used to wait a fixed 2 s and then exit with the burst half written and nothing said:
// 972 of 10,000 lines arrived. The final flush now gets what is left of the shutdown's
// deadline (at least 2 s), and what it still could not write is said on stderr.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, TEND_LAUNCHER, tempDir, writeManifest } from '../helpers/tend';
import { ensureBuilt } from '../helpers/build';

beforeAll(() => ensureBuilt());

const BURST = `awk 'BEGIN { for (i = 0; i < 10000; i++) printf "line %07d xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\n", i }'`;

/** tend as PID 1 with its stdout read by `(sleep STALL; cat)`; the lines that arrived, tend's stderr and status. */
function burstBehindStalledReader(stallSeconds: number, shutdownTimeout: string): { lines: number; stderr: string; status: number } {
  const dir = tempDir();
  const manifest = writeManifest(dir, `settings: { shutdown_timeout: ${shutdownTimeout} }\nservices:\n  app:\n    main: true\n    command: ["sh", "-c", ${JSON.stringify(BURST)}]\n`);
  const out = join(dir, 'out.log');
  const script = `unshare --pid --fork --mount-proc --kill-child '${TEND_LAUNCHER}' -c '${manifest}' 2>'${join(dir, 'err.log')}' </dev/null | (sleep ${stallSeconds}; cat) >'${out}'; echo "\${PIPESTATUS[0]}" >'${join(dir, 'status')}'`;
  const env: NodeJS.ProcessEnv = { ...process.env, TEND_SOCKET: join(dir, 'tend.sock') };
  delete env.NODE_EXTRA_CA_CERTS;
  spawnSync('bash', ['-c', script], { env, timeout: 60_000 });
  const text = readFileSync(out, 'utf8');
  return { lines: text.split('\n').filter((l) => l.includes('line ')).length, stderr: readFileSync(join(dir, 'err.log'), 'utf8'), status: Number(readFileSync(join(dir, 'status'), 'utf8')) };
}

describe.skipIf(!canUnshare())('finding 4 as PID 1', () => {
  it('finding 4: a burst behind a reader stalled for 3 s arrives whole within the shutdown deadline', () => {
    const r = burstBehindStalledReader(3, '10s');
    expect(r.status).toBe(0);
    expect(r.lines).toBe(10000);
    expect(r.stderr).not.toMatch(/could not be written/);
  }, 60_000);

  it('finding 4: output that still cannot be written when the deadline is spent is said, with how much', () => {
    const r = burstBehindStalledReader(6, '1s');
    expect(r.status).toBe(0);
    expect(r.lines).toBeLessThan(10000);
    expect(r.stderr).toMatch(/\d+(\.\d)?[KM]?B of service output could not be written before exit: the console's reader took none of it for 2s/);
  }, 60_000);
});
