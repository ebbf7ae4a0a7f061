import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize, parseHostPort } from '../../src/config/units';
import { editDistance, closest } from '../../src/config/suggest';
import { cgroup2Mounts } from '../../src/process/cgroup';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250], ['10s', 10_000], ['2m', 120_000], ['1h', 3_600_000], ['1m30s', 90_000], ['1.5s', 1500], ['0s', 0], ['7', 7000],
  ] as const)('%s is %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it('reads a number as seconds', () => expect(parseDuration(0.25)).toBe(250));
  it.each(['10 sec', '-1s', 's', '', '1d', '10S'])('rejects %j', (text) => expect(parseDuration(text)).toBeNull());
  it('rejects negative numbers', () => expect(parseDuration(-1)).toBeNull());
});

describe('parseSize', () => {
  it.each([
    ['512KB', 512 * 1024], ['10MB', 10 * 1024 ** 2], ['1GB', 1024 ** 3], ['100', 100], ['1k', 1024], ['2MiB', 2 * 1024 ** 2], ['1.5KB', 1536],
  ] as const)('%s is %i bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));
  it.each(['10XB', 'MB', '-1', ''])('rejects %j', (text) => expect(parseSize(text)).toBeNull());
});

describe('parseHostPort', () => {
  it('parses host:port, [v6]:port and :port', () => {
    expect(parseHostPort('127.0.0.1:9099')).toEqual({ host: '127.0.0.1', port: 9099 });
    expect(parseHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseHostPort(':80')).toEqual({ host: '0.0.0.0', port: 80 });
  });
  it.each(['localhost', 'h:0', 'h:70000', 'h:x'])('rejects %j', (text) => expect(parseHostPort(text)).toBeNull());
});

describe('suggestions', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('SIGTREM', 'SIGTERM')).toBe(1);
    expect(editDistance('comand', 'command')).toBe(1);
  });
  it('suggests only close candidates', () => {
    expect(closest('comand', ['command', 'cwd'])).toBe('command');
    expect(closest('frobnicate', ['command', 'cwd'])).toBeNull();
  });
});

describe('cgroup2Mounts', () => {
  it('finds cgroup2 mount points in mountinfo, unescaping octal', () => {
    const mountinfo = [
      '25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw',
      '42 31 0:39 / /mnt/with\\040space rw - cgroup2 none rw',
    ].join('\n');
    expect(cgroup2Mounts(mountinfo).map((m) => m.mountpoint)).toEqual(['/sys/fs/cgroup/unified', '/mnt/with space']);
  });
});
