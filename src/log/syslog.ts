// Syslog datagrams as services send them to /dev/log, parsed into what tend shows: the
// facility and severity (from PRI), the tag (RFC 3164's TAG, RFC 5424's APP-NAME) with
// its process id, and the message as lines. Pure: text in, fields out; never throws.
//
// What local senders actually send:
//   glibc syslog(3)        <13>Dec  2 17:03:21 app[412]: text          (no HOSTNAME)
//   util-linux logger      <13>Dec  2 17:03:21 app: text                (local default)
//   logger --rfc3164       <13>Dec  2 17:03:21 host app: text
//   logger --rfc5424       <13>1 2026-12-02T17:03:21.1+00:00 host app 412 - [timeQuality ...] text
//   busybox, old clients   <13>app: text, sometimes with a trailing NUL
// Anything else still shows: no valid PRI means user.notice and the whole datagram as
// the message (RFC 3164 4.3.3); a malformed RFC 5424 header is read as RFC 3164.
//
// Lines: a message with newlines becomes several lines, each with the same header;
// trailing newlines, carriage returns and NULs are cut; other control characters are
// written as #ooo (octal, as rsyslog does), so one datagram can never forge a line of
// another service or break a terminal.

export const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'clock', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const;

export type SyslogFormat = 'rfc5424' | 'rfc3164' | 'bare';

export interface SyslogMessage extends Header {
  readonly format: SyslogFormat;
  /** 0 (kern) … 23 (local7). */
  readonly facility: number;
  /** 0 (emerg) … 7 (debug). */
  readonly severity: number;
  /** The message, one entry per line, control characters escaped; at least one (maybe empty). */
  readonly lines: readonly string[];
}

export interface ParseOptions {
  /**
   * Names a RFC 3164 HOSTNAME may have. Local senders omit it (glibc) or send their own
   * (logger --rfc3164): only a known name is taken for a hostname, so `<13>Dec  2 … disk
   * full: /var` is not read as host "disk".
   */
  readonly hostnames?: readonly string[];
}

const USER_NOTICE = 13;
const BOM = '\uFEFF';

/** Parses one datagram's text. Never throws; the worst input is shown whole as the message. */
export function parseSyslog(datagram: string, options: ParseOptions = {}): SyslogMessage {
  const text = trimEnd(datagram);
  const pri = /^<(0|[1-9]\d{0,2})>/.exec(text);
  if (pri === null || Number(pri[1]) > 191) return bare(text);
  const value = Number(pri[1]);
  const rest = text.slice(pri[0].length);
  return (rest.startsWith('1 ') ? rfc5424(value, rest.slice(2)) : null) ?? rfc3164(value, rest, options.hostnames ?? []);
}

function bare(text: string): SyslogMessage {
  return message('bare', USER_NOTICE, { tag: null, procid: null, hostname: null, timestamp: null, msgid: null, structuredData: null }, text);
}

/** What a message's header names, whichever its format. */
export interface Header {
  /** TAG (RFC 3164) or APP-NAME (RFC 5424); null when the message has none. */
  readonly tag: string | null;
  /** The process id the message names (`app[412]:`, PROCID), as sent. */
  readonly procid: string | null;
  readonly hostname: string | null;
  /** As sent, not interpreted: the receipt time is what tend's lines carry. */
  readonly timestamp: string | null;
  /** RFC 5424 only. */
  readonly msgid: string | null;
  readonly structuredData: string | null;
}

function message(format: SyslogFormat, pri: number, header: Header, body: string): SyslogMessage {
  // Field by field, not a spread: this runs for every datagram of a flood.
  return {
    format, facility: pri >> 3, severity: pri & 7, tag: header.tag, procid: header.procid, hostname: header.hostname,
    timestamp: header.timestamp, msgid: header.msgid, structuredData: header.structuredData, lines: splitLines(body),
  };
}

// A header field of RFC 5424: printable US-ASCII, no space (PRINTUSASCII).
const FIELD = /^[!-~]+$/;

/** `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]` after `<PRI>1 `; null when it is not that. */
function rfc5424(pri: number, text: string): SyslogMessage | null {
  const fields: string[] = [];
  let at = 0;
  for (let i = 0; i < 5; i++) {
    const space = text.indexOf(' ', at);
    if (space <= at) return null;
    const field = text.slice(at, space);
    if (!FIELD.test(field)) return null;
    fields.push(field);
    at = space + 1;
  }
  const [timestamp, hostname, app, procid, msgid] = fields as [string, string, string, string, string];
  if (app.length > 48 || procid.length > 128 || msgid.length > 32 || hostname.length > 255) return null;
  if (timestamp !== '-' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/.test(timestamp)) return null;
  let structuredData: string | null = null;
  if (text.startsWith('-', at) && (at + 1 === text.length || text[at + 1] === ' ')) {
    at += 1;
  } else {
    const end = structuredEnd(text, at);
    if (end === null) return null;
    structuredData = text.slice(at, end);
    at = end;
  }
  if (at < text.length && text[at] !== ' ') return null;
  let body = text.slice(at + 1);
  if (body.startsWith(BOM)) body = body.slice(1);
  const nil = (field: string): string | null => (field === '-' ? null : field);
  return message('rfc5424', pri, {
    tag: nil(app), procid: nil(procid), hostname: nil(hostname), timestamp: nil(timestamp), msgid: nil(msgid), structuredData,
  }, body);
}

/** Where one or more SD-ELEMENTs starting at `at` end (`[id k="v"...]...`), or null. */
function structuredEnd(text: string, at: number): number | null {
  if (text[at] !== '[') return null;
  while (text[at] === '[') {
    at += 1;
    const id = /^[!#-<>-Z\\^-~]{1,32}/.exec(text.slice(at, at + 33)); // SD-NAME: no = ] " or space
    if (id === null) return null;
    at += id[0].length;
    while (text[at] === ' ') {
      at += 1;
      const name = /^[!#-<>-Z\\^-~]{1,32}="/.exec(text.slice(at, at + 34));
      if (name === null) return null;
      at += name[0].length;
      // PARAM-VALUE: UTF-8, with \" \\ \] escaped.
      for (;;) {
        if (at >= text.length) return null;
        const c = text[at];
        if (c === '\\') at += 2;
        else if (c === '"') break;
        else at += 1;
      }
      at += 1;
    }
    if (text[at] !== ']') return null;
    at += 1;
  }
  return at;
}

const BSD_TIME = /^[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d /;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)? /;
// TAG[PID]: (the tag is RFC 3164's "alphanumeric", widened to what daemons use: postfix/smtpd, CRON, systemd-logind)
const TAG = /^([^\x00-\x20[\]:\x7f]{1,64})(?:\[([^\x00-\x20\]\x7f]{1,32})\])?:(?: |$)/;

function rfc3164(pri: number, text: string, hostnames: readonly string[]): SyslogMessage {
  let rest = text;
  let timestamp: string | null = null;
  const time = BSD_TIME.exec(rest) ?? ISO_TIME.exec(rest);
  if (time !== null) {
    timestamp = time[0].slice(0, -1);
    rest = rest.slice(time[0].length);
  }
  let hostname: string | null = null;
  if (timestamp !== null && hostnames.length > 0) {
    const space = rest.indexOf(' ');
    if (space > 0 && hostnames.includes(rest.slice(0, space))) {
      hostname = rest.slice(0, space);
      rest = rest.slice(space + 1);
    }
  }
  const tag = TAG.exec(rest);
  return {
    format: 'rfc3164', facility: pri >> 3, severity: pri & 7, tag: tag === null ? null : tag[1]!, procid: tag?.[2] ?? null,
    hostname, timestamp, msgid: null, structuredData: null, lines: splitLines(tag === null ? rest : rest.slice(tag[0].length)),
  };
}

/** Cuts what ends a datagram but is not message: NULs (old syslog(3)), newlines, carriage returns. */
function trimEnd(text: string): string {
  let end = text.length;
  while (end > 0) {
    const c = text.charCodeAt(end - 1);
    if (c !== 0 && c !== 10 && c !== 13) break;
    end -= 1;
  }
  return end === text.length ? text : text.slice(0, end);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\x00-\x1f\x7f]/;

function splitLines(body: string): string[] {
  // Most messages are one line of printable text: one scan says so.
  if (!ANY_CONTROL.test(body)) return [body];
  const lines = body.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    CONTROL.lastIndex = 0;
    if (CONTROL.test(line)) lines[i] = line.replace(CONTROL, (c) => `#${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  }
  return lines;
}

/** `user.notice` */
export function priorityName(message: Pick<SyslogMessage, 'facility' | 'severity'>): string {
  return `${FACILITIES[message.facility] ?? String(message.facility)}.${SEVERITIES[message.severity]}`;
}

/** `app[412]`, or null without a tag. */
export function tagName(message: Pick<SyslogMessage, 'tag' | 'procid'>): string | null {
  if (message.tag === null) return null;
  return message.procid === null ? message.tag : `${message.tag}[${message.procid}]`;
}

/**
 * The lines as a service's output shows them: `user.notice app[412]: text` (the tag left
 * out when there is none). A message cut by the receiver says so on its last line.
 */
export function formatSyslog(message: SyslogMessage, cut: { kept: number; sent: number } | null = null): string[] {
  const tag = tagName(message);
  const head = tag === null ? `${priorityName(message)} ` : `${priorityName(message)} ${tag}: `;
  const lines = message.lines.map((line) => head + line);
  if (cut !== null) lines[lines.length - 1] += ` [cut: ${cut.kept} of ${cut.sent} bytes]`;
  return lines;
}

/** pino's numeric level for a severity: emerg–crit fatal, err error, warning warn, notice and info info, debug debug. */
export function pinoLevel(severity: number): number {
  if (severity <= 2) return 60;
  if (severity === 3) return 50;
  if (severity === 4) return 40;
  if (severity <= 6) return 30;
  return 20;
}

/** Severities err and worse go to the service's stderr stream, the rest to its stdout. */
export function streamOf(severity: number): 'stdout' | 'stderr' {
  return severity <= 3 ? 'stderr' : 'stdout';
}
