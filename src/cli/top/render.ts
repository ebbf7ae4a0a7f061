// `tend top`'s screens, pure: a model, a terminal size and the time → lines of styled
// segments, each fitted to the width. toAnsi turns a line into what the terminal gets;
// toPlain into what a test (or a non-terminal stdout) reads.
import type { LastExit, ServiceStateName } from '../../control/api';
import { formatDuration, formatExit } from '../format';
import { isSkipped, visibleLogs, visibleRows, type LogEntry, type Row, type TopModel } from './model';

/** SGR parameters ("1;31"), or none. */
export interface Segment {
  readonly text: string;
  readonly sgr?: string;
}

export interface Line {
  readonly segments: readonly Segment[];
  /** Applied to the whole line, padded to the width (the title bar, the selected row). */
  readonly fill?: string;
}

export interface Size {
  readonly columns: number;
  readonly rows: number;
}

const line = (segments: readonly Segment[], fill?: string): Line => (fill === undefined ? { segments } : { segments, fill });
const text = (value: string, sgr?: string): Segment => (sgr === undefined ? { text: value } : { text: value, sgr });

// ---------------------------------------------------------------------------------------
// width: what a terminal shows, not what a string holds

function isZeroWidth(cp: number): boolean {
  return (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) || (cp >= 0x1dc0 && cp <= 0x1dff)
    || (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xfe20 && cp <= 0xfe2f)
    || cp === 0x200b || cp === 0x200c || cp === 0x200d || (cp >= 0xe0100 && cp <= 0xe01ef);
}

function isWide(cp: number): boolean {
  return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) || (cp >= 0xac00 && cp <= 0xd7a3)
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60)
    || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) || (cp >= 0x1f900 && cp <= 0x1f9ff)
    || (cp >= 0x20000 && cp <= 0x3fffd);
}

function charWidth(cp: number): number {
  return isZeroWidth(cp) ? 0 : isWide(cp) ? 2 : 1;
}

export function displayWidth(value: string): number {
  let width = 0;
  for (const char of value) width += charWidth(char.codePointAt(0)!);
  return width;
}

/** At most `width` columns; cut text ends with `…`. */
export function truncate(value: string, width: number): string {
  if (width <= 0) return '';
  if (displayWidth(value) <= width) return value;
  let out = '';
  let used = 0;
  for (const char of value) {
    const w = charWidth(char.codePointAt(0)!);
    if (used + w > width - 1) break;
    out += char;
    used += w;
  }
  return `${out}…`;
}

function pad(value: string, width: number): string {
  return value + ' '.repeat(Math.max(0, width - displayWidth(value)));
}

/**
 * A service's output made safe to show: its escape sequences must not reach the terminal
 * (they could move the cursor, change colours, retitle the window). Control characters
 * are shown in caret notation (`^[` for ESC), tabs expanded.
 */
export function sanitize(value: string): string {
  let out = '';
  let column = 0;
  for (const char of value) {
    const cp = char.codePointAt(0)!;
    if (char === '\t') {
      const spaces = 8 - (column % 8);
      out += ' '.repeat(spaces);
      column += spaces;
    } else if (cp < 0x20 || cp === 0x7f) {
      out += `^${String.fromCharCode(cp === 0x7f ? 0x3f : cp + 0x40)}`;
      column += 2;
    } else if (cp >= 0x80 && cp <= 0x9f) {
      out += '?';
      column += 1;
    } else {
      out += char;
      column += charWidth(cp);
    }
  }
  return out;
}

/** The line cut to `columns`, segment by segment. */
function fit(l: Line, columns: number): Line {
  const segments: Segment[] = [];
  let left = columns;
  for (const segment of l.segments) {
    if (left <= 0) break;
    const cut = truncate(segment.text, left);
    if (cut === '') continue;
    segments.push(segment.sgr === undefined ? { text: cut } : { text: cut, sgr: segment.sgr });
    left -= displayWidth(cut);
    if (cut !== segment.text) break;
  }
  return { ...l, segments };
}

export function toPlain(l: Line): string {
  return l.segments.map((s) => s.text).join('').trimEnd();
}

/** The line for the terminal: styled, fitted, and (with a fill) padded to the width. */
export function toAnsi(l: Line, columns: number, color: boolean): string {
  const fitted = fit(l, columns);
  const body = fitted.segments.map((s) => (color && s.sgr !== undefined ? `\x1b[${s.sgr}m${s.text}\x1b[0m${fitted.fill !== undefined ? `\x1b[${fitted.fill}m` : ''}` : s.text)).join('');
  if (fitted.fill === undefined || !color) return body;
  const width = fitted.segments.reduce((sum, s) => sum + displayWidth(s.text), 0);
  return `\x1b[${fitted.fill}m${body}${' '.repeat(Math.max(0, columns - width))}\x1b[0m`;
}

// ---------------------------------------------------------------------------------------
// cells

const STATE_SGR: Readonly<Record<ServiceStateName, string>> = {
  ready: '32', running: '32', completed: '34', starting: '36', stopping: '33', backoff: '33',
  exited: '2', stopped: '2', fatal: '1;31', failed: '1;31',
};

const HEALTH_SGR: Readonly<Record<string, string>> = { healthy: '32', unhealthy: '1;31', starting: '33' };

function exitSgr(exit: LastExit | null): string | undefined {
  if (exit === null) return undefined;
  return 'code' in exit && exit.code === 0 ? undefined : '31';
}

/** `12.5%`. */
function formatPercent(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}%`;
}

/** `512K`, `35.2M`, `1.5G`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value}B` : `${value < 10 ? value.toFixed(1) : Math.round(value)}${units[unit]}`;
}

/** Whole seconds: the view redraws once a second, milliseconds would only flicker. */
function uptime(ms: number): string {
  return ms < 1000 ? '0s' : formatDuration(ms);
}

interface Column {
  readonly title: string;
  readonly cell: (row: Row, now: number) => Segment;
}

/** The list's columns; CPU and MEM only when some service reports them (tend does once it measures usage). */
function columnsFor(rows: readonly Row[]): Column[] {
  const columns: Column[] = [
    { title: 'NAME', cell: (row) => text(row.main ? `${row.name} (main)` : row.name) },
    { title: 'STATE', cell: (row) => text(row.state, STATE_SGR[row.state]) },
    { title: 'PID', cell: (row) => text(row.pid === null ? '-' : String(row.pid)) },
    { title: 'UPTIME', cell: (row, now) => text(row.pid !== null && row.startedAt !== null ? uptime(now - row.startedAt) : '-') },
    { title: 'RESTARTS', cell: (row) => text(String(row.restarts), row.restarts > 0 ? '33' : undefined) },
    { title: 'HEALTH', cell: (row) => text(row.health === 'none' ? '-' : row.health, HEALTH_SGR[row.health]) },
    { title: 'LAST EXIT', cell: (row) => text(formatExit(row.lastExit), exitSgr(row.lastExit)) },
  ];
  if (rows.some((row) => row.cpuPercent !== null)) {
    columns.push({ title: 'CPU', cell: (row) => text(row.cpuPercent === null ? '-' : formatPercent(row.cpuPercent)) });
  }
  if (rows.some((row) => row.memoryBytes !== null)) {
    columns.push({ title: 'MEM', cell: (row) => text(row.memoryBytes === null ? '-' : formatBytes(row.memoryBytes)) });
  }
  columns.push({ title: 'NOTE', cell: (row) => text(row.reason ?? '', '2') });
  return columns;
}

/** The header and one line per row, columns aligned (two spaces apart, the last unpadded). */
function table(rows: readonly Row[], now: number): { header: Line; lines: Line[] } {
  const columns = columnsFor(rows);
  const cells = rows.map((row) => columns.map((column) => column.cell(row, now)));
  const widths = columns.map((column, i) => Math.max(displayWidth(column.title), ...cells.map((c) => displayWidth(c[i]!.text))));
  const join = (segments: readonly Segment[]): Segment[] => segments.flatMap((segment, i) => {
    const last = i === segments.length - 1;
    return last ? [segment] : [{ ...segment, text: pad(segment.text, widths[i]!) }, text('  ')];
  });
  return {
    header: line(join(columns.map((column) => text(column.title))), '1'),
    lines: cells.map((c) => line(join(c))),
  };
}

// ---------------------------------------------------------------------------------------
// screens

function clock(time: number): string {
  const d = new Date(time);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function summary(model: TopModel): string {
  const up = model.services.filter((row) => row.pid !== null).length;
  const down = model.services.filter((row) => row.state === 'fatal' || row.state === 'failed' || row.state === 'backoff').length;
  const parts = [`${model.services.length} service${model.services.length === 1 ? '' : 's'}`, `${up} up`];
  if (down > 0) parts.push(`${down} failing`);
  if (model.orphans > 0) parts.push(`${model.orphans} orphan${model.orphans === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

function titleBar(model: TopModel, now: number, subject: string): Line {
  const segments = [text(` ${subject}  `, '1'), text(summary(model))];
  if (model.shuttingDown) segments.push(text('  tend is shutting down', '1;31'));
  segments.push(text(`  ${clock(now)}  ${model.socket}`));
  return line(segments, '7');
}

const LIST_KEYS = '↑↓ select  s start  x stop  r restart  ⏎ logs  / filter  q quit';
const LOG_KEYS = '↑↓ PgUp PgDn scroll  End follow  / filter  s start  x stop  r restart  Esc back';

function footer(model: TopModel): Line {
  if (model.input !== null) {
    const what = model.input.target === 'list' ? 'filter services' : 'filter lines';
    return line([text(`${what}: `, '1'), text(model.input.text), text('█'), text('   ⏎ keep  Esc clear', '2')]);
  }
  if (model.confirm !== null) {
    const { command, name } = model.confirm;
    return line([text(`${command} ${name}? it is main: tend shuts down with it — press ${command === 'stop' ? 'x' : command[0]} again to confirm, any other key cancels`, '1;33')]);
  }
  if (model.message !== null) return line([text(model.message.text, model.message.tone === 'error' ? '1;31' : '1')]);
  return line([text(model.view === 'list' ? LIST_KEYS : LOG_KEYS, '2')]);
}

function logLine(entry: LogEntry, withTime: boolean): Line {
  if (isSkipped(entry)) {
    const what = `… ${entry.skipped} ${entry.skipped === 1 ? 'line' : 'lines'} skipped: this view read them slower than they came`;
    return line(withTime ? [text(`${clock(entry.time)} `, '2'), text(what, '2;3')] : [text(what, '2;3')]);
  }
  const body = text(sanitize(entry.line), entry.stream === 'stderr' ? '33' : undefined);
  return line(withTime ? [text(`${clock(entry.time)} `, '2'), body] : [body]);
}

function filterNote(filter: string): string {
  return filter === '' ? '' : `  filter "${filter}"`;
}

/** The service list with the selected service's latest lines below it. */
function listScreen(model: TopModel, size: Size, now: number): Line[] {
  const rows = visibleRows(model);
  const out: Line[] = [titleBar(model, now, 'tend top')];
  const { header, lines } = table(rows, now);
  out.push(header);
  // title, header, the separator above the logs, the footer
  const available = Math.max(0, size.rows - 4);
  const logMin = Math.min(5, Math.floor(available / 3));
  const listHeight = Math.max(1, Math.min(Math.max(rows.length, 1), available - logMin));
  if (rows.length === 0) {
    out.push(line([text(model.services.length === 0 ? 'no services' : `no service matches "${model.filter.list}" (Esc clears the filter)`, '2')]));
  } else {
    const selected = Math.max(0, rows.findIndex((row) => row.name === model.selected));
    const offset = Math.max(0, Math.min(selected - Math.floor(listHeight / 2), rows.length - listHeight));
    for (let i = offset; i < Math.min(rows.length, offset + listHeight); i++) {
      const l = lines[i]!;
      out.push(rows[i]!.name === model.selected ? { ...l, fill: '7' } : l);
    }
  }
  const logHeight = Math.max(0, size.rows - out.length - 2);
  const name = model.selected;
  const logs = visibleLogs(model);
  const note = model.logs.note ?? (name !== null && logs.length === 0 ? (model.filter.logs === '' ? 'no output yet' : 'no line matches') : null);
  if (name !== null) {
    const head = [text(`── ${name} `, '1'), text(`latest output${filterNote(model.filter.logs)}${note === null ? '' : ` · ${note}`} `, '2')];
    const used = head.reduce((sum, s) => sum + displayWidth(s.text), 0);
    out.push(line([...head, text('─'.repeat(Math.max(0, size.columns - used)), '2')]));
    for (const entry of logs.slice(Math.max(0, logs.length - logHeight))) out.push(logLine(entry, false));
  }
  while (out.length < size.rows - 1) out.push(line([]));
  out.push(footer(model));
  return out.slice(0, Math.max(0, size.rows));
}

/** The selected service's output, full screen, following new lines unless scrolled back. */
function logScreen(model: TopModel, size: Size, now: number): Line[] {
  const name = model.selected ?? '';
  const row = model.services.find((r) => r.name === name);
  const logs = visibleLogs(model);
  const height = Math.max(0, size.rows - 2);
  const end = Math.max(0, logs.length - model.scroll);
  const shown = logs.slice(Math.max(0, end - height), end);
  const where = model.scroll === 0 ? 'following' : `${model.scroll} line${model.scroll === 1 ? '' : 's'} back (End follows)`;
  const state = row === undefined ? [] : [text(`${row.state}`, STATE_SGR[row.state]), text('  ')];
  const out: Line[] = [line([text(` ${name} `, '1'), ...state, text(`output · ${where}${filterNote(model.filter.logs)}${model.logs.note === null ? '' : ` · ${model.logs.note}`}`), text(`  ${clock(now)}`)], '7')];
  for (const entry of shown) out.push(logLine(entry, true));
  if (logs.length === 0) out.push(line([text(model.filter.logs === '' ? 'no output yet' : 'no line matches the filter', '2')]));
  while (out.length < size.rows - 1) out.push(line([]));
  out.push(footer(model));
  return out.slice(0, Math.max(0, size.rows));
}

/** The whole screen: exactly `size.rows` lines (fewer only on a terminal too small for any). */
export function renderScreen(model: TopModel, size: Size, now: number): Line[] {
  return model.view === 'logs' && model.selected !== null ? logScreen(model, size, now) : listScreen(model, size, now);
}

/** For a stdout that is not a terminal: the list as a plain table, headed by the time. */
export function renderPlain(model: TopModel, now: number): string {
  const { header, lines } = table(model.services, now);
  const out = [`tend top ${clock(now)} — ${summary(model)}${model.shuttingDown ? ' — tend is shutting down' : ''}`, toPlain(header), ...lines.map(toPlain)];
  return `${out.join('\n')}\n\n`;
}
