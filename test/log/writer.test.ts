import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { AsyncWriter, openConsole } from '../../src/log/writer';
import { tempDir } from '../helpers/tend';
import { collector, startFixture, waitFor } from './helpers';

interface FloodReport { ticks: number; worstLag: number; rss: number; queued: number; paused: boolean; kind: string }

describe('AsyncWriter', () => {
  it.each(['pipe', 'socket'] as const)('on a stalled stdout %s: the event loop runs on, memory stays bounded, and no line is lost', async (via) => {
    const lines = 300_000; // 30 MB: far beyond the pipe, the writer's mark and a read
    const { child, exited, stderr } = startFixture('flood', [String(lines)], via);
    const reports: FloodReport[] = [];
    child.on('message', (m) => reports.push(m as FloodReport));
    // Nobody reads child.stdout yet. Wait until tend's side has paused the producer,
    // then for another half second of timer ticks while it stays stalled.
    const stalledAt = await waitFor(() => reports.find((r) => r.paused)?.ticks, { timeout: 15_000, what: 'the producer to be paused' });
    const during = await waitFor(() => reports.find((r) => r.ticks >= stalledAt + 50), { timeout: 5_000, what: '50 more timer ticks while stalled' });
    expect(during.kind).toBe(via);
    expect(during.paused).toBe(true);
    // Timers kept firing: a write that blocked would stop them until the reader came back
    // (the 50 ticks above would never come). The bound is for scheduling on a loaded box:
    // 247 ms was seen at load 17, against 1–5 ms on a quiet one.
    expect(during.worstLag).toBeLessThan(1_000);
    const worstQueued = Math.max(...reports.map((r) => r.queued));
    expect(worstQueued).toBeLessThan(1024 * 1024 + 256 * 1024); // the writer's mark + a prefixed read
    expect(Math.max(...reports.map((r) => r.rss))).toBeLessThan(150 * 1024 * 1024);

    // The reader comes back: every line arrives, once, in order.
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    expect(await exited).toBe(0);
    expect(stderr()).toBe('');
    const out = Buffer.concat(chunks).toString('latin1').split('\n');
    expect(out.pop()).toBe('');
    expect(out).toHaveLength(lines);
    for (let i = 0; i < lines; i += 997) expect(out[i]).toBe(`producer | ${String(i).padStart(8, '0')} ${'p'.repeat(90)}`);
    expect(new Set(out.map((l) => l.slice(11, 19))).size).toBe(lines);
  });

  it.each(['pipe', 'socket'] as const)('when stdout\'s reader goes away (EPIPE on a %s) it discards and counts, and the process lives on', async (via) => {
    const { child, exited, stderr } = startFixture('epipe', [], via);
    const first = await new Promise<{ fd1NonBlocking: boolean }>((done) => child.once('message', (m) => done(m as never)));
    // On a pipe tend writes through its own reopened description: fd 1, which services
    // started with `console: inherit` share, stays blocking. A socket cannot be reopened.
    expect(first.fd1NonBlocking).toBe(via === 'socket');
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => (seen += d));
    await waitFor(() => seen.includes('tend: hello'), { what: 'the first record' });
    child.stdout!.destroy(); // close the read end of fd 1
    const report = new Promise<{ closed: string; discarded: number; kind: string; alive: boolean }>((done) => child.once('message', (m) => done(m as never)));
    child.send('write');
    expect(await report).toMatchObject({ closed: 'EPIPE', kind: via, alive: true });
    expect((await report).discarded).toBeGreaterThan(0);
    child.send('exit');
    expect(await exited).toBe(0);
    expect(stderr()).toBe('');
  });

  it('reports backpressure at its mark, drains, and flushes with a deadline', async () => {
    const out = collector({ stalled: true, writer: { highWaterMark: 64 * 1024 } });
    const { writer } = out;
    let accepted = 0;
    while (writer.write(Buffer.alloc(16 * 1024, 0x61))) accepted += 1;
    expect(writer.backedUp).toBe(true);
    expect(accepted).toBeLessThan(200); // false came at the mark, not at some far cap
    expect(await writer.flush(50)).toBe(false); // the stalled reader cannot hold a flush forever
    const drained = new Promise<void>((done) => writer.once('drain', done));
    out.resume();
    await drained;
    expect(await writer.flush(10_000)).toBe(true);
    expect((await out.close()).length).toBe((accepted + 1) * 16 * 1024);
  });

  it('on a closed fd it behaves as a writer whose reader is gone', async () => {
    const writer = new AsyncWriter(987);
    await waitFor(() => writer.closed);
    expect(writer.write('lost\n')).toBe(true);
    expect(writer.discardedWrites).toBe(1);
    expect(await writer.flush()).toBe(true);
  });

  it('openConsole shares one writer when stdout and stderr are the same pipe (2>&1), so lines cannot mix', () => {
    const fifo = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const read = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const a = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const b = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const devNull = openSync('/dev/null', constants.O_WRONLY);
    const same = openConsole({}, [a, b]);
    const apart = openConsole({}, [a, devNull]);
    expect(same.stderr).toBe(same.stdout);
    expect(same.stdout.kind).toBe('pipe');
    expect(apart.stderr).not.toBe(apart.stdout);
    same.stdout.close();
    apart.stdout.close();
    for (const fd of [read, a, b, devNull]) closeSync(fd);
  });

  it('grows a pipe it writes to when given the means, and writes on when that fails', async () => {
    const grown: number[] = [];
    const out = collector({ writer: { growPipe: (fd) => { grown.push(fd); } } });
    expect(out.writer.kind).toBe('pipe');
    // Its own description of the pipe, not the fd it was given.
    expect(grown).toHaveLength(1);
    expect(grown[0]).not.toBe(out.writer.fd);
    out.writer.write('through\n');
    expect(await out.close()).toBe('through\n');

    const refused = collector({ writer: { growPipe: () => { throw new Error('EPERM'); } } });
    refused.writer.write('still written\n');
    expect(await refused.close()).toBe('still written\n');
  });
});
