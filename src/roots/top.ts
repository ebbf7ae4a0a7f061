// `tend top`: a live view of every service over the control socket. One connection
// subscribes to `events` and asks `status` once (again only after a reload, which can
// add services); the socket is never polled. A second connection follows the selected
// service's output and is replaced when the selection changes. When stdout is not a
// terminal the view degrades to the service table, printed again whenever it changes.
//
// This is a bundle of its own (dist/top.cjs, scripts/build.mjs): neither `tend run` nor
// the other client commands load it.
import type { ReadStream, WriteStream } from 'node:tty';
import type { TendEvent } from '../control/api';
import { connectControl, type ControlClient } from '../control/client';
import type { SocketChoice } from '../control/socketpath';
import { subscribeSignals } from '../process/signal-intake';
import { chooseSocket } from './client';
import { formatOutcome } from '../cli/format';
import { parseKeys } from '../cli/top/keys';
import {
  emptyModel, handleKey, withEvent, withLogNote, withLogs, withMessage, withStatus,
  type ActionCommand, type LogEntry, type TopModel,
} from '../cli/top/model';
import { renderPlain, renderScreen, toAnsi } from '../cli/top/render';
import { Terminal } from '../cli/top/terminal';

const QUICK_REPLY_MS = 30_000;
/** Lines asked for when the selection changes: a screenful for the log view and then some. */
const LOG_BACKLOG = 1000;
/** Frames at most this often: a service printing thousands of lines a second must not flood the terminal. */
const FRAME_MS = 33;
/** The plain table at most this often. */
const PLAIN_MS = 1000;
/** A log stream tend closed (it drops a reader that falls behind) is followed again after this. */
const REFOLLOW_MS = 1000;

const EXIT_FAILED = 1;
const SIGNAL_EXIT: Readonly<Partial<Record<string, number>>> = { SIGHUP: 129, SIGINT: 130, SIGQUIT: 131, SIGTERM: 143 };

/** `{"skipped": N}`: a follower that read slower than tend sent was left N events or lines behind. */
function skippedOf(event: unknown): number | null {
  const skipped = (event as { skipped?: unknown } | null)?.skipped;
  return typeof skipped === 'number' ? skipped : null;
}

/** A log stream's event as the model keeps it; null for a shape this view does not know. */
function logEntryOf(event: unknown): LogEntry | null {
  const skipped = skippedOf(event);
  if (skipped !== null) return { skipped, time: Date.now() };
  const line = event as Partial<Record<string, unknown>> | null;
  if (typeof line?.line !== 'string' || typeof line.time !== 'number' || (line.stream !== 'stdout' && line.stream !== 'stderr')) return null;
  return { service: String(line.service), stream: line.stream, time: line.time, line: line.line };
}

export interface TopCommand {
  readonly socket: string | null;
}

export async function runTop(command: TopCommand): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const chosen = chooseSocket(command.socket, { env: process.env, uid });
  if (!chosen.ok) {
    process.stderr.write(`tend: ${chosen.message}\n`);
    return EXIT_FAILED;
  }
  const connected = await connectControl(chosen.choice, { uid });
  if (!connected.ok) {
    process.stderr.write(`tend: ${connected.message}\n`);
    return EXIT_FAILED;
  }
  const top = new Top(connected.value, chosen.choice, uid);
  return top.run();
}

/** How the view ended: the exit code, and a line for stderr once the terminal is back. */
interface Ending {
  readonly code: number;
  readonly message: string | null;
}

class Top {
  private model: TopModel;
  /** Events seen while a `status` is on its way: replayed over it (model.ts, withEvent). */
  private readonly journals = new Set<TendEvent[]>();
  private readonly tty: boolean;
  private terminal: Terminal | null = null;
  private finish: (ending: Ending) => void = () => {};
  private ended = false;
  // the log stream of the selected service
  private logClient: ControlClient | null = null;
  private logService: string | null = null;
  private pendingLines: LogEntry[] = [];
  private refollowTimer: NodeJS.Timeout | null = null;
  // drawing
  private frameTimer: NodeJS.Timeout | null = null;
  private lastFrame = 0;
  private fullFrame = true;
  private clockTimer: NodeJS.Timeout | null = null;
  private lastPlain = '';

  constructor(private readonly client: ControlClient, private readonly choice: SocketChoice, private readonly uid: number) {
    this.model = emptyModel(choice.path);
    this.tty = process.stdout.isTTY === true;
  }

  async run(): Promise<number> {
    const ended = new Promise<Ending>((resolve) => { this.finish = resolve; });
    subscribeSignals((signal) => this.onSignal(signal.name));

    // Subscribe first, then ask for the state: an event in between is replayed over it.
    const subscribed = await this.client.request('events', {}, { onEvent: (event) => this.onEvent(event) });
    if (!subscribed.ok) return this.fail(subscribed.message);
    const first = await this.refresh();
    if (first !== null) return this.fail(first);

    void this.client.closed.then(() => this.end({ code: EXIT_FAILED, message: this.lostMessage() }));
    if (this.tty) this.startScreen();
    else process.stdout.on('error', () => this.end({ code: 0, message: null })); // a closed pipe (`| head`)
    this.changed();

    const ending = await ended;
    this.stop();
    if (ending.message !== null) process.stderr.write(`${ending.message}\n`);
    return ending.code;
  }

  private fail(message: string): number {
    this.client.close();
    process.stderr.write(`tend: ${message}\n`);
    return EXIT_FAILED;
  }

  private lostMessage(): string {
    return this.model.shuttingDown
      ? `tend: top: connection lost: tend shut down (${this.choice.path})`
      : `tend: top: connection lost: tend on ${this.choice.path} stopped or closed the connection`;
  }

  private end(ending: Ending): void {
    if (this.ended) return;
    this.ended = true;
    this.finish(ending);
  }

  /** Everything put back: the terminal first, then timers and connections. */
  private stop(): void {
    this.terminal?.restore();
    if (this.frameTimer !== null) clearTimeout(this.frameTimer);
    if (this.clockTimer !== null) clearInterval(this.clockTimer);
    if (this.refollowTimer !== null) clearTimeout(this.refollowTimer);
    this.logClient?.close();
    this.client.close();
  }

  private onSignal(signal: string): void {
    const code = SIGNAL_EXIT[signal];
    if (code !== undefined) this.end({ code, message: null });
    // SIGWINCH: the output's 'resize' redraws. Job-control and user signals: nothing to do.
  }

  // ---------------------------------------------------------------------------------------
  // the state

  /** Fetches `status` and replays over it the events that came meanwhile. Returns why it failed, or null. */
  private async refresh(): Promise<string | null> {
    const journal: TendEvent[] = [];
    this.journals.add(journal);
    const reply = await this.client.request('status', { detail: true }, { timeoutMs: QUICK_REPLY_MS });
    this.journals.delete(journal);
    if (!reply.ok) return reply.message;
    let model = withStatus(this.model, reply.value, Date.now());
    for (const event of journal) model = withEvent(model, event);
    this.model = model;
    this.changed();
    return null;
  }

  private onEvent(raw: unknown): void {
    const skipped = skippedOf(raw);
    if (skipped !== null) {
      // Events were left out while this view fell behind: what they said, only status has now.
      this.model = withMessage(this.model, `${skipped} ${skipped === 1 ? 'event' : 'events'} skipped (this view fell behind): state fetched again`, 'info');
      void this.refresh();
      this.changed();
      return;
    }
    if (typeof (raw as { type?: unknown } | null)?.type !== 'string') return;
    const event = raw as TendEvent;
    for (const journal of this.journals) journal.push(event);
    this.model = withEvent(this.model, event);
    if (event.type === 'reload') {
      // A reload can add services: only `status` says what they are.
      void this.refresh().then((failed) => {
        if (failed === null || this.ended) return;
        this.model = withMessage(this.model, `after the reload, status failed: ${failed}`, 'error');
        this.changed();
      });
    }
    this.changed();
  }

  /** Follows the selected service's output when the selection changed. */
  private followSelected(): void {
    const name = this.model.selected;
    if (!this.tty || name === this.logService) return;
    this.logClient?.close();
    this.logClient = null;
    this.logService = name;
    this.pendingLines = [];
    if (this.refollowTimer !== null) clearTimeout(this.refollowTimer);
    this.refollowTimer = null;
    if (name !== null) void this.openLogs(name);
  }

  private async openLogs(name: string): Promise<void> {
    const connected = await connectControl(this.choice, { uid: this.uid });
    if (this.logService !== name || this.ended) {
      if (connected.ok) connected.value.close();
      return;
    }
    if (!connected.ok) {
      this.model = withLogNote(this.model, name, connected.message);
      this.changed();
      return;
    }
    const client = connected.value;
    this.logClient = client;
    // Lines can arrive in the same read as the backlog, before it is handled: hold them.
    let held: LogEntry[] | null = [];
    const reply = await client.request('logs', { name, lines: LOG_BACKLOG, follow: true }, {
      onEvent: (event) => {
        const entry = logEntryOf(event);
        if (entry === null) return;
        if (held !== null) held.push(entry);
        else this.onLogLine(name, entry);
      },
    });
    if (this.logService !== name) return;
    if (!reply.ok) {
      this.model = withLogNote(this.model, name, reply.message);
    } else {
      this.model = withLogs(this.model, name, [...reply.value.lines, ...held], true);
      held = null;
      void client.closed.then(() => {
        // Not closed by us (we move logService first): tend dropped the stream — it does
        // when this view reads nothing for a while (a stopped or starved process).
        if (this.logService !== name || this.logClient !== client || this.ended) return;
        this.logClient = null;
        this.model = withLogNote(this.model, name, 'tend closed the output stream (this view fell behind); following again');
        this.changed();
        this.refollowTimer = setTimeout(() => {
          this.refollowTimer = null;
          if (this.logService === name && !this.ended) void this.openLogs(name);
        }, REFOLLOW_MS);
      });
    }
    this.changed();
  }

  private onLogLine(name: string, line: LogEntry): void {
    if (name !== this.logService) return;
    // Applied once per frame, not once per line: a chatty service sends thousands a second.
    this.pendingLines.push(line);
    this.changed();
  }

  private async act(command: ActionCommand, name: string): Promise<void> {
    this.model = withMessage(this.model, `${command} ${name}…`, 'info');
    this.changed();
    const reply = await this.client.request(command, { names: [name], wait: false }, { timeoutMs: QUICK_REPLY_MS });
    if (this.ended) return;
    if (!reply.ok) {
      const why = reply.code === 'forbidden' ? `refused: ${reply.message}` : reply.message;
      this.model = withMessage(this.model, `${command} ${name}: ${why}`, 'error');
    } else {
      this.model = withMessage(this.model, `${command}: ${reply.value.services.map(formatOutcome).join('; ')}`, 'info');
    }
    this.changed();
  }

  // ---------------------------------------------------------------------------------------
  // the terminal

  private startScreen(): void {
    const input = process.stdin.isTTY === true ? (process.stdin as ReadStream) : null;
    const output = process.stdout as WriteStream;
    this.terminal = new Terminal(input, output, (text) => this.onKeys(text));
    // Whatever ends the process, the terminal is put back first — for a bug, before Node
    // prints its stack (the monitor runs first), so the trace lands on the main screen.
    process.once('exit', () => this.terminal?.restore());
    process.on('uncaughtExceptionMonitor', () => this.terminal?.restore());
    this.terminal.enter();
    output.on('resize', () => {
      this.fullFrame = true;
      this.changed();
    });
    // Uptimes and the clock move on their own: a redraw a second, from what is known.
    this.clockTimer = setInterval(() => this.changed(), 1000);
  }

  private onKeys(text: string): void {
    const page = Math.max(1, (this.terminal?.size.rows ?? 24) - 3);
    for (const key of parseKeys(text)) {
      const outcome = handleKey(this.model, key, page);
      this.model = outcome.model;
      for (const effect of outcome.effects) {
        switch (effect.type) {
          case 'quit':
            this.end({ code: 0, message: null });
            return;
          case 'redraw':
            this.fullFrame = true;
            break;
          case 'action':
            void this.act(effect.command, effect.name);
            break;
        }
      }
    }
    this.changed();
  }

  /** Something changed: draw soon (once for a burst of changes, at most every FRAME_MS). */
  private changed(): void {
    if (this.ended || this.frameTimer !== null) return;
    const interval = this.tty ? FRAME_MS : PLAIN_MS;
    const wait = Math.max(0, this.lastFrame + interval - Date.now());
    this.frameTimer = setTimeout(() => {
      this.frameTimer = null;
      this.lastFrame = Date.now();
      this.draw();
    }, wait);
  }

  private draw(): void {
    if (this.ended) return;
    if (this.pendingLines.length > 0 && this.logService !== null) {
      this.model = withLogs(this.model, this.logService, this.pendingLines, false);
      this.pendingLines = [];
    }
    const now = Date.now();
    if (!this.tty) {
      const table = renderPlain(this.model, now);
      // Only when the table changed: its first line is the time, which always does.
      const body = table.slice(table.indexOf('\n'));
      if (body !== this.lastPlain) {
        this.lastPlain = body;
        process.stdout.write(table);
      }
      return;
    }
    this.followSelected();
    const terminal = this.terminal!;
    const size = terminal.size;
    const color = process.env.NO_COLOR === undefined || process.env.NO_COLOR === '';
    terminal.draw(renderScreen(this.model, size, now).map((l) => toAnsi(l, size.columns, color)), this.fullFrame);
    this.fullFrame = false;
  }
}
