import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger';
import * as messages from '../../src/log/messages';
import { collector, waitFor } from './helpers';

const RECORD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) tend: /;

describe('createLogger', () => {
  it('writes readable one-line text records, naming the service through the message', async () => {
    const out = collector();
    const { logger } = createLogger({ format: 'text', level: 'info', writer: out.writer });
    const web = logger.child({ service: 'web' });
    web.info(messages.started('web', 42));
    web.warn(messages.killedAfterTimeout('web', 'SIGTERM', 5000, [42]));
    logger.debug('not at info');
    logger.error(new Error('boom'), messages.internalError('the reaper failed'));
    const lines = (await out.close()).split('\n');
    expect(lines[0]).toMatch(RECORD);
    expect(lines[0]!.replace(RECORD, '')).toBe('web: started (pid 42)');
    expect(lines[0]).toContain(' INFO  tend: ');
    expect(lines[1]!.replace(RECORD, '')).toBe('web: killed with SIGKILL after 5s (SIGTERM ignored by pid 42)');
    expect(lines[2]!.replace(RECORD, '')).toBe('internal error: the reaper failed; stopping everything in order, then exiting 70');
    // The stack follows, indented so it cannot pass for a record of its own.
    expect(lines[3]).toBe('    Error: boom');
    expect(lines[4]).toMatch(/^ {8}at /);
    expect(lines.filter((l) => RECORD.test(l))).toHaveLength(3);
  });

  it('writes pino JSON records with an ISO time and the service binding', async () => {
    const out = collector();
    const { logger } = createLogger({ format: 'json', level: 'info', writer: out.writer });
    logger.child({ service: 'db' }).info(messages.ready('db', 1500));
    const [record] = (await out.close()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(record).toMatchObject({ level: 30, service: 'db', msg: 'db: ready after 1.5s' });
    expect(new Date(record!.time as string).toISOString()).toBe(record!.time);
  });

  it('setLevel applies at once, to child loggers made before too', async () => {
    const out = collector();
    const log = createLogger({ format: 'text', level: 'info', writer: out.writer });
    const web = log.logger.child({ service: 'web' });
    web.debug('hidden');
    log.setLevel('debug');
    web.debug('shown');
    log.setLevel('warn');
    web.info('hidden too');
    const text = await out.close();
    expect(text).toContain('DEBUG tend: shown');
    expect(text).not.toContain('hidden');
  });

  it('while the writer is backed up, drops and counts info, holds warnings and errors, then reports', async () => {
    const out = collector({ stalled: true, writer: { highWaterMark: 64 * 1024 } });
    const log = createLogger({ format: 'text', level: 'debug', writer: out.writer, streamName: 'stderr' });
    const { logger } = log;
    logger.info('before the stall');
    // A service's flood fills the writer past the mark (the router would now be paused).
    out.writer.write(Buffer.alloc(2 * 1024 * 1024, 0x7e)); // '~'
    for (let i = 0; i < 50; i++) logger.info(`chatter ${i}`);
    logger.warn('first warning');
    for (let i = 0; i < 9; i++) logger.debug(`detail ${i}`);
    logger.error('an error');
    logger.info('more chatter');
    logger.warn('second warning');
    expect(log.dropped).toEqual({ info: 60, held: 0 });
    out.resume();
    await waitFor(() => out.text().includes('dropped'), { what: 'the drop report' });
    logger.info('after');
    const records = (await out.close()).replace(/~+/g, '').split('\n').filter((l) => l !== '').map((l) => l.replace(RECORD, ''));
    expect(records).toEqual([
      'before the stall',
      'first warning',
      'an error',
      'second warning',
      "dropped 60 log lines of tend's own while stderr was blocked",
      'after',
    ]);
  });

  it('holds at most its bound of warnings, counting the rest', async () => {
    const out = collector({ stalled: true, writer: { highWaterMark: 16 * 1024 } });
    const log = createLogger({ format: 'json', level: 'info', writer: out.writer, maxHeld: { records: 5, bytes: 1 << 20 } });
    out.writer.write(Buffer.alloc(2 * 1024 * 1024, 0x20));
    for (let i = 0; i < 12; i++) log.logger.warn(`warning ${i}`);
    expect(log.dropped).toEqual({ info: 0, held: 7 });
    out.resume();
    expect(await log.flush(10_000)).toBe(true);
    const records = (await out.close()).trim().split('\n').map((l) => JSON.parse(l.trim()) as { msg: string });
    expect(records.map((r) => r.msg)).toEqual([0, 1, 2, 3, 4].map((i) => `warning ${i}`).concat("dropped 7 log lines of tend's own while the log was blocked"));
  });
});
