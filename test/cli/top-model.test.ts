// `tend top`'s pure parts: keys from raw bytes, the model's changes (status, events, logs,
// keys), and the screens rendered from a model — as tables of input → output.
import { describe, expect, test } from 'vitest';
import type { LogLine, ServiceStatus, StatusDocument, TendEvent } from '../../src/control/api';
import { parseKeys, type Key } from '../../src/cli/top/keys';
import {
  emptyModel, handleKey, LOG_KEEP, visibleRows, withEvent, withLogs, withStatus, type TopModel,
} from '../../src/cli/top/model';
import { displayWidth, formatBytes, renderPlain, renderScreen, sanitize, toAnsi, toPlain, truncate } from '../../src/cli/top/render';

const T0 = new Date(2026, 0, 1, 12, 0, 0).getTime();

function service(name: string, overrides: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    name, type: 'longrun', main: false, state: 'running', pid: 100, since: T0 - 5000, uptime_ms: 5000,
    restarts: 0, last_exit: null, health: 'none', processes: [100], ...overrides,
  };
}

function status(...services: ServiceStatus[]): StatusDocument {
  return { services, orphans: [], shutting_down: false };
}

const DOC = status(
  service('web', { main: true, pid: 101 }),
  service('worker', { pid: 102, restarts: 2, last_exit: { code: 3 } }),
  service('db', { pid: 103, health: 'healthy' }),
);

function model(doc: StatusDocument = DOC): TopModel {
  return withStatus(emptyModel('/run/tend.sock'), doc, T0);
}

const key = (name: Exclude<Key['name'], 'char'>): Key => ({ name }) as Key;
const char = (c: string): Key => ({ name: 'char', char: c });

function press(m: TopModel, ...keys: Key[]): { model: TopModel; effects: unknown[] } {
  let current = m;
  const effects: unknown[] = [];
  for (const k of keys) {
    const outcome = handleKey(current, k);
    current = outcome.model;
    effects.push(...outcome.effects);
  }
  return { model: current, effects };
}

function screen(m: TopModel, columns = 80, rows = 14, now = T0): string[] {
  return renderScreen(m, { columns, rows }, now).map((l) => toAnsi(l, columns, false).trimEnd());
}

function log(line: string, stream: 'stdout' | 'stderr' = 'stdout', time = T0): LogLine {
  return { service: 'web', stream, time, line };
}

describe('parseKeys', () => {
  test.each<[string, Key[]]>([
    ['q', [char('q')]],
    ['jjk', [char('j'), char('j'), char('k')]],
    ['\x1b[A\x1b[B', [key('up'), key('down')]],
    ['\x1bOA\x1bOH\x1bOF', [key('up'), key('home'), key('end')]],
    ['\x1b[5~\x1b[6~\x1b[1~\x1b[4~', [key('pageup'), key('pagedown'), key('home'), key('end')]],
    ['\x1b[1;5A', [key('up')]], // with a modifier
    ['\x1b', [key('escape')]],
    ['\r', [key('enter')]],
    ['\r\n', [key('enter')]],
    ['\x7f\x08', [key('backspace'), key('backspace')]],
    ['\x03', [key('ctrl-c')]],
    ['\x0c', [key('ctrl-l')]],
    ['é😀', [char('é'), char('😀')]],
    ['\x1b[', [key('unknown')]],
    ['\x1bx', [char('x')]], // Alt+x reads as x
  ])('%j', (bytes, keys) => {
    expect(parseKeys(bytes)).toEqual(keys);
  });
});

describe('the model', () => {
  test('status: rows in manifest order, uptime from the reply\'s time, the first service selected', () => {
    const m = model();
    expect(m.services.map((r) => [r.name, r.pid, r.startedAt, r.restarts])).toEqual([
      ['web', 101, T0 - 5000, 0], ['worker', 102, T0 - 5000, 2], ['db', 103, T0 - 5000, 0],
    ]);
    expect(m.selected).toBe('web');
  });

  test('a crash and restart, from events alone: pid, uptime, restarts, last exit', () => {
    const events: TendEvent[] = [
      { type: 'state', time: T0 + 1000, service: 'worker', from: 'running', to: 'backoff', pid: null, reason: null, restarts: 3, last_exit: { signal: 'SIGKILL' }, health: 'none' },
      { type: 'state', time: T0 + 1500, service: 'worker', from: 'backoff', to: 'starting', pid: null },
      { type: 'state', time: T0 + 1510, service: 'worker', from: 'starting', to: 'running', pid: 555 },
    ];
    let m = model();
    m = withEvent(m, events[0]!);
    expect(m.services[1]).toMatchObject({ state: 'backoff', pid: null, startedAt: null, restarts: 3, lastExit: { signal: 'SIGKILL' } });
    m = withEvent(withEvent(m, events[1]!), events[2]!);
    expect(m.services[1]).toMatchObject({ state: 'running', pid: 555, startedAt: T0 + 1510, restarts: 3, lastExit: { signal: 'SIGKILL' } });
  });

  test('an older server\'s state events (no counts): restarts rise on entering backoff; exit and health events apply', () => {
    let m = model();
    m = withEvent(m, { type: 'state', time: T0, service: 'worker', from: 'running', to: 'backoff', pid: null });
    m = withEvent(m, { type: 'exit', time: T0, service: 'worker', pid: 102, exit: { code: 9 } });
    m = withEvent(m, { type: 'health', time: T0, service: 'db', health: 'unhealthy' });
    expect(m.services[1]).toMatchObject({ restarts: 3, lastExit: { code: 9 } });
    expect(m.services[2]!.health).toBe('unhealthy');
  });

  test('replaying events a status already reflected ends in the same rows (subscribe first, then status)', () => {
    // worker crashed and came back 50 ms before the status: its uptime there is 50 ms.
    const doc = status(DOC.services[0]!, { ...DOC.services[1]!, uptime_ms: 50 }, DOC.services[2]!);
    const events: TendEvent[] = [
      { type: 'state', time: T0 - 100, service: 'worker', from: 'running', to: 'backoff', pid: null, restarts: 2, last_exit: { code: 3 }, health: 'none' },
      { type: 'state', time: T0 - 50, service: 'worker', from: 'backoff', to: 'running', pid: 102, restarts: 2, last_exit: { code: 3 }, health: 'none' },
    ];
    const fresh = model(doc);
    const replayed = events.reduce(withEvent, fresh);
    expect(replayed.services).toEqual(fresh.services);
  });

  test('a reload drops removed services (and moves the selection off them); a shutdown is shown', () => {
    let m = model();
    m = withEvent(m, { type: 'reload', time: T0, summary: { added: ['new'], removed: ['web'], changed: [], unchanged: [], pending: [] } });
    expect(m.services.map((r) => r.name)).toEqual(['worker', 'db']);
    expect(m.selected).toBe('worker');
    // tend still lists a removed service while it stops: the status after the reload leaves it out.
    const after = withStatus(m, status(service('web'), service('worker'), service('db'), service('new')), T0);
    expect(after.services.map((r) => r.name)).toEqual(['worker', 'db', 'new']);
    // Added back by a later reload: listed again.
    const back = withEvent(after, { type: 'reload', time: T0, summary: { added: ['web'], removed: [], changed: [], unchanged: [], pending: [] } });
    expect(withStatus(back, status(service('web'), service('worker')), T0).services.map((r) => r.name)).toEqual(['web', 'worker']);
    expect(withEvent(m, { type: 'shutdown', time: T0, reason: 'SIGTERM' }).shuttingDown).toBe(true);
  });

  test('logs: the backlog replaces, following lines append, LOG_KEEP at most, another service\'s lines are dropped', () => {
    let m = model();
    m = withLogs(m, 'web', [log('a'), log('b')], true);
    m = withLogs(m, 'web', [log('c')], false);
    expect(m.logs.lines.map((l) => (l as LogLine).line)).toEqual(['a', 'b', 'c']);
    expect(withLogs(m, 'db', [log('x')], false)).toBe(m);
    const many = Array.from({ length: LOG_KEEP + 10 }, (_, i) => log(String(i)));
    m = withLogs(m, 'web', many, false);
    expect(m.logs.lines).toHaveLength(LOG_KEEP);
    expect((m.logs.lines.at(-1) as LogLine).line).toBe(String(LOG_KEEP + 9));
  });
});

describe('keys', () => {
  test('j/k and arrows move the selection within the list, which starts a fresh log stream', () => {
    let m = withLogs(model(), 'web', [log('a')], true);
    m = press(m, char('j')).model;
    expect(m.selected).toBe('worker');
    expect(m.logs).toEqual({ service: 'worker', lines: [], note: null });
    expect(press(m, key('down'), key('down'), key('down')).model.selected).toBe('db');
    expect(press(m, key('up'), char('k')).model.selected).toBe('web');
    expect(press(m, char('G')).model.selected).toBe('db');
  });

  test('s, x, r act on the selected service; stopping main asks first', () => {
    const m = press(model(), char('j')).model;
    expect(press(m, char('s')).effects).toEqual([{ type: 'action', command: 'start', name: 'worker' }]);
    expect(press(m, char('x')).effects).toEqual([{ type: 'action', command: 'stop', name: 'worker' }]);
    expect(press(m, char('r')).effects).toEqual([{ type: 'action', command: 'restart', name: 'worker' }]);
    const asked = press(model(), char('x'));
    expect(asked.effects).toEqual([]);
    expect(asked.model.confirm).toEqual({ command: 'stop', name: 'web' });
    expect(press(asked.model, char('x')).effects).toEqual([{ type: 'action', command: 'stop', name: 'web' }]);
    const cancelled = press(asked.model, char('n'));
    expect(cancelled.effects).toEqual([]);
    expect(cancelled.model.message).toEqual({ text: 'stop web: cancelled', tone: 'info' });
    expect(press(model(), char('r')).effects).toEqual([{ type: 'action', command: 'restart', name: 'web' }]);
  });

  test('q and Ctrl-C quit from the list; in the log view q goes back', () => {
    expect(press(model(), char('q')).effects).toEqual([{ type: 'quit' }]);
    expect(press(model(), key('ctrl-c')).effects).toEqual([{ type: 'quit' }]);
    const logs = press(model(), key('enter')).model;
    expect(logs.view).toBe('logs');
    expect(press(logs, char('q'))).toEqual({ model: { ...logs, view: 'list' }, effects: [] });
    expect(press(logs, key('ctrl-c')).effects).toEqual([{ type: 'quit' }]);
  });

  test('/ filters the list as it is typed; Enter keeps it, Esc clears it; the selection follows', () => {
    const typed = press(model(), char('/'), char('D'));
    expect(typed.model.input).toEqual({ target: 'list', text: 'D' });
    expect(visibleRows(typed.model).map((r) => r.name)).toEqual(['db']);
    expect(typed.model.selected).toBe('db');
    const kept = press(typed.model, char('x'), key('backspace'), key('enter')).model;
    expect(kept.input).toBeNull();
    expect(kept.filter.list).toBe('D');
    // While typing, letters are text, not commands: the `x` above stopped nothing.
    expect(press(typed.model, char('x')).effects).toEqual([]);
    expect(press(kept, key('escape')).model.filter.list).toBe('');
  });

  test('the log view scrolls back, stays on its lines while new ones come, and End follows again', () => {
    let m = withLogs(model(), 'web', Array.from({ length: 50 }, (_, i) => log(`line ${i}`)), true);
    m = press(m, key('enter'), key('pageup')).model;
    expect(m.scroll).toBe(10);
    m = withLogs(m, 'web', [log('new')], false);
    expect(m.scroll).toBe(11);
    expect(press(m, key('end')).model.scroll).toBe(0);
    expect(press(m, key('home')).model.scroll).toBe(50);
  });
});

describe('rendering', () => {
  test('the list, the selected service\'s latest lines, the keys; no CPU or memory column when status has none', () => {
    const m = withLogs(model(), 'web', [log('listening on :8080'), log('GET / 200')], true);
    expect(screen(m, 90, 12, T0 + 65_000)).toEqual([
      ' tend top  3 services · 3 up  12:01:05  /run/tend.sock',
      'NAME        STATE    PID  UPTIME  RESTARTS  HEALTH   LAST EXIT  NOTE',
      'web (main)  running  101  1m10s   0         -        -',
      'worker      running  102  1m10s   2         -        exit 3',
      'db          running  103  1m10s   0         healthy  -',
      `── web latest output ${'─'.repeat(69)}`,
      'listening on :8080',
      'GET / 200',
      '',
      '',
      '',
      '↑↓ select  s start  x stop  r restart  ⏎ logs  / filter  q quit',
    ]);
  });

  test('CPU and memory appear as columns once status carries them', () => {
    const doc = status(service('web', { cpu_percent: 12.6, memory_bytes: 35 * 1024 * 1024 } as Partial<ServiceStatus>), service('db'));
    const lines = screen(model(doc), 100, 8);
    expect(lines[1]).toBe('NAME  STATE    PID  UPTIME  RESTARTS  HEALTH  LAST EXIT  CPU  MEM  NOTE');
    expect(lines[2]).toBe('web   running  100  5s      0         -       -          13%  35M');
    expect(lines[3]).toBe('db    running  100  5s      0         -       -          -    -');
  });

  test('every line fits the width, and the screen is exactly as tall as the terminal', () => {
    const m = withLogs(model(), 'web', [log('x'.repeat(300)), log('界'.repeat(100))], true);
    for (const [columns, rows] of [[20, 6], [40, 10], [80, 24], [132, 50]] as const) {
      const lines = renderScreen(m, { columns, rows }, T0);
      expect(lines).toHaveLength(rows);
      for (const l of lines) expect(displayWidth(toPlain({ segments: [{ text: toAnsi(l, columns, false) }] }))).toBeLessThanOrEqual(columns);
    }
  });

  test('a long list scrolls to keep the selection on screen', () => {
    const many = status(...Array.from({ length: 30 }, (_, i) => service(`svc${String(i).padStart(2, '0')}`)));
    const m = press(model(many), char('G')).model;
    const lines = screen(m, 80, 16);
    expect(lines.some((l) => l.startsWith('svc29'))).toBe(true);
    expect(lines.some((l) => l.startsWith('svc00'))).toBe(false);
  });

  test('the log view: time-stamped lines, the newest at the bottom, the filter applied', () => {
    let m = withLogs(model(), 'web', [log('GET /a 200'), log('oops', 'stderr'), log('GET /b 500')], true);
    m = press(m, key('enter'), char('/'), char('G'), char('E'), char('T'), key('enter')).model;
    const lines = screen(m, 80, 6);
    expect(lines.slice(0, 3)).toEqual([
      ' web running  output · following  filter "GET"  12:00:00',
      '12:00:00 GET /a 200',
      '12:00:00 GET /b 500',
    ]);
  });

  test('lines tend left out (this view read slower than they came) are shown as a gap, also under a filter', () => {
    let m = withLogs(model(), 'web', [log('GET /a'), { skipped: 1234, time: T0 }, log('GET /b')], true);
    expect(screen(m, 100, 12).slice(6, 9)).toEqual(['GET /a', '… 1234 lines skipped: this view read them slower than they came', 'GET /b']);
    m = press(m, key('enter'), char('/'), char('b'), key('enter')).model;
    expect(screen(m, 100, 5).slice(1, 3)).toEqual(['12:00:00 … 1234 lines skipped: this view read them slower than they came', '12:00:00 GET /b']);
  });

  test('a message, a refused action, a confirmation and a filter being typed replace the key help', () => {
    const refused = { ...model(), message: { text: 'stop web: refused: uid 65534 (nobody) has read access only', tone: 'error' as const } };
    expect(screen(refused).at(-1)).toBe('stop web: refused: uid 65534 (nobody) has read access only');
    expect(screen(press(model(), char('x')).model, 200).at(-1)).toBe('stop web? it is main: tend shuts down with it — press x again to confirm, any other key cancels');
    expect(screen(press(model(), char('/'), char('w')).model).at(-1)).toBe('filter services: w█   ⏎ keep  Esc clear');
  });

  test('colour: state and the selected row are styled; without colour, the same text', () => {
    const m = model();
    const [, , selected, worker] = renderScreen(m, { columns: 80, rows: 10 }, T0);
    expect(toAnsi(selected!, 80, true)).toMatch(/^\x1b\[7m.*\x1b\[32mrunning\x1b\[0m\x1b\[7m/);
    expect(toAnsi(worker!, 80, true)).toContain('\x1b[32mrunning\x1b[0m');
    expect(toAnsi(worker!, 80, false).trimEnd()).toBe('worker      running  102  5s      2         -        exit 3');
  });

  test('a service\'s escape sequences and control characters never reach the terminal', () => {
    expect(sanitize('red \x1b[31mtext\x1b[0m\x07')).toBe('red ^[[31mtext^[[0m^G');
    expect(sanitize('a\tb')).toBe('a       b');
    expect(sanitize('\x9b2J')).toBe('?2J');
    const m = withLogs(model(), 'web', [log('\x1b]0;pwned\x07\x1b[2J')], true);
    for (const l of renderScreen(m, { columns: 80, rows: 10 }, T0)) expect(toAnsi(l, 80, false)).not.toContain('\x1b');
  });

  test('width: wide characters count twice, truncation ends with …', () => {
    expect(displayWidth('界a')).toBe(3);
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('界界界', 4)).toBe('界…');
    expect(formatBytes(512)).toBe('512B');
    expect(formatBytes(1536)).toBe('1.5K');
  });

  test('plain (not a terminal): the table, headed by the time', () => {
    expect(renderPlain(model(), T0)).toBe([
      'tend top 12:00:00 — 3 services · 3 up',
      'NAME        STATE    PID  UPTIME  RESTARTS  HEALTH   LAST EXIT  NOTE',
      'web (main)  running  101  5s      0         -        -',
      'worker      running  102  5s      2         -        exit 3',
      'db          running  103  5s      0         healthy  -',
      '', '',
    ].join('\n'));
  });
});
