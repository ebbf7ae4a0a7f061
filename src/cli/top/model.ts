// `tend top`'s state, and every change to it, as pure functions: a status document, an
// event, a batch of log lines or a key in, a new model (and what to do about it) out.
// Nothing here touches the socket, the terminal or the clock; src/roots/top.ts does.
import type { HealthName, LastExit, LogLine, ServiceStateName, ServiceStatus, StatusDocument, TendEvent } from '../../control/api';
import type { Key } from './keys';

/**
 * A line of the selected service's output, or where tend left lines out: a follower that
 * reads slower than the service prints is sent `{"skipped": N}` once it has caught up.
 */
export type LogEntry = LogLine | { readonly skipped: number; readonly time: number };

export function isSkipped(entry: LogEntry): entry is { readonly skipped: number; readonly time: number } {
  return 'skipped' in entry;
}

/** One service as the view shows it. */
export interface Row {
  readonly name: string;
  readonly type: 'longrun' | 'oneshot' | 'forking';
  readonly main: boolean;
  readonly state: ServiceStateName;
  readonly pid: number | null;
  /** When its current process started (epoch ms), for the uptime column; null when none runs. */
  readonly startedAt: number | null;
  readonly restarts: number;
  readonly lastExit: LastExit | null;
  readonly health: HealthName;
  readonly reason: string | null;
  /** Usage as `status` reports it, when it does (null: not reported). */
  readonly cpuPercent: number | null;
  readonly memoryBytes: number | null;
}

export type View = 'list' | 'logs';

/** A command the view sends for the selected service. */
export type ActionCommand = 'start' | 'stop' | 'restart';

export interface TopModel {
  readonly socket: string;
  readonly services: readonly Row[];
  /** The selected service, by name: it stays selected when the list is filtered or reloaded. */
  readonly selected: string | null;
  readonly view: View;
  /** Substrings (case-insensitive): services by name in the list, lines in the log view. */
  readonly filter: { readonly list: string; readonly logs: string };
  /** A filter being typed, and which one; null when keys are commands. */
  readonly input: { readonly target: View; readonly text: string } | null;
  /** The selected service's latest lines, oldest first (the log view keeps LOG_KEEP). */
  readonly logs: { readonly service: string | null; readonly lines: readonly LogEntry[]; readonly note: string | null };
  /** Log view: how many lines back from the newest; 0 follows new lines. */
  readonly scroll: number;
  readonly message: { readonly text: string; readonly tone: 'info' | 'error' } | null;
  /** Stopping main shuts tend down: the key asks once more before it is sent. */
  readonly confirm: { readonly command: ActionCommand; readonly name: string } | null;
  readonly shuttingDown: boolean;
  readonly orphans: number;
  /**
   * Services a reload removed. tend lists them in `status` until they have stopped, then
   * drops them without an event: the view leaves them out from the reload on.
   */
  readonly removed: readonly string[];
}

/** Lines kept for the selected service (the log view's scrollback). */
export const LOG_KEEP = 2000;

export function emptyModel(socket: string): TopModel {
  return {
    socket, services: [], selected: null, view: 'list', filter: { list: '', logs: '' }, input: null,
    logs: { service: null, lines: [], note: null }, scroll: 0, message: null, confirm: null, shuttingDown: false, orphans: 0,
    removed: [],
  };
}

/**
 * CPU and memory: shown when `status` carries them. The names are the ones tend's status
 * document uses for a service's usage; any other shape reads as "not reported".
 */
function usageOf(service: ServiceStatus): { cpuPercent: number | null; memoryBytes: number | null } {
  const loose = service as unknown as Record<string, unknown>;
  const number = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
  return { cpuPercent: number(loose.cpu_percent), memoryBytes: number(loose.memory_bytes) };
}

function rowOf(service: ServiceStatus, receivedAt: number): Row {
  return {
    name: service.name,
    type: service.type,
    main: service.main,
    state: service.state,
    pid: service.pid,
    startedAt: service.pid !== null && service.uptime_ms !== null ? receivedAt - service.uptime_ms : null,
    restarts: service.restarts,
    lastExit: service.last_exit,
    health: service.health,
    reason: service.reason ?? null,
    ...usageOf(service),
  };
}

/** The model after a `status` reply received at `receivedAt`: rows replaced, the selection kept when it still exists. */
export function withStatus(model: TopModel, doc: StatusDocument, receivedAt: number): TopModel {
  const services = doc.services.filter((s) => !model.removed.includes(s.name)).map((s) => rowOf(s, receivedAt));
  const next: TopModel = { ...model, services, shuttingDown: doc.shutting_down, orphans: doc.orphans.length };
  return keepSelection(next);
}

function updateRow(model: TopModel, name: string, change: (row: Row) => Row): TopModel {
  const index = model.services.findIndex((row) => row.name === name);
  if (index === -1) return model;
  const services = [...model.services];
  services[index] = change(services[index]!);
  return { ...model, services };
}

/** What a state event may carry beyond the protocol's minimum (a newer server sends them). */
interface StateExtras {
  readonly restarts?: unknown;
  readonly last_exit?: unknown;
  readonly health?: unknown;
}

function isLastExit(value: unknown): value is LastExit {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === 'number' || typeof v.signal === 'string';
}

const HEALTH: readonly HealthName[] = ['none', 'starting', 'healthy', 'unhealthy'];

/**
 * The model after one event. Events carry absolute values (a state, a pid, a health), so
 * replaying one the last `status` already reflected converges on the same rows — which
 * is what lets run.ts subscribe first and fetch `status` after, without a gap.
 */
export function withEvent(model: TopModel, event: TendEvent): TopModel {
  switch (event.type) {
    case 'state':
      return updateRow(model, event.service, (row) => {
        const extras = event as StateExtras;
        const pid = event.pid;
        const restarts = typeof extras.restarts === 'number'
          ? extras.restarts
          // An older server does not send the count: it rises each time a service backs off to restart.
          : event.to === 'backoff' && row.state !== 'backoff' ? row.restarts + 1 : row.restarts;
        return {
          ...row,
          state: event.to,
          pid,
          startedAt: pid === null ? null : pid === row.pid && row.startedAt !== null ? row.startedAt : event.time,
          restarts,
          lastExit: isLastExit(extras.last_exit) ? extras.last_exit : extras.last_exit === null ? null : row.lastExit,
          health: HEALTH.includes(extras.health as HealthName) ? extras.health as HealthName : row.health,
          reason: event.reason ?? null,
        };
      });
    case 'exit':
      return updateRow(model, event.service, (row) => ({ ...row, lastExit: event.exit }));
    case 'health':
      return updateRow(model, event.service, (row) => ({ ...row, health: event.health }));
    case 'reload': {
      // Removed services go at once; added ones arrive with the `status` run.ts fetches on a reload.
      const { added, removed } = event.summary;
      return keepSelection({
        ...model,
        services: model.services.filter((row) => !removed.includes(row.name)),
        removed: [...model.removed.filter((name) => !added.includes(name)), ...removed],
      });
    }
    case 'shutdown':
      return { ...model, shuttingDown: true };
    default:
      return model; // an event type this client does not know
  }
}

/** The selected service's log lines: a fresh backlog (`replace`) or lines that followed. */
export function withLogs(model: TopModel, service: string, lines: readonly LogEntry[], replace: boolean): TopModel {
  if (service !== model.selected) return model; // from a stream that is being replaced
  const kept = replace || model.logs.service !== service ? lines : [...model.logs.lines, ...lines];
  const trimmed = kept.length > LOG_KEEP ? kept.slice(kept.length - LOG_KEEP) : kept;
  // Scrolled back in the log view: stay on the same lines while new ones arrive.
  const scroll = model.scroll > 0 && !replace ? Math.min(model.scroll + lines.length, trimmed.length) : model.scroll;
  return { ...model, logs: { service, lines: trimmed, note: null }, scroll };
}

/** The log stream of the selected service could not be had (it is gone, or the request failed). */
export function withLogNote(model: TopModel, service: string, note: string): TopModel {
  if (service !== model.selected) return model;
  return { ...model, logs: { service, lines: model.logs.service === service ? model.logs.lines : [], note } };
}

export function withMessage(model: TopModel, text: string, tone: 'info' | 'error'): TopModel {
  return { ...model, message: { text, tone } };
}

function matches(text: string, filter: string): boolean {
  return filter === '' || text.toLowerCase().includes(filter.toLowerCase());
}

/** The rows the list shows, in manifest order. */
export function visibleRows(model: TopModel): readonly Row[] {
  return model.services.filter((row) => matches(row.name, model.filter.list));
}

/** The log lines the views show (a gap left by skipped lines stays visible under a filter). */
export function visibleLogs(model: TopModel): readonly LogEntry[] {
  return model.filter.logs === '' ? model.logs.lines : model.logs.lines.filter((entry) => isSkipped(entry) || matches(entry.line, model.filter.logs));
}

/** A selection that is still listed, or the first listed service (or none). */
function keepSelection(model: TopModel): TopModel {
  const rows = visibleRows(model);
  if (model.selected !== null && rows.some((row) => row.name === model.selected)) return model;
  const selected = rows[0]?.name ?? null;
  return selected === model.selected ? model : select(model, selected);
}

function select(model: TopModel, name: string | null): TopModel {
  if (name === model.selected) return model;
  return { ...model, selected: name, logs: { service: name, lines: [], note: null }, scroll: 0, filter: { ...model.filter, logs: '' } };
}

function moveSelection(model: TopModel, by: number | 'first' | 'last'): TopModel {
  const rows = visibleRows(model);
  if (rows.length === 0) return model;
  const current = rows.findIndex((row) => row.name === model.selected);
  const target = by === 'first' ? 0 : by === 'last' ? rows.length - 1 : Math.max(0, Math.min(rows.length - 1, (current === -1 ? 0 : current) + by));
  return select(model, rows[target]!.name);
}

/** What the runner does after a key, besides showing the new model. */
export type Effect =
  | { readonly type: 'quit' }
  | { readonly type: 'action'; readonly command: ActionCommand; readonly name: string }
  | { readonly type: 'redraw' };

export interface KeyOutcome {
  readonly model: TopModel;
  readonly effects: readonly Effect[];
}

const ACTION_KEYS: Readonly<Record<string, ActionCommand>> = { s: 'start', x: 'stop', r: 'restart' };

/**
 * One key. `page` is how many lines a page scrolls in the log view (the terminal's
 * height, from the runner). The keys:
 *   list: ↑ ↓ k j Home End select · s start · x stop · r restart · Enter l follow logs · / filter · q quit
 *   logs: ↑ ↓ PgUp PgDn scroll · End follow · / filter lines · s x r · Esc q back
 *   everywhere: Ctrl-C quits, Ctrl-L redraws.
 */
export function handleKey(model: TopModel, key: Key, page = 10): KeyOutcome {
  const same = (m: TopModel = model): KeyOutcome => ({ model: m, effects: [] });
  if (key.name === 'ctrl-c') return { model, effects: [{ type: 'quit' }] };
  if (key.name === 'ctrl-l') return { model, effects: [{ type: 'redraw' }] };

  if (model.input !== null) return same(typing(model, model.input, key));

  if (model.confirm !== null) {
    const { command, name } = model.confirm;
    const cleared: TopModel = { ...model, confirm: null };
    if (key.name === 'char' && ACTION_KEYS[key.char] === command) return { model: { ...cleared, message: null }, effects: [{ type: 'action', command, name }] };
    return same(withMessage(cleared, `${command} ${name}: cancelled`, 'info'));
  }

  const message = model.message === null ? model : { ...model, message: null };
  if (key.name === 'char' && ACTION_KEYS[key.char] !== undefined) {
    const command = ACTION_KEYS[key.char]!;
    const row = model.services.find((r) => r.name === model.selected);
    if (row === undefined) return same(withMessage(message, 'no service selected', 'error'));
    if (command === 'stop' && row.main) {
      return same({ ...message, confirm: { command, name: row.name } });
    }
    return { model: message, effects: [{ type: 'action', command, name: row.name }] };
  }
  if (key.name === 'char' && key.char === '/') {
    return same({ ...message, input: { target: model.view, text: model.filter[model.view] } });
  }

  if (model.view === 'list') {
    switch (key.name) {
      case 'up': return same(moveSelection(message, -1));
      case 'down': return same(moveSelection(message, 1));
      case 'pageup': return same(moveSelection(message, -page));
      case 'pagedown': return same(moveSelection(message, page));
      case 'home': return same(moveSelection(message, 'first'));
      case 'end': return same(moveSelection(message, 'last'));
      case 'enter': return same(model.selected === null ? message : { ...message, view: 'logs', scroll: 0 });
      case 'escape':
        return same(model.filter.list === '' ? message : keepSelection({ ...message, filter: { ...model.filter, list: '' } }));
      case 'char':
        switch (key.char) {
          case 'k': return same(moveSelection(message, -1));
          case 'j': return same(moveSelection(message, 1));
          case 'g': return same(moveSelection(message, 'first'));
          case 'G': return same(moveSelection(message, 'last'));
          case 'l': return same(model.selected === null ? message : { ...message, view: 'logs', scroll: 0 });
          case 'q': return { model, effects: [{ type: 'quit' }] };
          default: return same(model);
        }
      default:
        return same(model);
    }
  }

  // the log view
  const back = (m: TopModel): TopModel => ({ ...m, view: 'list', scroll: 0 });
  const scrollBy = (by: number): KeyOutcome => {
    const max = Math.max(0, visibleLogs(model).length - 1);
    return same({ ...message, scroll: Math.max(0, Math.min(max, model.scroll + by)) });
  };
  switch (key.name) {
    case 'escape': return same(back(message));
    case 'up': return scrollBy(1);
    case 'down': return scrollBy(-1);
    case 'pageup': return scrollBy(page);
    case 'pagedown': return scrollBy(-page);
    case 'home': return scrollBy(Number.MAX_SAFE_INTEGER);
    case 'end': return same({ ...message, scroll: 0 });
    case 'char':
      switch (key.char) {
        case 'q': case 'h': return same(back(message));
        case 'k': return scrollBy(1);
        case 'j': return scrollBy(-1);
        case 'g': return scrollBy(Number.MAX_SAFE_INTEGER);
        case 'G': case 'f': return same({ ...message, scroll: 0 });
        default: return same(model);
      }
    default:
      return same(model);
  }
}

/** A key while a filter is typed: Enter applies, Esc cancels; the filter applies as it is typed. */
function typing(model: TopModel, input: NonNullable<TopModel['input']>, key: Key): TopModel {
  const apply = (text: string, still: boolean): TopModel => {
    const filter = { ...model.filter, [input.target]: text };
    const next: TopModel = { ...model, filter, input: still ? { target: input.target, text } : null, scroll: 0 };
    return input.target === 'list' ? keepSelection(next) : next;
  };
  switch (key.name) {
    case 'enter': return apply(input.text, false);
    case 'escape': return apply('', false);
    case 'backspace': return apply([...input.text].slice(0, -1).join(''), true);
    case 'char': return apply(input.text + key.char, true);
    default: return model;
  }
}
