import { describe, expect, it } from 'vitest';
import { formatSyslog, parseSyslog, pinoLevel, priorityName, streamOf, tagName } from '../../src/log/syslog';

// Datagrams as util-linux logger 2.38 and glibc send them (captured from a socket).
const LOGGER_LOCAL = '<13>Dec  2 17:09:02 app: hello';
const LOGGER_3164 = '<27>Dec  2 17:09:02 vm app: hi';
const LOGGER_5424 = '<13>1 2026-12-02T17:09:02.305625+00:00 vm app 7157 - [timeQuality tzKnown="1" isSynced="0"] msg5424';
const LOGGER_PID_MULTILINE = '<13>Dec  2 17:09:02 app[7160]: two\nlines';
const LOGGER_5424_BARE = '<13>1 - - app - - - x';

describe('parseSyslog: what local senders send', () => {
  it('reads logger\'s local format (no hostname)', () => {
    const m = parseSyslog(LOGGER_LOCAL);
    expect(m).toMatchObject({ format: 'rfc3164', facility: 1, severity: 5, tag: 'app', procid: null, hostname: null, timestamp: 'Dec  2 17:09:02', lines: ['hello'] });
  });

  it('reads RFC 3164 with a hostname when the name is a known one', () => {
    expect(parseSyslog(LOGGER_3164, { hostnames: ['vm'] })).toMatchObject({ facility: 3, severity: 3, hostname: 'vm', tag: 'app', lines: ['hi'] });
    // Not a known name: the first word is not taken for a host, and "vm" is no tag (no colon).
    expect(parseSyslog(LOGGER_3164)).toMatchObject({ hostname: null, tag: null, lines: ['vm app: hi'] });
  });

  it('does not take a word of the message for a hostname', () => {
    expect(parseSyslog('<11>Dec  2 17:09:02 disk full: /var', { hostnames: ['vm'] })).toMatchObject({ hostname: null, tag: null, lines: ['disk full: /var'] });
  });

  it('reads RFC 5424 with structured data, and its NILVALUEs', () => {
    expect(parseSyslog(LOGGER_5424)).toMatchObject({
      format: 'rfc5424', facility: 1, severity: 5, hostname: 'vm', tag: 'app', procid: '7157', msgid: null,
      timestamp: '2026-12-02T17:09:02.305625+00:00', structuredData: '[timeQuality tzKnown="1" isSynced="0"]', lines: ['msg5424'],
    });
    expect(parseSyslog(LOGGER_5424_BARE)).toMatchObject({ format: 'rfc5424', tag: 'app', procid: null, hostname: null, timestamp: null, structuredData: null, lines: ['x'] });
  });

  it('reads glibc\'s TAG[PID]: and splits a multi-line message', () => {
    expect(parseSyslog(LOGGER_PID_MULTILINE)).toMatchObject({ tag: 'app', procid: '7160', lines: ['two', 'lines'] });
  });

  it('reads daemons\' tags as they are: slashes, dots, capitals', () => {
    expect(parseSyslog('<22>Dec 12 01:02:03 postfix/smtpd[88]: connect')).toMatchObject({ facility: 2, severity: 6, tag: 'postfix/smtpd', procid: '88', lines: ['connect'] });
    expect(parseSyslog('<78>Dec  2 17:17:01 CRON[301]: (root) CMD (date)')).toMatchObject({ facility: 9, severity: 6, tag: 'CRON', procid: '301', lines: ['(root) CMD (date)'] });
  });

  it('reads a message with no timestamp (busybox, hand-made) and an ISO one', () => {
    expect(parseSyslog('<14>app: hi')).toMatchObject({ tag: 'app', timestamp: null, lines: ['hi'] });
    expect(parseSyslog('<14>2026-12-02T17:09:02Z app: hi')).toMatchObject({ tag: 'app', timestamp: '2026-12-02T17:09:02Z', lines: ['hi'] });
  });

  it('strips RFC 5424\'s BOM before the message', () => {
    expect(parseSyslog('<13>1 - - app - - - \uFEFFhéllo').lines).toEqual(['héllo']);
  });

  it('reads escaped characters and several elements in structured data', () => {
    const m = parseSyslog('<13>1 - h app - ID1 [a@1 x="q\\"]\\\\"][b y=""] after');
    expect(m).toMatchObject({ format: 'rfc5424', msgid: 'ID1', structuredData: '[a@1 x="q\\"]\\\\"][b y=""]', lines: ['after'] });
  });

  it('takes every PRI from 0 to 191', () => {
    expect(parseSyslog('<0>x')).toMatchObject({ facility: 0, severity: 0 });
    expect(parseSyslog('<191>x')).toMatchObject({ facility: 23, severity: 7 });
  });
});

describe('parseSyslog: malformed input still shows', () => {
  it('no PRI, or a PRI out of range or with a leading zero: user.notice and the whole datagram', () => {
    for (const text of ['hello', '<192>x: y', '<013>x', '<>x', '<1a>x', '<13', '']) {
      const m = parseSyslog(text);
      expect(m, text).toMatchObject({ format: 'bare', facility: 1, severity: 5, tag: null });
      expect(m.lines, text).toEqual([text]);
    }
  });

  it('a broken RFC 5424 header is read as RFC 3164', () => {
    for (const text of ['<13>1 ', '<13>1 notatime h app - - - x', '<13>1 - h app - - [unclosed x', '<13>1 - h app - - [ok]x', '<13>1 - h']) {
      const m = parseSyslog(text);
      expect(m.format, text).toBe('rfc3164');
      expect(m.lines.join('\n'), text).toBe(text.slice(4));
    }
  });

  it('an over-long APP-NAME is not RFC 5424', () => {
    expect(parseSyslog(`<13>1 - h ${'a'.repeat(49)} - - - x`).format).toBe('rfc3164');
  });

  it('a tag needs its colon and a space after it: a URL is no tag', () => {
    expect(parseSyslog('<13>http://x/ is down')).toMatchObject({ tag: null, lines: ['http://x/ is down'] });
    expect(parseSyslog('<13>app msg')).toMatchObject({ tag: null, lines: ['app msg'] });
    expect(parseSyslog('<13>app:')).toMatchObject({ tag: 'app', lines: [''] });
  });
});

describe('parseSyslog: NULs, newlines and control characters', () => {
  it('cuts trailing NULs, newlines and carriage returns', () => {
    expect(parseSyslog('<13>app: hi\0').lines).toEqual(['hi']);
    expect(parseSyslog('<13>app: hi\r\n\n\0\0').lines).toEqual(['hi']);
  });

  it('splits on \\n and \\r\\n, keeping empty lines in between', () => {
    expect(parseSyslog('<13>app: a\r\nb\n\nc').lines).toEqual(['a', 'b', '', 'c']);
  });

  it('writes other control characters as #ooo: no terminal escape, no forged line', () => {
    expect(parseSyslog('<13>app: a\0b\x1b[31mred\rc\tt\x7f').lines).toEqual(['a#000b#033[31mred#015c\tt#177']);
  });

  it('a datagram of only a PRI is one empty line', () => {
    expect(parseSyslog('<13>').lines).toEqual(['']);
  });

  it('an oversized message is parsed whole (the receiver keeps 64 KiB of it)', () => {
    const m = parseSyslog(`<13>app: ${'x'.repeat(70_000)}`);
    expect(m.tag).toBe('app');
    expect(m.lines[0]).toHaveLength(70_000);
  });

  it('never throws on arbitrary input', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = '<>1 -[]"\\=:app\0\n\r\x1b0123456789TZ.+\uFEFFé ';
    for (let i = 0; i < 1500; i++) {
      let text = random() < 0.5 ? '<13>' : random() < 0.5 ? '<13>1 ' : '';
      const length = Math.floor(random() * 40);
      for (let k = 0; k < length; k++) text += alphabet[Math.floor(random() * alphabet.length)];
      const m = parseSyslog(text);
      expect(m.lines.length).toBeGreaterThan(0);
      for (const line of m.lines) expect(line).not.toMatch(/[\0\n\r\x1b]/);
    }
  });
});

describe('formatSyslog and friends', () => {
  it('writes priority, tag and each line', () => {
    expect(formatSyslog(parseSyslog(LOGGER_PID_MULTILINE))).toEqual(['user.notice app[7160]: two', 'user.notice app[7160]: lines']);
    expect(formatSyslog(parseSyslog('<3>no tag here'))).toEqual(['kern.err no tag here']);
  });

  it('says a message was cut, on its last line', () => {
    expect(formatSyslog(parseSyslog('<13>app: a\nb'), { kept: 65536, sent: 100000 })).toEqual(['user.notice app: a', 'user.notice app: b [cut: 65536 of 100000 bytes]']);
  });

  it('names facilities and severities as syslog does', () => {
    expect(priorityName({ facility: 16, severity: 4 })).toBe('local0.warning');
    expect(priorityName({ facility: 10, severity: 7 })).toBe('authpriv.debug');
    expect(tagName({ tag: null, procid: '1' })).toBeNull();
  });

  it('maps severities to pino levels and streams', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(pinoLevel)).toEqual([60, 60, 60, 50, 40, 30, 30, 20]);
    expect([0, 3, 4, 7].map(streamOf)).toEqual(['stderr', 'stderr', 'stdout', 'stdout']);
  });
});
