import { describe, expect, it } from 'vitest';
import * as m from '../../src/log/messages';

describe('messages', () => {
  it('reads durations and sizes as the manifest writes them', () => {
    expect([250, 1000, 1500, 5000, 90_000, 7_200_000].map(m.duration)).toEqual(['250ms', '1s', '1.5s', '5s', '1.5m', '2h']);
    expect([512, 1024, 10 * 1024 * 1024, 1.5 * 1024 ** 3].map(m.size)).toEqual(['512B', '1KB', '10MB', '1.5GB']);
  });

  it('names the subject, what happened and the cause', () => {
    expect(m.killedAfterTimeout('web', 'SIGTERM', 5000, [42, 43])).toBe('web: killed with SIGKILL after 5s (SIGTERM ignored by pid 42, 43)');
    expect(m.restarting('worker', 400, 3)).toBe('worker: restarting in 400ms (restart 3)');
    expect(m.shutdownTimeout(9000, ['db', 'cache'])).toBe('shutdown_timeout (9s) passed; killing what is left (held up by db, cache)');
    expect(m.gaveUp('web', 'restarted 5 times within 1m')).toBe('web: gave up: restarted 5 times within 1m; it stays down until `tend start web`');
    expect(m.droppedLogLines(1, 'stdout')).toBe("dropped 1 log line of tend's own while stdout was blocked");
  });

  it('turns every file sink report into a level and a sentence', () => {
    expect(m.fileReport('web', { kind: 'failed', path: '/var/log/web.log', code: 'ENOSPC', message: '' })).toEqual({
      level: 'warn',
      msg: 'web: cannot write log file /var/log/web.log (ENOSPC); its lines are dropped until writing works again',
    });
    expect(m.fileReport('web', { kind: 'resumed', path: '/l', droppedLines: 12 }).msg).toBe('web: log file /l writable again; 12 lines were dropped meanwhile');
    expect(m.fileReport('web', { kind: 'symlink', path: '/l' }).msg).toMatch(/^web: log file \/l is a symbolic link; tend does not follow it/);
  });
});
