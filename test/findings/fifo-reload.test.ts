// Finding 1 (reliability round two), end to end as PID 1: a manifest replaced by a FIFO
// with no writer, then SIGHUP five times. Each reload's open(2) of the FIFO used to wait
// inside a libuv pool thread for ever: file logging stopped once the 4 threads were taken,
// and tend never exited (process.exit joins the pool).
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { canUnshare, lines, waitFor } from '../helpers/tend';
import { scenario } from '../supervisor/scenario';
import { ensureBuilt } from '../helpers/build';

beforeAll(() => ensureBuilt());

describe.skipIf(!canUnshare())('finding 1 as PID 1', () => {
  it('finding 1: reloads of a FIFO manifest give up, file logging goes on, and tend exits on SIGTERM', async () => {
    const t = scenario(`
settings: { shutdown_timeout: 5s }
services:
  app: { main: true, command: ["sleep", "100000"] }
  writer:
    command: "i=0; while true; do i=$$((i+1)); echo line $$i; sleep 0.05; done"
    log: { file: writer.log, console: none }
`);
    const tend = t.start();
    const log = join(t.dir, 'writer.log');
    await waitFor(() => lines(log).length > 3, { what: 'the writer to log' });
    renameSync(t.file, `${t.file}.real`);
    execFileSync('mkfifo', [t.file]);
    for (let i = 0; i < 5; i++) await tend.signal('SIGHUP');
    // Logging to the file goes on (it needs the pool) while the reloads wait for a writer.
    const before = lines(log).length;
    await waitFor(() => lines(log).length > before + 10, { timeout: 5000, what: 'the log file to keep growing' });
    // The reloads give up and say why.
    await tend.waitOutput(/no writer finished within 10s/, 20_000);
    await tend.signal('SIGTERM');
    const exit = await Promise.race([tend.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
    expect(exit).toMatchObject({ code: 143 });
  }, 60_000);
});
